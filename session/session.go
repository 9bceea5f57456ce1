// Package session is authd's session model: every successful login is a
// Session (a device) with a public ID, an owner, timestamps and a kind. The
// cookie transport carries the session's 256-bit secret; the store keeps only
// SHA-256(secret). Revocation is a session operation that ends every
// transport of the session at once.
//
// The package defines the Store it needs; backends (memstore, sqlitestore…)
// implement it and prove it with the conformance suite in sessiontest.
package session

import (
	"context"
	"slices"
	"time"
)

// Kind is the transport a session was created for.
type Kind string

// Session kinds.
const (
	KindCookie Kind = "cookie"
	KindToken  Kind = "token"
)

// Session is one login on one device. The secret is never part of it.
type Session struct {
	ID            string // public, random; used to list and revoke
	UserID        string
	Kind          Kind
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time // LastSeenAt + idle timeout, capped at ExpiresAt
	ExpiresAt     time.Time // absolute lifetime
	IP            string    // as Meta.Clean leaves it: valid UTF-8, no controls
	UserAgent     string    // likewise, at most 512 bytes
	// ClientID is the OAuth client the session was opened for (the code
	// flow, the password grant): the device list names the app by it, and
	// back-channel logout tells that app when the session ends. Empty for
	// authd's own pages.
	ClientID string
	// AMR is how the user proved who they are when the session began
	// (RFC 8176 authentication method references, e.g. ["pwd"],
	// ["pwd","otp","mfa"], ["hwk","user","mfa"]); AAL derives the
	// assurance level from it. Nil for sessions stored before authd
	// recorded it: they were password sign-ins.
	AMR []string
	// AuthTime is when the user proved who they are for this session:
	// its CreatedAt for a sign-in; for an app's session opened by the
	// code flow, the sign-in of the browser session that approved it
	// (OIDC auth_time). Step-up checks it. Zero for sessions stored
	// before authd recorded it (then CreatedAt counts).
	AuthTime  time.Time
	RevokedAt time.Time // zero while the session is live
}

// AuthenticatedAt is AuthTime, or CreatedAt for sessions without one.
func (s *Session) AuthenticatedAt() time.Time {
	if s.AuthTime.IsZero() {
		return s.CreatedAt
	}
	return s.AuthTime
}

// AAL is the session's authenticator assurance level (NIST SP 800-63B-4
// §2): 2 when two factors were proved at sign-in, else 1.
func (s *Session) AAL() int { return AAL(s.AMR) }

// AMR values authd records (RFC 8176 §2; "rc" is authd's own, for a
// recovery code, a look-up secret in NIST SP 800-63B-4 §3.1.2).
const (
	AMRPassword    = "pwd"
	AMROTP         = "otp"
	AMRRecovery    = "rc"
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
	AMRUser        = "user" // user verification (a PIN or biometric on the authenticator)
	AMRMFA         = "mfa"
)

// AAL returns the assurance level of a sign-in that used amr: 2 for a
// password with a one-time code or a recovery code, or a passkey whose
// authenticator verified the user (possession plus a PIN or biometric:
// a multi-factor cryptographic authenticator, SP 800-63B-4 §3.1.7), else 1.
func AAL(amr []string) int {
	has := func(v string) bool { return slices.Contains(amr, v) }
	switch {
	case has(AMRPassword) && (has(AMROTP) || has(AMRRecovery)):
		return 2
	case (has(AMRHardwareKey) || has(AMRSoftwareKey)) && has(AMRUser):
		return 2
	}
	return 1
}

// ACR names an assurance level as the acr claim carries it.
func ACR(aal int) string {
	if aal >= 2 {
		return "urn:authd:aal2"
	}
	return "urn:authd:aal1"
}

// Live reports whether s is usable at now: not revoked, not past its idle or
// absolute expiry.
func (s *Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// Revocation records that a session ended before its time.
type Revocation struct {
	ID        string
	RevokedAt time.Time
	ExpiresAt time.Time // the session's absolute expiry
}

// Store persists sessions. Every method takes a context and must honour its
// cancellation. Errors other than the documented sentinels are wrapped store
// failures; callers treat them as "unavailable" and fail closed.
//
// Times are passed in by the caller (who owns the clock), so backends never
// call time.Now for decisions; a backend may use them to set its own TTLs.
type Store interface {
	// CreateSession stores s, reachable by secretHash (SHA-256 of the
	// secret, 32 bytes) and by s.ID. It returns authd.ErrConflict when the
	// ID or the hash is already stored.
	CreateSession(ctx context.Context, s *Session, secretHash []byte) error

	// SessionByHash returns the session whose secret hashes to hash.
	// It returns authd.ErrNotFound when there is none, or when the session
	// is revoked or not live at now (see Session.Live).
	SessionByHash(ctx context.Context, hash []byte, now time.Time) (*Session, error)

	// SessionByID is SessionByHash by public ID, with the same rules.
	SessionByID(ctx context.Context, id string, now time.Time) (*Session, error)

	// TouchSession records activity: it sets LastSeenAt and IdleExpiresAt
	// of a live session. It returns authd.ErrNotFound when the session does
	// not exist or is revoked. It never moves LastSeenAt backwards.
	TouchSession(ctx context.Context, id string, lastSeen, idleExpires time.Time) error

	// ListSessions returns the user's sessions that are live at now,
	// newest first; an empty slice (not an error) when there are none.
	ListSessions(ctx context.Context, userID string, now time.Time) ([]*Session, error)

	// RevokeSession marks the session revoked at at. It returns
	// authd.ErrNotFound when no unrevoked session has that ID, so a second
	// revoke of the same session reports ErrNotFound.
	RevokeSession(ctx context.Context, id string, at time.Time) error

	// RevokeUserSessions revokes every unrevoked session of the user except
	// the one whose ID is except (which may be empty), and returns the IDs
	// it revoked (an empty slice when none).
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) ([]string, error)

	// RevokedSessions lists the sessions revoked at or after since, oldest
	// revocation first, so verifiers can rebuild their in-memory revocation
	// set after a start or a reconnect. Sessions already deleted (past
	// their lifetime) are not listed.
	RevokedSessions(ctx context.Context, since time.Time) ([]Revocation, error)

	// DeleteExpiredSessions removes sessions (revoked or not) whose
	// ExpiresAt is before before, and returns how many it removed.
	DeleteExpiredSessions(ctx context.Context, before time.Time) (int, error)
}
