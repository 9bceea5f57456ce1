package server

import (
	"net/http"

	"github.com/authd/authd/user"
)

// The pages of the emailed flows: "forgot password", and the four pages
// a mailed link opens (reset, verify, confirm a new address, undo a
// change).
//
// A link's token never stays in the address bar and is never sent as a
// Referer: GET /reset-password?token=… answers 303 to /reset-password
// with the token moved into a short-lived __Host- cookie (HttpOnly,
// Secure, SameSite=Strict), under Referrer-Policy: no-referrer. Nothing
// is used on GET (mail scanners open links): the page shows a button or
// a form, and its POST uses the token.

// linkCookie carries a link's token from the mailed URL to the form.
const linkCookie = "__Host-authd_link"

// linkPage describes one page a mailed link opens.
type linkPage struct {
	path    string
	purpose user.Purpose
	title   string
	intro   string
	button  string
	newPass bool // the form asks for a new password
}

var linkPages = []linkPage{
	{path: "/reset-password", purpose: user.PurposeReset, title: "Choose a new password",
		intro: "Choose a new password for your account. Every device signed in to it will be signed out.", button: "Set new password", newPass: true},
	{path: "/verify-email", purpose: user.PurposeVerify, title: "Verify your email address",
		intro: "Confirm that this address is yours.", button: "Verify my address"},
	{path: "/confirm-email", purpose: user.PurposeChange, title: "Confirm your new address",
		intro: "Confirm that your account should use this address from now on.", button: "Use this address"},
	{path: "/undo-email-change", purpose: user.PurposeUndo, title: "Undo the address change",
		intro:  "Put your account back on this address and sign out every device signed in to it. If you did not ask for the change, also reset your password afterwards.",
		button: "Undo the change and sign out everywhere"},
}

type linkView struct {
	Path, Intro, Button string
	NewPass, Valid      bool
}

func (s *Server) emailPageRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /forgot-password", s.pageForgot)
	m.HandleFunc("POST /forgot-password", s.pageForgotPost)
	for _, lp := range linkPages {
		m.HandleFunc("GET "+lp.path, func(w http.ResponseWriter, r *http.Request) { s.pageLink(w, r, lp) })
		m.HandleFunc("POST "+lp.path, func(w http.ResponseWriter, r *http.Request) { s.pageLinkPost(w, r, lp) })
	}
	m.HandleFunc("POST /account/email", s.pageChangeEmailPost)
	m.HandleFunc("POST /account/email/verification", s.pageResendPost)
}

func (s *Server) pageForgot(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "forgot", &pageData{Title: "Forgot your password?", Nav: "login"})
}

func (s *Server) pageForgotPost(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Forgot your password?", Nav: "login"}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.render(w, r, http.StatusBadRequest, "forgot", d)
		return
	}
	email := r.PostFormValue("email")
	d.Email = email
	err := requireFields(map[string]string{"email": email})
	if err == nil {
		err = s.requestReset(r, email)
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		s.render(w, r, status, "forgot", d)
		return
	}
	d.Notice = acceptedBody["message"] + " It works for 30 minutes; only the newest link works."
	d.Sent = true
	s.render(w, r, http.StatusOK, "forgot", d)
}

// pageLink answers a mailed link: with ?token=, it moves the token into
// the link cookie and redirects to the bare path; without, it shows the
// page's form (or says the link is not usable).
func (s *Server) pageLink(w http.ResponseWriter, r *http.Request, lp linkPage) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		if len(tok) <= 128 {
			http.SetCookie(w, &http.Cookie{Name: linkCookie, Value: string(lp.purpose) + "." + tok, Path: "/",
				MaxAge: 3600, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
		}
		setPageHeaders(w)
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, lp.path, http.StatusSeeOther)
		return
	}
	d := s.linkData(r, lp)
	if !d.Link.Valid {
		d.Alert = "This link is invalid, expired or already used, or a newer one was sent. Ask for a new one."
	}
	s.render(w, r, http.StatusOK, "link", d)
}

func (s *Server) linkData(r *http.Request, lp linkPage) *pageData {
	d := &pageData{Title: lp.title, NoReferrer: true,
		Link: &linkView{Path: lp.path, Intro: lp.intro, Button: lp.button, NewPass: lp.newPass}}
	_, d.Link.Valid = linkToken(r, lp)
	if c, err := s.cookieCaller(r); err == nil && c != nil {
		if u, err := s.userBody(r.Context(), c.UserID); err == nil {
			d.User = u.Email
		}
	}
	return d
}

// linkToken returns the token the link cookie holds for lp.
func linkToken(r *http.Request, lp linkPage) (string, bool) {
	c, err := r.Cookie(linkCookie)
	if err != nil {
		return "", false
	}
	p := string(lp.purpose) + "."
	if len(c.Value) <= len(p) || c.Value[:len(p)] != p {
		return "", false
	}
	return c.Value[len(p):], true
}

func (s *Server) clearLinkCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: linkCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func (s *Server) pageLinkPost(w http.ResponseWriter, r *http.Request, lp linkPage) {
	d := s.linkData(r, lp)
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.render(w, r, http.StatusBadRequest, "link", d)
		return
	}
	tok, ok := linkToken(r, lp)
	var err error
	var done string
	switch {
	case !ok:
		err = user.ErrInvalidLink
	case lp.purpose == user.PurposeReset:
		next := r.PostFormValue("new_password")
		if err = requireFields(map[string]string{"new_password": next}); err == nil {
			err = s.resetPassword(r, tok, next)
		}
		done = "/login?done=reset"
	case lp.purpose == user.PurposeVerify:
		_, err = s.verifyEmail(r.Context(), tok)
		done = "?done=verified"
	case lp.purpose == user.PurposeChange:
		_, err = s.confirmEmail(r.Context(), tok)
		done = "?done=email-changed"
	case lp.purpose == user.PurposeUndo:
		_, err = s.undoEmail(r.Context(), tok)
		done = "/login?done=email-restored"
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		if status == http.StatusBadRequest && d.Alert != "" && d.Fields == nil {
			// The token is spent or void: the form cannot succeed.
			d.Link.Valid = false
			s.clearLinkCookie(w)
		}
		s.render(w, r, status, "link", d)
		return
	}
	s.clearLinkCookie(w)
	if done[0] == '?' {
		// Verified or moved: the account page if signed in here.
		to := "/login" + done
		if d.User != "" {
			to = "/account" + done
		}
		done = to
	}
	if done == "/login?done=reset" || done == "/login?done=email-restored" {
		// Every session ended, this browser's with them.
		if _, err := r.Cookie(s.cfg.CookieName); err == nil {
			s.clearSessionCookie(w)
		}
	}
	s.seeOther(w, r, done)
}

func (s *Server) pageChangeEmailPost(w http.ResponseWriter, r *http.Request) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email, EmailVerified: u.EmailVerified}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.renderAccount(w, r, http.StatusBadRequest, c, d)
		return
	}
	next, cur := r.PostFormValue("new_email"), r.PostFormValue("current_password")
	d.NewEmail = next
	err := requireFields(map[string]string{"new_email": next, "current_password": cur})
	if err == nil {
		err = s.changeEmail(r, c, next, cur)
	}
	if err != nil {
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		s.renderAccount(w, r, status, c, d)
		return
	}
	s.seeOther(w, r, "/account?done=email-sent")
}

func (s *Server) pageResendPost(w http.ResponseWriter, r *http.Request) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	if err := s.resendVerification(r, c); err != nil {
		d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email, EmailVerified: u.EmailVerified}
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		s.renderAccount(w, r, status, c, d)
		return
	}
	s.seeOther(w, r, "/account?done=verification-sent")
}
