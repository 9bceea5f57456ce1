package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
)

var _ mfa.Store = (*Store)(nil)

// PutTOTP implements mfa.Store: the upsert leaves a confirmed secret alone
// (its WHERE), and then no row was written.
func (s *Store) PutTOTP(ctx context.Context, t *mfa.TOTP) error {
	n, err := s.exec(ctx, "put totp", `INSERT INTO mfa_totp (user_id, secret, created_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at, last_step = 0
		WHERE mfa_totp.confirmed_at IS NULL`, t.UserID, t.Secret, micros(t.CreatedAt))
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
	var (
		t         = mfa.TOTP{UserID: userID}
		created   int64
		confirmed sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT secret, created_at, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &created, &confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "get totp", err)
	}
	t.CreatedAt = fromMicros(created)
	if confirmed.Valid {
		t.ConfirmedAt = fromMicros(confirmed.Int64)
	}
	return &t, nil
}

// ConfirmTOTP implements mfa.Store in one transaction: the conditional
// UPDATE decides which of parallel confirmations wins.
func (s *Store) ConfirmTOTP(ctx context.Context, userID string, step int64, codes [][]byte, at time.Time) error {
	const op = "confirm totp"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE mfa_totp SET confirmed_at = ?, last_step = ? WHERE user_id = ? AND confirmed_at IS NULL`,
		micros(at), step, userID)
	if err != nil {
		return fail(ctx, op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return authd.ErrNotFound
	}
	if err := replaceCodes(ctx, tx, userID, codes); err != nil {
		return fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

func replaceCodes(ctx context.Context, tx *sql.Tx, userID string, codes [][]byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if len(c) != 32 {
			return authd.Invalid("code_hash", "invalid", "recovery code hash must be 32 bytes")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, c); err != nil {
			return err
		}
	}
	return nil
}

// UseTOTPStep implements mfa.Store: one conditional UPDATE.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64) error {
	n, err := s.exec(ctx, "use totp step", `UPDATE mfa_totp SET last_step = ?
		WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, userID, step)
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
	const op = "delete totp"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM mfa_totp WHERE user_id = ?`, userID)
	if err != nil {
		return fail(ctx, op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return authd.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// UseRecoveryCode implements mfa.Store: one DELETE.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte) error {
	return s.execOne(ctx, "use recovery code", `DELETE FROM mfa_recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, hash)
}

// ReplaceRecoveryCodes implements mfa.Store.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte) error {
	const op = "replace recovery codes"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM mfa_totp WHERE user_id = ? AND confirmed_at IS NOT NULL`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return authd.ErrNotFound
	}
	if err != nil {
		return fail(ctx, op, err)
	}
	if err := replaceCodes(ctx, tx, userID, codes); err != nil {
		return fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}

// CreateChallenge implements mfa.Store.
func (s *Store) CreateChallenge(ctx context.Context, c *mfa.Challenge) error {
	if len(c.Hash) != 32 {
		return authd.Invalid("hash", "invalid", "challenge hash must be 32 bytes")
	}
	data := c.Data
	if data == nil {
		data = []byte{}
	}
	_, err := s.exec(ctx, "create challenge", `INSERT INTO mfa_challenges (hash, kind, user_id, data, attempts, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Hash, c.Kind, c.UserID, data, c.Attempts, micros(c.CreatedAt), micros(c.ExpiresAt))
	return err
}

const challengeCols = `hash, kind, user_id, data, attempts, created_at, expires_at`

func scanChallenge(sc scanner) (*mfa.Challenge, error) {
	var (
		c                mfa.Challenge
		created, expires int64
	)
	if err := sc.Scan(&c.Hash, &c.Kind, &c.UserID, &c.Data, &c.Attempts, &created, &expires); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

// GetChallenge implements mfa.Store.
func (s *Store) GetChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanChallenge(s.r.QueryRowContext(ctx, `SELECT `+challengeCols+` FROM mfa_challenges
		WHERE hash = ? AND kind = ? AND expires_at > ?`, hash, kind, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "get challenge", err)
	}
	return c, nil
}

// TakeChallenge implements mfa.Store: one DELETE … RETURNING.
func (s *Store) TakeChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*mfa.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanChallenge(s.w.QueryRowContext(ctx, `DELETE FROM mfa_challenges
		WHERE hash = ? AND kind = ? AND expires_at > ? RETURNING `+challengeCols, hash, kind, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "take challenge", err)
	}
	return c, nil
}

// FailChallenge implements mfa.Store in one (immediate) transaction: the
// count is read, and the row raised or deleted, under the write lock, so
// parallel wrong answers are all counted and the one reaching max deletes
// it (no challenge outlives its last allowed attempt).
func (s *Store) FailChallenge(ctx context.Context, hash []byte, max int) (int, error) {
	const op = "fail challenge"
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	defer tx.Rollback()
	var attempts int
	err = tx.QueryRowContext(ctx, `SELECT attempts FROM mfa_challenges WHERE hash = ?`, hash).Scan(&attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, authd.ErrNotFound
	}
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	attempts++
	left := max - attempts
	if left <= 0 {
		left = 0
		_, err = tx.ExecContext(ctx, `DELETE FROM mfa_challenges WHERE hash = ?`, hash)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE mfa_challenges SET attempts = ? WHERE hash = ?`, attempts, hash)
	}
	if err != nil {
		return 0, fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fail(ctx, op, err)
	}
	return left, nil
}

// DeleteExpiredChallenges implements mfa.Store.
func (s *Store) DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error) {
	return s.exec(ctx, "delete expired challenges", `DELETE FROM mfa_challenges WHERE expires_at <= ?`, micros(before))
}

const credentialCols = `id, user_id, public_key, sign_count, transports, aaguid, attestation_type,
	backup_eligible, backup_state, user_verified, name, created_at, last_used_at`

func scanCredential(sc scanner) (*mfa.Credential, error) {
	var (
		c          mfa.Credential
		transports string
		created    int64
		used       sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.UserID, &c.PublicKey, &c.SignCount, &transports, &c.AAGUID, &c.AttestationType,
		&c.BackupEligible, &c.BackupState, &c.UserVerified, &c.Name, &created, &used); err != nil {
		return nil, err
	}
	if transports != "" {
		c.Transports = strings.Split(transports, ",")
	}
	c.CreatedAt = fromMicros(created)
	if used.Valid {
		c.LastUsedAt = fromMicros(used.Int64)
	}
	return &c, nil
}

// AddCredential implements mfa.Store.
func (s *Store) AddCredential(ctx context.Context, c *mfa.Credential) error {
	aaguid := c.AAGUID
	if aaguid == nil {
		aaguid = []byte{}
	}
	var used any
	if !c.LastUsedAt.IsZero() {
		used = micros(c.LastUsedAt)
	}
	_, err := s.exec(ctx, "add passkey", `INSERT INTO webauthn_credentials (`+credentialCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, c.PublicKey, c.SignCount, strings.Join(c.Transports, ","), aaguid, c.AttestationType,
		c.BackupEligible, c.BackupState, c.UserVerified, c.Name, micros(c.CreatedAt), used)
	return err
}

// Credential implements mfa.Store.
func (s *Store) Credential(ctx context.Context, id []byte) (*mfa.Credential, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM webauthn_credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "get passkey", err)
	}
	return c, nil
}

// Credentials implements mfa.Store.
func (s *Store) Credentials(ctx context.Context, userID string) ([]*mfa.Credential, error) {
	const op = "list passkeys"
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+credentialCols+` FROM webauthn_credentials
		WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fail(ctx, op, err)
	}
	defer rows.Close()
	out := []*mfa.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fail(ctx, op, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, op, err)
	}
	return out, nil
}

// UseCredential implements mfa.Store: one conditional UPDATE.
func (s *Store) UseCredential(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error {
	n, err := s.exec(ctx, "use passkey", `UPDATE webauthn_credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		WHERE id = ? AND ((sign_count = 0 AND ? = 0) OR sign_count < ?)`,
		signCount, backupState, micros(at), id, signCount, signCount)
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
	return s.execOne(ctx, "rename passkey", `UPDATE webauthn_credentials SET name = ? WHERE id = ? AND user_id = ?`, name, id, userID)
}

// DeleteCredential implements mfa.Store.
func (s *Store) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	return s.execOne(ctx, "delete passkey", `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
}

// Factors implements mfa.Store: one query on the reader pool.
func (s *Store) Factors(ctx context.Context, userID string) (mfa.Factors, error) {
	if err := ctx.Err(); err != nil {
		return mfa.Factors{}, err
	}
	var f mfa.Factors
	err := s.r.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND confirmed_at IS NOT NULL),
		(SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1),
		(SELECT count(*) FROM webauthn_credentials WHERE user_id = ?1)`, userID).Scan(&f.TOTP, &f.RecoveryCodes, &f.Passkeys)
	if err != nil {
		return mfa.Factors{}, fail(ctx, "read factors", err)
	}
	if !f.TOTP {
		f.RecoveryCodes = 0
	}
	return f, nil
}

// DeleteFactors implements mfa.Store in one transaction.
func (s *Store) DeleteFactors(ctx context.Context, userID string) error {
	const op = "delete factors"
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(ctx, op, err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM mfa_totp WHERE user_id = ?`,
		`DELETE FROM mfa_recovery_codes WHERE user_id = ?`,
		`DELETE FROM webauthn_credentials WHERE user_id = ?`,
		`DELETE FROM mfa_challenges WHERE user_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return fail(ctx, op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(ctx, op, err)
	}
	return nil
}
