package jwks

import (
	"context"
	"time"
)

// StoredKey is a signing key as the store keeps it: the private key only
// sealed (AES-256-GCM under the key-encryption key).
type StoredKey struct {
	KID           string
	Alg           string // "EdDSA", "ES256" or "RS256"
	Public        []byte // PKIX, ASN.1 DER
	PrivateSealed []byte // nonce || AES-256-GCM(PKCS #8 DER), KID as additional data
	CreatedAt     time.Time
	// ActivateAt is when the key may start signing. It is published in
	// the JWKS from CreatedAt, so verifiers know it before any token
	// signed with it exists.
	ActivateAt time.Time
	// RetireAt is when the key stopped (or stops) signing; zero while it
	// has no successor. It stays published until every token it signed
	// has expired.
	RetireAt time.Time
	// RevokedAt is when the key was withdrawn before its time (a
	// compromised key): from then on it is neither published nor used to
	// verify, and the revocation feed announces it. Zero: not revoked.
	RevokedAt time.Time
}

// Store persists signing keys. Every method honours ctx.
type Store interface {
	// CreateSigningKey stores k. authd.ErrConflict when the KID exists.
	CreateSigningKey(ctx context.Context, k *StoredKey) error
	// SigningKeys returns every stored key, oldest CreatedAt first; an
	// empty slice when there are none.
	SigningKeys(ctx context.Context) ([]*StoredKey, error)
	// RetireSigningKey sets RetireAt of the key if it is zero or later
	// than at. authd.ErrNotFound when no key has that KID.
	RetireSigningKey(ctx context.Context, kid string, at time.Time) error
	// RevokeSigningKey sets RevokedAt of the key if it is zero (a second
	// revocation keeps the first time). authd.ErrNotFound when no key has
	// that KID.
	RevokeSigningKey(ctx context.Context, kid string, at time.Time) error
	// DeleteSigningKey removes the key. authd.ErrNotFound when absent.
	DeleteSigningKey(ctx context.Context, kid string) error
}
