// Package guard protects a Go service with authd: it verifies authd's
// access tokens offline (JWKS discovered from the issuer's RFC 8414
// metadata), follows authd's revocation feed so a revoked session's tokens
// are refused within a second (and a signing key withdrawn by `authd keys
// revoke` is dropped at once, whatever the JWKS caches say), and offers
// net/http middleware that puts the verified identity in the request
// context.
//
// It imports none of authd's stores or server:
//
//	g, err := guard.New(ctx, guard.Config{
//		Issuer:       "https://auth.example.com",
//		Audience:     "authd",
//		ClientID:     os.Getenv("AUTHD_CLIENT_ID"),     // `authd client add notes`
//		ClientSecret: os.Getenv("AUTHD_CLIENT_SECRET"),
//	})
//	mux.Handle("GET /notes", g.Require("read")(listNotes))
//
//	func listNotes(w http.ResponseWriter, r *http.Request) {
//		id, _ := guard.FromContext(r.Context())
//		...id.Subject...
//	}
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/token"
	"github.com/authd/authd/wire"
)

// Config configures a Guard. Issuer and Audience are required; ClientID
// and ClientSecret are required to follow the revocation feed.
type Config struct {
	// Issuer is authd's issuer URL (the iss of its tokens); metadata is
	// read from Issuer + "/.well-known/oauth-authorization-server".
	Issuer   string
	Audience string
	// ClientID and ClientSecret authenticate to the revocation feed (a
	// confidential client: `authd client add NAME`).
	ClientID, ClientSecret string
	// FeedStaleAfter is how long the feed may be silent (it sends a
	// heartbeat every 2 s) before the guard stops trusting its
	// revocation set. Default 5 s.
	FeedStaleAfter time.Duration
	// AcceptWhenFeedDown trades safety for availability: while the feed is
	// stale, tokens are accepted until they expire instead of refused
	// with 503. A session revoked during the outage is then honoured by
	// this service for at most the access-token lifetime. Default false
	// (fail closed).
	AcceptWhenFeedDown bool
	// AcceptCookie also accepts authd's session cookie, checked against
	// authd's /v1/auth/check with a cache of at most CookieCacheTTL.
	AcceptCookie bool
	// CookieName defaults to "__Host-authd_session".
	CookieName string
	// CookieCacheTTL is at most (and by default) 1 s.
	CookieCacheTTL time.Duration
	// JWKSMinRefresh is the least time between two JWKS fetches triggered
	// by unknown kids (garbage kids cannot make the service hammer authd).
	// Default 5 s; authd publishes a new key a minute before it signs.
	JWKSMinRefresh time.Duration
	// Leeway is the clock-skew tolerance, at most 60 s; default 30 s.
	Leeway time.Duration
	// HTTPClient talks to authd; default: a client with a 10 s timeout
	// (the feed uses it without a timeout).
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Identity is the verified caller of a request.
type Identity struct {
	Subject   string // the user ID
	SessionID string
	Scopes    []string
	ClientID  string
	Kind      string // "token" or "cookie"
	ExpiresAt time.Time
}

// HasScope reports whether the identity was granted scope.
func (id *Identity) HasScope(scope string) bool { return slices.Contains(id.Scopes, scope) }

type ctxKey struct{}

// FromContext returns the identity the middleware verified.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// Errors of Authenticate. Require answers ErrFeedDown and ErrCheckFailed
// with 503 (the guard fails closed), ErrInvalidToken and ErrNoCredentials
// with 401.
var (
	ErrNoCredentials = errors.New("guard: no credentials")
	ErrInvalidToken  = errors.New("guard: invalid token")
	// ErrFeedDown: a bearer token cannot be trusted because the
	// revocation feed is stale (see Config.AcceptWhenFeedDown).
	ErrFeedDown = errors.New("guard: revocation feed unavailable")
	// ErrCheckFailed: a session cookie could not be checked because
	// authd's /v1/auth/check was unreachable or answered with an error
	// other than 401.
	ErrCheckFailed = errors.New("guard: session check with authd failed")
)

// Guard verifies authd credentials for a resource server.
type Guard struct {
	cfg      Config
	meta     metadata
	keys     *remoteKeys
	revoked  *token.RevocationSet
	verifier *token.Verifier
	log      *slog.Logger

	lastContact atomic.Int64 // unix nanos of the feed's last sign of life
	feedReady   atomic.Bool  // the backlog has been received at least once
	feedURL     string

	cookieMu    sync.Mutex
	cookieCache map[[32]byte]cookieEntry
}

type cookieEntry struct {
	id *Identity
	at time.Time
}

type metadata struct {
	Issuer       string `json:"issuer"`
	JWKSURI      string `json:"jwks_uri"`
	FeedEndpoint string `json:"authd_revocation_feed_endpoint"`
}

// New discovers authd's metadata and keys and, when client credentials
// are configured, starts following the revocation feed until ctx ends.
func New(ctx context.Context, cfg Config) (*Guard, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("guard: Issuer and Audience are required")
	}
	if (cfg.ClientID == "" || cfg.ClientSecret == "") && !cfg.AcceptWhenFeedDown {
		// Without the feed every bearer request would get 503 forever:
		// say so now rather than at the first request.
		return nil, errors.New("guard: ClientID and ClientSecret are required to follow the revocation feed (or set AcceptWhenFeedDown)")
	}
	if cfg.FeedStaleAfter <= 0 {
		cfg.FeedStaleAfter = 5 * time.Second
	}
	if cfg.CookieName == "" {
		cfg.CookieName = wire.SessionCookie
	}
	if cfg.CookieCacheTTL <= 0 || cfg.CookieCacheTTL > time.Second {
		cfg.CookieCacheTTL = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Guard{cfg: cfg, log: cfg.Logger, revoked: token.NewRevocationSet(cfg.Now), cookieCache: map[[32]byte]cookieEntry{}}
	if err := g.discover(ctx); err != nil {
		return nil, err
	}
	g.keys = newRemoteKeys(g.meta.JWKSURI, cfg.HTTPClient, cfg.Now, g.log)
	if cfg.JWKSMinRefresh > 0 {
		g.keys.minRefresh = cfg.JWKSMinRefresh
	}
	if err := g.keys.refresh(ctx, true); err != nil {
		return nil, err
	}
	g.verifier = token.NewVerifier(token.VerifierConfig{
		Keys: g.keys, Issuer: g.meta.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway,
		Revocations: g.revoked, Now: cfg.Now,
	})
	if cfg.ClientID != "" {
		g.feedURL = g.meta.FeedEndpoint
		if g.feedURL == "" {
			g.feedURL = strings.TrimSuffix(cfg.Issuer, "/") + "/v1/revocations"
		}
		go g.follow(ctx)
	}
	return g, nil
}

func (g *Guard) discover(ctx context.Context) error {
	u := strings.TrimSuffix(g.cfg.Issuer, "/") + "/.well-known/oauth-authorization-server"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("guard: metadata: %w", err)
	}
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("guard: metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("guard: metadata: %s answered %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&g.meta); err != nil {
		return fmt.Errorf("guard: metadata: %w", err)
	}
	// RFC 8414 §3.3: the issuer in the document must be the one we asked.
	if strings.TrimSuffix(g.meta.Issuer, "/") != strings.TrimSuffix(g.cfg.Issuer, "/") {
		return fmt.Errorf("guard: metadata names issuer %q, want %q", g.meta.Issuer, g.cfg.Issuer)
	}
	if _, err := url.Parse(g.meta.JWKSURI); err != nil || g.meta.JWKSURI == "" {
		return fmt.Errorf("guard: metadata has no usable jwks_uri")
	}
	return nil
}

// FeedFresh reports whether the revocation set can be trusted now: the
// feed delivered its backlog and was heard from within FeedStaleAfter.
func (g *Guard) FeedFresh() bool {
	if g.cfg.ClientID == "" || !g.feedReady.Load() {
		return false
	}
	last := time.Unix(0, g.lastContact.Load())
	return g.cfg.Now().Sub(last) <= g.cfg.FeedStaleAfter
}

// Verify checks a bearer access token.
func (g *Guard) Verify(tok string) (*Identity, error) {
	if !g.FeedFresh() && !g.cfg.AcceptWhenFeedDown {
		return nil, ErrFeedDown
	}
	c, err := g.verifier.Verify(tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &Identity{Subject: c.Subject, SessionID: c.SessionID, Scopes: strings.Fields(c.Scope),
		ClientID: c.ClientID, Kind: "token", ExpiresAt: c.ExpiresAt}, nil
}

// Authenticate finds and checks the credentials of r: a bearer token in
// the Authorization header, or (with AcceptCookie) authd's session cookie.
func (g *Guard) Authenticate(r *http.Request) (*Identity, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, tok, _ := strings.Cut(authz, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, ErrNoCredentials
		}
		return g.Verify(strings.TrimSpace(tok))
	}
	if g.cfg.AcceptCookie {
		if ck, err := r.Cookie(g.cfg.CookieName); err == nil && ck.Value != "" {
			return g.checkCookie(r.Context(), ck.Value)
		}
	}
	return nil, ErrNoCredentials
}

// checkCookie asks authd about a session cookie, remembering a yes for at
// most CookieCacheTTL (so a revocation reaches this service within it).
func (g *Guard) checkCookie(ctx context.Context, value string) (*Identity, error) {
	key := sha256.Sum256([]byte(value))
	now := g.cfg.Now()
	g.cookieMu.Lock()
	e, ok := g.cookieCache[key]
	g.cookieMu.Unlock()
	if ok && now.Sub(e.at) < g.cfg.CookieCacheTTL {
		return e.id, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(g.cfg.Issuer, "/")+"/v1/auth/check", nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckFailed, err)
	}
	req.AddCookie(&http.Cookie{Name: g.cfg.CookieName, Value: value})
	resp, err := g.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckFailed, err) // cannot check: fail closed
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, ErrInvalidToken
	default:
		return nil, fmt.Errorf("%w: authd answered %s", ErrCheckFailed, resp.Status)
	}
	id := &Identity{Subject: resp.Header.Get("X-Authd-User"), SessionID: resp.Header.Get("X-Authd-Session"),
		Scopes: strings.Fields(resp.Header.Get("X-Authd-Scope")), Kind: "cookie"}
	g.cookieMu.Lock()
	if len(g.cookieCache) > 100_000 {
		clear(g.cookieCache)
	}
	g.cookieCache[key] = cookieEntry{id: id, at: now}
	g.cookieMu.Unlock()
	return id, nil
}
