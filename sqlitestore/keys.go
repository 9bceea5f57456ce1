package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
)

var _ jwks.Store = (*Store)(nil)

// CreateSigningKey implements jwks.Store.
func (s *Store) CreateSigningKey(ctx context.Context, k *jwks.StoredKey) error {
	_, err := s.exec(ctx, "create signing key", `INSERT INTO signing_keys
		(kid, alg, public, private_sealed, created_at, activate_at, retire_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.Alg, nonNil(k.Public), nonNil(k.PrivateSealed),
		micros(k.CreatedAt), micros(k.ActivateAt), nullMicros(k.RetireAt), nullMicros(k.RevokedAt))
	return err
}

// nonNil keeps a nil slice out of a NOT NULL BLOB column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SigningKeys implements jwks.Store: oldest CreatedAt first, ties by KID.
func (s *Store) SigningKeys(ctx context.Context) ([]*jwks.StoredKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT kid, alg, public, private_sealed, created_at, activate_at, retire_at, revoked_at
		FROM signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, fail(ctx, "signing keys", err)
	}
	defer rows.Close()
	out := []*jwks.StoredKey{}
	for rows.Next() {
		var (
			k                 jwks.StoredKey
			created, activate int64
			retire, revoked   sql.NullInt64
		)
		if err := rows.Scan(&k.KID, &k.Alg, &k.Public, &k.PrivateSealed, &created, &activate, &retire, &revoked); err != nil {
			return nil, fail(ctx, "signing keys", err)
		}
		k.CreatedAt = fromMicros(created)
		k.ActivateAt = fromMicros(activate)
		k.RetireAt = fromNullMicros(retire)
		k.RevokedAt = fromNullMicros(revoked)
		out = append(out, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "signing keys", err)
	}
	return out, nil
}

// RetireSigningKey implements jwks.Store with one UPDATE that matches the
// key whenever it exists and moves retire_at only earlier, so concurrent
// calls leave the earliest time. A zero at is refused: it would otherwise
// "retire" the key at the beginning of time.
func (s *Store) RetireSigningKey(ctx context.Context, kid string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if at.IsZero() {
		return authd.Invalid("retire_at", "required", "retirement time must be set")
	}
	return s.execOne(ctx, "retire signing key", `UPDATE signing_keys
		SET retire_at = CASE WHEN retire_at IS NULL OR retire_at > ?1 THEN ?1 ELSE retire_at END
		WHERE kid = ?2`, micros(at), kid)
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
		`UPDATE signing_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE kid = ?2`, micros(at), kid)
}

// DeleteSigningKey implements jwks.Store.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	return s.execOne(ctx, "delete signing key", `DELETE FROM signing_keys WHERE kid = ?`, kid)
}
