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
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"

	"github.com/authd/authd"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

// pageCSP is the policy of every page. No inline script or style is allowed
// anywhere: scripts and the stylesheet are files under /static/.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// pageNames are the templates under web/templates, each rendered inside
// layout.html.
var pageNames = []string{"register", "login", "account", "demo", "error", "consent", "logout", "forgot", "link"}

var pageTemplates = func() map[string]*template.Template {
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		out[name] = template.Must(template.New("layout.html").Funcs(template.FuncMap{
			"field": func(d *pageData, name string) string { return d.Fields[name] },
		}).ParseFS(webFS, "web/templates/layout.html", "web/templates/passkeys.html", "web/templates/"+name+".html"))
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
	m.HandleFunc("POST /login/mfa", s.pageLoginMFAPost)
	m.HandleFunc("POST /logout", s.pageLogoutPost)
	m.HandleFunc("GET /account", s.pageAccount)
	m.HandleFunc("POST /account/password", s.pagePasswordPost)
	m.HandleFunc("POST /account/sessions/{id}/revoke", s.pageRevokePost)
	m.HandleFunc("POST /account/sessions/revoke-others", s.pageRevokeOthersPost)
	m.HandleFunc("POST /account/apps/{client}/withdraw", s.pageWithdrawConsentPost)
	m.HandleFunc("GET /demo/token", s.pageDemo)
	m.HandleFunc("GET /static/{file}", serveStatic)
	s.emailPageRoutes(m)
	s.mfaPageRoutes(m)
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
	Apps     []appView // apps the user gave consent to
	Tokens   bool      // token mode is on (demo page)
	// ClientID is the built-in public client's ID (demo page), the
	// client_id its code flow sends (--public-client-id).
	ClientID string
	Scripts  []string
	// Consent is the consent page's content (authorize.go).
	Consent *consentView
	// Logout is the end-session confirmation's content (oidc.go).
	Logout *logoutView
	// EmailVerified: the account page's address is verified.
	EmailVerified bool
	// NewEmail prefills the address-change form.
	NewEmail string
	// Sent: the forgot-password form was accepted (the page says so
	// instead of showing the form again).
	Sent bool
	// NoReferrer: the page was opened by a mailed link (pages_email.go):
	// it sends no Referer at all.
	NoReferrer bool
	// MFAToken: the login page shows its second step (the code form)
	// for this sign-in challenge.
	MFAToken string
	// Passkeys: the login page offers signing in with a passkey.
	Passkeys bool
	// MFA is the account page's second-factor section.
	MFA *mfaView
	// Activity is the account page's recent security activity.
	Activity []activityView
	// Link is the content of a page a mailed link opens.
	Link *linkView
	// FormActions are CSP sources a form on the page may end up at: a
	// form whose POST is redirected to an OAuth client (the consent
	// form, the login on the way back to /oauth2/authorize).
	FormActions []string
}

type sessionView struct {
	ID, Device, Kind, IP string
	Created, LastSeen    time.Time
	CreatedS, LastSeenS  string
	Current              bool
	Method               string // how the session signed in, e.g. "Password + authenticator app"
}

// notices are the results a redirect can announce: the query carries a key,
// never text, so nothing a link supplies is ever displayed.
var notices = map[string]string{
	"registered":        "Your account was created. Sign in to continue.",
	"signed-out":        "You are signed out.",
	"password":          "Your password was changed. Your other devices were signed out.",
	"revoked":           "The device was signed out.",
	"revoked-all":       "All your other devices were signed out.",
	"withdrawn":         "The app's access was withdrawn and its sessions ended.",
	"reset":             "Your password was changed and every device was signed out. Sign in with the new password.",
	"verified":          "Your email address is verified.",
	"email-sent":        "We sent a link to your new address: your address changes when you follow it. Your current address was told, with a link to undo the change.",
	"email-changed":     "Your account now uses its new email address.",
	"email-restored":    "Your account is back on its previous address and every device was signed out. If you did not ask for the change, reset your password now.",
	"verification-sent": "We sent a new verification link to your address.",
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
	if d.NoReferrer {
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	if extra := cspSources(d.FormActions); extra != "" {
		w.Header().Set("Content-Security-Policy", strings.Replace(pageCSP, "form-action 'self'", "form-action 'self' "+extra, 1))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// cspSources joins CSP source expressions, dropping any with a character
// that could end the directive or the policy.
func cspSources(srcs []string) string {
	var out []string
	for _, src := range srcs {
		if src == "" || strings.ContainsFunc(src, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+-.:/*[]", r))
		}) {
			continue
		}
		out = append(out, src)
	}
	return strings.Join(out, " ")
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
// maxReturnTo bounds return_to: room for an authorization request
// (/oauth2/authorize?… on the way through the login page).
const maxReturnTo = 4096

func safeReturnTo(raw string) string {
	if raw == "" || len(raw) > maxReturnTo {
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

// pageFailure renders the error page of the table's fail-closed row: the
// pages' answer to an error that is not the user's (formError said so).
func (s *Server) pageFailure(w http.ResponseWriter, r *http.Request, err error) {
	if classify(r.Context(), err).gone {
		return
	}
	s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	o := failClosed()
	o.setRetryAfter(w)
	s.render(w, r, o.form.status, "error", &pageData{Title: o.problem.Title, Alert: o.form.alert})
}

// formError renders err's outcome into a form: its status, alert and field
// messages. ok is false for errors that are not the user's (then
// pageFailure answers).
func formError(w http.ResponseWriter, r *http.Request, err error, d *pageData) (status int, ok bool) {
	o := classify(r.Context(), err)
	if o.gone || o.unknown || o.form.status == 0 {
		return 0, false
	}
	o.setRetryAfter(w)
	if o.form.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", o.challenge())
	}
	if o.form.fields != nil {
		d.Fields = map[string]string{}
	}
	for _, f := range o.form.fields {
		msg := sentence(f.Detail)
		if f.Reason == "required" {
			msg = sentence(strings.ReplaceAll(f.Field, "_", " ") + " is required")
		}
		if _, dup := d.Fields[f.Field]; !dup {
			d.Fields[f.Field] = msg
		}
		d.Messages = append(d.Messages, msg)
	}
	d.Alert = o.form.alert
	return o.form.status, true
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
