package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestTOTPInBrowser: in Chromium, a user sets up an authenticator app on
// /account (the key from the page, a code computed here as the app
// would), sees the recovery codes once, signs out, and signs in again:
// the password leads to the code step, the code to the account page,
// whose device list says how the session signed in.
func TestTOTPInBrowser(t *testing.T) {
	requireChromium(t)
	a := newOIDCAuthd(t)
	a.start(t)
	const email, pw = "totp-browser@example.com", "correct horse battery staple"
	a.API.Register(t, email, pw)

	b := newBrowser(t)
	login := func(what string) {
		b.open(t, a.Issuer+"/login")
		b.do(t, what,
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.SendKeys(chromedp.CSS("#password"), pw))
		b.click(t, what+": submit", `form[action="/login"] button[type="submit"]`)
	}
	login("sign in")
	b.waitPage(t, "the account page", hasPrefix(a.Issuer+"/account"))
	b.click(t, "set up an authenticator app", `[data-testid="setup-totp"]`)
	b.waitPage(t, "the QR code", func(ps pageState) bool { return strings.HasPrefix(ps.URL, a.Issuer+"/account") })
	secret := browserValue(t, b, "the key", chromedp.Evaluate[string](`document.querySelector('[data-testid="totp-secret"]')?.dataset.secret ?? ''`))
	if secret == "" {
		t.Fatal("no key on the page")
	}
	if w := browserValue(t, b, "QR code width", chromedp.Evaluate[int](`document.querySelector('[data-testid="totp-qr"]')?.naturalWidth ?? 0`)); w == 0 {
		t.Error("the QR code did not render (CSP img-src, or a broken data: URL)")
	}
	b.screenshot(t, "totp-setup")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "type the code", chromedp.SendKeys(chromedp.CSS("#totp_code"), code))
	b.click(t, "turn on", `[data-testid="confirm-totp"]`)
	b.waitPage(t, "the recovery codes", hasPrefix(a.Issuer+"/account"))
	if n := browserValue(t, b, "recovery codes", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="recovery-code"]').length`)); n != 10 {
		t.Fatalf("%d recovery codes shown, want 10", n)
	}
	b.screenshot(t, "totp-recovery-codes")

	b.click(t, "sign out", `[data-testid="sign-out-here"]`)
	b.waitPage(t, "signed out", func(ps pageState) bool { return !strings.HasPrefix(ps.URL, a.Issuer+"/account") })
	login("sign in again")
	b.waitPage(t, "the code step", func(ps pageState) bool { return strings.HasPrefix(ps.URL, a.Issuer+"/login") })
	if !browserValue(t, b, "code form", chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="mfa-form"]')`)) {
		t.Fatal("no code step after the password")
	}
	if c := b.cookies(t, a.Issuer+"/")[authdCookie]; c != nil {
		t.Fatal("the password alone got a session cookie")
	}
	b.screenshot(t, "totp-login-step")
	// The code of the next step: the confirmation used this one.
	code, _ = totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	b.do(t, "type the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	b.click(t, "verify", `[data-testid="mfa-submit"]`)
	b.waitPage(t, "the account page after two steps", hasPrefix(a.Issuer+"/account"))
	// The current session is listed first.
	if m := b.text(t, `[data-testid="session-method"]`); !strings.Contains(m, "authenticator app") {
		t.Errorf("this session signed in with %q, want the authenticator app", m)
	}
}
