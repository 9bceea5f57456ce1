package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

// The account operations below are shared by the JSON API (api.go) and
// the pages (pages.go), so the two transports cannot drift apart.

// register creates an account under the per-IP registration throttle: an
// Argon2id hash per attempt and an "email taken" answer make registration
// as worth limiting as logins.
// It is shared by the JSON API and the pages.
func (s *Server) register(ctx context.Context, email, pw, ip string) (*user.User, error) {
	regKey := "reg:" + s.ipBucket(ip)
	t := s.cfg.IPThrottle
	if t != nil {
		// Counted before the hash, like a login attempt (attempts.go).
		if d, err := t.Reserve(ctx, regKey); err != nil {
			return nil, err
		} else if d > 0 {
			s.throttleRefused("registration")
			return nil, &authd.ThrottledError{RetryAfter: d}
		}
	}
	u, err := s.cfg.Users.Register(ctx, email, pw)
	if t != nil && err != nil && !errors.Is(err, authd.ErrConflict) {
		// Refused before any hashing (invalid input) or not done (store
		// failure): not an attempt worth counting.
		if err := t.Release(ctx, regKey); err != nil {
			s.log.WarnContext(ctx, "throttle: release registration", "err", err)
		}
	}
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user registered", "user_id", u.ID, "ip", ip)
	return u, nil
}

// startCookieSession starts a cookie session for u and sets its cookie.
// Session fixation (ASVS 5.0 7.2.4): a login always starts a new session,
// and a session cookie presented with it is ended.
// It is shared by the JSON API and the pages.
// amr says how the user authenticated (nil: a password).
func (s *Server) startCookieSession(w http.ResponseWriter, r *http.Request, u *user.User, ip string, amr []string) (*session.Session, error) {
	ctx := r.Context()
	if c, err := r.Cookie(s.cfg.CookieName); err == nil {
		if old, err := s.cfg.Sessions.Check(ctx, c.Value); err == nil {
			if err := s.cfg.Sessions.End(ctx, old.ID, event.CauseReplaced); err != nil {
				return nil, err
			}
		}
	}
	secret, sess, err := s.cfg.Sessions.Create(ctx, u.ID, session.KindCookie, session.Meta{IP: ip, UserAgent: r.UserAgent(), AMR: amr})
	if err != nil {
		return nil, err
	}
	if err := s.stillEnabled(ctx, u.ID, sess.ID); err != nil {
		return nil, err
	}
	s.users.put(u.ID, s.describeUser(u))
	s.setSessionCookie(w, secret, sess.ExpiresAt)
	s.log.InfoContext(ctx, "login", "user_id", u.ID, "session_id", sess.ID, "ip", ip)
	s.signedIn(ctx, u.ID, sess.ID, "", signInHow(amr))
	return sess, nil
}

// signedIn announces a new session (the audit trail): how is "password"
// (a login), "password_grant", or "authorization_code" (an app's
// session, from the browser's sign-in).
func (s *Server) signedIn(ctx context.Context, userID, sessionID, clientID, how string) {
	s.cfg.Events.Publish(ctx, event.Event{Kind: event.SignInSucceeded, At: s.cfg.Now().UTC(), UserID: userID,
		SessionID: sessionID, ClientID: clientID, Reason: how})
}

// withCaller returns ctx naming c's session as the one acting, so that
// an event it causes on another session says "session:ID" (audit).
func withCaller(ctx context.Context, c *caller) context.Context {
	req := event.RequestFrom(ctx)
	req.SessionID = c.SessionID
	return event.WithRequest(ctx, req)
}

// changePassword changes the caller's password. A stolen session must not
// become a password-guessing oracle: the current password is checked under
// the same throttle as a login to the account (attempts.go), so a stolen
// session adds no guesses to the login budget.
// A wrong current password is errWrongPassword, and so is an account that
// is gone meanwhile.
// It is shared by the JSON API and the pages.
func (s *Server) changePassword(r *http.Request, c *caller, current, next string) error {
	ctx := withCaller(r.Context(), c)
	if err := s.recentAuth(ctx, c); err != nil {
		return err
	}
	u, err := s.userBody(ctx, c.UserID)
	if errors.Is(err, authd.ErrUnauthenticated) {
		return errWrongPassword
	}
	if err != nil {
		return err
	}
	g, err := s.admit(ctx, r, throttleKey(u.Email))
	if err != nil {
		return err
	}
	err = s.cfg.Users.ChangePassword(g.ctx, c.UserID, current, next, c.SessionID)
	switch {
	case errors.Is(err, authd.ErrUnauthenticated):
		g.failed()
		return errWrongPassword
	case err != nil:
		g.abandon(ctx)
		return err
	}
	g.succeeded(ctx)
	s.log.InfoContext(ctx, "password changed; other sessions revoked", "user_id", c.UserID, "session_id", c.SessionID)
	return nil
}

// endSession ends the caller's own session (logout).
// It is shared by the JSON API and the pages.
func (s *Server) endSession(ctx context.Context, c *caller) error {
	ctx = withCaller(ctx, c)
	if err := s.cfg.Sessions.End(ctx, c.SessionID, event.CauseLogout); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "logout", "user_id", c.UserID, "session_id", c.SessionID, "kind", c.Kind)
	return nil
}

// revokeSession ends one of the caller's sessions by its public ID. An
// unknown ID, another user's session and an over-long ID are all
// authd.ErrNotFound, so session IDs cannot be probed.
// It is shared by the JSON API and the pages.
func (s *Server) revokeSession(ctx context.Context, c *caller, id string) error {
	ctx = withCaller(ctx, c)
	if len(id) > 64 {
		return authd.ErrNotFound
	}
	if err := s.cfg.Sessions.Revoke(ctx, c.UserID, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "session revoked", "user_id", c.UserID, "session_id", id, "by_session", c.SessionID)
	return nil
}

// revokeOthers ends every session of the caller's but the current one.
// It is shared by the JSON API and the pages.
func (s *Server) revokeOthers(ctx context.Context, c *caller) error {
	ctx = withCaller(ctx, c)
	if err := s.cfg.Sessions.RevokeUser(ctx, c.UserID, c.SessionID, event.CauseSignOutOthers); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "other sessions revoked", "user_id", c.UserID, "session_id", c.SessionID)
	return nil
}
