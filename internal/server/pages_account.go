package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/session"
)

// The account page: the password, the devices (sessions), the token demo.

func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) {
	c, u, ok := s.pageUser(w, r)
	if !ok {
		return
	}
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email, EmailVerified: u.EmailVerified,
		Notice: notices[r.URL.Query().Get("done")]}
	s.renderAccount(w, r, http.StatusOK, c, d)
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, c *caller, d *pageData) {
	list, err := s.cfg.Sessions.List(r.Context(), c.UserID)
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	names := map[string]string{} // client ID → app name
	for _, x := range list {
		b, o := parseUserAgent(x.UserAgent)
		device := describeDevice(b, o)
		if x.ClientID != "" && s.cfg.Tokens != nil {
			if _, ok := names[x.ClientID]; !ok {
				names[x.ClientID] = s.appName(r, x.ClientID)
			}
			device = names[x.ClientID]
		}
		d.Sessions = append(d.Sessions, sessionView{
			ID: x.ID, Device: device, Kind: kindLabel(x.Kind), IP: x.IP,
			Created: x.CreatedAt.UTC(), LastSeen: x.LastSeenAt.UTC(),
			CreatedS: x.CreatedAt.UTC().Format("2 Jan 2006, 15:04 UTC"), LastSeenS: x.LastSeenAt.UTC().Format("2 Jan 2006, 15:04 UTC"),
			Current: x.ID == c.SessionID, Method: methodLabel(x),
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
	if s.cfg.Tokens != nil {
		consents, err := s.cfg.Tokens.Clients.Consents(r.Context(), c.UserID)
		if err != nil {
			s.pageFailure(w, r, err)
			return
		}
		for _, cs := range consents {
			d.Apps = append(d.Apps, appView{ClientID: cs.ClientID, Name: s.appName(r, cs.ClientID),
				Scopes: strings.Join(cs.Scopes, " "), Granted: cs.GrantedAt.UTC().Format("2 Jan 2006, 15:04 UTC")})
		}
	}
	if err := s.fillMFA(r, c.UserID, d); err != nil {
		s.pageFailure(w, r, err)
		return
	}
	evs, err := s.userEvents(r.Context(), c.UserID, 10)
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	for _, e := range evs {
		what := activityLabels[e.Type]
		if what == "" {
			what = e.Type
		}
		d.Activity = append(d.Activity, activityView{What: what, Where: e.IP, Device: describeDevice(parseUserAgent(e.UserAgent)),
			At: e.At.UTC(), AtS: e.At.UTC().Format("2 Jan 2006, 15:04 UTC")})
	}
	d.Scripts = []string{"/static/account.js"}
	if d.MFA != nil && d.MFA.PasskeysOn {
		d.Scripts = append(d.Scripts, "/static/passkeys.js")
	}
	s.render(w, r, status, "account", d)
}

// appName is what the account page calls a client: its registered name
// (the device list shows an app's session by it).
func (s *Server) appName(r *http.Request, clientID string) string {
	c, err := s.clientByID(r, clientID)
	if err != nil {
		return "App " + clientID
	}
	return c.Name
}

type appView struct {
	ClientID, Name, Scopes, Granted string
}

// pageWithdrawConsentPost withdraws the user's consent to an app and
// ends the app's sessions: the app loses its tokens at once, and must ask
// again.
func (s *Server) pageWithdrawConsentPost(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.pageUser(w, r)
	if !ok || s.cfg.Tokens == nil {
		return
	}
	ctx := withCaller(r.Context(), c)
	clientID := r.PathValue("client")
	err := s.cfg.Tokens.Clients.WithdrawConsent(ctx, c.UserID, clientID)
	if err != nil && !errors.Is(err, authd.ErrNotFound) {
		s.pageFailure(w, r, err)
		return
	}
	list, err := s.cfg.Sessions.List(ctx, c.UserID)
	if err != nil {
		s.pageFailure(w, r, err)
		return
	}
	for _, x := range list {
		if x.ClientID == clientID && x.ID != c.SessionID {
			if err := s.cfg.Sessions.End(ctx, x.ID, event.CauseConsentWithdrawn); err != nil && !errors.Is(err, authd.ErrNotFound) {
				s.pageFailure(w, r, err)
				return
			}
		}
	}
	s.log.InfoContext(ctx, "consent withdrawn", "user_id", c.UserID, "client_id", clientID)
	s.cfg.Events.Publish(ctx, event.Event{Kind: event.ConsentWithdrawn, At: s.cfg.Now().UTC(), UserID: c.UserID,
		SessionID: c.SessionID, ClientID: clientID})
	s.seeOther(w, r, "/account?done=withdrawn")
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
	d := &pageData{Title: "Your account", Nav: "account", User: u.Email, Email: u.Email, EmailVerified: u.EmailVerified}
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
		status, ok := formError(w, r, err, d)
		if !ok {
			s.pageFailure(w, r, err)
			return
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
		// The page signs in with the code flow as the built-in public
		// client, redirect URI <issuer>/demo/token (builtinClient).
		d.Scripts = []string{"/static/demo.js"}
		d.ClientID = s.cfg.Tokens.PublicClientID
	} else {
		d.Alert = "Token mode is not enabled on this server."
	}
	s.render(w, r, http.StatusOK, "demo", d)
}

// --- static assets ---

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

// DescribeUserAgent names the browser and system of a User-Agent the way
// the account page lists devices ("Firefox 128 on Linux"), for notices.
func DescribeUserAgent(ua string) string { return describeDevice(parseUserAgent(ua)) }
