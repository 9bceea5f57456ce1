package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authd/authd/mail/mailpit"
)

// The emailed flows in a real browser: the pages, and the links of mails
// that a real SMTP server (Mailpit) received, opened the way a reader
// opens them. The mechanics of delivery are email_e2e_test.go's.

// openMailLink opens a mailed link in the tab and returns the response
// of the page it ends on (after the redirect that hides the token).
func openMailLink(t *testing.T, ctx context.Context, link string) *network.Response {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, chromedp.Navigate(link))
	if err != nil {
		t.Fatalf("open %s: %v", link, err)
	}
	return resp
}

// checkLinkPage checks the page a mailed link opened: at the bare path,
// no token in the address bar, no referrer sent from it, the link cookie
// out of JavaScript's reach, and the form ready.
func checkLinkPage(t *testing.T, ctx context.Context, resp *network.Response, path, token string) {
	t.Helper()
	if got := pagePath(t, ctx); got != path {
		t.Errorf("the link landed at %s, want %s", got, path)
	}
	href := value(t, ctx, "location.href", chromedp.Evaluate[string](`location.href`))
	if strings.Contains(href, "token=") || strings.Contains(href, token) {
		t.Errorf("the address bar holds the token: %s", href)
	}
	policy := ""
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Referrer-Policy") {
			policy = fmt.Sprint(v)
		}
	}
	if policy != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q, want no-referrer", path, policy)
	}
	if meta := value(t, ctx, "meta referrer", chromedp.Evaluate[string](`document.querySelector('meta[name="referrer"]').content`)); meta != "no-referrer" {
		t.Errorf("%s: <meta name=referrer> %q, want no-referrer", path, meta)
	}
	if dc := value(t, ctx, "document.cookie", chromedp.Evaluate[string](`document.cookie`)); strings.Contains(dc, "authd_link") || strings.Contains(dc, token) {
		t.Errorf("%s: document.cookie exposes the link's token: %q", path, dc)
	}
	if n := countOf(t, ctx, `[data-testid="link-submit"]`); n != 1 {
		t.Fatalf("%s: %d submit buttons, want 1 (alert: %q)", path, n, value(t, ctx, "alert",
			chromedp.Evaluate[string](`(document.querySelector('[role="alert"]') || {}).textContent || ''`)))
	}
}

// pressLinkButton submits the link page's form and returns where it lands.
func pressLinkButton(t *testing.T, ctx context.Context, what string) string {
	t.Helper()
	return navigateBy(t, ctx, what, chromedp.Click(chromedp.CSS(`[data-testid="link-submit"]`)))
}

// mailedLink waits for the one mail with the subject to the address and
// returns its link (checked to open base+page) and token.
func mailedLink(t *testing.T, mp *mailpit.Server, to, subject, base, page string) (string, string) {
	t.Helper()
	m := waitMail(t, mp, to, subject)
	return mailLink(t, m.Text, base, page)
}

func TestBrowserEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium and Mailpit against the authd binary; skipped with -short")
	}
	mp := mailpit.Start(t)
	e := newBrowserEnv(t, "--smtp-url", mp.SMTPURL())

	t.Run("forgot password", func(t *testing.T) {
		const email = "forgetful@example.com"
		const next = "the new passphrase chosen in a browser"
		resp, body := call(t, e.client, "POST", e.base+"/v1/users", creds{email, goodPW}, "")
		wantStatus(t, resp, body, http.StatusCreated)
		a := e.tab(t, "forgot", e.root, true)

		step(t, a, "open /login", chromedp.Navigate(e.base+"/login"))
		if got := navigateBy(t, a, "follow the forgot-password link", chromedp.Click(chromedp.CSS(`a[data-testid="forgot-password"]`))); got != "/forgot-password" {
			t.Fatalf("the login page's forgot-password link led to %s", got)
		}
		screenshotTo(t, a, "forgot-password")
		if got := navigateBy(t, a, "ask for a link",
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.Click(chromedp.CSS(`[data-testid="send-reset"]`)),
		); got != "/forgot-password" {
			t.Fatalf("after asking for a link: at %s", got)
		}
		if s := textOf(t, a, `[role="status"]`); !strings.Contains(s, "a message with a link is on its way") {
			t.Errorf("after asking for a link, the notice is %q", s)
		}
		screenshotTo(t, a, "forgot-password-sent")

		link, tok := mailedLink(t, mp, email, subjReset, e.base, "/reset-password")
		r := openMailLink(t, a, link)
		checkLinkPage(t, a, r, "/reset-password", tok)
		screenshotTo(t, a, "reset-password")

		got := navigateBy(t, a, "set the new password",
			chromedp.SendKeys(chromedp.CSS("#new_password"), next),
			chromedp.Click(chromedp.CSS(`[data-testid="link-submit"]`)),
		)
		if got != "/login?done=reset" {
			t.Fatalf("after setting the new password: at %s (alert %q)", got, value(t, a, "alert",
				chromedp.Evaluate[string](`(document.querySelector('[role="alert"]') || {}).textContent || ''`)))
		}
		if s := textOf(t, a, `[role="status"]`); !strings.Contains(s, "Your password was changed") {
			t.Errorf("after the reset, the notice is %q", s)
		}
		if c := cookiesOf(t, a, e.base+"/")["__Host-authd_link"]; c != nil {
			t.Errorf("the link cookie outlived its use: %+v", c)
		}
		if got := signIn(t, a, email, next); got != "/account" {
			t.Fatalf("signing in with the new password: at %s", got)
		}
		// The link was single-use. Opened again, its page cannot tell
		// (nothing is looked up on GET); the form is refused, and then
		// offered no more.
		openMailLink(t, a, link)
		if got := navigateBy(t, a, "use the link again",
			chromedp.SendKeys(chromedp.CSS("#new_password"), "a third passphrase, never accepted"),
			chromedp.Click(chromedp.CSS(`[data-testid="link-submit"]`)),
		); got != "/reset-password" {
			t.Fatalf("the used link's form led to %s", got)
		}
		if s := textOf(t, a, `[role="alert"]`); !strings.Contains(s, "invalid, expired or already used") {
			t.Errorf("the used link's form answers %q", s)
		}
		if n := countOf(t, a, `[data-testid="link-submit"]`); n != 0 {
			t.Errorf("the refused link still offers its form")
		}
	})

	t.Run("verification", func(t *testing.T) {
		const email = "verify-me@example.com"
		b := e.tab(t, "verify", e.root, true)
		step(t, b, "open /register", chromedp.Navigate(e.base+"/register"))
		if got := navigateBy(t, b, "register",
			chromedp.SendKeys(chromedp.CSS("#email"), email),
			chromedp.SendKeys(chromedp.CSS("#password"), goodPW),
			chromedp.Click(chromedp.CSS(`form[action="/register"] button[type="submit"]`)),
		); got != "/login?done=registered" {
			t.Fatalf("after registering: at %s", got)
		}
		if got := signIn(t, b, email, goodPW); got != "/account" {
			t.Fatalf("after signing in: at %s", got)
		}
		if n := countOf(t, b, `[data-testid="email-unverified"]`); n != 1 {
			t.Errorf("a new account shows %d not-verified badges, want 1", n)
		}

		link, tok := mailedLink(t, mp, email, subjVerify, e.base, "/verify-email")
		r := openMailLink(t, b, link)
		checkLinkPage(t, b, r, "/verify-email", tok)
		if got := pressLinkButton(t, b, "verify"); got != "/account?done=verified" {
			t.Fatalf("after verifying: at %s", got)
		}
		if s := textOf(t, b, `[data-testid="email-verified"]`); s != "Verified" {
			t.Errorf("the account's badge reads %q, want Verified", s)
		}
		if n := countOf(t, b, `[data-testid="email-unverified"], [data-testid="resend-verification"]`); n != 0 {
			t.Errorf("a verified account still shows %d not-verified elements", n)
		}
	})

	t.Run("change address", func(t *testing.T) {
		const old, neu = "before@example.com", "after@example.com"
		resp, body := call(t, e.client, "POST", e.base+"/v1/users", creds{old, goodPW}, "")
		wantStatus(t, resp, body, http.StatusCreated)
		// Another device, signed in through the API: the undo must end it too.
		other := login(t, e.client, e.base, old, goodPW)

		c := e.tab(t, "change", e.root, true)
		step(t, c, "open /login", chromedp.Navigate(e.base+"/login"))
		if got := signIn(t, c, old, goodPW); got != "/account" {
			t.Fatalf("after signing in: at %s", got)
		}
		if got := navigateBy(t, c, "change the address",
			chromedp.SendKeys(chromedp.CSS("#new_email"), neu),
			chromedp.SendKeys(chromedp.CSS("#email_current_password"), goodPW),
			chromedp.Click(chromedp.CSS(`[data-testid="change-email"]`)),
		); got != "/account?done=email-sent" {
			t.Fatalf("after asking for the change: at %s", got)
		}
		if s := textOf(t, c, `[role="status"]`); !strings.Contains(s, "We sent a link to your new address") {
			t.Errorf("after asking for the change, the notice is %q", s)
		}
		if s := textOf(t, c, `[data-testid="account-email"]`); s != old {
			t.Errorf("before the confirmation the account shows %q, want %s", s, old)
		}

		link, tok := mailedLink(t, mp, neu, subjConfirm, e.base, "/confirm-email")
		r := openMailLink(t, c, link)
		checkLinkPage(t, c, r, "/confirm-email", tok)
		if got := pressLinkButton(t, c, "confirm"); got != "/account?done=email-changed" {
			t.Fatalf("after confirming: at %s", got)
		}
		if s := textOf(t, c, `[data-testid="account-email"]`); s != neu {
			t.Errorf("after the confirmation the account shows %q, want %s", s, neu)
		}
		if n := countOf(t, c, `[data-testid="email-verified"]`); n != 1 {
			t.Errorf("the confirmed address is not shown verified")
		}

		// The old address was told, with a link that undoes the change.
		notice := waitMail(t, mp, old, subjChanging)
		if !strings.Contains(notice.Text, neu) {
			t.Errorf("the notice to the old address does not name the new one:\n%s", notice.Text)
		}
		undo, undoTok := mailLink(t, notice.Text, e.base, "/undo-email-change")
		r = openMailLink(t, c, undo)
		checkLinkPage(t, c, r, "/undo-email-change", undoTok)
		if got := pressLinkButton(t, c, "undo"); got != "/login?done=email-restored" {
			t.Fatalf("after undoing: at %s", got)
		}
		if s := textOf(t, c, `[role="status"]`); !strings.Contains(s, "back on its previous address") {
			t.Errorf("after undoing, the notice is %q", s)
		}

		// Every session ended: this browser's and the other device's.
		step(t, c, "open /account", chromedp.Navigate(e.base+"/account"))
		if got := pagePath(t, c); got != "/login?return_to=%2Faccount" {
			t.Errorf("after the undo, /account lands on %s, want the login page", got)
		}
		if got, _ := whoami(t, e.client, e.base, other); got != http.StatusUnauthorized {
			t.Errorf("after the undo, the other device's session: GET /v1/session = %d, want 401", got)
		}
		if got := signIn(t, c, old, goodPW); !strings.HasPrefix(got, "/account") {
			t.Fatalf("signing in with the old address: at %s", got)
		}
		if s := textOf(t, c, `[data-testid="account-email"]`); s != old {
			t.Errorf("after the undo the account shows %q, want %s", s, old)
		}
	})
}
