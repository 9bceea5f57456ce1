package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
)

// The authorization_code grant (RFC 6749 §4.1.3, OAuth 2.1 §4.1.3, RFC
// 7636 §4.6) and the client_credentials grant (RFC 6749 §4.4).

// errBadGrant: the code, its verifier or its binding is wrong
// (invalid_grant). Every such failure answers the same, so a stolen code
// tells nothing about what was wrong with it.
var errBadGrant = errors.New("invalid authorization code")

func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request, form url.Values, c *client.Client) {
	tc := s.cfg.Tokens
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "code is required")
		return
	}
	if verifier == "" {
		// RFC 9700 §2.1.1: PKCE for every client; a code without its
		// verifier is the downgrade of §4.8.2.
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "code_verifier is required (PKCE)")
		return
	}
	if !validVerifier(verifier) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1)")
		return
	}
	if len(code) > 128 {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
		return
	}
	ctx := r.Context()
	sum := sha256.Sum256([]byte(code))
	now := s.cfg.Now().UTC()
	// One atomic store operation decides the code's single use: of any
	// number of concurrent redemptions exactly one goes on.
	ac, err := tc.Codes.RedeemCode(ctx, sum[:], now)
	if errors.Is(err, authd.ErrTokenReused) {
		// RFC 6749 §4.1.2: a code used twice revokes what it issued.
		// The first redemption ends the session itself if it sees the
		// replay first (authcode's handshake).
		s.log.WarnContext(ctx, "authorization code replayed", "client_id", c.ID, "code_client_id", ac.ClientID,
			"session_id", ac.SessionID, "ip", s.clientIP(r))
		if ac.SessionID != "" {
			if err := s.cfg.Sessions.End(ctx, ac.SessionID, event.CauseCodeReused); err != nil && !errors.Is(err, authd.ErrNotFound) {
				s.writeOAuthFailure(w, r, err)
				return
			}
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
		return
	}
	if errors.Is(err, authd.ErrNotFound) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
		return
	}
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	// The code is spent whatever follows: a code presented by another
	// client, with another redirect URI or verifier, is dead (RFC 9700
	// §4.5: code injection).
	redirect := form.Get("redirect_uri")
	challenge := sha256.Sum256([]byte(verifier))
	switch {
	case !now.Before(ac.ExpiresAt),
		ac.ClientID != c.ID,
		ac.RedirectURI != "" && redirect != ac.RedirectURI,
		ac.RedirectURI == "" && redirect != "" && !c.RedirectAllowed(redirect),
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(challenge[:])), []byte(ac.Challenge)) != 1:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
		return
	}
	// What approved the code must still stand: the browser's session
	// (signed out, revoked, ended by a password change elsewhere: the
	// code dies with it) and, for an app that asked, the user's consent
	// (withdrawn between the approval and the redemption: no session).
	if _, err := s.cfg.Sessions.ByID(ctx, ac.BrowserSession); err != nil {
		if errors.Is(err, authd.ErrNotFound) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
			return
		}
		s.writeOAuthFailure(w, r, err)
		return
	}
	if !c.FirstParty {
		covered, err := tc.Clients.ConsentCovers(ctx, ac.UserID, c.ID, strings.Fields(ac.Scope))
		if err != nil {
			s.writeOAuthFailure(w, r, err)
			return
		}
		if !covered {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the user withdrew the consent this code was issued under")
			return
		}
	}
	g, err := tc.Refresher.Start(ctx, ac.UserID, c.ID, ac.Scope, session.Meta{IP: s.clientIP(r), UserAgent: r.UserAgent(), AMR: strings.Fields(ac.AMR), AuthTime: ac.AuthTime})
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	sess := g.Session
	replayed, err := tc.Codes.ConfirmCode(ctx, sum[:], sess.ID)
	if err == nil && replayed {
		err = errBadGrant
	}
	if err == nil {
		err = s.stillEnabled(ctx, ac.UserID, sess.ID)
	}
	if err != nil {
		if !errors.Is(err, authd.ErrUnauthenticated) {
			_ = s.cfg.Sessions.End(ctx, sess.ID, event.CauseCodeReused)
		}
		if errors.Is(err, errBadGrant) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "the code is invalid, expired or used")
			return
		}
		s.writeOAuthFailure(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "code redeemed", "user_id", ac.UserID, "session_id", sess.ID, "client_id", c.ID)
	s.signedIn(ctx, ac.UserID, sess.ID, c.ID, "authorization_code")
	rt := g.Token
	if !c.AllowsGrant(client.GrantRefreshToken) {
		rt = ""
	}
	s.issueTokens(w, r, tokenIssue{
		userID: ac.UserID, sess: sess, client: c, scope: ac.Scope, refresh: rt,
		nonce: ac.Nonce, authTime: ac.AuthTime, amr: strings.Fields(ac.AMR),
	})
}

// validVerifier: RFC 7636 §4.1, 43 to 128 characters of [A-Za-z0-9-._~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_' || b == '~') {
			return false
		}
	}
	return true
}

// clientCredentialsGrant is RFC 6749 §4.4 for confidential clients: an
// access token whose sub is the client (RFC 9068 §2.2), no session, no
// refresh token (RFC 6749 §4.4.3).
func (s *Server) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, form url.Values, c *client.Client) {
	tc := s.cfg.Tokens
	if c.Public {
		writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", "a public client cannot use client_credentials")
		return
	}
	within := c.Scopes
	if len(within) == 0 {
		within = tc.Scopes
	}
	within = slices.DeleteFunc(slices.Clone(within), func(sc string) bool { return slices.Contains(oidcScopes, sc) })
	scope, ok := s.scopeOf(form.Get("scope"), within)
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "the requested scope is not allowed for this client")
		return
	}
	at, exp, err := tc.Issuer.Issue(token.Grant{UserID: c.ID, ClientID: c.ID, Scope: scope})
	if err != nil {
		s.writeOAuthFailure(w, r, err)
		return
	}
	s.log.InfoContext(r.Context(), "client credentials token", "client_id", c.ID, "scope", scope)
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: at, TokenType: "Bearer", ExpiresIn: expiresIn(exp, s.cfg.Now()), Scope: scope,
	})
}
