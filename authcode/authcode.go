// Package authcode holds OAuth authorization codes (RFC 6749 §4.1.2): 256
// random bits, stored only as SHA-256, single use, at most 60 s, bound to
// the client, the redirect URI and the PKCE code challenge.
//
// # Single use, decided in the store
//
// Redeem is one atomic store operation: of any number of concurrent
// redemptions of one code exactly one gets it; the others get
// authd.ErrTokenReused. RFC 6749 §4.1.2 asks that a second redemption
// revoke what the first one issued. The first redeemer creates a session
// after Redeem, so a replay can arrive before that session exists; the two
// sides meet in the store (a Dekker handshake on two atomic operations):
//
//   - the winner, once its session exists, calls Confirm(hash, sessionID),
//     which records the session and reports whether a replay was seen;
//     if so, the winner ends the session itself;
//   - a replayer's Redeem records the replay and returns the code with
//     the SessionID that Confirm recorded, if any; the replayer ends it.
//
// Whichever comes second sees the other's mark, so the session is ended.
package authcode

import (
	"context"
	"time"
)

// Code is an authorization code's stored state.
type Code struct {
	Hash        []byte // SHA-256 of the code, 32 bytes
	ClientID    string
	RedirectURI string // as sent in the authorization request
	Challenge   string // PKCE S256 code_challenge (RFC 7636 §4.2)
	UserID      string
	Scope       string
	Nonce       string    // OIDC nonce; empty when none was sent
	AuthTime    time.Time // when the user authenticated (OIDC auth_time)
	AMR         string    // space-separated authentication methods (OIDC amr)
	// BrowserSession is the ID of the browser's authd session that
	// approved the code: the id_token's sid and the parent of the app's
	// session.
	BrowserSession string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	// Set by the store:
	RedeemedAt time.Time // zero until the first Redeem
	SessionID  string    // what Confirm recorded; empty before
}

// Store persists codes. Times come from the caller.
type Store interface {
	// CreateCode stores c. authd.ErrConflict when the hash exists.
	CreateCode(ctx context.Context, c *Code) error
	// RedeemCode marks the code redeemed at at. The first call returns
	// the code and nil. Every later call records a replay and returns the
	// code (SessionID set when Confirm ran) with authd.ErrTokenReused. An
	// unknown hash is authd.ErrNotFound. Expiry is the caller's to check:
	// an expired code is still marked redeemed.
	RedeemCode(ctx context.Context, hash []byte, at time.Time) (*Code, error)
	// ConfirmCode records the session the first redemption created and
	// reports whether the code was replayed before. authd.ErrNotFound
	// when the code is gone.
	ConfirmCode(ctx context.Context, hash []byte, sessionID string) (replayed bool, err error)
	// DeleteExpiredCodes removes codes whose ExpiresAt is before before
	// (a redeemed code is kept until then so its replay is recognised).
	DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error)
}
