package jwks_test

// A ring that signs with several algorithms: a current key per algorithm,
// each rotated, retired, revoked and pruned on its own. Every test runs
// against each store backend (PostgreSQL when AUTHD_TEST_POSTGRES is set).

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/sqlitestore"
)

// ringStores are the store backends the ring tests run on.
var ringStores = []struct {
	name string
	open func(t *testing.T) jwks.Store
}{
	{"memstore", func(t *testing.T) jwks.Store { return memstore.New() }},
	{"sqlite", func(t *testing.T) jwks.Store {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "authd.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatalf("sqlitestore.Open = %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) jwks.Store {
		dsn := pgtest.NewDatabase(t) // skips without AUTHD_TEST_POSTGRES
		st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{MaxConns: 4})
		if err != nil {
			t.Fatalf("pgstore.Open = %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// eachStore runs f on a fresh store of every backend.
func eachStore(t *testing.T, f func(t *testing.T, st jwks.Store)) {
	for _, s := range ringStores {
		t.Run(s.name, func(t *testing.T) { f(t, s.open(t)) })
	}
}

// newAlgsRing is a Ring of algs over st on a fake clock at t0.
func newAlgsRing(t *testing.T, st jwks.Store, algs ...string) *ring {
	t.Helper()
	r := &ring{clk: &fakeClock{t: t0}, store: st, kek: jwks.NewKEK()}
	r.Ring = r.open(t, algs...)
	return r
}

// open starts another Ring over r's store, KEK and clock (another
// instance, or the same one restarted with other algorithms).
func (r *ring) open(t *testing.T, algs ...string) *jwks.Ring {
	t.Helper()
	rr, err := jwks.NewRing(context.Background(), jwks.RingConfig{
		Store: r.store, KEK: r.kek, Algs: algs, PublishLead: lead, Retain: retain, Now: r.clk.Now,
	})
	if err != nil {
		t.Fatalf("NewRing(%v) = %v", algs, err)
	}
	return rr
}

func signerFor(t *testing.T, r *jwks.Ring, alg string) *jwk.Key {
	t.Helper()
	k, err := r.SignerFor(alg)
	if err != nil {
		t.Fatalf("SignerFor(%s) = %v", alg, err)
	}
	if k.Alg != alg {
		t.Fatalf("SignerFor(%s) = a %s key", alg, k.Alg)
	}
	return k
}

// current returns the KIDs of r's keys that are neither retired nor
// revoked, by algorithm.
func (r *ring) current() map[string][]string {
	m := map[string][]string{}
	for _, k := range r.Keys() {
		if k.RetireAt.IsZero() && k.RevokedAt.IsZero() {
			m[k.Alg] = append(m[k.Alg], k.KID)
		}
	}
	return m
}

func TestRingAlgsConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  jwks.RingConfig
		want []string // nil: NewRing fails
	}{
		{"neither: EdDSA", jwks.RingConfig{}, []string{jwk.EdDSA}},
		{"Alg alone", jwks.RingConfig{Alg: jwk.ES256}, []string{jwk.ES256}},
		{"Algs", jwks.RingConfig{Algs: []string{jwk.ES256, jwk.EdDSA}}, []string{jwk.ES256, jwk.EdDSA}},
		{"Algs and Alg its first", jwks.RingConfig{Algs: []string{jwk.EdDSA, jwk.ES256}, Alg: jwk.EdDSA}, []string{jwk.EdDSA, jwk.ES256}},
		{"Alg not the first of Algs", jwks.RingConfig{Algs: []string{jwk.EdDSA, jwk.ES256}, Alg: jwk.ES256}, nil},
		{"duplicate", jwks.RingConfig{Algs: []string{jwk.EdDSA, jwk.ES256, jwk.EdDSA}}, nil},
		{"HS256", jwks.RingConfig{Algs: []string{jwk.EdDSA, "HS256"}}, nil},
		{"none", jwks.RingConfig{Algs: []string{"none"}}, nil},
		{"empty name", jwks.RingConfig{Algs: []string{""}}, nil},
		{"wrong case", jwks.RingConfig{Algs: []string{"eddsa"}}, nil},
		{"Alg HS256", jwks.RingConfig{Alg: "HS256"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memstore.New()
			tt.cfg.Store, tt.cfg.KEK = st, jwks.NewKEK()
			r, err := jwks.NewRing(context.Background(), tt.cfg)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("NewRing(%v, %q) = %v; want an error", tt.cfg.Algs, tt.cfg.Alg, r.Algs())
				}
				if ks, _ := st.SigningKeys(context.Background()); len(ks) != 0 {
					t.Errorf("a refused configuration stored %d keys", len(ks))
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRing = %v", err)
			}
			if got := r.Algs(); !slices.Equal(got, tt.want) {
				t.Errorf("Algs() = %v, want %v", got, tt.want)
			}
			// Algs returns a copy.
			r.Algs()[0] = "HS256"
			if got := r.Algs(); !slices.Equal(got, tt.want) {
				t.Errorf("Algs() after changing its result = %v", got)
			}
			// The caller's slice is not the ring's either.
			if tt.cfg.Algs != nil {
				tt.cfg.Algs[0] = "HS256"
				if got := r.Algs(); !slices.Equal(got, tt.want) {
					t.Errorf("Algs() after changing RingConfig.Algs = %v", got)
				}
			}
		})
	}
}

// TestRingSeveralAlgsFirstKeys: on an empty store every configured
// algorithm gets a key that signs at once; Signer is the first
// algorithm's; SignerFor serves each and refuses the others.
func TestRingSeveralAlgsFirstKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		r := newAlgsRing(t, st, jwk.EdDSA, jwk.RS256)
		ks := r.Keys()
		if len(ks) != 2 {
			t.Fatalf("%d keys, want one per algorithm", len(ks))
		}
		ed, rs := signerFor(t, r.Ring, jwk.EdDSA), signerFor(t, r.Ring, jwk.RS256)
		for _, k := range []*jwk.Key{ed, rs} {
			if !k.ActivateAt.Equal(t0) || !k.RetireAt.IsZero() {
				t.Errorf("%s key active at %v, retiring %v; want active now, not retiring", k.Alg, k.ActivateAt, k.RetireAt)
			}
			signs(t, k)
		}
		if s := r.signer(t); s.KID != ed.KID {
			t.Errorf("Signer = %s key %s, want the EdDSA key (the default)", s.Alg, s.KID)
		}
		if got := r.published(t); !slices.Contains(got, ed.KID) || !slices.Contains(got, rs.KID) || len(got) != 2 {
			t.Errorf("JWKS = %v, want both keys", got)
		}
		for _, alg := range []string{jwk.ES256, "HS256", "none", "", "rs256"} {
			if k, err := r.SignerFor(alg); !errors.Is(err, jwks.ErrNoSigningKey) || k != nil {
				t.Errorf("SignerFor(%q) = %v, %v; want ErrNoSigningKey", alg, k, err)
			}
		}
		// Another instance with the same configuration reuses both keys.
		r2 := r.open(t, jwk.EdDSA, jwk.RS256)
		if len(r2.Keys()) != 2 || signerFor(t, r2, jwk.RS256).KID != rs.KID || signerFor(t, r2, jwk.EdDSA).KID != ed.KID {
			t.Errorf("second ring: %d keys; want the same two", len(r2.Keys()))
		}
		// Order decides the default only.
		r3 := r.open(t, jwk.RS256, jwk.EdDSA)
		if s, err := r3.Signer(); err != nil || s.KID != rs.KID {
			t.Errorf("ring [RS256 EdDSA]: Signer = %v, %v; want the RS256 key", s, err)
		}
	})
}

// TestRingAddAlgOnStart: a deployment that adds an algorithm gets one new
// key, of that algorithm, at its next start; the keys it had are kept and
// not retired. An algorithm whose keys are all revoked or retired gets a
// new key too.
func TestRingAddAlgOnStart(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		r := newAlgsRing(t, st, jwk.EdDSA)
		ed := r.signer(t)
		r.clk.Advance(time.Hour)
		r2 := r.open(t, jwk.EdDSA, jwk.ES256)
		if n := len(r2.Keys()); n != 2 {
			t.Fatalf("after adding ES256: %d keys, want 2", n)
		}
		es := signerFor(t, r2, jwk.ES256)
		if !es.ActivateAt.Equal(r.clk.Now()) {
			t.Errorf("the added ES256 key signs from %v, want at once (%v)", es.ActivateAt, r.clk.Now())
		}
		if s := signerFor(t, r2, jwk.EdDSA); s.KID != ed.KID || !s.RetireAt.IsZero() {
			t.Errorf("the EdDSA key after adding ES256: %s retiring %v; want the same key, not retiring", s.KID, s.RetireAt)
		}
		// The first instance still signs EdDSA only, but verifies with
		// the new key once it has reloaded (a rolling upgrade).
		if err := r.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if !r.verifiable(es.KID) {
			t.Error("the old instance does not publish the new algorithm's key")
		}
		if _, err := r.SignerFor(jwk.ES256); !errors.Is(err, jwks.ErrNoSigningKey) {
			t.Errorf("the old instance's SignerFor(ES256) = %v; want ErrNoSigningKey (not configured there)", err)
		}
		// A revoked algorithm gets a new key at the next start.
		if err := st.RevokeSigningKey(ctx, es.KID, r.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.RetireSigningKey(ctx, ed.KID, r.clk.Now()); err != nil {
			t.Fatal(err)
		}
		r3 := r.open(t, jwk.EdDSA, jwk.ES256)
		cur := map[string][]string{}
		for _, k := range r3.Keys() {
			if k.RetireAt.IsZero() && k.RevokedAt.IsZero() {
				cur[k.Alg] = append(cur[k.Alg], k.KID)
			}
		}
		if len(cur[jwk.EdDSA]) != 1 || len(cur[jwk.ES256]) != 1 || len(r3.Keys()) != 4 {
			t.Errorf("after revoking ES256 and retiring EdDSA: current %v, %d keys; want a new key of each", cur, len(r3.Keys()))
		}
		signerFor(t, r3, jwk.ES256)
		signerFor(t, r3, jwk.EdDSA)
	})
}

// TestRingRotateOneAlg: Rotate(alg) makes a key of alg that signs after the
// publish lead and retires only alg's current key; the other algorithm's
// key signs on untouched. Rotate("") rotates the default algorithm.
func TestRingRotateOneAlg(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		r := newAlgsRing(t, st, jwk.EdDSA, jwk.ES256)
		ed, es := signerFor(t, r.Ring, jwk.EdDSA), signerFor(t, r.Ring, jwk.ES256)
		r.clk.Advance(time.Hour)
		next, err := r.Rotate(ctx, jwk.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if next.Alg != jwk.ES256 || !next.ActivateAt.Equal(r.clk.Now().Add(lead)) {
			t.Fatalf("Rotate(ES256) = %s key active at %v; want ES256 after the lead", next.Alg, next.ActivateAt)
		}
		if !slices.Contains(r.published(t), next.KID) {
			t.Fatal("the new key is not published at once")
		}
		if got := keyByID(t, r.Keys(), es.KID).RetireAt; !got.Equal(next.ActivateAt) {
			t.Errorf("old ES256 key retires at %v, want %v", got, next.ActivateAt)
		}
		if got := keyByID(t, r.Keys(), ed.KID).RetireAt; !got.IsZero() {
			t.Errorf("Rotate(ES256) retired the EdDSA key at %v", got)
		}
		if s := signerFor(t, r.Ring, jwk.ES256); s.KID != es.KID {
			t.Error("the new ES256 key signs before its publish lead")
		}
		r.clk.Advance(lead)
		if s := signerFor(t, r.Ring, jwk.ES256); s.KID != next.KID {
			t.Errorf("after the lead SignerFor(ES256) = %s, want the new key", s.KID)
		}
		if s := r.signer(t); s.KID != ed.KID {
			t.Errorf("after rotating ES256, Signer = %s %s; want the EdDSA key still", s.Alg, s.KID)
		}
		// Rotate("") is the default algorithm's.
		def, err := r.Rotate(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if def.Alg != jwk.EdDSA {
			t.Errorf("Rotate(\"\") = a %s key, want EdDSA (the default)", def.Alg)
		}
		if got := keyByID(t, r.Keys(), next.KID).RetireAt; !got.IsZero() {
			t.Errorf("Rotate(EdDSA) retired the ES256 key at %v", got)
		}
		cur := r.current()
		if !slices.Equal(cur[jwk.EdDSA], []string{def.KID}) || !slices.Equal(cur[jwk.ES256], []string{next.KID}) {
			t.Errorf("current keys %v; want one per algorithm, the newest", cur)
		}
		// The retired ES256 key leaves the JWKS after Retain and is pruned;
		// the retired EdDSA key a lead later.
		r.clk.Advance(retain)
		if n, err := r.Prune(ctx); err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want the old ES256 key", n, err)
		}
		if slices.Contains(r.published(t), es.KID) || !slices.Contains(r.published(t), ed.KID) {
			t.Errorf("JWKS after the ES256 key's Retain: %v", r.published(t))
		}
		r.clk.Advance(lead)
		if n, err := r.Prune(ctx); err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want the old EdDSA key", n, err)
		}
		if got := r.published(t); len(got) != 2 || !slices.Contains(got, def.KID) || !slices.Contains(got, next.KID) {
			t.Errorf("JWKS at the end: %v, want the two current keys", got)
		}
	})
}

// TestRingRotateAll: every configured algorithm gets a successor, each
// retiring its own predecessor.
func TestRingRotateAll(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		algs := []string{jwk.EdDSA, jwk.ES256, jwk.RS256}
		r := newAlgsRing(t, st, algs...)
		old := map[string]*jwk.Key{}
		for _, alg := range algs {
			old[alg] = signerFor(t, r.Ring, alg)
		}
		r.clk.Advance(time.Hour)
		made, err := r.RotateAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(made) != len(algs) {
			t.Fatalf("RotateAll made %d keys, want %d", len(made), len(algs))
		}
		for i, k := range made {
			if k.Alg != algs[i] || !k.ActivateAt.Equal(r.clk.Now().Add(lead)) {
				t.Errorf("key %d: %s active at %v; want %s after the lead", i, k.Alg, k.ActivateAt, algs[i])
			}
			if got := keyByID(t, r.Keys(), old[k.Alg].KID).RetireAt; !got.Equal(k.ActivateAt) {
				t.Errorf("old %s key retires at %v, want %v", k.Alg, got, k.ActivateAt)
			}
			if s := signerFor(t, r.Ring, k.Alg); s.KID != old[k.Alg].KID {
				t.Errorf("%s: the new key signs before its lead", k.Alg)
			}
		}
		if n := len(r.published(t)); n != 6 {
			t.Errorf("%d keys published, want 6", n)
		}
		r.clk.Advance(lead)
		for _, k := range made {
			if s := signerFor(t, r.Ring, k.Alg); s.KID != k.KID {
				t.Errorf("%s after the lead: signer %s, want the new key", k.Alg, s.KID)
			}
		}
		r.clk.Advance(retain)
		if n, err := r.Prune(ctx); err != nil || n != 3 {
			t.Fatalf("Prune = %d, %v; want the three old keys", n, err)
		}
		if n := len(r.Keys()); n != 3 {
			t.Errorf("%d keys after Prune, want 3", n)
		}
	})
}

// TestRingRotateAlgNotConfigured: rotating an algorithm the ring does not
// sign with publishes its key (ahead of adding the algorithm) without
// touching the others; once configured, that key is used, not replaced.
func TestRingRotateAlgNotConfigured(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		r := newAlgsRing(t, st, jwk.EdDSA)
		ed := r.signer(t)
		es, err := r.Rotate(ctx, jwk.ES256)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(r.published(t), es.KID) || !r.verifiable(es.KID) {
			t.Error("the ES256 key is not published")
		}
		if _, err := r.SignerFor(jwk.ES256); !errors.Is(err, jwks.ErrNoSigningKey) {
			t.Errorf("SignerFor(ES256) on an EdDSA ring = %v, want ErrNoSigningKey", err)
		}
		if s := r.signer(t); s.KID != ed.KID || !keyByID(t, r.Keys(), ed.KID).RetireAt.IsZero() {
			t.Error("rotating ES256 changed the EdDSA key")
		}
		// Configured before the lead: the pre-published key is kept, and
		// signs from its activation (no second key).
		r2 := r.open(t, jwk.EdDSA, jwk.ES256)
		if n := len(r2.Keys()); n != 2 {
			t.Errorf("%d keys after configuring ES256, want 2 (the pre-published one reused)", n)
		}
		if _, err := r2.SignerFor(jwk.ES256); !errors.Is(err, jwks.ErrNoSigningKey) {
			t.Errorf("SignerFor(ES256) during the lead = %v, want ErrNoSigningKey", err)
		}
		r.clk.Advance(lead)
		if s := signerFor(t, r2, jwk.ES256); s.KID != es.KID {
			t.Errorf("SignerFor(ES256) after the lead = %s, want the pre-published key", s.KID)
		}
		if _, err := r.Rotate(ctx, "HS256"); err == nil {
			t.Error("Rotate(HS256) succeeded")
		}
	})
}

// TestRingDueSeveralAlgs: a scheduled rotation is due as soon as one
// configured algorithm's key is old (or it has none); RotateAll then
// brings them all in step.
func TestRingDueSeveralAlgs(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		const every = 24 * time.Hour
		r := newAlgsRing(t, st, jwk.EdDSA)
		r.clk.Advance(every / 2)
		r.Ring = r.open(t, jwk.EdDSA, jwk.ES256) // ES256 added half-way
		if r.Due(every) {
			t.Fatal("Due with both keys younger than every")
		}
		r.clk.Advance(every / 2)
		if !r.Due(every) {
			t.Fatal("not Due with the EdDSA key every old")
		}
		if _, err := r.RotateAll(ctx); err != nil {
			t.Fatal(err)
		}
		if r.Due(every) {
			t.Fatal("Due right after RotateAll")
		}
		r.clk.Advance(lead + every - time.Microsecond)
		if r.Due(every) {
			t.Fatal("Due before the new keys are every old")
		}
		r.clk.Advance(time.Microsecond)
		if !r.Due(every) {
			t.Fatal("not Due when the new keys are every old")
		}
		if _, err := r.RotateAll(ctx); err != nil {
			t.Fatal(err)
		}
		// A configured algorithm left without a current key (revoked by
		// hand in the store) is due at once.
		es := r.current()[jwk.ES256]
		if len(es) != 1 {
			t.Fatalf("current ES256 keys %v", es)
		}
		if err := st.RevokeSigningKey(ctx, es[0], r.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if !r.Due(every) {
			t.Error("not Due with no current ES256 key")
		}
		// An algorithm the ring does not sign with never makes it due.
		r.Ring = r.open(t, jwk.EdDSA)
		if r.Due(every) {
			t.Error("Due because of an algorithm not configured")
		}
	})
}

// TestRingRevokeSeveralAlgs: revoking a key in service replaces it with a
// key of its own algorithm that signs at once; the other algorithm's key
// is not touched.
func TestRingRevokeSeveralAlgs(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		r := newAlgsRing(t, st, jwk.EdDSA, jwk.ES256)
		r.clk.Advance(time.Hour)
		for _, tt := range []struct{ target, other string }{{jwk.ES256, jwk.EdDSA}, {jwk.EdDSA, jwk.ES256}} {
			target, other := signerFor(t, r.Ring, tt.target), signerFor(t, r.Ring, tt.other)
			succ := r.revoke(t, target.KID)
			if succ == nil || succ.Alg != tt.target || !succ.ActivateAt.Equal(r.clk.Now()) {
				t.Fatalf("Revoke(%s key) successor = %+v; want a %s key active now", tt.target, succ, tt.target)
			}
			if s := signerFor(t, r.Ring, tt.target); s.KID != succ.KID {
				t.Errorf("SignerFor(%s) after Revoke = %s, want the successor", tt.target, s.KID)
			}
			if s := signerFor(t, r.Ring, tt.other); s.KID != other.KID || !s.RetireAt.IsZero() {
				t.Errorf("revoking the %s key changed the %s key", tt.target, tt.other)
			}
			if r.verifiable(target.KID) || slices.Contains(r.published(t), target.KID) {
				t.Errorf("revoked %s key still published", tt.target)
			}
			r.clk.Advance(time.Minute)
		}
		if s := r.signer(t); s.Alg != jwk.EdDSA {
			t.Errorf("Signer = a %s key, want EdDSA", s.Alg)
		}
	})
}

// TestAlgsInUse: the algorithms with a current key in the store, whatever
// the asking process is configured with.
func TestAlgsInUse(t *testing.T) {
	eachStore(t, func(t *testing.T, st jwks.Store) {
		ctx := context.Background()
		inUse := func() []string {
			t.Helper()
			algs, err := jwks.AlgsInUse(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			return algs
		}
		if got := inUse(); len(got) != 0 {
			t.Fatalf("AlgsInUse(empty store) = %v", got)
		}
		r := newAlgsRing(t, st, jwk.ES256)
		if got := inUse(); !slices.Equal(got, []string{jwk.ES256}) {
			t.Errorf("AlgsInUse = %v, want [ES256]", got)
		}
		r.clk.Advance(time.Minute)
		r.Ring = r.open(t, jwk.EdDSA, jwk.ES256)
		if got := inUse(); !slices.Equal(got, []string{jwk.ES256, jwk.EdDSA}) {
			t.Errorf("AlgsInUse = %v, want [ES256 EdDSA] (oldest current key first)", got)
		}
		// Retired and revoked keys do not count; a rotation keeps the
		// algorithm in use.
		if _, err := r.Rotate(ctx, jwk.ES256); err != nil {
			t.Fatal(err)
		}
		ed := signerFor(t, r.Ring, jwk.EdDSA)
		if err := st.RevokeSigningKey(ctx, ed.KID, r.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if got := inUse(); !slices.Equal(got, []string{jwk.ES256}) {
			t.Errorf("AlgsInUse after revoking the EdDSA key = %v, want [ES256]", got)
		}
		ctx2, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := jwks.AlgsInUse(ctx2, st); !errors.Is(err, context.Canceled) {
			t.Errorf("AlgsInUse with a cancelled context = %v, want context.Canceled", err)
		}
	})
}
