package jwks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwk"
)

// RingConfig configures a Ring. Store is required.
type RingConfig struct {
	Store Store
	KEK   KEK
	// Algs are the algorithms the ring signs with, each with its own
	// current key, rotated and retired independently. The first is the
	// default: Signer's (access tokens). SignerFor serves only these.
	// Empty: Alg alone.
	Algs []string
	// Alg is the one algorithm of a ring that signs with one (Algs
	// [Alg]); default EdDSA. If both are set, Alg must be Algs[0].
	Alg string
	// PublishLead is how long a rotated key is published before it
	// signs, so every instance and every verifier's JWKS cache knows it
	// first. Default 1 minute (longer than the Ring's reload interval).
	PublishLead time.Duration
	// Retain keeps a retired key published this long after it stopped
	// signing: at least the longest access-token lifetime plus leeway.
	// Default 11 minutes.
	Retain time.Duration
	// OnRevoke, if set, is told about every key a Reload finds newly
	// revoked (by this process or by another one sharing the store), after
	// the ring stopped publishing and verifying it: authd passes it to the
	// revocation feed, so resource servers drop the key too.
	OnRevoke func(kid string, at time.Time)
	Now      func() time.Time
}

// ReloadEvery is how often a running authd re-reads the keys (one small
// SELECT): a key revoked by another instance or by `authd keys revoke`
// stops verifying everywhere within about this long, and well within 1 s.
const ReloadEvery = 500 * time.Millisecond

// ErrUnknownKey means no stored key has the KID given.
var ErrUnknownKey = errors.New("jwks: no signing key with that KID")

// ErrAlreadyRevoked means the key was revoked before.
var ErrAlreadyRevoked = errors.New("jwks: signing key already revoked")

// ErrNoSigningKey means no key may sign now (all retired, or only keys
// waiting for their publish lead), or, from SignerFor, that the ring does
// not sign with that algorithm at all.
var ErrNoSigningKey = errors.New("jwks: no active signing key")

// Ring holds an instance's keys, loaded from the store. Readers never
// lock: the key set is an immutable snapshot swapped atomically.
type Ring struct {
	cfg  RingConfig
	keys atomic.Pointer[[]*jwk.Key]
	mu   sync.Mutex // serialises Rotate, Revoke and the first-key creation

	// reloadMu serialises Reload, so an older read of the store never
	// replaces a newer one (a revoked key must not come back, even for an
	// instant). opened holds the keys already decrypted, by KID, so a
	// reload every ReloadEvery costs one query and no decryption.
	reloadMu sync.Mutex
	opened   map[string]openedKey
}

type openedKey struct {
	sealed []byte
	key    *jwk.Key
}

// NewRing loads the keys and gives every configured algorithm that has
// no current key (one neither retired nor revoked) a new one. Such a key
// signs at once, as the first key of a new deployment always has: no key
// of its algorithm exists that it could wait behind, and another instance
// learns it at its next Reload (ReloadEvery). To publish a key well before
// an instance signs with it, create it first with `authd keys rotate
// --alg` (Rotate with an algorithm not yet configured), then add the
// algorithm to the configuration.
func NewRing(ctx context.Context, cfg RingConfig) (*Ring, error) {
	algs, err := ringAlgs(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Algs, cfg.Alg = algs, algs[0]
	if cfg.PublishLead <= 0 {
		cfg.PublishLead = time.Minute
	}
	if cfg.Retain <= 0 {
		cfg.Retain = 11 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Ring{cfg: cfg}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	created := false
	for _, alg := range cfg.Algs {
		if r.hasFuture(alg) {
			continue
		}
		now := cfg.Now()
		k, err := jwk.Generate(alg, now, now)
		if err != nil {
			return nil, err
		}
		if err := r.store(ctx, k); err != nil {
			return nil, err
		}
		created = true
	}
	if created {
		if err := r.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// ringAlgs returns the configured algorithms, checked: at least one, each
// supported, none twice.
func ringAlgs(cfg RingConfig) ([]string, error) {
	algs := slices.Clone(cfg.Algs)
	switch {
	case len(algs) == 0 && cfg.Alg == "":
		algs = []string{jwk.EdDSA}
	case len(algs) == 0:
		algs = []string{cfg.Alg}
	case cfg.Alg != "" && cfg.Alg != algs[0]:
		return nil, fmt.Errorf("jwks: Alg %q is not the first of Algs %v", cfg.Alg, algs)
	}
	for i, alg := range algs {
		if !jwk.Supported(alg) {
			return nil, fmt.Errorf("jwks: unsupported algorithm %q (want EdDSA, ES256 or RS256)", alg)
		}
		if slices.Contains(algs[:i], alg) {
			return nil, fmt.Errorf("jwks: algorithm %s configured twice", alg)
		}
	}
	return algs, nil
}

// Algs returns the algorithms the ring signs with, the default first.
func (r *Ring) Algs() []string { return slices.Clone(r.cfg.Algs) }

// current reports whether k is a current key: neither retired (it has
// no successor) nor revoked.
func current(k *jwk.Key) bool { return k.RetireAt.IsZero() && k.RevokedAt.IsZero() }

// hasFuture reports whether some key of alg is current.
func (r *Ring) hasFuture(alg string) bool {
	for _, k := range r.snapshot() {
		if k.Alg == alg && current(k) {
			return true
		}
	}
	return false
}

// AlgsInUse returns the algorithms of the current keys in the store (keys
// neither retired nor revoked), in the order of their oldest current key:
// the algorithms the deployment sharing the store signs with, whatever
// the configuration of the process asking. Empty for a store without
// keys.
func AlgsInUse(ctx context.Context, s Store) ([]string, error) {
	stored, err := s.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("jwks: load keys: %w", err)
	}
	var algs []string
	for _, k := range stored {
		if k.RetireAt.IsZero() && k.RevokedAt.IsZero() && !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	return algs, nil
}

func (r *Ring) snapshot() []*jwk.Key {
	if p := r.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// store seals k and writes it; the caller reloads.
func (r *Ring) store(ctx context.Context, k *jwk.Key) error {
	sk, err := Seal(k, r.cfg.KEK)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.CreateSigningKey(ctx, sk); err != nil {
		return fmt.Errorf("jwks: store key: %w", err)
	}
	return nil
}

// Reload re-reads the keys from the store (another instance may have
// rotated or revoked one). Keys decrypted before are reused.
func (r *Ring) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	stored, err := r.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwks: load keys: %w", err)
	}
	keys := make([]*jwk.Key, 0, len(stored))
	opened := make(map[string]openedKey, len(stored))
	for _, sk := range stored {
		k := r.reuse(sk)
		if k == nil {
			if k, err = Open(sk, r.cfg.KEK); err != nil {
				return err
			}
		}
		opened[sk.KID] = openedKey{sealed: sk.PrivateSealed, key: k}
		keys = append(keys, k)
	}
	prev := r.keys.Load()
	r.opened = opened
	r.keys.Store(&keys)
	if prev != nil && r.cfg.OnRevoke != nil {
		was := map[string]bool{}
		for _, k := range *prev {
			was[k.KID] = !k.RevokedAt.IsZero()
		}
		for _, k := range keys {
			if !k.RevokedAt.IsZero() && !was[k.KID] {
				r.cfg.OnRevoke(k.KID, k.RevokedAt)
			}
		}
	}
	return nil
}

// reuse returns the already decrypted key for sk (a copy when its times
// changed), or nil when sk must be opened. The caller holds reloadMu.
func (r *Ring) reuse(sk *StoredKey) *jwk.Key {
	o, ok := r.opened[sk.KID]
	if !ok || o.key.Alg != sk.Alg || !bytes.Equal(o.sealed, sk.PrivateSealed) {
		return nil
	}
	k := o.key
	if k.CreatedAt.Equal(sk.CreatedAt) && k.ActivateAt.Equal(sk.ActivateAt) && k.RetireAt.Equal(sk.RetireAt) && k.RevokedAt.Equal(sk.RevokedAt) {
		return k
	}
	c := *k // snapshots are immutable: never change a published *Key
	c.CreatedAt, c.ActivateAt, c.RetireAt, c.RevokedAt = sk.CreatedAt, sk.ActivateAt, sk.RetireAt, sk.RevokedAt
	return &c
}

// Signer returns the key of the default algorithm (the first configured)
// to sign with now: see SignerFor.
func (r *Ring) Signer() (*jwk.Key, error) { return r.signerFor(r.cfg.Algs[0]) }

// SignerFor returns the key of alg to sign with now: the most recently
// activated key of alg whose activation has come and which is neither
// retired nor revoked. The error wraps ErrNoSigningKey when alg is not
// one of the ring's algorithms (Algs), or no key of it may sign now.
func (r *Ring) SignerFor(alg string) (*jwk.Key, error) {
	if !slices.Contains(r.cfg.Algs, alg) {
		return nil, fmt.Errorf("jwks: %q is not one of the signing algorithms (%s): %w", alg, strings.Join(r.cfg.Algs, ", "), ErrNoSigningKey)
	}
	return r.signerFor(alg)
}

func (r *Ring) signerFor(alg string) (*jwk.Key, error) {
	now := r.cfg.Now()
	var best *jwk.Key
	for _, k := range r.snapshot() {
		if k.Alg != alg || k.ActivateAt.After(now) || (!k.RetireAt.IsZero() && !now.Before(k.RetireAt)) || !k.RevokedAt.IsZero() {
			continue
		}
		if best == nil || k.ActivateAt.After(best.ActivateAt) {
			best = k
		}
	}
	if best == nil {
		return nil, fmt.Errorf("jwks: no %s key may sign now: %w", alg, ErrNoSigningKey)
	}
	return best, nil
}

// published reports whether k belongs in the JWKS at now: not revoked,
// and not retired for longer than Retain.
func (r *Ring) published(k *jwk.Key, now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.RetireAt.IsZero() || now.Before(k.RetireAt.Add(r.cfg.Retain)))
}

// VerificationKey returns the published key with that ID. A retired key
// verifies only tokens issued before its retirement: check Key.Verifies.
func (r *Ring) VerificationKey(kid string) (*jwk.Key, bool) {
	now := r.cfg.Now()
	for _, k := range r.snapshot() {
		if k.KID == kid && r.published(k, now) {
			return k, true
		}
	}
	return nil, false
}

// Keys returns every key the store holds, oldest first.
func (r *Ring) Keys() []*jwk.Key { return slices.Clone(r.snapshot()) }

// Revoked returns the revoked keys the store still holds (each for Retain
// after its revocation), oldest first.
func (r *Ring) Revoked() []*jwk.Key {
	var out []*jwk.Key
	for _, k := range r.snapshot() {
		if !k.RevokedAt.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// Set is a JWK Set document (RFC 7517 §5).
type Set struct {
	Keys []jwk.JWK `json:"keys"`
}

// JWKS returns the public JWK Set: every published key, public members
// only, newest first.
func (r *Ring) JWKS() ([]byte, error) {
	now := r.cfg.Now()
	set := Set{Keys: []jwk.JWK{}}
	keys := r.snapshot()
	for i := len(keys) - 1; i >= 0; i-- {
		if !r.published(keys[i], now) {
			continue
		}
		j, err := keys[i].JWK()
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// Rotate creates a new key of alg (empty: the default algorithm). It is
// published at once and signs from PublishLead on; every current key of
// alg retires at that instant and stays published for Retain afterwards.
// Keys of other algorithms are not touched. alg may be one the ring does
// not sign with (any jwk.Supported one): the key is then published, and
// signs once the algorithm is configured (`authd keys rotate --alg`
// before adding it to --signing-alg).
func (r *Ring) Rotate(ctx context.Context, alg string) (*jwk.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rotate(ctx, alg, r.cfg.PublishLead)
}

// RotateAll rotates every configured algorithm (see Rotate), in the order
// of Algs, and returns the new keys. On an error it returns the keys made
// before it.
func (r *Ring) RotateAll(ctx context.Context) ([]*jwk.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var made []*jwk.Key
	for _, alg := range r.cfg.Algs {
		k, err := r.rotate(ctx, alg, r.cfg.PublishLead)
		if err != nil {
			return made, err
		}
		made = append(made, k)
	}
	return made, nil
}

// rotate is Rotate with a given publish lead; the caller holds mu.
func (r *Ring) rotate(ctx context.Context, alg string, lead time.Duration) (*jwk.Key, error) {
	if alg == "" {
		alg = r.cfg.Algs[0]
	}
	now := r.cfg.Now()
	k, err := jwk.Generate(alg, now, now.Add(lead))
	if err != nil {
		return nil, err
	}
	if err := r.store(ctx, k); err != nil {
		return nil, err
	}
	for _, old := range r.snapshot() {
		if old.Alg == alg && (old.RetireAt.IsZero() || old.RetireAt.After(k.ActivateAt)) {
			if err := r.cfg.Store.RetireSigningKey(ctx, old.KID, k.ActivateAt); err != nil {
				return nil, fmt.Errorf("jwks: retire key %s: %w", old.KID, err)
			}
		}
	}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Revoke withdraws the key kid at once: it leaves the JWKS and stops
// verifying (its tokens are refused; their sessions live on and get
// tokens from another key at their next refresh). A key still in service
// (signing, or waiting to sign) is first replaced by a new key of its own
// algorithm that signs at once, without the publish lead, so issuance
// never stops: a verifier meeting the new kid fetches the JWKS again. It returns that successor, or nil when no rotation was needed.
// Other instances apply the revocation at their next Reload.
func (r *Ring) Revoke(ctx context.Context, kid string) (*jwk.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.Reload(ctx); err != nil { // decide on the store's state, not a stale snapshot
		return nil, err
	}
	var target *jwk.Key
	for _, k := range r.snapshot() {
		if k.KID == kid {
			target = k
		}
	}
	switch {
	case target == nil:
		return nil, fmt.Errorf("jwks: revoke %q: %w", kid, ErrUnknownKey)
	case !target.RevokedAt.IsZero():
		return nil, fmt.Errorf("jwks: revoke %q (at %s): %w", kid, target.RevokedAt.Format(time.RFC3339), ErrAlreadyRevoked)
	}
	now := r.cfg.Now()
	var successor *jwk.Key
	if target.RetireAt.IsZero() || target.RetireAt.After(now) {
		var err error
		if successor, err = r.rotate(ctx, target.Alg, 0); err != nil {
			return nil, fmt.Errorf("jwks: revoke %q: replace it first: %w", kid, err)
		}
	}
	if err := r.cfg.Store.RevokeSigningKey(ctx, kid, now); err != nil {
		if errors.Is(err, authd.ErrNotFound) { // pruned or deleted meanwhile
			err = ErrUnknownKey
		}
		return successor, fmt.Errorf("jwks: revoke %q: %w", kid, err)
	}
	return successor, r.Reload(ctx)
}

// Prune deletes keys that are no longer published; a revoked key is kept
// for Retain after its revocation, so the revocation feed can still tell
// resource servers that reconnect about it.
func (r *Ring) Prune(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	n := 0
	for _, k := range r.snapshot() {
		if !r.published(k, now) && (k.RevokedAt.IsZero() || !now.Before(k.RevokedAt.Add(r.cfg.Retain))) {
			if err := r.cfg.Store.DeleteSigningKey(ctx, k.KID); err != nil {
				return n, fmt.Errorf("jwks: prune key %s: %w", k.KID, err)
			}
			n++
		}
	}
	if n > 0 {
		return n, r.Reload(ctx)
	}
	return 0, nil
}

// Due reports whether a scheduled rotation should run: whether some
// configured algorithm has no current key activated less than every ago
// (its signing key is older than every and no successor is pending, or
// it has no current key at all). The rotation then rotates them all
// (RotateAll), which keeps their keys' ages in step.
func (r *Ring) Due(every time.Duration) bool {
	if every <= 0 {
		return false
	}
	now := r.cfg.Now()
	keys := r.snapshot()
	for _, alg := range r.cfg.Algs {
		fresh := false
		for _, k := range keys {
			if k.Alg == alg && current(k) && now.Sub(k.ActivateAt) < every {
				fresh = true
				break
			}
		}
		if !fresh {
			return true
		}
	}
	return false
}
