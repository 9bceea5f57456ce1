package server

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/authd/authd"
)

// The account page's second factor: set up an authenticator app (a QR
// code, then a code from the app), see the recovery codes once, make new
// ones, remove the app. Each answers with the account page, as the
// password form does; the changes that need a recent sign-in say so with
// a link to sign in again.

// mfaView is the account page's second-factor section.
type mfaView struct {
	TOTP      bool // an authenticator app is on
	CodesLeft int  // unused recovery codes
	// Enroll is a setup in progress: the secret and its QR code.
	Enroll *enrollView
	// RecoveryCodes are shown once, right after they were made.
	RecoveryCodes []string
	// Reauth: the last change needs a fresh sign-in (the alert links to it).
	Reauth bool
	// Passkeys are the user's passkeys (pages_passkeys.go); PasskeysOn:
	// the server offers passkeys at all.
	Passkeys   []passkeyView
	PasskeysOn bool
}

type enrollView struct {
	Secret string
	// SecretGroups is the secret in groups of four, for typing.
	SecretGroups string
	QR           template.URL // a data: URL of the QR code's PNG
}

// fillMFA puts the user's factors into the account page's data.
func (s *Server) fillMFA(r *http.Request, userID string, d *pageData) error {
	if s.cfg.MFA == nil {
		return nil
	}
	f, err := s.factors(r.Context(), userID)
	if err != nil {
		return err
	}
	if d.MFA == nil {
		d.MFA = &mfaView{}
	}
	d.MFA.TOTP, d.MFA.CodesLeft = f.TOTP, f.RecoveryCodes
	return s.fillPasskeys(r, userID, d)
}

// accountAction runs one second-factor change from the account page and
// answers with the page: fill sets what the page shows of its result.
func (s *Server) accountAction(w http.ResponseWriter, r *http.Request, do func(c *caller, d *pageData) error) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	if s.cfg.MFA == nil {
		http.NotFound(w, r)
		return
	}
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email, EmailVerified: u.EmailVerified, MFA: &mfaView{}}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.renderAccount(w, r, http.StatusBadRequest, c, d)
		return
	}
	status := http.StatusOK
	if err := do(c, d); err != nil {
		st, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		status = st
		d.MFA.Reauth = errors.Is(err, errReauth)
	}
	s.renderAccount(w, r, status, c, d)
}

func (s *Server) pageBeginTOTPPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		e, err := s.beginTOTP(r.Context(), c)
		if err != nil {
			return err
		}
		png, err := e.QRCode(240)
		if err != nil {
			return err
		}
		d.MFA.Enroll = &enrollView{Secret: e.Secret, SecretGroups: groups(e.Secret, 4),
			QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))}
		return nil
	})
}

func (s *Server) pageConfirmTOTPPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		code := r.PostFormValue("code")
		if code == "" {
			return authd.Invalid("code", "required", "Enter the 6-digit code your app shows.")
		}
		codes, err := s.confirmTOTP(r, c, code)
		if err != nil {
			return err
		}
		d.MFA.RecoveryCodes = codes
		d.Notice = "Your authenticator app is set up. Your other devices were signed out."
		return nil
	})
}

func (s *Server) pageDisableTOTPPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		if err := s.disableTOTP(r.Context(), c); err != nil {
			return err
		}
		d.Notice = "Your authenticator app was removed. Your other devices were signed out."
		return nil
	})
}

func (s *Server) pageRecoveryCodesPost(w http.ResponseWriter, r *http.Request) {
	s.accountAction(w, r, func(c *caller, d *pageData) error {
		codes, err := s.newRecoveryCodes(r.Context(), c)
		if err != nil {
			return err
		}
		d.MFA.RecoveryCodes = codes
		d.Notice = "New recovery codes were made; the old ones no longer work."
		return nil
	})
}

// groups splits s into groups of n separated by spaces.
func groups(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+n, len(s))])
	}
	return b.String()
}

func (s *Server) mfaPageRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /account/mfa/totp", s.pageBeginTOTPPost)
	m.HandleFunc("POST /account/mfa/totp/confirm", s.pageConfirmTOTPPost)
	m.HandleFunc("POST /account/mfa/totp/remove", s.pageDisableTOTPPost)
	m.HandleFunc("POST /account/mfa/recovery-codes", s.pageRecoveryCodesPost)
	s.passkeyPageRoutes(m)
}
