// Package mfa is authd's second factor: TOTP (RFC 6238) with single-use
// recovery codes, the short-lived challenges that carry a sign-in from its
// password check to its second factor (and a WebAuthn ceremony from its
// options to its answer), and the storage of passkey credentials.
//
// Every single-use secret is decided in one store statement: a TOTP time
// step is accepted by an UPDATE that raises the last used step
// (replay within the window is refused, RFC 6238 §5.2), a recovery code by
// a DELETE, a challenge by a DELETE … RETURNING. The conformance suite in
// mfatest fires parallel uses at each.
package mfa

import (
	"context"
	"errors"
	"time"
)

// TOTP is a user's time-based one-time password secret. Secret is sealed
// under the key-encryption key (see Service); it is pending until the user
// proved their app has it (ConfirmedAt set).
type TOTP struct {
	UserID      string
	Secret      []byte // sealed
	CreatedAt   time.Time
	ConfirmedAt time.Time // zero while pending
	// LastStep is the last time step (Unix time / 30 s) a code was
	// accepted for; a code for it or an earlier step is refused.
	LastStep int64
}

// Confirmed reports whether the secret is in use.
func (t *TOTP) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// Challenge is a short-lived, single-use server-side state keyed by the
// SHA-256 of a random token the client holds: a sign-in waiting for its
// second factor (KindSignIn), or a WebAuthn ceremony between its options
// and its answer.
type Challenge struct {
	Hash      []byte // SHA-256 of the token, 32 bytes
	Kind      string
	UserID    string // empty for a passkey sign-in before the user is known
	Data      []byte // kind-specific
	Attempts  int    // wrong answers so far
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Challenge kinds.
const (
	KindSignIn          = "signin"           // a password was right; a second factor is due
	KindPasskeyRegister = "passkey.register" // WebAuthn registration options were sent
	KindPasskeyLogin    = "passkey.login"    // WebAuthn assertion options were sent
)

// Credential is a WebAuthn public key credential (a passkey) of a user.
type Credential struct {
	ID              []byte
	UserID          string
	PublicKey       []byte // COSE
	SignCount       uint32
	Transports      []string
	AAGUID          []byte
	AttestationType string
	BackupEligible  bool // the credential may be synced (a multi-device passkey)
	BackupState     bool // it is backed up now
	UserVerified    bool // the authenticator verified the user at registration
	Name            string
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero until first used to sign in
}

// Factors summarises what second factors a user has, in one read.
type Factors struct {
	TOTP          bool // confirmed
	RecoveryCodes int  // unused
	Passkeys      int
}

// Any reports whether a sign-in with a password needs a second step.
// Passkeys alone do not: they are a way in of their own, not a step after
// the password.
func (f Factors) Any() bool { return f.TOTP }

// ErrReplayed is returned by UseTOTPStep for a step at or before the last
// one accepted, and by UseCredential for a signature counter that did not
// grow: the code or assertion was seen before (or the authenticator was
// cloned).
var ErrReplayed = errors.New("mfa: code or assertion already used")

// Store persists second factors. Methods return authd.ErrNotFound for a
// missing row and authd.ErrConflict where documented; other errors are
// store failures (callers fail closed).
type Store interface {
	// PutTOTP stores t as the user's pending TOTP secret, replacing a
	// pending one. It returns authd.ErrConflict if a confirmed secret
	// exists (it must be removed first).
	PutTOTP(ctx context.Context, t *TOTP) error
	// GetTOTP returns the user's TOTP secret, pending or confirmed.
	GetTOTP(ctx context.Context, userID string) (*TOTP, error)
	// ConfirmTOTP turns the pending secret on, with step as its last used
	// step, and replaces the user's recovery codes with codes (hashes)
	// in the same transaction. Of parallel confirmations one succeeds;
	// the others, and a confirmation without a pending secret, get
	// authd.ErrNotFound.
	ConfirmTOTP(ctx context.Context, userID string, step int64, codes [][]byte, at time.Time) error
	// UseTOTPStep accepts a code of time step for the user's confirmed
	// secret: it raises the last used step to step in one statement, and
	// returns ErrReplayed if it was already at or past it.
	UseTOTPStep(ctx context.Context, userID string, step int64) error
	// DeleteTOTP removes the user's TOTP secret and recovery codes; it
	// returns authd.ErrNotFound if there was no secret.
	DeleteTOTP(ctx context.Context, userID string) error

	// UseRecoveryCode deletes the user's recovery code of that hash in one
	// statement; authd.ErrNotFound if there is none.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) error
	// ReplaceRecoveryCodes replaces the user's recovery codes; it returns
	// authd.ErrNotFound if the user has no confirmed TOTP secret.
	ReplaceRecoveryCodes(ctx context.Context, userID string, codes [][]byte) error

	// CreateChallenge stores c; authd.ErrConflict if its hash exists.
	CreateChallenge(ctx context.Context, c *Challenge) error
	// GetChallenge returns the live challenge of that hash and kind.
	GetChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*Challenge, error)
	// TakeChallenge deletes and returns the live challenge of that hash
	// and kind in one statement: of parallel takes exactly one gets it.
	TakeChallenge(ctx context.Context, hash []byte, kind string, now time.Time) (*Challenge, error)
	// FailChallenge counts a wrong answer to the challenge and deletes it
	// once it has max; it returns the attempts left (0: deleted), or
	// authd.ErrNotFound.
	FailChallenge(ctx context.Context, hash []byte, max int) (left int, err error)
	// DeleteExpiredChallenges removes challenges expired at or before
	// before.
	DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64, error)

	// AddCredential stores a new passkey; authd.ErrConflict if its ID is
	// already registered (to anyone).
	AddCredential(ctx context.Context, c *Credential) error
	// Credential returns the passkey of that ID.
	Credential(ctx context.Context, id []byte) (*Credential, error)
	// Credentials lists a user's passkeys, oldest first.
	Credentials(ctx context.Context, userID string) ([]*Credential, error)
	// UseCredential records a sign-in with the passkey: the new signature
	// counter, backup state and time, in one statement that refuses a
	// counter that did not grow (ErrReplayed), unless both the stored and
	// the new counter are 0 (authenticators without a counter; WebAuthn
	// Level 3 §6.1.1).
	UseCredential(ctx context.Context, id []byte, signCount uint32, backupState bool, at time.Time) error
	// RenameCredential renames a user's passkey; authd.ErrNotFound if the
	// user has no passkey of that ID.
	RenameCredential(ctx context.Context, userID string, id []byte, name string) error
	// DeleteCredential deletes a user's passkey; authd.ErrNotFound if the
	// user has no passkey of that ID.
	DeleteCredential(ctx context.Context, userID string, id []byte) error

	// Factors summarises the user's factors.
	Factors(ctx context.Context, userID string) (Factors, error)
	// DeleteFactors removes every factor of the user: TOTP, recovery
	// codes, passkeys and pending challenges (an operator's reset, or the
	// user's deletion).
	DeleteFactors(ctx context.Context, userID string) error
}
