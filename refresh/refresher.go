package refresh

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/session"
)

// Sessions is what refresh rotation needs of the session model.
// session.Manager implements it.
type Sessions interface {
	Create(ctx context.Context, userID string, kind session.Kind, meta session.Meta) (string, *session.Session, error)
	ByID(ctx context.Context, id string) (*session.Session, error)
	Seen(ctx context.Context, s *session.Session) error
	End(ctx context.Context, id string, cause event.Cause) error
}

// Errors of Rotate and Revoke.
var (
	// ErrInvalidGrant: the refresh token is malformed, not ours, unknown,
	// expired, or its session has ended (RFC 6749 §5.2 invalid_grant).
	ErrInvalidGrant = errors.New("invalid refresh token")
	// ErrOtherClient: the token was issued to another client (RFC 6749
	// §6, RFC 7009 §2.1). The token is not spent.
	ErrOtherClient = errors.New("refresh token issued to another client")
	// ErrWiderScope: the refresh asks for a scope beyond the token's
	// (RFC 6749 §6 allows only narrowing). The token is not spent.
	ErrWiderScope = errors.New("refresh asks for a scope beyond the original")
)

// ReusedError is returned when a used token was redeemed again: the
// session was ended (RFC 9700 §4.14.2). It matches authd.ErrTokenReused and
// names what the caller should log.
type ReusedError struct {
	SessionID  string
	UserID     string
	Generation int
}

func (e *ReusedError) Error() string {
	return fmt.Sprintf("refresh token of generation %d reused: session %s ended", e.Generation, e.SessionID)
}

func (e *ReusedError) Unwrap() error { return authd.ErrTokenReused }

// Config configures a Refresher.
type Config struct {
	Store    Store
	Sessions Sessions
	// Grace lets the immediate parent of the newest refresh token be
	// redeemed again this long after its first use, in the same session,
	// so two tabs refreshing at once are not taken for a thief. 0 turns
	// it off; default (negative) 10 s.
	Grace time.Duration
	// MACKey authenticates the session and generation carried inside each
	// refresh token (see Parse). Every instance needs the same key
	// (cmd/authd derives it from the key-encryption key). Default: a
	// random key (one instance only).
	MACKey []byte
	Now    func() time.Time
	// Observe, if set, is told the outcome of every redemption the store
	// decided (for metrics); it must be quick.
	Observe func(Outcome)
}

// Refresher starts token sessions and rotates their refresh tokens.
type Refresher struct {
	cfg Config
	mac *macer
}

// New returns a Refresher.
func New(cfg Config) *Refresher {
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
	return &Refresher{cfg: cfg, mac: newMacer(cfg.MACKey)}
}

// Grant is what a successful Start or Rotate hands out.
type Grant struct {
	Token   string           // the new refresh token, for the client
	Refresh *Refresh         // its stored record
	Session *session.Session // the live session it belongs to
	Scope   string           // the scope of the access token to issue with it
}

// Start opens a token session for a user who just authenticated and
// returns the first refresh token of its chain.
func (r *Refresher) Start(ctx context.Context, userID, clientID, scope string, meta session.Meta) (*Grant, error) {
	meta.ClientID = clientID // the device list names the app; back-channel logout tells it
	_, sess, err := r.cfg.Sessions.Create(ctx, userID, session.KindToken, meta)
	if err != nil {
		return nil, err
	}
	t := r.mac.mint(sess.ID, 0)
	rt := &Refresh{
		Hash: t.Hash[:], SessionID: sess.ID, UserID: userID, ClientID: clientID, Scope: scope,
		IssuedAt: r.now(), ExpiresAt: sess.ExpiresAt,
	}
	if err := r.cfg.Store.CreateRefresh(ctx, rt); err != nil {
		// A session without a usable token is of no use to anyone.
		_ = r.cfg.Sessions.End(ctx, sess.ID, event.CauseAborted)
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	return &Grant{Token: t.String(), Refresh: rt, Session: sess, Scope: scope}, nil
}

func (r *Refresher) now() time.Time { return r.cfg.Now().UTC().Truncate(time.Microsecond) }

// Request is a refresh-token grant (RFC 6749 §6).
type Request struct {
	Token    string // the presented refresh token
	ClientID string // the authenticated client
	Scope    string // the scope parameter; empty keeps the token's
}

// Rotate redeems a refresh token for its child in one store operation
// (the rules are in the package doc). A token of another client, or a
// scope beyond the token's, is refused (ErrOtherClient, ErrWiderScope)
// without spending it. Reuse ends the session and returns a *ReusedError;
// malformed, forged, unknown, expired and ended tokens return
// ErrInvalidGrant.
func (r *Refresher) Rotate(ctx context.Context, req Request) (*Grant, error) {
	t, err := Parse(req.Token)
	if err != nil || !r.mac.genuine(t) {
		return nil, ErrInvalidGrant
	}
	scope, ok := requestedScope(req.Scope)
	if !ok {
		return nil, ErrWiderScope
	}
	child := r.mac.mint(t.SessionID, t.Generation+1)
	res, err := r.cfg.Store.RotateRefresh(ctx, &Rotation{
		SessionID: t.SessionID, Generation: t.Generation, Hash: t.Hash[:],
		ClientID: req.ClientID, Scope: scope, ChildHash: child.Hash[:],
		At: r.now(), Grace: r.cfg.Grace,
	})
	if err != nil {
		return nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	if r.cfg.Observe != nil {
		r.cfg.Observe(res.Outcome)
	}
	switch res.Outcome {
	case Rotated, Sibling:
	case Reused:
		return nil, r.reused(ctx, t, res.Token)
	case OtherClient:
		return nil, ErrOtherClient
	case WiderScope:
		return nil, ErrWiderScope
	default: // Unknown, Expired
		return nil, ErrInvalidGrant
	}
	sess, err := r.cfg.Sessions.ByID(ctx, t.SessionID)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrInvalidGrant // revoked, expired or idle
	}
	if err != nil {
		return nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	if err := r.cfg.Sessions.Seen(ctx, sess); err != nil {
		if errors.Is(err, authd.ErrUnauthenticated) {
			return nil, ErrInvalidGrant
		}
		return nil, fmt.Errorf("redeem refresh token: %w", err)
	}
	g := &Grant{Token: child.String(), Refresh: res.Child, Session: sess, Scope: res.Token.Scope}
	if len(scope) > 0 {
		g.Scope = strings.Join(scope, " ")
	}
	return g, nil
}

// reused ends the session of a reused token (RFC 9700 §4.14.2). stored is
// nil when the token was pruned (rule 1); the session, if it still exists,
// then names the user for the caller's log.
func (r *Refresher) reused(ctx context.Context, t Token, stored *Refresh) error {
	e := &ReusedError{SessionID: t.SessionID, Generation: t.Generation}
	if stored != nil {
		e.UserID = stored.UserID
	} else if sess, err := r.cfg.Sessions.ByID(ctx, t.SessionID); err == nil {
		e.UserID = sess.UserID
	} else if !errors.Is(err, authd.ErrNotFound) {
		return fmt.Errorf("redeem refresh token: %w", err)
	}
	if err := r.cfg.Sessions.End(ctx, t.SessionID, event.CauseRefreshReused); err != nil {
		return fmt.Errorf("end session after refresh token reuse: %w", err)
	}
	return e
}

// requestedScope splits a scope parameter into its distinct tokens (RFC
// 6749 §3.3); more than 32 is refused.
func requestedScope(s string) ([]string, bool) {
	parts := strings.Fields(s)
	if len(parts) > 32 {
		return nil, false
	}
	var out []string
	for _, p := range parts {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, true
}

// Lookup returns the stored record of a refresh token of ours, without
// using it. authd.ErrNotFound for anything else.
func (r *Refresher) Lookup(ctx context.Context, presented string) (*Refresh, error) {
	t, err := Parse(presented)
	if err != nil || !r.mac.genuine(t) {
		return nil, authd.ErrNotFound
	}
	rt, err := r.cfg.Store.RefreshByHash(ctx, t.SessionID, t.Hash[:])
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	return rt, nil
}

// Revoke is RFC 7009 for a refresh token: it ends the token's session (the
// whole grant, §2.1) and returns its ID. A token that is not ours or not
// stored is no error and ends nothing (§2.2); one issued to another client
// is ErrOtherClient (§2.1).
func (r *Refresher) Revoke(ctx context.Context, presented, clientID string) (sessionID string, err error) {
	rt, err := r.Lookup(ctx, presented)
	if errors.Is(err, authd.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if rt.ClientID != clientID {
		return "", ErrOtherClient
	}
	if err := r.cfg.Sessions.End(ctx, rt.SessionID, event.CauseTokenRevoked); err != nil {
		return "", fmt.Errorf("revoke refresh token: %w", err)
	}
	return rt.SessionID, nil
}
