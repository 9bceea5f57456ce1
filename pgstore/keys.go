package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
)

// CreateSigningKey implements jwks.Store.
func (s *Store) CreateSigningKey(ctx context.Context, k *jwks.StoredKey) error {
	_, err := s.exec(ctx, "create signing key", `INSERT INTO signing_keys
		(kid, alg, public, private_sealed, created_at, activate_at, retire_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.KID, k.Alg, nonNil(k.Public), nonNil(k.PrivateSealed), k.CreatedAt, k.ActivateAt, nullTime(k.RetireAt), nullTime(k.RevokedAt))
	return err
}

// SigningKeys implements jwks.Store: oldest CreatedAt first, ties by KID.
func (s *Store) SigningKeys(ctx context.Context) ([]*jwks.StoredKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT kid, alg, public, private_sealed, created_at, activate_at, retire_at, revoked_at
		FROM signing_keys ORDER BY created_at, kid`)
	return collect(ctx, s, "signing keys", rows, err, func(sc scanner) (*jwks.StoredKey, error) {
		var (
			k               jwks.StoredKey
			retire, revoked pgtype.Timestamptz
		)
		if err := sc.Scan(&k.KID, &k.Alg, &k.Public, &k.PrivateSealed, &k.CreatedAt, &k.ActivateAt, &retire, &revoked); err != nil {
			return nil, err
		}
		k.CreatedAt = utc(k.CreatedAt)
		k.ActivateAt = utc(k.ActivateAt)
		if retire.Valid {
			k.RetireAt = utc(retire.Time)
		}
		if revoked.Valid {
			k.RevokedAt = utc(revoked.Time)
		}
		return &k, nil
	})
}

// RetireSigningKey implements jwks.Store with one UPDATE that matches the
// key whenever it exists and moves retire_at only earlier (LEAST ignores a
// NULL), so concurrent calls leave the earliest time: a waiting UPDATE
// recomputes LEAST from the row its predecessor committed. A zero at is
// refused: it would otherwise "retire" the key at the beginning of time.
func (s *Store) RetireSigningKey(ctx context.Context, kid string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return authd.Invalid("retire_at", "required", "retirement time must be set")
	}
	return s.execOne(ctx, "retire signing key",
		`UPDATE signing_keys SET retire_at = LEAST(retire_at, $1) WHERE kid = $2`, at, kid)
}

// RevokeSigningKey implements jwks.Store: one UPDATE that matches the key
// whenever it exists and sets revoked_at only when it is NULL, so the
// first revocation's time stays.
func (s *Store) RevokeSigningKey(ctx context.Context, kid string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return authd.Invalid("revoked_at", "required", "revocation time must be set")
	}
	return s.execOne(ctx, "revoke signing key",
		`UPDATE signing_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE kid = $2`, at, kid)
}

// DeleteSigningKey implements jwks.Store.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	return s.execOne(ctx, "delete signing key", `DELETE FROM signing_keys WHERE kid = $1`, kid)
}
