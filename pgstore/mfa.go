package pgstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
	"github.com/jackc/pgx/v5"
)

var _ mfa.Store = (*Store)(nil)

// PutTOTP implements mfa.Store: the upsert leaves a confirmed secret alone
// (its WHERE), and then no row was written.
func (s *Store) PutTOTP(ctx context.Context, t *mfa.TOTP) error {
	n, err := s.exec(ctx, "put totp", `INSERT INTO mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		WHERE mfa_totp.confirmed_at IS NULL`, t.UserID, nonNil(t.Secret), t.CreatedAt)
	if err != nil {
		return err
	}
	if n == 0 {
		return authd.ErrConflict
	}
	return nil
}

// GetTOTP implements mfa.Store.
func (s *Store) GetTOTP(ctx context.Context, userID string) (*mfa.TOTP, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "get totp", s.pool.QueryRow(ctx,
		`SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = $1`, userID),
		func(sc scanner) (*mfa.TOTP, error) {
			t := mfa.TOTP{UserID: userID}
			var confirmed *time.Time
			if err := sc.Scan(&t.Secret, &t.CreatedAt, &confirmed, &t.LastStep); err != nil {
				return nil, err
			}
			t.CreatedAt = utc(t.CreatedAt)
			if confirmed != nil {
				t.ConfirmedAt = utc(*confirmed)
			}
			return &t, nil
		})
}

// ConfirmTOTP implements mfa.Store in one transaction: the conditional
// UPDATE decides which of parallel confirmations wins.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, codes [][]byte, at time.Time) error {
	const op = "confirm totp"
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkCodes(codes); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE mfa_totp SET confirmed_at = $1, last_step = $2 WHERE user_id = $3 AND confirmed_at IS NULL`,
			at, step, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return authd.ErrNotFound
		}
		return replaceCodes(ctx, tx, userID, codes)
	})
	if errors.Is(err, authd.ErrNotFound) {
		return err
	}
	if err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

func checkCodes(codes [][]byte) error {
	for _, c := range codes {
		if len(c) != 32 {
			return authd.Invalid("code_hash", "invalid", "recovery code hash must be 32 bytes")
		}
	}
	return nil
}

func replaceCodes(ctx context.Context, tx pgx.Tx, userID string, codes [][]byte) error {
	if _, err := tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	if len(codes) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])`, userID, codes)
	return err
}

// UseTOTPStep implements mfa.Store: one conditional UPDATE.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := s.exec(ctx, "use totp step", `UPDATE mfa_totp SET last_step = $1
		WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1`, step, userID)
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	// No row raised: a replay, unless there is no confirmed secret.
	t, err := s.GetTOTP(ctx, userID)
	if err != nil {
		return err
	}
	if !t.Confirmed() {
		return authd.ErrNotFound
	}
	return mfa.ErrReplayed
}

// DeleteTOTP implements mfa.Store.
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM mfa_totp WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return authd.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = $1`, userID)
		return err
	})
	if err != nil && !errors.Is(err, authd.ErrNotFound) {
		return s.fail(ctx, "delete totp", err)
	}
	return err
}

// UseRecoveryCode implements mfa.Store: one DELETE.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	return s.execOne(ctx, "use recovery code", `DELETE FROM mfa_recovery_codes WHERE user_id = $1 AND code_hash = $2`, userID, nonNil(hash))
}

// ReplaceRecoveryCodes implements mfa.Store. The SELECT … FOR UPDATE holds
// the TOTP row against a concurrent removal.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkCodes(codes); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL FOR UPDATE`, userID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return authd.ErrNotFound
		}
		if err != nil {
			return err
		}
		return replaceCodes(ctx, tx, userID, codes)
	})
	if err != nil && !errors.Is(err, authd.ErrNotFound) {
		return s.fail(ctx, "replace recovery codes", err)
	}
	return err
}

// CreateChallenge implements mfa.Store.
func (s *Store) CreateChallenge(ctx context.Context, c *mfa.Challenge) error {
	if len(c.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "challenge hash must be 32 bytes")
	}
	_, err := s.exec(ctx, "create challenge", `INSERT INTO mfa_challenges (hash, kind, user_id, data, attempts, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.Hash, c.Kind, c.UserID, nonNil(c.Data), c.Attempts, c.CreatedAt, c.ExpiresAt)
	return err
}

const challengeCols = `hash, kind, user_id, data, attempts, created_at, expires_at`

func scanChallenge(sc scanner) (*mfa.Challenge, error) {
	var c mfa.Challenge
	if err := sc.Scan(&c.Hash, &c.Kind, &c.UserID, &c.Data, &c.Attempts, &c.CreatedAt, &c.ExpiresAt); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = utc(c.CreatedAt), utc(c.ExpiresAt)
	return &c, nil
}

// GetChallenge implements mfa.Store.
func (s *Store) GetChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "get challenge", s.pool.QueryRow(ctx, `SELECT `+challengeCols+` FROM mfa_challenges
		WHERE hash = $1 AND kind = $2 AND expires_at > $3`, nonNil(hash), kind, now), scanChallenge)
}

// TakeChallenge implements mfa.Store: one DELETE … RETURNING.
func (s *Store) TakeChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "take challenge", s.pool.QueryRow(ctx, `DELETE FROM mfa_challenges
		WHERE hash = $1 AND kind = $2 AND expires_at > $3 RETURNING `+challengeCols, nonNil(hash), kind, now), scanChallenge)
}

// FailChallenge implements mfa.Store in one transaction: the row is
// locked (SELECT … FOR UPDATE) while it is raised or deleted, so parallel
// wrong answers are all counted and the one reaching max deletes it (no
// challenge outlives its last allowed attempt); a waiter whose row was
// deleted meanwhile reads no row.
func (s *Store) FailChallenge(ctx context.Context, hash []byte, max int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var left int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var attempts int
		err := tx.QueryRow(ctx, `SELECT attempts FROM mfa_challenges WHERE hash = $1 FOR UPDATE`, nonNil(hash)).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return authd.ErrNotFound
		}
		if err != nil {
			return err
		}
		attempts++
		left = max - attempts
		if left <= 0 {
			left = 0
			_, err = tx.Exec(ctx, `DELETE FROM mfa_challenges WHERE hash = $1`, nonNil(hash))
		} else {
			_, err = tx.Exec(ctx, `UPDATE mfa_challenges SET attempts = $1 WHERE hash = $2`, attempts, nonNil(hash))
		}
		return err
	})
	if errors.Is(err, authd.ErrNotFound) {
		return 0, err
	}
	if err != nil {
		return 0, s.fail(ctx, "fail challenge", err)
	}
	return left, nil
}

// DeleteExpiredChallenges implements mfa.Store.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete expired challenges", `DELETE FROM mfa_challenges WHERE expires_at <= $1`, before)
}

const credentialCols = `id, user_id, public_key, sign_count, transports, aaguid, attestation_type,
	backup_eligible, backup_state, user_verified, name, created_at, last_used_at`

func scanCredential(sc scanner) (*mfa.Credential, error) {
	var (
		c          mfa.Credential
		transports string
		count      int64
		used       *time.Time
	)
	if err := sc.Scan(&c.ID, &c.UserID, &c.PublicKey, &count, &transports, &c.AAGUID, &c.AttestationType,
		&c.BackupEligible, &c.BackupState, &c.UserVerified, &c.Name, &c.CreatedAt, &used); err != nil {
		return nil, err
	}
	c.SignCount = uint32(count)
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.CreatedAt = utc(c.CreatedAt)
	if used != nil {
		c.LastUsedAt = utc(*used)
	}
	return &c, nil
}

// AddCredential implements mfa.Store.
func (s *Store) AddCredential(ctx context.Context, c *mfa.Credential) error {
	_, err := s.exec(ctx, "add passkey", `INSERT INTO webauthn_credentials (`+credentialCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		nonNil(c.ID), c.UserID, nonNil(c.PublicKey), int64(c.SignCount), strings.Join(c.Transports, ","), nonNil(c.AAGUID),
		c.AttestationType, c.BackupEligible, c.BackupState, c.UserVerified, c.Name, c.CreatedAt, nullTime(c.LastUsedAt))
	return err
}

// Credential implements mfa.Store.
func (s *Store) Credential(ctx context.Context, id []byte) (*mfa.Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "get passkey", s.pool.QueryRow(ctx,
		`SELECT `+credentialCols+` FROM webauthn_credentials WHERE id = $1`, nonNil(id)), scanCredential)
}

// Credentials implements mfa.Store.
func (s *Store) Credentials(ctx context.Context, userID string) ([]*mfa.Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+credentialCols+` FROM webauthn_credentials
		WHERE user_id = $1 ORDER BY created_at, id`, userID)
	return collect(ctx, s, "list passkeys", rows, err, scanCredential)
}

// UseCredential implements mfa.Store: one conditional UPDATE.
func (s *Store) UseCredential(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error {
	// $1 is cast: from "$1 = 0" PostgreSQL would infer int4, too small
	// for a counter past 2^31-1.
	n, err := s.exec(ctx, "use passkey", `UPDATE webauthn_credentials SET sign_count = $1::bigint, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND ((sign_count = 0 AND $1::bigint = 0) OR sign_count < $1::bigint)`,
		int64(signCount), backupState, at, nonNil(id))
	if err != nil {
		return err
	}
	if n == 1 {
		return nil
	}
	if _, err := s.Credential(ctx, id); err != nil {
		return err
	}
	return mfa.ErrReplayed
}

// RenameCredential implements mfa.Store.
func (s *Store) RenameCredential(ctx context.Context, userID string, id []byte, name string) error {
	return s.execOne(ctx, "rename passkey", `UPDATE webauthn_credentials SET name = $1 WHERE id = $2 AND user_id = $3`, name, nonNil(id), userID)
}

// DeleteCredential implements mfa.Store.
func (s *Store) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	return s.execOne(ctx, "delete passkey", `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, nonNil(id), userID)
}

// Factors implements mfa.Store in one query.
func (s *Store) Factors(ctx context.Context, userID string) (mfa.Factors, error) {
	if err := ctx.Err(); err != nil {
		return mfa.Factors{}, err
	}
	var f mfa.Factors
	err := s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL),
		(SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1),
		(SELECT count(*) FROM webauthn_credentials WHERE user_id = $1)`, userID).Scan(&f.TOTP, &f.RecoveryCodes, &f.Passkeys)
	if err != nil {
		return mfa.Factors{}, s.fail(ctx, "read factors", err)
	}
	if !f.TOTP {
		f.RecoveryCodes = 0
	}
	return f, nil
}

// DeleteFactors implements mfa.Store in one transaction.
func (s *Store) DeleteFactors(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`DELETE FROM mfa_totp WHERE user_id = $1`,
			`DELETE FROM mfa_recovery_codes WHERE user_id = $1`,
			`DELETE FROM webauthn_credentials WHERE user_id = $1`,
			`DELETE FROM mfa_challenges WHERE user_id = $1`,
		} {
			if _, err := tx.Exec(ctx, q, userID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, "delete factors", err)
	}
	return nil
}
