package server

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/user"
)

// The sign-in pages: register, sign in, sign out.

func (s *Server) pageRegister(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Create an account", Nav: "register", ReturnTo: safeReturnTo(r.URL.Query().Get("return_to"))}
	if s.cfg.RegistrationClosed {
		d.Closed = true
		d.Alert = "Registration is closed on this server. Ask an administrator for an account."
		s.render(w, r, http.StatusForbidden, "register", d)
		return
	}
	s.render(w, r, http.StatusOK, "register", d)
}

func (s *Server) pageRegisterPost(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Create an account", Nav: "register"}
	if s.cfg.RegistrationClosed {
		d.Closed = true
		d.Alert = "Registration is closed on this server. Ask an administrator for an account."
		s.render(w, r, http.StatusForbidden, "register", d)
		return
	}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.render(w, r, http.StatusBadRequest, "register", d)
		return
	}
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	d.Email, d.ReturnTo = email, safeReturnTo(r.PostFormValue("return_to"))
	err := requireFields(map[string]string{"email": email, "password": pw})
	if err == nil {
		_, err = s.register(r.Context(), email, pw, s.clientIP(r))
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		s.render(w, r, status, "register", d)
		return
	}
	to := "/login?done=registered"
	if d.ReturnTo != "" {
		to += "&" + url.Values{"return_to": {d.ReturnTo}}.Encode()
	}
	s.seeOther(w, r, to)
}

// --- login and logout ---

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	returnTo := safeReturnTo(q.Get("return_to"))
	// reauth: an app asked for a fresh sign-in (prompt=login, max_age),
	// so the form is shown even to a signed-in browser.
	if c, err := s.cookieCaller(r); err == nil && c != nil && q.Get("reauth") != "1" {
		// Already signed in: go where the login would have gone.
		s.seeOther(w, r, cmp.Or(returnTo, "/account"))
		return
	}
	d := &pageData{Title: "Sign in", Nav: "login", ReturnTo: returnTo, Notice: notices[q.Get("done")],
		FormActions: s.returnFormActions(r, returnTo)}
	if h := q.Get("login_hint"); len(h) <= 254 && utf8.ValidString(h) && !strings.ContainsFunc(h, unicode.IsControl) {
		d.Email = h // OIDC Core §3.1.2.1 login_hint: prefilled, never trusted
	}
	s.offerPasskeys(d)
	s.render(w, r, http.StatusOK, "login", d)
}

func (s *Server) pageLoginPost(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Sign in", Nav: "login"}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.render(w, r, http.StatusBadRequest, "login", d)
		return
	}
	email, pw := r.PostFormValue("email"), r.PostFormValue("password")
	d.Email, d.ReturnTo = email, safeReturnTo(r.PostFormValue("return_to"))
	d.FormActions = s.returnFormActions(r, d.ReturnTo)
	ip := s.clientIP(r)
	err := requireFields(map[string]string{"email": email, "password": pw})
	var u *user.User
	if err == nil {
		u, err = s.login(w, r, email, pw)
	}
	if sf, ok := errors.AsType[*secondFactorError](err); ok {
		// The password was right: the second step, on the same page.
		d.Alert, d.MFAToken = "", sf.token
		s.render(w, r, http.StatusOK, "login", d)
		return
	}
	if err == nil {
		_, err = s.startCookieSession(w, r, u, ip, nil)
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		s.offerPasskeys(d)
		s.render(w, r, status, "login", d)
		return
	}
	s.seeOther(w, r, cmp.Or(d.ReturnTo, "/account"))
}

// offerPasskeys puts the passkey sign-in on the login page (its script,
// web/static/passkeys.js, runs the ceremony through the JSON API).
func (s *Server) offerPasskeys(d *pageData) {
	if s.cfg.Passkeys != nil && d.MFAToken == "" {
		d.Passkeys = true
		d.Scripts = append(d.Scripts, "/static/passkeys.js")
	}
}

// returnFormActions: a login on the way back to /oauth2/authorize ends
// in a redirect to the app, which the login form's CSP must allow.
func (s *Server) returnFormActions(r *http.Request, returnTo string) []string {
	if s.cfg.Tokens == nil || !strings.HasPrefix(returnTo, "/oauth2/authorize?") {
		return nil
	}
	p, err := url.ParseQuery(strings.TrimPrefix(returnTo, "/oauth2/authorize?"))
	if err != nil {
		return nil
	}
	ar, _ := s.authzClient(r, p)
	if ar == nil {
		return nil
	}
	return []string{formActionSource(ar.redirect)}
}

func (s *Server) pageLogoutPost(w http.ResponseWriter, r *http.Request) {
	c, err := s.cookieCaller(r)
	switch {
	case errors.Is(err, authd.ErrUnauthenticated):
	case err != nil:
		s.pageFailure(w, r, err) // never report a logout that was not persisted
		return
	default:
		if err := s.endSession(r.Context(), c); err != nil {
			s.pageFailure(w, r, err)
			return
		}
	}
	if _, err := r.Cookie(s.cfg.CookieName); err == nil {
		s.clearSessionCookie(w)
	}
	s.seeOther(w, r, "/login?done=signed-out")
}

// --- account ---

// pageLoginMFAPost is the login page's second step: the code of the
// sign-in whose password was right (secondStep).
func (s *Server) pageLoginMFAPost(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Sign in", Nav: "login"}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please sign in again."
		s.render(w, r, http.StatusBadRequest, "login", d)
		return
	}
	d.ReturnTo = safeReturnTo(r.PostFormValue("return_to"))
	d.FormActions = s.returnFormActions(r, d.ReturnTo)
	token, code := r.PostFormValue("mfa_token"), r.PostFormValue("code")
	var (
		u   *user.User
		amr []string
		err error
	)
	switch {
	case code == "":
		err = authd.Invalid("code", "required", "Enter the code from your authenticator app, or a recovery code.")
	case len(code) > 64:
		err = &invalidCodeError{left: -1}
	default:
		u, amr, err = s.secondStep(w, r, token, code)
	}
	if err == nil {
		_, err = s.startCookieSession(w, r, u, s.clientIP(r), amr)
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		// The code form again while the token lives; the password form
		// once it is void.
		if s.cfg.MFA != nil {
			if _, cerr := s.cfg.MFA.Challenge(r.Context(), token, mfa.KindSignIn); cerr == nil {
				d.MFAToken = token
			}
		}
		s.render(w, r, status, "login", d)
		return
	}
	s.seeOther(w, r, cmp.Or(d.ReturnTo, "/account"))
}
