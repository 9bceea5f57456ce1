package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type userBody struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

type sessionBody struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	AMR           []string  `json:"amr"`
	AAL           int       `json:"aal"`
}

type sessionUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

type sessionResponse struct {
	Session sessionBody `json:"session"`
	User    sessionUser `json:"user"`
}

type sessionListItem struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
	ClientID   string    `json:"client_id,omitempty"`
	AppName    string    `json:"app_name,omitempty"`
	AMR        []string  `json:"amr"`
	AAL        int       `json:"aal"`
}

func requireFields(fields map[string]string) error {
	var ve authd.ValidationError
	for _, name := range []string{"email", "password", "current_password", "new_password"} {
		if v, ok := fields[name]; ok && v == "" {
			ve.Fields = append(ve.Fields, authd.FieldError{Field: name, Reason: "required", Detail: name + " is required"})
		}
	}
	if len(ve.Fields) > 0 {
		return &ve
	}
	return nil
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if s.cfg.RegistrationClosed {
		writeProblem(w, problem{Type: problemType("registration-closed"), Title: "Registration closed", Status: http.StatusForbidden,
			Detail: "Self-service registration is closed on this server."})
		return
	}
	in, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	u, err := s.register(r.Context(), in.Email, in.Password, s.clientIP(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.describeUser(u))
}

func (s *Server) clientIP(r *http.Request) string { return clientIP(r, s.cfg.TrustedProxies) }

// login checks credentials under the throttle and returns the user. It is
// shared by every login transport. A successful sign-in marks the client
// as a known device of the account (device.go).
func (s *Server) login(w http.ResponseWriter, r *http.Request, email, pw string) (*user.User, error) {
	ctx := r.Context()
	acct := throttleKey(email)
	g, err := s.admit(ctx, r, acct)
	if err != nil {
		if _, ok := errors.AsType[*authd.ThrottledError](err); ok {
			s.observeLogin(LoginThrottled)
		} else {
			s.observeLogin(LoginError)
		}
		return nil, err
	}
	u, err := s.cfg.Users.Authenticate(g.ctx, email, pw)
	switch {
	case errors.Is(err, authd.ErrUnauthenticated):
		g.failed()
		s.observeLogin(LoginFailure)
		s.log.InfoContext(ctx, "login failed", "ip", s.clientIP(r), "known_device", g.known)
		s.signInFailed(ctx, email, "", "bad_credentials")
		return nil, err
	case err != nil:
		g.abandon(ctx)
		s.observeLogin(LoginError)
		return nil, err
	}
	g.succeeded(ctx)
	if s.cfg.Users.RequireVerified() && !u.EmailVerified {
		// The password was right: the client may know that the address
		// waits for verification, and ask for a new link by signing in
		// once it is verified. No session exists.
		s.observeLogin(LoginUnverified)
		s.log.InfoContext(ctx, "login refused: email not verified", "user_id", u.ID)
		s.signInFailed(ctx, u.Email, u.ID, "email_unverified")
		return nil, user.ErrEmailUnverified
	}
	// A second factor is due (mfa.go): no session, and no device cookie
	// either — the client is not yet known to the account, so a password
	// alone cannot buy a device's own throttle budget for guessing codes.
	f, err := s.factors(ctx, u.ID)
	if err != nil {
		s.observeLogin(LoginError)
		return nil, err
	}
	if f.Any() {
		s.observeLogin(LoginMFARequired)
		return nil, s.requireSecondFactor(ctx, u, acct, f)
	}
	s.completeSignIn(w, r, u, acct, g.known)
	return u, nil
}

// completeSignIn is the end of every sign-in, with or without a second
// step: the metrics count it, a new device is told of (if asked), and the
// client is remembered as a device of the account.
func (s *Server) completeSignIn(w http.ResponseWriter, r *http.Request, u *user.User, acct string, known bool) {
	s.observeLogin(LoginSuccess)
	if !known && s.cfg.NotifyNewDevice {
		s.notifyNewDevice(r.Context(), r, u)
	}
	s.rememberDevice(w, r, acct)
}

// signInFailed announces a refused sign-in (the audit trail), naming the
// account when the address has one, so that "who tried to sign in as
// this user" has an answer. Refusals by the throttle are not recorded:
// they cost the attacker nothing and would let a flood fill the trail
// (the metrics count them).
func (s *Server) signInFailed(ctx context.Context, email, userID, reason string) {
	norm, err := user.NormalizeEmail(email)
	if err != nil {
		norm = ""
	}
	if userID == "" && norm != "" {
		if u, err := s.cfg.Users.Find(ctx, norm); err == nil {
			userID = u.ID
		}
	}
	s.cfg.Events.Publish(ctx, event.Event{Kind: event.SignInFailed, At: s.cfg.Now().UTC(), UserID: userID, Email: norm, Reason: reason})
}

// readCredentials decodes {"email","password"}, both required.
func (s *Server) readCredentials(w http.ResponseWriter, r *http.Request) (credentials, bool) {
	var in credentials
	if !decodeJSON(w, r, &in) {
		return in, false
	}
	if err := requireFields(map[string]string{"email": in.Email, "password": in.Password}); err != nil {
		s.writeError(w, r, err)
		return in, false
	}
	return in, true
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	in, ok := s.readCredentials(w, r)
	if !ok {
		return
	}
	u, err := s.login(w, r, in.Email, in.Password)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.startCookieSession(w, r, u, s.clientIP(r), nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sessionResponse{Session: toSessionBody(sess), User: sessionUser{ID: u.ID, Email: u.Email}})
}

// stillEnabled closes the race with a concurrent disable or delete: the
// user was checked before the new session existed, so check again now that
// it does, and end the session if the user is gone or disabled.
func (s *Server) stillEnabled(ctx context.Context, userID, sessionID string) error {
	cur, err := s.cfg.Users.Get(ctx, userID)
	if err == nil && !cur.Disabled {
		return nil
	}
	_ = s.cfg.Sessions.End(ctx, sessionID, event.CauseAborted)
	if err == nil || errors.Is(err, authd.ErrNotFound) {
		return authd.ErrUnauthenticated
	}
	return err
}

func (s *Server) setSessionCookie(w http.ResponseWriter, secret string, expires time.Time) {
	// Max-Age is the remaining absolute lifetime; the server enforces the
	// idle and absolute limits itself whatever the browser keeps.
	maxAge := int(expires.Sub(s.cfg.Now()) / time.Second)
	http.SetCookie(w, &http.Cookie{
		Name:     s.cfg.CookieName,
		Value:    secret,
		Path:     "/",
		MaxAge:   max(maxAge, 1),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cfg.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

func toSessionBody(s *session.Session) sessionBody {
	return sessionBody{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, IdleExpiresAt: s.IdleExpiresAt,
		AMR: amrOf(s), AAL: s.AAL()}
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request, c *caller) {
	sess, err := c.load(r.Context(), s.cfg.Sessions)
	if err != nil {
		s.writeAuthError(w, r, err)
		return
	}
	u, err := s.userBody(r.Context(), c.UserID)
	if err != nil {
		s.writeAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionResponse{Session: toSessionBody(sess), User: sessionUser{ID: u.ID, Email: u.Email}})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	// Idempotent: no credentials, or dead ones, are already logged out.
	c, err := s.authenticate(r)
	if errors.Is(err, errBadToken) {
		// An expired access token of ours still names its session: end
		// it, or "logged out" would be false while the session and its
		// refresh token live on (a tab that slept past the token's
		// lifetime signs out this way).
		tok, _ := bearerToken(r)
		if claims, verr := s.cfg.Verifier.VerifyIgnoringExpiry(tok); verr == nil {
			c, err = &caller{UserID: claims.Subject, SessionID: claims.SessionID, Kind: session.KindToken}, nil
		}
	}
	switch {
	case errors.Is(err, authd.ErrUnauthenticated), errors.Is(err, errBadToken):
	case err != nil:
		s.writeAuthError(w, r, err) // never report a logout that was not persisted
		return
	default:
		if err := s.endSession(r.Context(), c); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	// The cookie is cleared when it was the credential (or a dead one); a
	// bearer logout ends the token's session and leaves a browser session
	// that happens to share the origin alone.
	if _, err := r.Cookie(s.cfg.CookieName); err == nil && r.Header.Get("Authorization") == "" {
		s.clearSessionCookie(w)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request, c *caller) {
	u, err := s.userBody(r.Context(), c.UserID)
	if err != nil {
		s.writeAuthError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// userBody returns the public view of a user, from the cache when it can.
// An entry lives a few seconds (userCacheTTL) and is dropped when the
// address or its verification changes through this instance; a deleted
// or disabled user's sessions are revoked, so a cached entry never
// authenticates anyone by itself.
func (s *Server) userBody(ctx context.Context, id string) (userBody, error) {
	if u, ok := s.users.get(id); ok {
		return u, nil
	}
	u, err := s.cfg.Users.Get(ctx, id)
	if errors.Is(err, authd.ErrNotFound) {
		return userBody{}, authd.ErrUnauthenticated
	}
	if err != nil {
		return userBody{}, err
	}
	b := s.describeUser(u)
	s.users.put(id, b)
	return b, nil
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request, c *caller) {
	var in passwordChange
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := requireFields(map[string]string{"current_password": in.CurrentPassword, "new_password": in.NewPassword}); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.changePassword(r, c, in.CurrentPassword, in.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := s.cfg.Sessions.List(r.Context(), c.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]sessionListItem, 0, len(list))
	names := map[string]string{}
	for _, x := range list {
		it := sessionListItem{ID: x.ID, Kind: string(x.Kind), CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
			ExpiresAt: x.ExpiresAt, IP: x.IP, UserAgent: x.UserAgent, Current: x.ID == c.SessionID, ClientID: x.ClientID,
			AMR: amrOf(x), AAL: x.AAL()}
		if x.ClientID != "" && s.cfg.Tokens != nil {
			if _, ok := names[x.ClientID]; !ok {
				names[x.ClientID] = s.appName(r, x.ClientID)
			}
			it.AppName = names[x.ClientID]
		}
		out = append(out, it)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	if err := s.revokeSession(r.Context(), c, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id == c.SessionID && c.Kind == session.KindCookie {
		s.clearSessionCookie(w) // the cookie was the credential just ended
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleRevokeOthers(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.revokeOthers(r.Context(), c); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
