package token

import (
	"context"
	"time"
)

// Refresh is one refresh token of a session's chain. The token itself is
// never stored: only its SHA-256.
type Refresh struct {
	Hash       []byte // SHA-256 of the token, 32 bytes
	SessionID  string
	UserID     string
	ClientID   string
	Scope      string
	Generation int // 0 for the chain's first token; a child is its parent's + 1
	IssuedAt   time.Time
	ExpiresAt  time.Time // the token is refused from this instant
	UsedAt     time.Time // zero until redeemed
}

// RefreshStore persists refresh-token chains. Every method honours ctx.
type RefreshStore interface {
	// CreateRefresh stores rt. authd.ErrConflict when its hash exists.
	CreateRefresh(ctx context.Context, rt *Refresh) error

	// UseRefresh atomically marks the token whose SHA-256 is hash as used
	// at at, if it was unused, and returns it with first == true. If it
	// was already used it is returned unchanged (UsedAt = the first use)
	// with first == false. authd.ErrNotFound when no token has that hash.
	// Of any number of concurrent callers for one hash, exactly one gets
	// first == true. Expired tokens are returned like any other; the
	// caller decides.
	UseRefresh(ctx context.Context, hash []byte, at time.Time) (rt *Refresh, first bool, err error)

	// MaxUsedGeneration returns the highest Generation among the
	// session's used refresh tokens, or -1 when none has been used.
	MaxUsedGeneration(ctx context.Context, sessionID string) (int, error)

	// RefreshByHash returns the token with that hash without using it.
	// authd.ErrNotFound when there is none.
	RefreshByHash(ctx context.Context, hash []byte) (*Refresh, error)

	// PruneRefresh deletes the session's USED tokens whose Generation is
	// below below, and returns how many it deleted. Unused tokens and later
	// generations are kept. A chain that rotates every few minutes for a
	// month would otherwise keep thousands of rows per session.
	PruneRefresh(ctx context.Context, sessionID string, below int) (int, error)

	// DeleteExpiredRefresh removes tokens whose ExpiresAt is before
	// before, and returns how many it removed.
	DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error)
}
