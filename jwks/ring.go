package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RingConfig configures a Ring. Store is required.
type RingConfig struct {
	Store Store
	KEK   KEK
	// Alg is the algorithm of generated keys; default EdDSA.
	Alg string
	// PublishLead is how long a rotated key is published before it
	// signs, so every instance and every verifier's JWKS cache knows it
	// first. Default 1 minute (longer than the Ring's reload interval).
	PublishLead time.Duration
	// Retain keeps a retired key published this long after it stopped
	// signing: at least the longest access-token lifetime plus leeway.
	// Default 11 minutes.
	Retain time.Duration
	Now    func() time.Time
}

// ErrNoSigningKey means no key may sign now (all retired, or only keys
// waiting for their publish lead).
var ErrNoSigningKey = errors.New("jwks: no active signing key")

// Ring holds an instance's keys, loaded from the store. Readers never
// lock: the key set is an immutable snapshot swapped atomically.
type Ring struct {
	cfg  RingConfig
	keys atomic.Pointer[[]*Key]
	mu   sync.Mutex // serialises Rotate and the first-key creation
}

// NewRing loads the keys, creating the first one when the store has no
// key that can sign now or later.
func NewRing(ctx context.Context, cfg RingConfig) (*Ring, error) {
	if cfg.Alg == "" {
		cfg.Alg = EdDSA
	}
	if !Supported(cfg.Alg) {
		return nil, fmt.Errorf("jwks: unsupported algorithm %q (want EdDSA, ES256 or RS256)", cfg.Alg)
	}
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
	if !r.hasFuture() {
		now := cfg.Now()
		k, err := Generate(cfg.Alg, now, now)
		if err != nil {
			return nil, err
		}
		if err := r.store(ctx, k); err != nil {
			return nil, err
		}
		if err := r.Reload(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// hasFuture reports whether some key is not retired.
func (r *Ring) hasFuture() bool {
	for _, k := range r.snapshot() {
		if k.RetireAt.IsZero() {
			return true
		}
	}
	return false
}

func (r *Ring) snapshot() []*Key {
	if p := r.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// store seals k and writes it; the caller reloads.
func (r *Ring) store(ctx context.Context, k *Key) error {
	sk, err := k.Seal(r.cfg.KEK)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.CreateSigningKey(ctx, sk); err != nil {
		return fmt.Errorf("jwks: store key: %w", err)
	}
	return nil
}

// Reload re-reads the keys from the store (another instance may have
// rotated).
func (r *Ring) Reload(ctx context.Context) error {
	stored, err := r.cfg.Store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwks: load keys: %w", err)
	}
	keys := make([]*Key, 0, len(stored))
	for _, sk := range stored {
		k, err := Open(sk, r.cfg.KEK)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	r.keys.Store(&keys)
	return nil
}

// Signer returns the key to sign with now: the most recently activated
// key whose activation has come and which is not retired.
func (r *Ring) Signer() (*Key, error) {
	now := r.cfg.Now()
	var best *Key
	for _, k := range r.snapshot() {
		if k.ActivateAt.After(now) || (!k.RetireAt.IsZero() && !now.Before(k.RetireAt)) {
			continue
		}
		if best == nil || k.ActivateAt.After(best.ActivateAt) {
			best = k
		}
	}
	if best == nil {
		return nil, ErrNoSigningKey
	}
	return best, nil
}

// published reports whether k belongs in the JWKS at now.
func (r *Ring) published(k *Key, now time.Time) bool {
	return k.RetireAt.IsZero() || now.Before(k.RetireAt.Add(r.cfg.Retain))
}

// VerificationKey returns the published key with that ID.
func (r *Ring) VerificationKey(kid string) (*Key, bool) {
	now := r.cfg.Now()
	for _, k := range r.snapshot() {
		if k.KID == kid && r.published(k, now) {
			return k, true
		}
	}
	return nil, false
}

// Keys returns every key the store holds, oldest first.
func (r *Ring) Keys() []*Key { return slices.Clone(r.snapshot()) }

// Set is a JWK Set document (RFC 7517 §5).
type Set struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the public JWK Set: every published key, public members
// only, newest first.
func (r *Ring) JWKS() ([]byte, error) {
	now := r.cfg.Now()
	set := Set{Keys: []JWK{}}
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

// Rotate creates a new key of alg (empty: the configured one). It is
// published at once and signs from PublishLead on; every current key
// retires at that instant and stays published for Retain afterwards.
func (r *Ring) Rotate(ctx context.Context, alg string) (*Key, error) {
	if alg == "" {
		alg = r.cfg.Alg
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	k, err := Generate(alg, now, now.Add(r.cfg.PublishLead))
	if err != nil {
		return nil, err
	}
	if err := r.store(ctx, k); err != nil {
		return nil, err
	}
	for _, old := range r.snapshot() {
		if old.RetireAt.IsZero() || old.RetireAt.After(k.ActivateAt) {
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

// Prune deletes keys that are no longer published.
func (r *Ring) Prune(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	n := 0
	for _, k := range r.snapshot() {
		if !r.published(k, now) {
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

// Due reports whether the signing key is older than every and no
// successor is pending, i.e. whether a scheduled rotation should run.
func (r *Ring) Due(every time.Duration) bool {
	if every <= 0 {
		return false
	}
	now := r.cfg.Now()
	for _, k := range r.snapshot() {
		if k.RetireAt.IsZero() && now.Sub(k.ActivateAt) < every {
			return false
		}
	}
	return true
}
