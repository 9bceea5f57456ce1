package server

// Server-rendered pages: sign-up, sign-in, the account page (password change
// and the device list) and the browser token-mode demo. They are thin: every
// decision (throttling, credential checks, sessions, revocation) is made by
// the same service calls the JSON API makes.
//
// Forms are protected against CSRF (and login CSRF) by the server's
// http.CrossOriginProtection middleware, which refuses cross-origin POSTs,
// and by the SameSite=Lax session cookie. Every form POST answers 303 on
// success (Post/Redirect/Get) and renders the form again with the error
// (role="alert") on failure.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/authd/authd"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// pageCSP is the policy of every page. No inline script or style is allowed
// anywhere: scripts and the stylesheet are files under /static/.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// pageNames are the templates under web/templates, each rendered inside
// layout.html.
var pageNames = []string{"register", "login", "account", "demo", "error"}

var pageTemplates = func() map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		out[name] = template.Must(template.New("layout.html").Funcs(template.FuncMap{
			"field": func(d *pageData, name string) string { return d.Fields[name] },
		}).ParseFS(webFS, "web/templates/layout.html", "web/templates/"+name+".html"))
	}
	return out
}()

// staticFile is an embedded asset with its validator.
type staticFile struct {
	data []byte
	etag string
}

var staticFiles = func() map[string]staticFile {
	out := map[string]staticFile{}
	entries, err := fs.ReadDir(webFS, "web/static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := webFS.ReadFile("web/static/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = staticFile{data: b, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	}
	return out
}()

// pageRoutes registers the pages and their assets.
func (s *Server) pageRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { s.seeOther(w, r, "/account") })
	m.HandleFunc("GET /register", s.pageRegister)
	m.HandleFunc("POST /register", s.pageRegisterPost)
	m.HandleFunc("GET /login", s.pageLogin)
	m.HandleFunc("POST /login", s.pageLoginPost)
	m.HandleFunc("POST /logout", s.pageLogoutPost)
	m.HandleFunc("GET /account", s.pageAccount)
	m.HandleFunc("POST /account/password", s.pagePasswordPost)
	m.HandleFunc("POST /account/sessions/{id}/revoke", s.pageRevokePost)
	m.HandleFunc("POST /account/sessions/revoke-others", s.pageRevokeOthersPost)
	m.HandleFunc("GET /demo/token", s.pageDemo)
	m.HandleFunc("GET /static/{file}", serveStatic)
}

// pageData is what every template gets.
type pageData struct {
	Title    string
	Nav      string // which nav entry is current
	User     string // the signed-in user's email, for the header
	Alert    string // the error of the form, shown with role="alert"
	Messages []string
	Notice   string            // the result of the last POST (role="status")
	Fields   map[string]string // field name → error
	Email    string            // prefilled email
	ReturnTo string
	Closed   bool // registration closed
	Sessions []sessionView
	Tokens   bool // token mode is on (demo page)
	Scripts  []string
}

type sessionView struct {
	ID, Device, Kind, IP string
	Created, LastSeen    time.Time
	CreatedS, LastSeenS  string
	Current              bool
}

// notices are the results a redirect can announce: the query carries a key,
// never text, so nothing a link supplies is ever displayed.
var notices = map[string]string{
	"registered":  "Your account was created. Sign in to continue.",
	"signed-out":  "You are signed out.",
	"password":    "Your password was changed. Your other devices were signed out.",
	"revoked":     "The device was signed out.",
	"revoked-all": "All your other devices were signed out.",
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	// same-origin (not the API's no-referrer) so that form POSTs carry a
	// real Origin header: browsers without Sec-Fetch-Site would otherwise
	// send "Origin: null" and be refused by the cross-origin protection.
	h.Set("Referrer-Policy", "same-origin")
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := pageTemplates[name].Execute(&buf, d); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		setPageHeaders(w)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) seeOther(w http.ResponseWriter, r *http.Request, to string) {
	setPageHeaders(w)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// safeReturnTo returns raw if it is a path on this origin, else "". It
// refuses anything a browser could resolve to another origin: a scheme or
// host, a protocol-relative "//host", the "/\host" that browsers read as
// "//host", control characters, and those same forms hidden behind
// percent-encoding.
func safeReturnTo(raw string) string {
	if raw == "" || len(raw) > 2048 {
		return ""
	}
	ok := func(p string) bool {
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
			return false
		}
		return !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || unicode.IsControl(r) })
	}
	if !ok(raw) {
		return ""
	}
	dec, err := url.PathUnescape(raw)
	if err != nil || !ok(dec) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	return raw
}

func loginURL(returnTo string) string {
	if returnTo == "" {
		return "/login"
	}
	return "/login?" + url.Values{"return_to": {returnTo}}.Encode()
}

// parsePageForm reads a URL-encoded form of at most maxBody bytes.
func parsePageForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	return r.ParseForm() == nil
}

// pageUser authenticates a page that needs a signed-in user. ok is false
// after it answered: a redirect to the login page, or an error page.
func (s *Server) pageUser(w http.ResponseWriter, r *http.Request) (*caller, userBody, bool) {
	c, err := s.cookieCaller(r)
	if err == nil {
		var u userBody
		if u, err = s.userBody(r.Context(), c.UserID); err == nil {
			return c, u, true
		}
	}
	if errors.Is(err, authd.ErrUnauthenticated) {
		if _, cerr := r.Cookie(s.cfg.CookieName); cerr == nil {
			s.clearSessionCookie(w)
		}
		back := "/account"
		if r.Method == http.MethodGet {
			back = r.URL.RequestURI()
		}
		s.seeOther(w, r, loginURL(safeReturnTo(back)))
		return nil, userBody{}, false
	}
	s.pageFailure(w, r, err)
	return nil, userBody{}, false
}

// pageFailure renders the error page for a dependency failure.
func (s *Server) pageFailure(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	s.render(w, r, http.StatusServiceUnavailable, "error", &pageData{Title: "Service unavailable",
		Alert: "Something went wrong on our side. Try again in a moment."})
}

// formError turns a service error into the form's status and messages; ok
// is false for errors that are not the user's (then pageFailure answers).
func formError(w http.ResponseWriter, err error, d *pageData) (status int, ok bool) {
	var ve *authd.ValidationError
	var te *authd.ThrottledError
	switch {
	case errors.As(err, &ve):
		d.Fields = map[string]string{}
		for _, f := range ve.Fields {
			msg := sentence(f.Detail)
			if f.Reason == "required" {
				msg = sentence(strings.ReplaceAll(f.Field, "_", " ") + " is required")
			}
			if _, dup := d.Fields[f.Field]; !dup {
				d.Fields[f.Field] = msg
			}
			d.Messages = append(d.Messages, msg)
		}
		d.Alert = "Please correct the following:"
		return http.StatusBadRequest, true
	case errors.As(err, &te):
		secs := te.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		d.Alert = "Too many attempts. Try again in " + strconv.Itoa(secs) + " seconds."
		return http.StatusTooManyRequests, true
	case errors.Is(err, authd.ErrUnauthenticated):
		d.Alert = "Wrong email or password."
		return http.StatusUnauthorized, true
	case errors.Is(err, authd.ErrConflict):
		d.Alert = "An account with this email address already exists. Sign in instead."
		return http.StatusConflict, true
	}
	return 0, false
}

// sentence capitalises a service message and ends it with a period.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// --- registration ---

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
		status, ok := formError(w, err, d)
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
	returnTo := safeReturnTo(r.URL.Query().Get("return_to"))
	if c, err := s.cookieCaller(r); err == nil && c != nil {
		// Already signed in: go where the login would have gone.
		s.seeOther(w, r, cmp.Or(returnTo, "/account"))
		return
	}
	d := &pageData{Title: "Sign in", Nav: "login", ReturnTo: returnTo, Notice: notices[r.URL.Query().Get("done")]}
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
	ip := s.clientIP(r)
	err := requireFields(map[string]string{"email": email, "password": pw})
	var u *user.User
	if err == nil {
		u, err = s.login(w, r, email, pw)
	}
	if err == nil {
		_, err = s.startCookieSession(w, r, u, ip)
	}
	if err != nil {
		status, ok := formError(w, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		}
		s.render(w, r, status, "login", d)
		return
	}
	s.seeOther(w, r, cmp.Or(d.ReturnTo, "/account"))
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

func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email,
		Notice: notices[r.URL.Query().Get("done")]}
	s.renderAccount(w, r, http.StatusOK, c, d)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, c *caller, d *pageData) {
	list, err := s.cfg.Sessions.List(r.Context(), c.UserID)
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	for _, x := range list {
		b, o := parseUserAgent(x.UserAgent)
		d.Sessions = append(d.Sessions, sessionView{
			ID: x.ID, Device: describeDevice(b, o), Kind: kindLabel(x.Kind), IP: x.IP,
			Created: x.CreatedAt.UTC(), LastSeen: x.LastSeenAt.UTC(),
			CreatedS: x.CreatedAt.UTC().Format("2 Jan 2006, 15:04 UTC"), LastSeenS: x.LastSeenAt.UTC().Format("2 Jan 2006, 15:04 UTC"),
			Current: x.ID == c.SessionID,
		})
	}
	// This device first, then the rest newest first (the store's order).
	for i, v := range d.Sessions {
		if v.Current && i > 0 {
			copy(d.Sessions[1:i+1], d.Sessions[:i])
			d.Sessions[0] = v
			break
		}
	}
	d.Scripts = []string{"/static/account.js"}
	s.render(w, r, status, "account", d)
}

func kindLabel(k session.Kind) string {
	if k == session.KindToken {
		return "Token session"
	}
	return "Browser session"
}

func (s *Server) pagePasswordPost(w http.ResponseWriter, r *http.Request) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email}
	if !parsePageForm(w, r) {
		d.Alert = "The form could not be read. Please try again."
		s.renderAccount(w, r, http.StatusBadRequest, c, d)
		return
	}
	cur, next := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	err := requireFields(map[string]string{"current_password": cur, "new_password": next})
	if err == nil {
		err = s.changePassword(r, c, cur, next)
	}
	if err != nil {
		status, ok := formError(w, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
		}
		if errors.Is(err, authd.ErrUnauthenticated) {
			d.Alert = ""
			d.Messages = []string{"The current password is wrong."}
			d.Fields = map[string]string{"current_password": "The current password is wrong."}
			status = http.StatusBadRequest
		}
		s.renderAccount(w, r, status, c, d)
		return
	}
	s.seeOther(w, r, "/account?done=password")
}

func (s *Server) pageRevokePost(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.revokeSession(r.Context(), c, id)
	if errors.Is(err, authd.ErrNotFound) {
		// Gone already, or another user's (indistinguishable by design):
		// nothing to do; the list shows what is live.
		s.seeOther(w, r, "/account")
		return
	}
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	if id == c.SessionID {
		s.clearSessionCookie(w)
		s.seeOther(w, r, "/login?done=signed-out")
		return
	}
	s.seeOther(w, r, "/account?done=revoked")
}

func (s *Server) pageRevokeOthersPost(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	if err := s.revokeOthers(r.Context(), c); err != nil {
		s.pageFailure(w, r, err)
		return
	}
	s.seeOther(w, r, "/account?done=revoked-all")
}

// --- token-mode demo ---

func (s *Server) pageDemo(w http.ResponseWriter, r *http.Request) {
	d := &pageData{Title: "Browser token mode", Nav: "demo", Tokens: s.cfg.Tokens != nil}
	if d.Tokens {
		d.Scripts = []string{"/static/demo.js"}
	} else {
		d.Alert = "Token mode is not enabled on this server."
	}
	s.render(w, r, http.StatusOK, "demo", d)
}

// --- static assets ---

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	f, ok := staticFiles[name]
	if !ok || !fs.ValidPath(name) {
		writeProblem(w, problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound})
		return
	}
	// Revalidate every time (ETag): the assets change with the binary.
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	http.ServeContent(w, r, path.Base(name), time.Time{}, bytes.NewReader(f.data))
}

// --- user agents ---

// parseUserAgent names the browser (with its major version) and the OS of
// a User-Agent header, for the device list. It knows the common browsers
// and the two HTTP clients people script with; anything else is "".
func parseUserAgent(ua string) (browser, os string) {
	ver := func(token string) string {
		i := strings.Index(ua, token)
		if i < 0 {
			return ""
		}
		v := ua[i+len(token):]
		if j := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			v = v[:j]
		}
		return v
	}
	named := func(name, token string) string {
		if v := ver(token); v != "" {
			return name + " " + v
		}
		return name
	}
	switch {
	case strings.HasPrefix(ua, "curl/"):
		return named("curl", "curl/"), ""
	case strings.HasPrefix(ua, "Go-http-client/"):
		return "Go HTTP client", ""
	case strings.Contains(ua, "Edg/"):
		browser = named("Edge", "Edg/")
	case strings.Contains(ua, "EdgiOS/"):
		browser = named("Edge", "EdgiOS/")
	case strings.Contains(ua, "EdgA/"):
		browser = named("Edge", "EdgA/")
	case strings.Contains(ua, "Firefox/"):
		browser = named("Firefox", "Firefox/")
	case strings.Contains(ua, "FxiOS/"):
		browser = named("Firefox", "FxiOS/")
	case strings.Contains(ua, "CriOS/"):
		browser = named("Chrome", "CriOS/")
	case strings.Contains(ua, "Chrome/"): // also HeadlessChrome/ and Chromium builds
		browser = named("Chrome", "Chrome/")
	case strings.Contains(ua, "Safari/") && strings.Contains(ua, "Version/"):
		browser = named("Safari", "Version/")
	}
	switch {
	case strings.Contains(ua, "Android"):
		os = "Android"
	case strings.Contains(ua, "iPhone"), strings.Contains(ua, "iPad"), strings.Contains(ua, "iPod"):
		os = "iOS"
	case strings.Contains(ua, "Windows"):
		os = "Windows"
	case strings.Contains(ua, "Macintosh"), strings.Contains(ua, "Mac OS X"):
		os = "macOS"
	case strings.Contains(ua, "CrOS"):
		os = "ChromeOS"
	case strings.Contains(ua, "Linux"), strings.Contains(ua, "X11"):
		os = "Linux"
	}
	return browser, os
}

func describeDevice(browser, os string) string {
	switch {
	case browser != "" && os != "":
		return browser + " on " + os
	case browser != "":
		return browser
	case os != "":
		return "Unknown browser on " + os
	}
	return "Unknown device"
}
