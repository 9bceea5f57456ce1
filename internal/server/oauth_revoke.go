package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/refresh"
)

// Token revocation (RFC 7009) and introspection (RFC 7662).

// handleRevoke is RFC 7009. Any well-formed request gets 200, whether the
// token was known or not (§2.2); a token issued to another client is
// refused with unauthorized_client (§2.1), which tells only its holder that
// it is live. Revoking
// either kind of token ends its session: the refresh chain, every access
// token (through the revocation set) and the session's entry in the list.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	c, ok := s.clientOf(w, r, form)
	if !ok {
		return
	}
	clientID := c.ID
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	ctx := r.Context()
	sid := ""
	if _, err := refresh.Parse(tok); err == nil {
		// Ends the token's session, unless the token is another client's.
		sid, err = s.cfg.Tokens.Refresher.Revoke(ctx, tok, clientID)
		if errors.Is(err, refresh.ErrOtherClient) {
			err = errForeignToken
		}
		if err != nil {
			s.writeOAuthFailure(w, r, err) // never claim a revocation that did not happen
			return
		}
	} else if c, err := s.cfg.Verifier.VerifyIgnoringExpiry(tok); err == nil {
		// An expired access token of ours still names its session, and
		// revoking it must end that session (RFC 7009 §2.1: the
		// authorization grant goes too).
		if c.ClientID != clientID {
			// RFC 7009 §2.1: only the client a token was issued to may
			// revoke it (a confidential client's tokens need its secret).
			s.writeOAuthFailure(w, r, errForeignToken)
			return
		}
		if c.SessionID == "" {
			// A client_credentials token has no session to end, and
			// authd keeps no list of such tokens: RFC 7009 §2.2.1's
			// answer, rather than a 200 that would claim it is dead.
			writeOAuthError(w, http.StatusBadRequest, "unsupported_token_type", "a client_credentials token cannot be revoked; it expires with --access-token-ttl")
			return
		}
		if err := s.cfg.Sessions.End(ctx, c.SessionID, event.CauseTokenRevoked); err != nil {
			s.writeOAuthFailure(w, r, err) // never claim a revocation that did not happen
			return
		}
		sid = c.SessionID
	}
	if sid != "" {
		s.log.InfoContext(ctx, "token revoked: session ended", "session_id", sid)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

type introspection struct {
	Active    bool   `json:"active"`
	Sub       string `json:"sub,omitempty"`
	Sid       string `json:"sid,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Aud       string `json:"aud,omitempty"`
}

// handleIntrospect is RFC 7662, for confidential clients only (§4: the
// endpoint must not become a token-scanning oracle).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.requireClient(w, r)
	if !ok {
		return
	}
	form, ok := readForm(w, r)
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	ctx := r.Context()
	out := introspection{Active: false}
	if _, err := refresh.Parse(tok); err != nil {
		if c, err := s.cfg.Verifier.Verify(tok); err == nil {
			out = introspection{Active: true, Sub: c.Subject, Sid: c.SessionID, Exp: c.ExpiresAt.Unix(), Iat: c.IssuedAt.Unix(),
				Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer", Iss: c.Issuer, Aud: strings.Join(c.Audience, " ")}
		}
	} else if rt, err := s.cfg.Tokens.Refresher.Lookup(ctx, tok); err == nil {
		// A refresh token is its client's secret business: other clients
		// (resource servers) learn nothing about it.
		if sess, err := s.cfg.Sessions.ByID(ctx, rt.SessionID); err == nil && rt.ClientID == caller && rt.UsedAt.IsZero() && s.cfg.Now().Before(rt.ExpiresAt) {
			out = introspection{Active: true, Sub: rt.UserID, Sid: sess.ID, Exp: rt.ExpiresAt.Unix(), Iat: rt.IssuedAt.Unix(),
				Scope: rt.Scope, ClientID: rt.ClientID, TokenType: "refresh_token"}
		} else if err != nil && !errors.Is(err, authd.ErrNotFound) {
			s.writeOAuthFailure(w, r, err)
			return
		}
	} else if !errors.Is(err, authd.ErrNotFound) {
		s.writeOAuthFailure(w, r, err)
		return
	}
	if !out.Active {
		// RFC 7662 §2.2: exactly {"active":false}, nothing more.
		out = introspection{Active: false}
	}
	writeJSON(w, http.StatusOK, out)
}
