package user

import (
	"context"
	"time"

	"github.com/authd/authd/mail"
)

// Purpose says what an emailed link's token may do. A token is accepted
// only for its own purpose.
type Purpose string

// The purposes of emailed tokens.
const (
	PurposeReset  Purpose = "password_reset"    // set a new password (30 min)
	PurposeVerify Purpose = "verify_email"      // mark the address verified
	PurposeChange Purpose = "change_email"      // move to a new address, sent to it
	PurposeUndo   Purpose = "undo_email_change" // move back, sent to the old address
)

// Token is an emailed single-use secret, stored by the SHA-256 of its
// 256 random bits (the link holds the secret; the store never does).
type Token struct {
	Hash    []byte // SHA-256 of the secret
	Purpose Purpose
	UserID  string
	// Email is the address the token acts on: the one the link was sent
	// to (reset, verify), the new address (change), the old one (undo).
	Email string
	// Stamp binds the token to the state it was issued in, checked when
	// it is used: for a reset, a fingerprint of the password hash (a
	// reset issued before the password changed is void); for a change,
	// the address it changes from.
	Stamp     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TokenStore keeps emailed tokens next to the outbox that carries them.
// The SQL stores and memstore implement it; usertest proves them.
type TokenStore interface {
	// IssueTokens stores ts and enqueues ms, in one transaction: a token
	// exists exactly when its mail is queued. Each stored token first
	// voids the user's earlier tokens of the same purpose (the newest
	// link is the only one that works) — except undo tokens: each undoes
	// its own change, and a later change request must not void the old
	// owner's way back (found by the black-box test).
	IssueTokens(ctx context.Context, ts []*Token, ms []*mail.Message) error
	// UseToken deletes and returns the token of that purpose and hash, in
	// one atomic step, so of parallel uses exactly one gets it.
	// authd.ErrNotFound when there is none, or it expired at now (an
	// expired token is deleted too).
	UseToken(ctx context.Context, purpose Purpose, hash []byte, now time.Time) (*Token, error)
	// DeleteUserTokens voids every token of the user with one of the
	// purposes (all of them when none is given).
	DeleteUserTokens(ctx context.Context, userID string, purposes ...Purpose) error
	// DeleteExpiredTokens removes tokens that expired before before and
	// returns how many.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error)
}
