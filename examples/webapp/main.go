// Command webapp is a small web application that signs its users in with
// authd over OpenID Connect: the authorization code flow with PKCE (S256),
// state and nonce, the ID token verified with go-oidc against authd's
// published keys, and sign-out through authd's end_session_endpoint
// (RP-Initiated Logout).
//
// It keeps its own sessions (a random ID in a cookie, the user's email and
// ID token in memory): once signed in, it does not ask authd again on each
// page.
//
//	authd client add webapp --redirect-uri http://127.0.0.1:8000/callback \
//	    --post-logout-redirect-uri http://127.0.0.1:8000/
//	go run ./examples/webapp -issuer https://127.0.0.1:8443 -client-id … -client-secret … -ca-file cert.pem
//
// See README.md beside this file.
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	sessionCookie = "webapp_session"
	loginCookie   = "webapp_login"
	loginTimeout  = 10 * time.Minute
)

type config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Addr         string
	BaseURL      string // where the browser reaches this app; redirect_uri is BaseURL/callback
	CAFile       string
	Scopes       string
}

func main() {
	var c config
	flag.StringVar(&c.Issuer, "issuer", env("WEBAPP_ISSUER", "http://127.0.0.1:8080"), "authd's issuer URL (env WEBAPP_ISSUER)")
	flag.StringVar(&c.ClientID, "client-id", os.Getenv("WEBAPP_CLIENT_ID"), "client_id from `authd client add` (env WEBAPP_CLIENT_ID)")
	flag.StringVar(&c.ClientSecret, "client-secret", os.Getenv("WEBAPP_CLIENT_SECRET"), "client_secret from `authd client add` (env WEBAPP_CLIENT_SECRET)")
	flag.StringVar(&c.Addr, "addr", env("WEBAPP_ADDR", "127.0.0.1:8000"), "address to listen on (env WEBAPP_ADDR)")
	flag.StringVar(&c.BaseURL, "url", os.Getenv("WEBAPP_URL"), "this app's URL as the browser sees it (env WEBAPP_URL; default: http://<addr>)")
	flag.StringVar(&c.CAFile, "ca-file", os.Getenv("WEBAPP_CA_FILE"), "PEM certificates to trust for authd besides the system's, e.g. a test certificate (env WEBAPP_CA_FILE)")
	flag.StringVar(&c.Scopes, "scopes", env("WEBAPP_SCOPES", "openid email profile"), "scopes to request (env WEBAPP_SCOPES)")
	flag.Parse()
	if c.ClientID == "" || c.ClientSecret == "" {
		log.Fatal("set -client-id and -client-secret (from `authd client add webapp --redirect-uri …`)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		log.Fatal(err)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + ln.Addr().String()
	}
	app, err := newApp(ctx, c)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	// The tests wait for this line.
	fmt.Printf("webapp listening on %s (issuer %s)\n", c.BaseURL, c.Issuer)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// app is the web application: its OIDC client and its sessions.
type app struct {
	base       string
	httpClient *http.Client // trusts -ca-file; used for every call to authd
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      oauth2.Config
	endSession string // end_session_endpoint, "" when authd publishes none

	mu       sync.Mutex
	sessions map[string]*userSession  // by the webapp_session cookie
	logins   map[string]*pendingLogin // by the webapp_login cookie
	mux      *http.ServeMux
}

type userSession struct {
	Email   string
	Subject string
	IDToken string // raw, for id_token_hint at sign-out
}

// pendingLogin is what the app remembers between /login and /callback.
type pendingLogin struct {
	State, Nonce, Verifier string
	Created                time.Time
}

func newApp(ctx context.Context, c config) (*app, error) {
	hc, err := httpClient(c.CAFile)
	if err != nil {
		return nil, err
	}
	// go-oidc and x/oauth2 take the HTTP client from the context; the
	// provider keeps it for fetching the key set later.
	ctx = oidc.ClientContext(ctx, hc)
	provider, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery at %s: %w", c.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	a := &app{
		base:       base,
		httpClient: hc,
		provider:   provider,
		verifier:   provider.Verifier(&oidc.Config{ClientID: c.ClientID}),
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  base + "/callback",
			Scopes:       strings.Fields(c.Scopes),
		},
		endSession: meta.EndSession,
		sessions:   map[string]*userSession{},
		logins:     map[string]*pendingLogin{},
		mux:        http.NewServeMux(),
	}
	a.mux.HandleFunc("GET /{$}", a.home)
	a.mux.HandleFunc("GET /login", a.login)
	a.mux.HandleFunc("GET /callback", a.callback)
	a.mux.HandleFunc("POST /logout", a.logout)
	return a, nil
}

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	a.mux.ServeHTTP(w, r)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>webapp</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>webapp</h1>
{{if .Error}}<p role="alert" data-testid="error">{{.Error}}</p>{{end}}
{{if .Email}}
<p data-testid="status">Signed in as <span data-testid="email">{{.Email}}</span></p>
<form method="post" action="/logout"><button type="submit" data-testid="logout">Sign out</button></form>
{{else}}
<p data-testid="status">Not signed in.</p>
<p><a href="/login" data-testid="login">Sign in with authd</a></p>
{{end}}
</main></body></html>
`))

func (a *app) render(w http.ResponseWriter, status int, email, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	page.Execute(w, struct{ Email, Error string }{email, errMsg})
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if s := a.session(r); s != nil {
		a.render(w, http.StatusOK, s.Email, "")
		return
	}
	a.render(w, http.StatusOK, "", "")
}

func (a *app) session(r *http.Request) *userSession {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// login starts the authorization code flow: fresh state, nonce and PKCE
// verifier, remembered under a random ID in a short-lived cookie.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	p := &pendingLogin{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(), Created: time.Now()}
	id := rand.Text()
	a.mu.Lock()
	for k, old := range a.logins {
		if time.Since(old.Created) > loginTimeout {
			delete(a.logins, k)
		}
	}
	a.logins[id] = p
	a.mu.Unlock()
	a.setCookie(w, loginCookie, id, int(loginTimeout/time.Second))
	http.Redirect(w, r, a.oauth.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)), http.StatusFound)
}

// callback finishes it: the state must be the one this browser started
// with, the code is exchanged with the verifier, and the ID token must
// verify (issuer, audience, signature, expiry) and carry the nonce.
func (a *app) callback(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		a.render(w, http.StatusBadRequest, "", "No sign-in is under way in this browser.")
		return
	}
	a.mu.Lock()
	p := a.logins[c.Value]
	delete(a.logins, c.Value)
	a.mu.Unlock()
	a.setCookie(w, loginCookie, "", -1)
	q := r.URL.Query()
	switch {
	case p == nil || time.Since(p.Created) > loginTimeout:
		a.render(w, http.StatusBadRequest, "", "The sign-in took too long; try again.")
		return
	case q.Get("state") != p.State:
		a.render(w, http.StatusBadRequest, "", "The sign-in answer does not match this browser's request.")
		return
	case q.Get("error") != "":
		a.render(w, http.StatusForbidden, "", "authd said: "+q.Get("error")+" "+q.Get("error_description"))
		return
	}
	ctx := oidc.ClientContext(r.Context(), a.httpClient)
	tok, err := a.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		log.Printf("code exchange: %v", err)
		a.render(w, http.StatusBadGateway, "", "The code exchange failed: "+err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		a.render(w, http.StatusBadGateway, "", "authd sent no ID token.")
		return
	}
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		log.Printf("id_token: %v", err)
		a.render(w, http.StatusBadGateway, "", "The ID token did not verify: "+err.Error())
		return
	}
	if idt.Nonce != p.Nonce {
		a.render(w, http.StatusBadRequest, "", "The ID token's nonce is not this sign-in's.")
		return
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			a.render(w, http.StatusBadGateway, "", "at_hash does not match the access token: "+err.Error())
			return
		}
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email == "" {
		a.render(w, http.StatusBadGateway, "", "The ID token has no email (was the email scope granted?).")
		return
	}
	sid := rand.Text()
	a.mu.Lock()
	a.sessions[sid] = &userSession{Email: claims.Email, Subject: idt.Subject, IDToken: raw}
	a.mu.Unlock()
	a.setCookie(w, sessionCookie, sid, 0)
	http.Redirect(w, r, a.base+"/", http.StatusFound)
}

// logout ends the app's own session, then sends the browser to authd to
// end authd's (RP-Initiated Logout 1.0), which returns it here.
func (a *app) logout(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	a.setCookie(w, sessionCookie, "", -1)
	if s == nil || a.endSession == "" {
		http.Redirect(w, r, a.base+"/", http.StatusSeeOther)
		return
	}
	u, err := url.Parse(a.endSession)
	if err != nil {
		http.Redirect(w, r, a.base+"/", http.StatusSeeOther)
		return
	}
	q := u.Query()
	q.Set("id_token_hint", s.IDToken)
	q.Set("post_logout_redirect_uri", a.base+"/")
	q.Set("client_id", a.oauth.ClientID)
	q.Set("state", rand.Text())
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie (Lax: it must come back
// on the top-level redirect from authd), Secure when the app is on https.
func (a *app) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: strings.HasPrefix(a.base, "https://"),
	})
}
