package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
)

// Sessions is what refresh rotation needs of the session model.
// session.Manager implements it.
type Sessions interface {
	Create(ctx context.Context, userID string, kind session.Kind, meta session.Meta) (string, *session.Session, error)
	ByID(ctx context.Context, id string) (*session.Session, error)
	Seen(ctx context.Context, s *session.Session) error
	End(ctx context.Context, id string) error
}

// ErrInvalidGrant: the refresh token is unknown, expired, or its session
// has ended (RFC 6749 §5.2 invalid_grant).
var ErrInvalidGrant = errors.New("invalid refresh token")

// RefreshConfig configures a Refresher.
type RefreshConfig struct {
	Store    RefreshStore
	Sessions Sessions
	// Grace lets the immediate parent of the newest refresh token be
	// redeemed again this long after its first use, in the same session,
	// so two tabs refreshing at once are not taken for a thief. 0 turns
	// it off; default (negative) 10 s.
	Grace time.Duration
	// MACKey authenticates the session and generation carried inside each
	// refresh token, so a token whose row was pruned after use is still
	// recognised as one of ours when it is replayed. Every instance needs
	// the same key (cmd/authd derives it from the key-encryption key).
	// Default: a random key (one instance only).
	MACKey []byte
	Now    func() time.Time
}

// Refresher starts token sessions and rotates their refresh tokens.
type Refresher struct{ cfg RefreshConfig }

// NewRefresher returns a Refresher.
func NewRefresher(cfg RefreshConfig) *Refresher {
	if cfg.Grace < 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.MACKey) == 0 {
		cfg.MACKey = make([]byte, 32)
		rand.Read(cfg.MACKey)
	}
	return &Refresher{cfg: cfg}
}

// A refresh token is "<session ID>.<generation>.<256 random bits>.<MAC>",
// all opaque to clients. The store keeps only SHA-256 of the whole token.
// The MAC (HMAC-SHA-256 over the first three parts, truncated to 128 bits)
// lets authd recognise one of its own tokens after the row is gone: used
// tokens older than the grandparent are pruned at every rotation, so a
// chain stays a few rows long, and the replay of a pruned token — which by
// construction was used — is still caught as theft.
const maxRefreshLen = 160

func (r *Refresher) mac(sid string, gen int, secret string) string {
	m := hmac.New(sha256.New, r.cfg.MACKey)
	io.WriteString(m, sid+"."+strconv.Itoa(gen)+"."+secret)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// newRefreshToken returns a fresh token for a session's generation and its hash.
func (r *Refresher) newRefreshToken(sid string, gen int) (string, [32]byte) {
	var raw [32]byte
	rand.Read(raw[:])
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	tok := sid + "." + strconv.Itoa(gen) + "." + secret + "." + r.mac(sid, gen, secret)
	return tok, sha256.Sum256([]byte(tok))
}

// genuine reports whether tok was issued by this authd (its MAC is
// right) and returns the session and generation it carries.
func (r *Refresher) genuine(tok string) (sid string, gen int, ok bool) {
	parts := strings.Split(tok, ".")
	if len(tok) > maxRefreshLen || len(parts) != 4 {
		return "", 0, false
	}
	gen, err := strconv.Atoi(parts[1])
	if err != nil || gen < 0 || strconv.Itoa(gen) != parts[1] {
		return "", 0, false
	}
	want := r.mac(parts[0], gen, parts[2])
	if !hmac.Equal([]byte(want), []byte(parts[3])) {
		return "", 0, false
	}
	return parts[0], gen, true
}

// HashRefresh validates the shape of a presented refresh token and
// returns the hash it is stored under.
func HashRefresh(tok string) ([32]byte, bool) {
	if tok == "" || len(tok) > maxRefreshLen || strings.Count(tok, ".") != 3 {
		return [32]byte{}, false
	}
	for i := 0; i < len(tok); i++ {
		if !jwsChar[tok[i]] { // the same alphabet: base64url and dots
			return [32]byte{}, false
		}
	}
	return sha256.Sum256([]byte(tok)), true
}

// Start opens a token session for a user who just authenticated and
// returns the first refresh token of its chain.
func (r *Refresher) Start(ctx context.Context, userID, clientID, scope string, meta session.Meta) (string, *Refresh, *session.Session, error) {
	_, sess, err := r.cfg.Sessions.Create(ctx, userID, session.KindToken, meta)
	if err != nil {
		return "", nil, nil, err
	}
	tok, rt, err := r.issue(ctx, sess, userID, clientID, scope, 0)
	if err != nil {
		// A session without a usable token is of no use to anyone.
		_ = r.cfg.Sessions.End(ctx, sess.ID)
		return "", nil, nil, err
	}
	return tok, rt, sess, nil
}

func (r *Refresher) issue(ctx context.Context, sess *session.Session, userID, clientID, scope string, gen int) (string, *Refresh, error) {
	tok, hash := r.newRefreshToken(sess.ID, gen)
	rt := &Refresh{
		Hash: hash[:], SessionID: sess.ID, UserID: userID, ClientID: clientID, Scope: scope,
		Generation: gen, IssuedAt: r.cfg.Now().UTC().Truncate(time.Microsecond), ExpiresAt: sess.ExpiresAt,
	}
	if err := r.cfg.Store.CreateRefresh(ctx, rt); err != nil {
		return "", nil, fmt.Errorf("store refresh token: %w", err)
	}
	return tok, rt, nil
}

// Rotate redeems a refresh token: it is marked used and its child is
// returned, with the session it belongs to. Redeeming a used token is
// theft (RFC 9700 §4.14.2) unless it is the immediate parent of the newest
// generation and within the grace window; theft ends the whole session and
// returns authd.ErrTokenReused. Unknown, expired and ended tokens return
// ErrInvalidGrant.
//
// check, if not nil, sees the stored token before it is used and can
// refuse the request (the client binding of RFC 6749 §6, the scope); its
// error is returned as is, and the token stays unspent, so a refused
// request cannot use up the rightful client's token.
func (r *Refresher) Rotate(ctx context.Context, presented string, check func(*Refresh) error) (string, *Refresh, *session.Session, error) {
	hash, ok := HashRefresh(presented)
	if !ok {
		return "", nil, nil, ErrInvalidGrant
	}
	now := r.cfg.Now()
	known, err := r.cfg.Store.RefreshByHash(ctx, hash[:])
	if errors.Is(err, authd.ErrNotFound) {
		// Perhaps one of ours, pruned after its use (a replay: theft), or
		// a token that never was.
		return r.unknown(ctx, presented, -1)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("look up refresh token: %w", err)
	}
	if check != nil {
		if err := check(known); err != nil {
			return "", nil, nil, err
		}
	}
	// Read before the use: a first use of a token whose generation (or a
	// later one) was already used is a sibling from the grace window being
	// played after another sibling won — a second chain in one session,
	// which is what a thief replaying inside the window would hold.
	prevMax, err := r.cfg.Store.MaxUsedGeneration(ctx, known.SessionID)
	if err != nil {
		return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	rt, first, err := r.cfg.Store.UseRefresh(ctx, hash[:], now.UTC().Truncate(time.Microsecond))
	if errors.Is(err, authd.ErrNotFound) {
		return r.unknown(ctx, presented, prevMax)
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	if first && prevMax >= rt.Generation {
		if err := r.cfg.Sessions.End(ctx, rt.SessionID); err != nil {
			return "", nil, nil, fmt.Errorf("end session after sibling refresh token use: %w", err)
		}
		return "", rt, nil, authd.ErrTokenReused
	}
	if !first {
		maxGen, err := r.cfg.Store.MaxUsedGeneration(ctx, rt.SessionID)
		if err != nil {
			return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
		}
		// Grace applies to the immediate parent of the newest generation
		// only: once any later token of the chain has been used, the
		// parent is stale. (maxGen can lag behind rt.Generation on stores
		// that record it after the use; that still means "no child used".)
		if now.Sub(rt.UsedAt) >= r.cfg.Grace || maxGen > rt.Generation {
			if err := r.cfg.Sessions.End(ctx, rt.SessionID); err != nil {
				return "", nil, nil, fmt.Errorf("end session after refresh token reuse: %w", err)
			}
			return "", rt, nil, authd.ErrTokenReused
		}
	}
	if !now.Before(rt.ExpiresAt) {
		return "", nil, nil, ErrInvalidGrant
	}
	sess, err := r.cfg.Sessions.ByID(ctx, rt.SessionID)
	if errors.Is(err, authd.ErrNotFound) {
		return "", nil, nil, ErrInvalidGrant // revoked, expired or idle
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	if err := r.cfg.Sessions.Seen(ctx, sess); err != nil {
		if errors.Is(err, authd.ErrUnauthenticated) {
			return "", nil, nil, ErrInvalidGrant
		}
		return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	tok, child, err := r.issue(ctx, sess, rt.UserID, rt.ClientID, rt.Scope, rt.Generation+1)
	if err != nil {
		return "", nil, nil, err
	}
	// Keep the used parent and grandparent (reuse of either is caught as
	// theft); older used tokens only cost space. A replay of a pruned one
	// is refused as unknown, without ending the session. Best effort: a
	// failed prune is retried by the next rotation.
	if rt.Generation >= 2 {
		_, _ = r.cfg.Store.PruneRefresh(ctx, rt.SessionID, rt.Generation-1)
	}
	return tok, child, sess, nil
}

// unknown handles a token the store does not have. One we issued, of a
// generation that has been used, was pruned after its own use: its replay
// is theft, and the session ends. Anything else is just invalid.
func (r *Refresher) unknown(ctx context.Context, presented string, maxUsed int) (string, *Refresh, *session.Session, error) {
	sid, gen, ok := r.genuine(presented)
	if !ok {
		return "", nil, nil, ErrInvalidGrant
	}
	sess, err := r.cfg.Sessions.ByID(ctx, sid)
	if errors.Is(err, authd.ErrNotFound) {
		return "", nil, nil, ErrInvalidGrant // the session is over anyway
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	if maxUsed < 0 {
		if maxUsed, err = r.cfg.Store.MaxUsedGeneration(ctx, sid); err != nil {
			return "", nil, nil, fmt.Errorf("redeem refresh token: %w", err)
		}
	}
	if gen > maxUsed {
		return "", nil, nil, ErrInvalidGrant
	}
	if err := r.cfg.Sessions.End(ctx, sid); err != nil {
		return "", nil, nil, fmt.Errorf("end session after refresh token reuse: %w", err)
	}
	return "", &Refresh{SessionID: sid, UserID: sess.UserID, Generation: gen}, nil, authd.ErrTokenReused
}

// Lookup returns the refresh token presented, without using it.
func (r *Refresher) Lookup(ctx context.Context, presented string) (*Refresh, error) {
	hash, ok := HashRefresh(presented)
	if !ok {
		return nil, authd.ErrNotFound
	}
	rt, err := r.cfg.Store.RefreshByHash(ctx, hash[:])
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	return rt, nil
}
