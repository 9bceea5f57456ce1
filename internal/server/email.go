package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/user"
)

// The emailed flows of the JSON API (issue 10): password resets,
// verification and address changes. The pages (pages_email.go) call the
// same operations.

type resetRequest struct {
	Email string `json:"email"`
}

type resetConfirm struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

type tokenBody struct {
	Token string `json:"token"`
}

type emailChange struct {
	NewEmail        string `json:"new_email"`
	CurrentPassword string `json:"current_password"`
}

// acceptedBody is the one answer to a reset request, whether or not an
// account uses the address.
var acceptedBody = map[string]string{
	"status":  "accepted",
	"message": "If an account uses this address, a message with a link is on its way.",
}

// mailJobs bounds the reset requests being worked on after their answer
// was sent; a flood past it is dropped (and logged), not queued.
const mailJobs = 64

func (s *Server) handleResetRequest(w http.ResponseWriter, r *http.Request) {
	var in resetRequest
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := requireFields(map[string]string{"email": in.Email}); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.requestReset(r, in.Email); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusAccepted, acceptedBody)
}

// requestReset throttles a reset request by address and by IP, then
// looks the account up and queues the mail after the caller has
// answered: the answer and its timing are the same whether or not an
// account uses the address (ASVS 5.0 6.3.8). Both throttles are decided
// before any look-up and count every request, so they tell nothing
// either. It is shared by the JSON API and the pages.
func (s *Server) requestReset(r *http.Request, email string) error {
	if err := s.reserveMail(r.Context(), r, email); err != nil {
		return err
	}
	select {
	case s.mailJobs <- struct{}{}:
	default:
		s.log.WarnContext(r.Context(), "password reset request dropped: too many in progress", "ip", s.clientIP(r))
		return nil
	}
	ctx := context.WithoutCancel(r.Context())
	go func() {
		defer func() { <-s.mailJobs }()
		ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		if err := s.cfg.Users.RequestPasswordReset(ctx, email); err != nil {
			s.log.ErrorContext(ctx, "password reset not sent", "err", err)
		}
	}()
	return nil
}

// reserveMail counts one mail for the address and one for the client's
// IP; past either budget the request is refused with 429 before anything
// is looked up (so authd cannot be used to flood an inbox).
func (s *Server) reserveMail(ctx context.Context, r *http.Request, email string) error {
	for _, k := range []struct {
		t         throttle.Throttler
		key, name string
	}{
		{s.cfg.MailAddrThrottle, "mail:" + throttleKey(email), "mail_address"},
		{s.cfg.MailIPThrottle, "mailip:" + s.ipBucket(s.clientIP(r)), "mail_ip"},
	} {
		if k.t == nil {
			continue
		}
		wait, err := k.t.Reserve(ctx, k.key)
		if err != nil {
			return err // a throttle we cannot read fails closed: 503
		}
		if wait > 0 {
			s.throttleRefused(k.name)
			return &authd.ThrottledError{RetryAfter: wait}
		}
	}
	return nil
}

func (s *Server) handleResetConfirm(w http.ResponseWriter, r *http.Request) {
	var in resetConfirm
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := requireTokenFields(in.Token, map[string]string{"new_password": in.NewPassword}); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.resetPassword(r, in.Token, in.NewPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// requireTokenFields reports a missing token (and other required fields).
func requireTokenFields(tok string, fields map[string]string) error {
	var ve authd.ValidationError
	if tok == "" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "token", Reason: "required", Detail: "token is required"})
	}
	if err := requireFields(fields); err != nil {
		var fe *authd.ValidationError
		errors.As(err, &fe)
		ve.Fields = append(ve.Fields, fe.Fields...)
	}
	if len(ve.Fields) > 0 {
		return &ve
	}
	return nil
}

// resetPassword sets a new password with a reset link. A well-formed
// token costs a password hash before it is looked up (so a refused
// password leaves the link working): the client's IP pays one attempt of
// its login budget for it, given back when the link worked. Shared by
// the JSON API and the pages.
func (s *Server) resetPassword(r *http.Request, tok, next string) error {
	ctx := r.Context()
	if err := s.cfg.Users.CheckNewPassword(next); err != nil {
		return err
	}
	ipKey := "ip:" + s.ipBucket(s.clientIP(r))
	if t := s.cfg.IPThrottle; t != nil {
		wait, err := t.Reserve(ctx, ipKey)
		if err != nil {
			return err
		}
		if wait > 0 {
			s.throttleRefused("ip")
			return &authd.ThrottledError{RetryAfter: wait}
		}
	}
	u, err := s.cfg.Users.ResetPassword(ctx, tok, next)
	if err != nil {
		return err
	}
	if t := s.cfg.IPThrottle; t != nil {
		sctx, cancel := settleContext(ctx)
		defer cancel()
		_ = t.Release(sctx, ipKey)
	}
	s.users.forget(u.ID)
	s.log.InfoContext(ctx, "password reset; every session revoked", "user_id", u.ID, "ip", s.clientIP(r))
	return nil
}

func (s *Server) verifyEmail(ctx context.Context, tok string) (*user.User, error) {
	u, err := s.cfg.Users.VerifyEmail(ctx, tok)
	if err != nil {
		return nil, err
	}
	s.users.forget(u.ID)
	s.log.InfoContext(ctx, "email verified", "user_id", u.ID)
	return u, nil
}

// handleLinkToken serves the API side of a mailed link (verify, confirm,
// undo): {"token"} → the operation → 200 with the user as it now is.
func (s *Server) handleLinkToken(use func(context.Context, string) (*user.User, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in tokenBody
		if !decodeJSON(w, r, &in) {
			return
		}
		if err := requireTokenFields(in.Token, nil); err != nil {
			s.writeError(w, r, err)
			return
		}
		u, err := use(r.Context(), in.Token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, s.describeUser(u))
	}
}

// handleResendVerification sends a new verification link to the caller's
// address (202), throttled like reset requests; nothing is sent for an
// address already verified.
func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.resendVerification(r, c); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

func (s *Server) resendVerification(r *http.Request, c *caller) error {
	ctx := r.Context()
	u, err := s.cfg.Users.Get(ctx, c.UserID)
	if errors.Is(err, authd.ErrNotFound) {
		return authd.ErrUnauthenticated
	}
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return nil
	}
	if !s.cfg.Users.EmailEnabled() {
		return errNoMail
	}
	if err := s.reserveMail(ctx, r, u.Email); err != nil {
		return err
	}
	return s.cfg.Users.SendVerification(ctx, u)
}

func (s *Server) handleChangeEmail(w http.ResponseWriter, r *http.Request, c *caller) {
	var in emailChange
	if !decodeJSON(w, r, &in) {
		return
	}
	if err := requireFields(map[string]string{"new_email": in.NewEmail, "current_password": in.CurrentPassword}); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.changeEmail(r, c, in.NewEmail, in.CurrentPassword); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted",
		"message": "Follow the link sent to the new address to confirm it."})
}

// changeEmail starts an address change after checking the current
// password under the login throttle (as a password change does). Shared
// by the JSON API and the pages.
func (s *Server) changeEmail(r *http.Request, c *caller, next, current string) error {
	ctx := withCaller(r.Context(), c)
	if !s.cfg.Users.EmailEnabled() {
		return errNoMail
	}
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
	// Each request mails the new address: the mail budgets apply, as to
	// resets (found by the black-box test: 100 requests sent 100 mails).
	if err := s.reserveMail(ctx, r, next); err != nil {
		return err
	}
	g, err := s.admit(ctx, r, throttleKey(u.Email))
	if err != nil {
		return err
	}
	err = s.cfg.Users.RequestEmailChange(g.ctx, c.UserID, next, current)
	switch {
	case errors.Is(err, authd.ErrUnauthenticated):
		g.failed()
		return errWrongPassword
	case err != nil:
		g.abandon(ctx)
		return err
	}
	g.succeeded(ctx)
	s.log.InfoContext(ctx, "email change requested", "user_id", c.UserID, "session_id", c.SessionID)
	return nil
}

func (s *Server) confirmEmail(ctx context.Context, tok string) (*user.User, error) {
	u, err := s.cfg.Users.ConfirmEmailChange(ctx, tok)
	if err != nil {
		return nil, err
	}
	s.users.forget(u.ID)
	s.log.InfoContext(ctx, "email changed", "user_id", u.ID)
	return u, nil
}

func (s *Server) undoEmail(ctx context.Context, tok string) (*user.User, error) {
	u, err := s.cfg.Users.UndoEmailChange(ctx, tok)
	if err != nil {
		return nil, err
	}
	s.users.forget(u.ID)
	s.log.WarnContext(ctx, "email change undone; every session revoked", "user_id", u.ID)
	return u, nil
}

// describeUser is the public view of a user (GET /v1/user).
func (s *Server) describeUser(u *user.User) userBody {
	return userBody{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, CreatedAt: u.CreatedAt}
}

// notifyNewDevice queues the new-device notice after a sign-in from a
// client without this account's device cookie (--notify-new-device).
func (s *Server) notifyNewDevice(ctx context.Context, r *http.Request, u *user.User) {
	if err := s.cfg.Users.Notify(ctx, u, mail.TemplateNewDevice, map[string]string{
		"Device": describeDevice(parseUserAgent(r.UserAgent())), "IP": s.clientIP(r),
	}); err != nil {
		s.log.ErrorContext(ctx, "new-device notice not queued", "user_id", u.ID, "err", err)
	}
}

// errNoMail: an emailed operation on a server without mail delivery.
var errNoMail = errors.New("mail delivery is not configured")
