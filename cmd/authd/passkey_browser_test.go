package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestBrowserPasskeys registers a passkey on /account with Chromium's
// virtual authenticator (CTAP2, internal, resident keys, user
// verification), signs out, signs in with it and no password, sees it
// used and the session named "Passkey", and removes it.
//
// WebAuthn RP IDs are domain names, so this authd's issuer is
// https://localhost:PORT (the default, https://127.0.0.1:PORT, has no
// passkeys).
func TestBrowserPasskeys(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium against the authd binary; skipped with -short")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	e := newBrowserEnv(t, "--addr", "127.0.0.1:"+port, "--issuer", "https://localhost:"+port)
	base := "https://localhost:" + port
	const email = "passkey@example.com"
	a := e.tab(t, "passkeys", e.root, true)

	if _, err := chromedp.Call(a, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(a, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	// Register and sign in with the password.
	step(t, a, "open /register", chromedp.Navigate(base+"/register"))
	if got := navigateBy(t, a, "register",
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), goodPW),
		chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)),
	); got != "/login?done=registered" {
		t.Fatalf("after registering: at %s", got)
	}
	if got := signIn(t, a, email, goodPW); got != "/account" {
		t.Fatalf("after signing in: at %s", got)
	}

	// Add a passkey.
	waitJS(t, a, "the add-passkey button", `!document.getElementById('add-passkey').hidden`, 10*time.Second)
	step(t, a, "name it", chromedp.SendKeys(chromedp.CSS("#new-passkey-name"), "Virtual key"))
	step(t, a, "add a passkey", chromedp.Click(chromedp.CSS("#add-passkey")))
	waitAcross(t, a, "the passkey listed", `document.querySelectorAll('[data-testid="passkey"]').length === 1`, 20*time.Second)
	if n := textOf(t, a, `[data-testid="passkey-name"]`); n != "Virtual key" {
		t.Errorf("passkey name %q", n)
	}
	if lu := textOf(t, a, `[data-testid="passkey-last-used"]`); lu != "Never" {
		t.Errorf("a new passkey was used %q", lu)
	}
	screenshotTo(t, a, "account-passkeys")

	// Sign out, then in with the passkey alone: first as the browser's
	// autofill offers it (conditional mediation; the virtual
	// authenticator answers at once), then with the button.
	navigateBy(t, a, "sign out", chromedp.Click(chromedp.CSS(`[data-testid="sign-out-here"]`)))
	step(t, a, "open /login", chromedp.Navigate(base+"/login"))
	waitAcross(t, a, "the account page (autofill)", `location.pathname === '/account' && !!document.querySelector('[data-testid="account-email"]')`, 20*time.Second)
	if m := textOf(t, a, `li.session.current [data-testid="session-method"]`); m != "Passkey" {
		t.Errorf("this session signed in with %q, want Passkey", m)
	}
	navigateBy(t, a, "sign out", chromedp.Click(chromedp.CSS(`[data-testid="sign-out-here"]`)))
	// No autofill from here on: the button alone.
	if _, err := chromedp.Call(a, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`}); err != nil {
		t.Fatal(err)
	}
	step(t, a, "open /login", chromedp.Navigate(base+"/login"))
	waitJS(t, a, "the passkey button", `!document.getElementById('passkey-login').hidden`, 10*time.Second)
	if ac := value(t, a, "autocomplete", chromedp.Evaluate[string](`document.getElementById('email').getAttribute('autocomplete')`)); ac != "username webauthn" {
		t.Errorf("email autocomplete %q", ac)
	}
	if p := pagePath(t, a); p != "/login" {
		t.Fatalf("at %s before the button was pressed", p)
	}
	screenshotTo(t, a, "login-passkey")
	step(t, a, "sign in with a passkey", chromedp.Click(chromedp.CSS("#passkey-login")))
	waitAcross(t, a, "the account page", `location.pathname === '/account' && !!document.querySelector('[data-testid="account-email"]')`, 20*time.Second)
	if s := textOf(t, a, `[data-testid="account-email"]`); s != email {
		t.Errorf("signed in as %q", s)
	}
	if m := textOf(t, a, `li.session.current [data-testid="session-method"]`); m != "Passkey" {
		t.Errorf("this session signed in with %q, want Passkey", m)
	}
	if lu := textOf(t, a, `[data-testid="passkey-last-used"]`); lu == "Never" || lu == "" {
		t.Errorf("the passkey's last use is %q after signing in with it", lu)
	}

	// Remove it (the passkey sign-in is recent: no step-up needed).
	navigateBy(t, a, "remove the passkey", chromedp.Click(chromedp.CSS(`[data-testid="delete-passkey"]`)))
	if n := countOf(t, a, `[data-testid="passkey"]`); n != 0 {
		t.Fatalf("%d passkeys after removing it", n)
	}
	if s := textOf(t, a, `[role="status"]`); !strings.Contains(s, "passkey was removed") {
		t.Errorf("notice %q", s)
	}
}

// waitAcross is waitJS across navigations the page makes itself (the
// script's location.assign): a poll cut short by one is started again.
func waitAcross(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Second))
		_, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(time.Until(deadline)),
			chromedp.WithPollingInterval(100*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
