// Package refresh rotates authd's refresh tokens (RFC 6749 §6, RFC 9700
// §4.14): it opens a token session's chain, redeems a token for its child
// with reuse detection, looks tokens up and revokes them.
//
// A refresh token is "<session ID>.<generation>.<256 random bits>.<MAC>"
// (see Parse). The store keeps only SHA-256 of the whole token.
//
// # One store operation
//
// A redemption is one call, Store.RotateRefresh, that each backend runs
// atomically: one mutex section (memstore), one SQL transaction
// serialised per session (sqlitestore, pgstore), one Lua script on keys of
// one hash slot (redisstore). It reads the presented token and the
// session's highest used generation, decides, and writes the outcome: the
// parent marked used, the child stored, old used tokens pruned. Nothing is
// decided from a read made before the operation, so no interleaving of
// concurrent redemptions changes an outcome.
//
// # The rules
//
// Decide is the only statement of them in Go (memstore, sqlitestore and
// pgstore call it inside their atomic section); redisstore's Lua script
// repeats them line for line, and refreshtest holds every backend to the
// same outcomes. For a presented token T of session S and generation g,
// redeemed at instant at with grace window G, where maxUsed is the highest
// generation among S's used tokens (-1 if none):
//
//  1. T is not stored (pruned, swept, or never issued): Reused if
//     g <= maxUsed (a pruned token was used, by construction: its replay is
//     theft even without its row), otherwise Unknown.
//  2. T was issued to another client: OtherClient (RFC 6749 §6: a refresh
//     token is bound to its client). Nothing is written, so a refused
//     request cannot spend the rightful client's token.
//  3. The requested scope is not within T's: WiderScope (RFC 6749 §6: a
//     refresh may only narrow the scope). Nothing is written.
//  4. T was used at usedAt. Its age is at − usedAt, taken as 0 when
//     negative (a concurrent redeemer whose clock read came before the
//     winner's). Sibling if G > 0, age < G and maxUsed <= g (no later
//     generation has been used: only the immediate parent of the newest
//     generation has a grace window), unless T has expired (Expired);
//     otherwise Reused (RFC 9700 §4.14.2). With G = 0 a used token is
//     always Reused, so of concurrent redemptions at most one wins.
//  5. T is unused but maxUsed >= g: another token of its generation (a
//     grace-window sibling) or a later one was used. Reused: one session
//     never runs two chains.
//  6. at >= T's ExpiresAt: Expired. Nothing is written.
//  7. Otherwise Rotated: T is marked used at at.
//
// Rotated and Sibling store the child (generation g+1, issued at at,
// expiring with T, same user, client and scope) and prune the session's
// used tokens of generations below g−1: the parent and grandparent stay
// (their reuse is recognised by row), older ones only cost space, and rule
// 1 still catches their replay. A chain so stays about three rows long.
//
// Reused tells the Refresher to end the session (its newest token and its
// access tokens die with it).
package refresh

import (
	"context"
	"slices"
	"strings"
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

func (rt *Refresh) clone() *Refresh {
	c := *rt
	c.Hash = slices.Clone(rt.Hash)
	return &c
}

// Rotation is one redemption, as the store receives it.
type Rotation struct {
	SessionID  string // the session the presented token names
	Generation int    // the generation it names
	Hash       []byte // SHA-256 of the presented token
	// ClientID is the authenticated client: it must be the token's.
	ClientID string
	// Scope is the requested scope, one entry per scope token; empty
	// keeps the token's. Every entry must be in the token's scope.
	Scope []string
	// ChildHash is the SHA-256 of the child token, 32 bytes, stored when
	// the outcome is Rotated or Sibling.
	ChildHash []byte
	At        time.Time     // the instant of the redemption (UTC, µs)
	Grace     time.Duration // the grace window; 0 or less: none
}

// Outcome is what a redemption came to. See the package doc for the rules.
type Outcome int

const (
	Unknown     Outcome = iota + 1 // no such token
	Rotated                        // first use: parent marked used, child stored
	Sibling                        // the used parent, within its grace window: child stored
	Reused                         // theft: the session must end
	Expired                        // past its ExpiresAt; nothing written
	OtherClient                    // issued to another client; nothing written
	WiderScope                     // asks for more than the token's scope; nothing written
)

var outcomeNames = [...]string{"", "unknown", "rotated", "sibling", "reused", "expired", "other client", "wider scope"}

func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid outcome"
}

// Result is the outcome of a RotateRefresh with the records it concerns.
type Result struct {
	Outcome Outcome
	// Token is the presented token as stored after the operation (UsedAt
	// set when Rotated); nil when it is not stored (Unknown, or Reused by
	// rule 1).
	Token *Refresh
	// Child is the token stored by a Rotated or Sibling outcome.
	Child *Refresh
}

// PruneBelow is the generation below which a Rotated or Sibling outcome
// deletes the session's used tokens: everything older than the presented
// token's parent.
func (r *Result) PruneBelow() int { return r.Token.Generation - 1 }

// Store persists refresh-token chains. Every method honours ctx; hashes
// that are not 32 bytes are simply not found.
type Store interface {
	// CreateRefresh stores rt (the first token of a chain), UsedAt
	// included. authd.ErrConflict when its session holds a token with
	// that hash (a backend may refuse one of another session too: hashes
	// of 256-bit tokens never collide, the check is a safety net).
	CreateRefresh(ctx context.Context, rt *Refresh) error

	// RotateRefresh redeems the token rot names, atomically: it reads the
	// token (by session and hash) and the session's highest used
	// generation, applies Decide, and writes what the result says — the
	// token's UsedAt (Rotated), the child and the pruning (Rotated,
	// Sibling) — or nothing. A child hash the session holds already is
	// authd.ErrConflict, with nothing written.
	RotateRefresh(ctx context.Context, rot *Rotation) (*Result, error)

	// RefreshByHash returns the session's token with that hash without
	// using it, expired or not. authd.ErrNotFound when there is none.
	RefreshByHash(ctx context.Context, sessionID string, hash []byte) (*Refresh, error)

	// DeleteExpiredRefresh removes tokens whose ExpiresAt is before
	// before, and returns how many it removed.
	DeleteExpiredRefresh(ctx context.Context, before time.Time) (int, error)
}

// Decide applies the rules of the package doc to the token stored under
// rot's session and hash (nil when there is none) and the session's
// highest used generation. It returns the result to write: Token is a copy
// of stored with UsedAt set when Rotated, Child the record to store. It
// changes neither argument. Backends call it inside their atomic section.
func Decide(rot *Rotation, stored *Refresh, maxUsed int) *Result {
	if stored == nil || stored.SessionID != rot.SessionID || stored.Generation != rot.Generation {
		if rot.Generation <= maxUsed { // rule 1
			return &Result{Outcome: Reused}
		}
		return &Result{Outcome: Unknown}
	}
	res := &Result{Token: stored.clone()}
	switch {
	case stored.ClientID != rot.ClientID: // rule 2
		res.Outcome = OtherClient
	case !scopeWithin(stored.Scope, rot.Scope): // rule 3
		res.Outcome = WiderScope
	case !stored.UsedAt.IsZero(): // rule 4
		age := max(rot.At.Sub(stored.UsedAt), 0)
		switch {
		case rot.Grace <= 0 || age >= rot.Grace || maxUsed > stored.Generation:
			res.Outcome = Reused
		case !rot.At.Before(stored.ExpiresAt):
			res.Outcome = Expired
		default:
			res.Outcome = Sibling
		}
	case maxUsed >= stored.Generation: // rule 5
		res.Outcome = Reused
	case !rot.At.Before(stored.ExpiresAt): // rule 6
		res.Outcome = Expired
	default: // rule 7
		res.Outcome = Rotated
		res.Token.UsedAt = rot.At
	}
	if res.Outcome == Rotated || res.Outcome == Sibling {
		res.Child = &Refresh{
			Hash: slices.Clone(rot.ChildHash), SessionID: stored.SessionID, UserID: stored.UserID,
			ClientID: stored.ClientID, Scope: stored.Scope, Generation: stored.Generation + 1,
			IssuedAt: rot.At, ExpiresAt: stored.ExpiresAt,
		}
	}
	return res
}

// scopeWithin reports whether every requested scope token is one of
// granted's. Scope tokens are separated by ASCII whitespace (RFC 6749
// §3.3 allows only printable ASCII in them), as Lua's %S+ reads them.
func scopeWithin(granted string, requested []string) bool {
	if len(requested) == 0 {
		return true
	}
	have := strings.FieldsFunc(granted, asciiSpace)
	for _, s := range requested {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}

func asciiSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
