package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/mail/mailpit"
	"github.com/authd/authd/pgstore/pgtest"
)

// The emailed flows (issue 10) end to end: the real binary sends through
// a real SMTP server (Mailpit), and every mail is read back through
// Mailpit's HTTP API, never from authd's store. Mailpit is stopped and
// started again to make outages; authd is stopped with SIGTERM while a
// mail waits in its outbox. The browser side is email_browser_test.go.

// Subjects of the built-in templates (mail/templates/*.subject).
const (
	subjVerify        = "Verify your email address"
	subjReset         = "Reset your password"
	subjPasswordReset = "Your password was reset"
	subjConfirm       = "Confirm your new email address"
	subjChanging      = "Your email address is about to change"
)

const (
	// mailWait bounds the wait for a mail that should arrive: the sender
	// retries after 5 s, then 10 s, so 30 s covers a failed attempt or two.
	mailWait    = 30 * time.Second
	newPassword = "a brand new passphrase for authd"
)

// mailsTo returns the messages Mailpit holds for the address with the
// subject (all subjects when subject is empty).
func mailsTo(t *testing.T, mp *mailpit.Server, to, subject string) []mailpit.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ms, err := mp.To(ctx, to)
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	var out []mailpit.Summary
	for _, m := range ms {
		if subject == "" || m.Subject == subject {
			out = append(out, m)
		}
	}
	return out
}

// waitMails polls Mailpit until it holds at least n messages for the
// address with the subject, and returns them.
func waitMails(t *testing.T, mp *mailpit.Server, to, subject string, n int, within time.Duration) []mailpit.Summary {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ms := mailsTo(t, mp, to, subject)
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mail(s) %q to %s within %v, want %d", len(ms), subject, to, within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMail waits for the one message with the subject to the address
// and returns it in full; a second one is an error.
func waitMail(t *testing.T, mp *mailpit.Server, to, subject string) *mailpit.Message {
	t.Helper()
	ms := waitMails(t, mp, to, subject, 1, mailWait)
	if len(ms) != 1 {
		t.Errorf("%d mails %q to %s, want 1", len(ms), subject, to)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := mp.Message(ctx, ms[0].ID)
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	return m
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)

// mailLink returns the one link of a mail's text part, checking that it
// opens base+page with a 256-bit token, and the token.
func mailLink(t *testing.T, text, base, page string) (link, token string) {
	t.Helper()
	links := linkRE.FindAllString(text, -1)
	if len(links) != 1 {
		t.Fatalf("the text part has %d links %q, want 1:\n%s", len(links), links, text)
	}
	u, err := url.Parse(links[0])
	if err != nil {
		t.Fatalf("link %q: %v", links[0], err)
	}
	if u.Scheme+"://"+u.Host != base || u.Path != page || len(u.Query()) != 1 {
		t.Fatalf("link %q, want %s%s?token=…", links[0], base, page)
	}
	token = u.Query().Get("token")
	if len(token) != 43 {
		t.Fatalf("link token %q: want 43 characters (256 bits, base64url)", token)
	}
	return links[0], token
}

// checkAddressed checks a message's recipient, subject and sender.
func checkAddressed(t *testing.T, m *mailpit.Message, to, subject string) {
	t.Helper()
	if len(m.To) != 1 || m.To[0].Address != to || m.Subject != subject {
		t.Errorf("mail To %v, Subject %q; want only %s, %q", m.To, m.Subject, to, subject)
	}
	if !strings.HasPrefix(m.From.Address, "noreply@") {
		t.Errorf("mail From %v, want authd's default noreply@HOST", m.From)
	}
	if !strings.HasSuffix(m.MessageID, "@authd") {
		t.Errorf("Message-ID %q, want ID@authd", m.MessageID)
	}
}

// postJSON sends a JSON request with no cookie.
func postJSON(t *testing.T, method, u string, body any) (*http.Response, []byte) {
	t.Helper()
	return call(t, testClient, method, u, body, "")
}

func requestReset(t *testing.T, base, email string) {
	t.Helper()
	resp, body := postJSON(t, "POST", base+"/v1/password-reset", map[string]string{"email": email})
	wantStatus(t, resp, body, http.StatusAccepted)
}

func confirmReset(t *testing.T, base, token, pw string) {
	t.Helper()
	resp, body := postJSON(t, "POST", base+"/v1/password-reset/confirm", map[string]string{"token": token, "new_password": pw})
	wantStatus(t, resp, body, http.StatusNoContent)
}

// waitLog polls the process's log for a substring.
func waitLog(t *testing.T, p *proc, substr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.stderr.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log within %v:\n%s", substr, within, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeLoopbackAddr returns a loopback address whose port was free a
// moment ago, so that a restarted authd keeps the issuer its links name.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// withAddr replaces serveArgs' --addr 127.0.0.1:0.
func withAddr(args []string, addr string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == "--addr" && i+1 < len(out) {
			out[i+1] = addr
		}
	}
	return out
}

// logOnFailure prints the processes' logs when t fails.
func logOnFailure(t *testing.T, ps ...*proc) {
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range ps {
				t.Logf("authd #%d stderr:\n%s", i+1, p.stderr.String())
			}
		}
	})
}

func TestEmailE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the authd binary against Mailpit; skipped with -short")
	}
	mailpit.Bin(t) // skip (or fail under CI) before building anything
	bin := buildAuthd(t, t.TempDir())

	t.Run("reset through the API", func(t *testing.T) {
		t.Parallel()
		mp := mailpit.Start(t)
		p := startAuthd(t, bin, serveArgs(t.TempDir(), "--smtp-url", mp.SMTPURL())...)
		logOnFailure(t, p)
		const alice = "alice@example.com"

		register(t, testClient, p.URL, alice, goodPW)
		v := waitMail(t, mp, alice, subjVerify)
		checkAddressed(t, v, alice, subjVerify)
		verifyLink, _ := mailLink(t, v.Text, p.URL, "/verify-email")
		if !strings.Contains(v.HTML, verifyLink) {
			t.Errorf("the HTML part lacks the text part's link %s:\n%s", verifyLink, v.HTML)
		}

		ck := login(t, testClient, p.URL, alice, goodPW)
		requestReset(t, p.URL, "Alice@Example.com") // any case: the address is normalised
		r := waitMail(t, mp, alice, subjReset)
		checkAddressed(t, r, alice, subjReset)
		_, tok := mailLink(t, r.Text, p.URL, "/reset-password")
		if r.MessageID == v.MessageID {
			t.Errorf("the reset and verification mails share the Message-ID %s", r.MessageID)
		}

		confirmReset(t, p.URL, tok, newPassword)
		if code, _ := whoami(t, testClient, p.URL, ck); code != http.StatusUnauthorized {
			t.Errorf("the session from before the reset: GET /v1/session = %d, want 401", code)
		}
		if got := loginStatus(t, testClient, p.URL, alice, goodPW); got != http.StatusUnauthorized {
			t.Errorf("login with the old password = %d, want 401", got)
		}
		ck = login(t, testClient, p.URL, alice, newPassword)
		if code, si := whoami(t, testClient, p.URL, ck); code != http.StatusOK || si.User.Email != alice {
			t.Errorf("after the reset: GET /v1/session = %d %+v", code, si)
		}
		// The link is single-use.
		resp, body := postJSON(t, "POST", p.URL+"/v1/password-reset/confirm", map[string]string{"token": tok, "new_password": "yet another long passphrase"})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid-link") {
			t.Errorf("the link used twice = %d %s, want 400 invalid-link", resp.StatusCode, body)
		}

		// The notice was queued with the reset, before its 204; a mail
		// queued after it goes out after it (the outbox is claimed
		// oldest first), so once that one is in, the notice must be.
		requestReset(t, p.URL, alice)
		waitMails(t, mp, alice, subjReset, 2, mailWait)
		if ns := mailsTo(t, mp, alice, subjPasswordReset); len(ns) != 1 {
			t.Errorf("%d %q notices to alice, want 1 (a later mail has arrived)", len(ns), subjPasswordReset)
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := mp.Message(ctx, ns[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			checkAddressed(t, n, alice, subjPasswordReset)
			if links := linkRE.FindAllString(n.Text, -1); len(links) != 0 {
				t.Errorf("the password-changed notice carries links %q", links)
			}
		}
		p.terminate(t)
	})

	t.Run("outage", func(t *testing.T) {
		t.Parallel()
		mp := mailpit.Start(t)
		p := startAuthd(t, bin, serveArgs(t.TempDir(), "--smtp-url", mp.SMTPURL())...)
		logOnFailure(t, p)
		const alice, bob = "alice@example.com", "bob@example.com"
		register(t, testClient, p.URL, alice, goodPW)
		register(t, testClient, p.URL, bob, goodPW)
		waitMail(t, mp, alice, subjVerify)
		waitMail(t, mp, bob, subjVerify)

		mp.Stop(t)
		requestReset(t, p.URL, alice) // still 202: the mail waits in the outbox
		// The sender tried, failed, and scheduled a retry (5 s later).
		waitLog(t, p, "send failed; will retry", 10*time.Second)
		mp.Start(t) // same ports, same database

		r := waitMail(t, mp, alice, subjReset)
		_, tok := mailLink(t, r.Text, p.URL, "/reset-password")

		// Exactly once: a later mail has gone through the same sender,
		// and alice's reset is still alone.
		requestReset(t, p.URL, bob)
		waitMail(t, mp, bob, subjReset)
		if ms := mailsTo(t, mp, alice, subjReset); len(ms) != 1 {
			t.Errorf("%d reset mails to alice after the outage, want 1: %+v", len(ms), ms)
		}
		confirmReset(t, p.URL, tok, newPassword)
		login(t, testClient, p.URL, alice, newPassword)
		p.terminate(t)
	})

	t.Run("restart with mail queued", func(t *testing.T) {
		t.Parallel()
		mp := mailpit.Start(t)
		dataDir := t.TempDir()
		// A fixed port: the restarted instance keeps the issuer, which
		// the queued link names.
		args := withAddr(serveArgs(dataDir, "--smtp-url", mp.SMTPURL()), freeLoopbackAddr(t))
		p := startAuthd(t, bin, args...)
		logOnFailure(t, p)
		const alice = "alice@example.com"
		register(t, testClient, p.URL, alice, goodPW)
		waitMail(t, mp, alice, subjVerify)

		mp.Stop(t)
		requestReset(t, p.URL, alice)
		waitLog(t, p, "send failed; will retry", 10*time.Second)
		p.terminate(t) // the reset mail is still in the outbox
		base := p.URL

		mp.Start(t)
		if ms := mailsTo(t, mp, alice, subjReset); len(ms) != 0 {
			t.Fatalf("a reset mail arrived while authd was stopped: %+v", ms)
		}
		p2 := startAuthd(t, bin, args...)
		logOnFailure(t, p2)
		if p2.URL != base {
			t.Fatalf("restarted on %s, want %s", p2.URL, base)
		}
		r := waitMail(t, mp, alice, subjReset)
		link, tok := mailLink(t, r.Text, base, "/reset-password")

		// The link works: it opens the page (the token moves into a
		// cookie), and the page's form sets the password.
		noFollow := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var linkCk *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "__Host-authd_link" {
				linkCk = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/reset-password" || linkCk == nil || !strings.HasSuffix(linkCk.Value, "."+tok) {
			t.Fatalf("GET the mailed link = %d, Location %q, cookie %+v; want 303 to /reset-password with the token in __Host-authd_link",
				resp.StatusCode, resp.Header.Get("Location"), linkCk)
		}
		req, _ := http.NewRequest("POST", base+"/reset-password", strings.NewReader(url.Values{"new_password": {newPassword}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: linkCk.Name, Value: linkCk.Value})
		resp, err = noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?done=reset" {
			t.Fatalf("POST /reset-password = %d, Location %q, want 303 to /login?done=reset\n%s", resp.StatusCode, resp.Header.Get("Location"), b)
		}
		login(t, testClient, base, alice, newPassword)
		if ms := mailsTo(t, mp, alice, subjReset); len(ms) != 1 {
			t.Errorf("%d reset mails to alice, want 1", len(ms))
		}
		p2.terminate(t)
	})

	t.Run("two instances on one PostgreSQL", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.NewDatabase(t) // first: its drop runs after the processes are gone
		mp := mailpit.Start(t)
		kek := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		shared := []string{"--database", dsn, "--key-encryption-key", kek, "--issuer", "https://authd.example",
			"--smtp-url", mp.SMTPURL(),
			// 22 mails from one IP pass the mail IP budget (20): the
			// throttles are someone else's test.
			"--login-throttle", "off"}
		a := startAuthd(t, bin, serveArgs(t.TempDir(), shared...)...) // migrates first
		b := startAuthd(t, bin, serveArgs(t.TempDir(), shared...)...)
		logOnFailure(t, a, b)
		insts := []*proc{a, b}

		const n = 20
		users := make([]string, n)
		for i := range users {
			users[i] = fmt.Sprintf("user%02d@example.com", i)
			register(t, testClient, insts[i%2].URL, users[i], goodPW)
		}

		// Twenty requests at once, spread over both instances.
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i, u := range users {
			wg.Go(func() {
				resp, body, err := rawCall(testClient, "POST", insts[i%2].URL+"/v1/password-reset", map[string]string{"email": u}, "")
				switch {
				case err != nil:
					errs <- err.Error()
				case resp.StatusCode != http.StatusAccepted:
					errs <- fmt.Sprintf("reset %s via #%d = %d %s", u, i%2+1, resp.StatusCode, body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}

		// Wait for the twenty, then for a mail queued by each instance
		// afterwards: both senders have made a pass since.
		deadline := time.Now().Add(mailWait)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			all, err := mp.Messages(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, m := range all {
				if m.Subject == subjReset {
					got++
				}
			}
			if got >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d reset mails within %v, want %d", got, mailWait, n)
			}
			time.Sleep(100 * time.Millisecond)
		}
		for i, p := range insts {
			marker := fmt.Sprintf("marker%d@example.com", i)
			register(t, testClient, p.URL, marker, goodPW)
			requestReset(t, p.URL, marker)
		}
		for i := range insts {
			waitMail(t, mp, fmt.Sprintf("marker%d@example.com", i), subjReset)
		}

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		all, err := mp.Messages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resets, verifies := map[string]int{}, map[string]int{}
		ids := map[string]string{}
		for _, m := range all {
			if len(m.To) != 1 {
				t.Errorf("mail %q to %v, want one recipient", m.Subject, m.To)
				continue
			}
			to := m.To[0].Address
			if prev, ok := ids[m.MessageID]; ok {
				t.Errorf("Message-ID %s twice: to %s and %s", m.MessageID, prev, to)
			}
			ids[m.MessageID] = to
			switch m.Subject {
			case subjReset:
				resets[to]++
			case subjVerify:
				verifies[to]++
			default:
				t.Errorf("unexpected mail %q to %s", m.Subject, to)
			}
		}
		for _, u := range users {
			if resets[u] != 1 || verifies[u] != 1 {
				t.Errorf("%s received %d reset and %d verification mails, want 1 each", u, resets[u], verifies[u])
			}
		}
		if want := n + len(insts); len(resets) != want || len(all) != 2*want {
			t.Errorf("%d reset recipients, %d mails in all; want %d and %d", len(resets), len(all), want, 2*want)
		}
		a.terminate(t)
		b.terminate(t)
	})

	t.Run("no SMTP", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		p := startAuthd(t, bin, serveArgs(dataDir)...)
		logOnFailure(t, p)
		mailDir := filepath.Join(dataDir, "mail")
		if logs := p.stderr.String(); !strings.Contains(logs, "no --smtp-url") || !strings.Contains(logs, "dir="+mailDir) {
			t.Errorf("the log does not say that mails go to %s:\n%s", mailDir, logs)
		}
		const alice = "alice@example.com"
		register(t, testClient, p.URL, alice, goodPW)
		requestReset(t, p.URL, alice)

		var eml string
		deadline := time.Now().Add(mailWait)
		for eml == "" {
			files, _ := filepath.Glob(filepath.Join(mailDir, "*.eml"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err == nil && strings.Contains(string(b), "Subject: "+subjReset) {
					eml = f
				}
			}
			if eml == "" && time.Now().After(deadline) {
				t.Fatalf("no reset mail in %s within %v (files %q)", mailDir, mailWait, files)
			}
			if eml == "" {
				time.Sleep(50 * time.Millisecond)
			}
		}
		files, _ := filepath.Glob(filepath.Join(mailDir, "*"))
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
			}
		}
		if fi, err := os.Stat(mailDir); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("mail dir %s: %v, %v; want no access for group and others", mailDir, fi.Mode(), err)
		}
		raw, err := os.ReadFile(eml)
		if err != nil {
			t.Fatal(err)
		}
		to, text := emlText(t, raw)
		if to != alice {
			t.Errorf("%s is addressed to %q, want %s", eml, to, alice)
		}
		_, tok := mailLink(t, text, p.URL, "/reset-password")
		confirmReset(t, p.URL, tok, newPassword)
		login(t, testClient, p.URL, alice, newPassword)
		p.terminate(t)
	})

	t.Run("header injection", func(t *testing.T) {
		t.Parallel()
		mp := mailpit.Start(t)
		p := startAuthd(t, bin, serveArgs(t.TempDir(), "--smtp-url", mp.SMTPURL())...)
		logOnFailure(t, p)
		const alice = "alice@example.com"
		register(t, testClient, p.URL, alice, goodPW)
		waitMail(t, mp, alice, subjVerify)
		ck := login(t, testClient, p.URL, alice, goodPW)

		for _, bad := range []string{"new@example.com\r\nBcc: x@example.com", "new@example.com\nBcc: x@example.com", "new@example.com\rBcc: x@example.com"} {
			resp, body := call(t, testClient, "PUT", p.URL+"/v1/user/email", map[string]string{"new_email": bad, "current_password": goodPW}, ck)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid-input") {
				t.Errorf("PUT /v1/user/email %q = %d %s, want 400 invalid-input", bad, resp.StatusCode, body)
			}
		}
		for _, bad := range []string{"eve@example.com\r\nBcc: x@example.com", "eve\r\n@example.com", "eve@exa\nmple.com"} {
			resp, body := postJSON(t, "POST", p.URL+"/v1/users", creds{bad, goodPW})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("POST /v1/users %q = %d %s, want 400", bad, resp.StatusCode, body)
			}
		}
		// A reset request for such an address answers 202 (it tells
		// nothing) and sends nothing.
		requestReset(t, p.URL, "alice@example.com\r\nBcc: x@example.com")

		// A marker through the same sender: once it is in, anything the
		// refused requests had queued would be too.
		requestReset(t, p.URL, alice)
		waitMail(t, mp, alice, subjReset)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		all, err := mp.Messages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 {
			t.Errorf("Mailpit holds %d mails, want 2 (alice's verification and reset): %+v", len(all), all)
		}
		for _, m := range all {
			if len(m.To) != 1 || m.To[0].Address != alice {
				t.Errorf("mail %q to %v, want only %s", m.Subject, m.To, alice)
			}
			raw, err := mp.Raw(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if h := strings.ToLower(string(raw)); strings.Contains(h, "\nbcc:") || strings.Contains(h, "x@example.com") {
				t.Errorf("mail %q carries the injected header:\n%s", m.Subject, raw)
			}
		}
		p.terminate(t)
	})
}

// emlText parses a mail file: its To address and its text/plain part,
// decoded.
func emlText(t *testing.T, raw []byte) (to, text string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse .eml: %v\n%s", err, raw)
	}
	addr, err := netmail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		t.Fatalf("To %q: %v", msg.Header.Get("To"), err)
	}
	text, ok := textPart(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if !ok {
		t.Fatalf("no text/plain part in:\n%s", raw)
	}
	return addr.Address, text
}

func textPart(t *testing.T, ctype, cte string, body io.Reader) (string, bool) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return "", false
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			if s, ok := textPart(t, part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), part); ok {
				return s, true
			}
		}
	}
	if mt != "text/plain" {
		return "", false
	}
	switch strings.ToLower(cte) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("text part: %v", err)
	}
	return string(b), true
}
