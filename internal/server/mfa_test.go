package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/client"
	"github.com/pquerna/otp/totp"
)

// totpAt is the code of secret at t, as an authenticator app shows it.
func totpAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP sets up an authenticator app for the signed-in session and
// returns its secret and recovery codes. The clock moves one step on,
// past the confirming code's.
func (h *harness) enableTOTP(secret string) (string, []string) {
	h.t.Helper()
	resp := h.do(req{method: "POST", path: "/v1/user/mfa/totp", cookie: secret})
	wantStatus(h.t, "begin TOTP", resp, http.StatusCreated)
	e := decode[struct {
		Secret     string `json:"secret"`
		OTPAuthURI string `json:"otpauth_uri"`
	}](h.t, resp)
	if !strings.HasPrefix(e.OTPAuthURI, "otpauth://totp/") || e.Secret == "" {
		h.t.Fatalf("enrollment = %+v", e)
	}
	resp = h.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: secret,
		body: `{"code":"` + totpAt(h.t, e.Secret, h.clock.Now()) + `"}`})
	wantStatus(h.t, "confirm TOTP", resp, http.StatusOK)
	rc := decode[struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}](h.t, resp)
	if len(rc.RecoveryCodes) != 10 {
		h.t.Fatalf("%d recovery codes, want 10", len(rc.RecoveryCodes))
	}
	h.clock.Advance(30 * time.Second)
	return e.Secret, rc.RecoveryCodes
}

type mfaProblem struct {
	Type         string   `json:"type"`
	MFAToken     string   `json:"mfa_token"`
	Methods      []string `json:"methods"`
	ExpiresIn    int      `json:"expires_in"`
	AttemptsLeft *int     `json:"attempts_left"`
}

// passwordStep signs in with the password of an account with TOTP and
// returns the mfa_token; it fails the test if a session came back.
func (h *harness) passwordStep(email string, extra ...map[string]string) string {
	h.t.Helper()
	r := req{method: "POST", path: "/v1/session", body: `{"email":"` + email + `","password":"` + testPassword + `"}`}
	if len(extra) > 0 {
		r.header = extra[0]
	}
	resp := h.do(r)
	wantStatus(h.t, "password step", resp, http.StatusUnauthorized)
	if c := sessionCookie(resp); c != nil {
		h.t.Fatalf("the password alone got a session cookie")
	}
	p := decode[mfaProblem](h.t, resp)
	if p.Type != "urn:authd:problem:mfa-required" || len(p.MFAToken) != 43 || p.ExpiresIn != 300 {
		h.t.Fatalf("password step = %+v, want mfa-required with an mfa_token", p)
	}
	return p.MFAToken
}

func (h *harness) secondStep(token, code string, extra ...map[string]string) *http.Response {
	h.t.Helper()
	b, _ := json.Marshal(map[string]string{"mfa_token": token, "code": code})
	r := req{method: "POST", path: "/v1/session/mfa", body: string(b)}
	if len(extra) > 0 {
		r.header = extra[0]
	}
	return h.do(r)
}

func TestTOTPSignIn(t *testing.T) {
	h := newHarness(t, options{})
	h.register("mfa@example.com")
	first := h.login("mfa@example.com")
	other := h.login("mfa@example.com")
	secret, codes := h.enableTOTP(first)

	// Turning TOTP on ended the other session, not this one.
	wantStatus(t, "the other session", h.do(req{method: "GET", path: "/v1/session", cookie: other}), http.StatusUnauthorized)
	wantStatus(t, "this session", h.do(req{method: "GET", path: "/v1/session", cookie: first}), http.StatusOK)
	st := decode[map[string]any](t, h.do(req{method: "GET", path: "/v1/user/mfa", cookie: first}))
	if st["totp"] != true || st["recovery_codes_left"] != float64(10) {
		t.Errorf("GET /v1/user/mfa = %v", st)
	}

	tok := h.passwordStep("mfa@example.com")
	p := decode[mfaProblem](t, h.do(req{method: "POST", path: "/v1/session", body: `{"email":"mfa@example.com","password":"` + testPassword + `"}`}))
	if strings.Join(p.Methods, ",") != "totp,recovery_code" {
		t.Errorf("methods = %q", p.Methods)
	}

	// A TOTP code finishes the sign-in: an AAL2 session.
	resp := h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	wantStatus(t, "second step", resp, http.StatusCreated)
	if sessionCookie(resp) == nil {
		t.Fatal("no session cookie after the second step")
	}
	sr := decode[struct {
		Session struct {
			AMR []string `json:"amr"`
			AAL int      `json:"aal"`
		} `json:"session"`
	}](t, resp)
	if strings.Join(sr.Session.AMR, " ") != "pwd otp mfa" || sr.Session.AAL != 2 {
		t.Errorf("session amr %q aal %d, want pwd otp mfa, 2", sr.Session.AMR, sr.Session.AAL)
	}
	// The token is spent.
	resp = h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusUnauthorized || p.Type != "urn:authd:problem:mfa-token-invalid" {
		t.Errorf("a used mfa_token: %d %s", resp.StatusCode, p.Type)
	}
	// The same code with a fresh mfa_token: replayed, refused.
	tok = h.passwordStep("mfa@example.com")
	resp = h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusUnauthorized || p.Type != "urn:authd:problem:invalid-code" ||
		p.AttemptsLeft == nil || *p.AttemptsLeft != 4 {
		t.Errorf("a replayed code: %d %+v", resp.StatusCode, p)
	}
	// Clock skew: the next step's code (the phone runs 30 s ahead) works.
	resp = h.secondStep(tok, totpAt(t, secret, h.clock.Now().Add(30*time.Second)))
	wantStatus(t, "code of the next step", resp, http.StatusCreated)

	// A recovery code, typed sloppily, works once.
	tok = h.passwordStep("mfa@example.com")
	resp = h.secondStep(tok, strings.ToUpper(strings.ReplaceAll(codes[0], "-", "")))
	wantStatus(t, "recovery code", resp, http.StatusCreated)
	if sr := decode[map[string]map[string]any](t, resp); sr["session"]["aal"] != float64(2) {
		t.Errorf("recovery code session = %v", sr)
	}
	tok = h.passwordStep("mfa@example.com")
	wantStatus(t, "a used recovery code", h.secondStep(tok, codes[0]), http.StatusUnauthorized)

	// Five wrong codes void the token, even with the right one after.
	tok = h.passwordStep("mfa@example.com")
	for i := range 5 {
		resp := h.secondStep(tok, "000000")
		p := decode[mfaProblem](t, resp)
		if resp.StatusCode != http.StatusUnauthorized || p.AttemptsLeft == nil || *p.AttemptsLeft != 4-i {
			t.Fatalf("wrong code #%d: %d %+v", i+1, resp.StatusCode, p)
		}
		h.clock.Advance(time.Minute) // let the throttle's delay pass
	}
	h.clock.Advance(time.Hour)
	tok2 := h.passwordStep("mfa@example.com")
	wantStatus(t, "the right code on a void token", h.secondStep(tok, totpAt(t, secret, h.clock.Now())), http.StatusUnauthorized)

	// An mfa_token expires after 5 minutes.
	h.clock.Advance(5*time.Minute + time.Second)
	resp = h.secondStep(tok2, totpAt(t, secret, h.clock.Now()))
	if p := decode[mfaProblem](t, resp); p.Type != "urn:authd:problem:mfa-token-invalid" {
		t.Errorf("an expired mfa_token: %d %s", resp.StatusCode, p.Type)
	}
}

// TestMFATokenOtherAccount: an mfa_token finishes only its own account's
// sign-in: the other account's valid code does not fit it.
func TestMFATokenOtherAccount(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	h.register("bob@example.com")
	_, _ = h.enableTOTP(h.login("alice@example.com"))
	bobSecret, bobCodes := h.enableTOTP(h.login("bob@example.com"))
	aliceTok := h.passwordStep("alice@example.com")
	wantStatus(t, "bob's TOTP code on alice's token", h.secondStep(aliceTok, totpAt(t, bobSecret, h.clock.Now())), http.StatusUnauthorized)
	wantStatus(t, "bob's recovery code on alice's token", h.secondStep(aliceTok, bobCodes[0]), http.StatusUnauthorized)
	// Bob's code and recovery code are still good for bob.
	bobTok := h.passwordStep("bob@example.com")
	resp := h.secondStep(bobTok, bobCodes[0])
	wantStatus(t, "bob's own recovery code", resp, http.StatusCreated)
	if u := decode[map[string]map[string]any](t, resp); u["user"]["email"] != "bob@example.com" {
		t.Errorf("signed in as %v", u["user"])
	}
}

// TestMFAParallel: attackers send requests at once. One mfa_token with
// the right code, 100 times at once: one session. One recovery code on
// 50 tokens at once: one session.
func TestMFAParallel(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("race@example.com")
	secret, codes := h.enableTOTP(h.login("race@example.com"))
	race := func(n int, tok func(int) string, code string) int32 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			tk := tok(i)
			wg.Go(func() {
				<-start
				resp := h.secondStep(tk, code)
				switch resp.StatusCode {
				case http.StatusCreated:
					wins.Add(1)
				case http.StatusUnauthorized, http.StatusTooManyRequests: // lost, or refused in flight
				default:
					t.Errorf("parallel second step: %d %s", resp.StatusCode, readBody(resp))
				}
			})
		}
		close(start)
		wg.Wait()
		return wins.Load()
	}
	tok := h.passwordStep("race@example.com")
	if w := race(100, func(int) string { return tok }, totpAt(t, secret, h.clock.Now())); w != 1 {
		t.Errorf("100 parallel finishes of one mfa_token: %d sessions, want 1", w)
	}
	h.clock.Advance(30 * time.Second)
	toks := make([]string, 50)
	for i := range toks {
		toks[i] = h.passwordStep("race@example.com")
	}
	if w := race(50, func(i int) string { return toks[i] }, codes[3]); w != 1 {
		t.Errorf("one recovery code on 50 mfa_tokens at once: %d sessions, want 1", w)
	}
	toks2 := make([]string, 50)
	for i := range toks2 {
		toks2[i] = h.passwordStep("race@example.com")
	}
	if w := race(50, func(i int) string { return toks2[i] }, totpAt(t, secret, h.clock.Now())); w != 1 {
		t.Errorf("one TOTP code on 50 mfa_tokens at once: %d sessions, want 1", w)
	}
}

// TestMFAThrottle: wrong codes are throttled per account, across fresh
// mfa_tokens; the owner's device, which signed in fully before, is
// counted apart and still gets in.
func TestMFAThrottle(t *testing.T) {
	h := newHarness(t, options{})
	h.register("owner@example.com")
	// The owner signs in fully once from their browser: a device cookie.
	first := h.login("owner@example.com")
	secret, _ := h.enableTOTP(first)
	tok := h.passwordStep("owner@example.com")
	resp := h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	wantStatus(t, "owner's full sign-in", resp, http.StatusCreated)
	device := cookieNamed(resp, "__Host-authd_device")
	if device == nil {
		t.Fatal("no device cookie after a full sign-in")
	}
	h.clock.Advance(30 * time.Second)

	// The attacker knows the password and guesses codes.
	attacker := map[string]string{"X-Real-IP": "203.0.113.9"}
	throttled := false
	for i := 0; i < 30 && !throttled; i++ {
		tk := h.passwordStep("owner@example.com", attacker)
		resp := h.secondStep(tk, "123456", attacker)
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			throttled = true
		case http.StatusUnauthorized:
		default:
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, readBody(resp))
		}
	}
	if !throttled {
		t.Fatal("30 wrong codes and never a 429")
	}
	// The password step never handed out a device cookie.
	r := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"owner@example.com","password":"` + testPassword + `"}`})
	if cookieNamed(r, "__Host-authd_device") != nil {
		t.Error("the password step set a device cookie before the second factor")
	}
	// The owner, from the known device, gets in at once.
	withDevice := map[string]string{"Cookie": "__Host-authd_device=" + device.Value}
	tok = h.passwordStep("owner@example.com", withDevice)
	wantStatus(t, "owner during the attack", h.secondStep(tok, totpAt(t, secret, h.clock.Now()), withDevice), http.StatusCreated)
}

// TestStepUp: changing the password or address and removing a factor
// need a sign-in within 5 minutes.
func TestStepUp(t *testing.T) {
	h := newHarness(t, options{})
	h.register("step@example.com")
	s := h.login("step@example.com")
	secret, _ := h.enableTOTP(s)
	h.clock.Advance(6 * time.Minute)
	for _, r := range []req{
		{method: "DELETE", path: "/v1/user/mfa/totp", cookie: s},
		{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: s},
		{method: "PUT", path: "/v1/user/password", cookie: s, body: `{"current_password":"` + testPassword + `","new_password":"another long passphrase 42"}`},
		{method: "PUT", path: "/v1/user/email", cookie: s, body: `{"new_email":"new@example.com","current_password":"` + testPassword + `"}`},
	} {
		resp := h.do(r)
		if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusForbidden || p.Type != "urn:authd:problem:reauthentication-required" {
			t.Errorf("%s %s after 6 min: %d %s", r.method, r.path, resp.StatusCode, p.Type)
		}
	}
	// A fresh sign-in (both factors) may.
	tok := h.passwordStep("step@example.com")
	resp := h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	wantStatus(t, "fresh sign-in", resp, http.StatusCreated)
	fresh := sessionCookie(resp).Value
	wantStatus(t, "new recovery codes", h.do(req{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: fresh}), http.StatusOK)
	wantStatus(t, "remove TOTP", h.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: fresh}), http.StatusNoContent)
	// Removing it ended the old session; the password alone works again.
	wantStatus(t, "old session", h.do(req{method: "GET", path: "/v1/session", cookie: s}), http.StatusUnauthorized)
	h.login("step@example.com")
	wantStatus(t, "remove TOTP twice", h.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: fresh}), http.StatusConflict)
}

// TestPasswordAloneGetsNothing: with TOTP on, the password gets no
// session, cookie or token on any path: the API, the login page, the
// password grant, the authorization endpoint (through the login page).
func TestPasswordAloneGetsNothing(t *testing.T) {
	h := newHarness(t, options{})
	h.register("only@example.com")
	secret, _ := h.enableTOTP(h.login("only@example.com"))
	h.passwordStep("only@example.com") // the API: checked inside

	// The password grant (on in the harness).
	resp := h.do(req{method: "POST", path: "/oauth2/token", body: url.Values{"grant_type": {"password"}, "username": {"only@example.com"},
		"password": {testPassword}, "client_id": {"authd"}}.Encode(), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if e := decode[map[string]string](t, resp); resp.StatusCode != http.StatusBadRequest || e["error"] != "invalid_grant" || e["access_token"] != "" {
		t.Errorf("password grant: %d %v", resp.StatusCode, e)
	}

	// The login page, on the way back to the authorization endpoint.
	form := func(path string, v url.Values, cookie string) *http.Response {
		hdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if cookie != "" {
			hdr["Cookie"] = cookie
		}
		return h.do(req{method: "POST", path: path, body: v.Encode(), header: hdr})
	}
	returnTo := "/oauth2/authorize?response_type=code&client_id=authd&redirect_uri=" + url.QueryEscape(issuerURL+"/demo/callback")
	resp = form("/login", url.Values{"email": {"only@example.com"}, "password": {testPassword}, "return_to": {returnTo}}, "")
	body := readBody(resp)
	if resp.StatusCode != http.StatusOK || sessionCookie(resp) != nil || resp.Header.Get("Location") != "" {
		t.Fatalf("login page with the password alone: %d, cookie %v, Location %q", resp.StatusCode, sessionCookie(resp), resp.Header.Get("Location"))
	}
	if !strings.Contains(body, `action="/login/mfa"`) || !strings.Contains(body, `autocomplete="one-time-code"`) {
		t.Fatalf("login page shows no code step:\n%s", body)
	}
	i := strings.Index(body, `name="mfa_token" value="`)
	if i < 0 {
		t.Fatal("no mfa_token field")
	}
	tok := body[i+len(`name="mfa_token" value="`):]
	tok = tok[:strings.IndexByte(tok, '"')]
	// A wrong code: the code form again, no session.
	resp = form("/login/mfa", url.Values{"mfa_token": {tok}, "code": {"000000"}, "return_to": {returnTo}}, "")
	if b := readBody(resp); resp.StatusCode != http.StatusUnauthorized || sessionCookie(resp) != nil || !strings.Contains(b, `action="/login/mfa"`) {
		t.Errorf("wrong code on the page: %d", resp.StatusCode)
	}
	h.clock.Advance(time.Minute)
	resp = form("/login/mfa", url.Values{"mfa_token": {tok}, "code": {totpAt(t, secret, h.clock.Now())}, "return_to": {returnTo}}, "")
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == nil || resp.Header.Get("Location") != returnTo {
		t.Fatalf("right code on the page: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestMFABadInput(t *testing.T) {
	h := newHarness(t, options{})
	h.register("bad@example.com")
	s := h.login("bad@example.com")
	h.enableTOTP(s)
	tok := h.passwordStep("bad@example.com")
	for _, tt := range []struct {
		name, body string
		want       int
	}{
		{"empty", ``, http.StatusUnsupportedMediaType},
		{"not json", `mfa_token=x`, http.StatusBadRequest},
		{"no fields", `{}`, http.StatusBadRequest},
		{"code a number", `{"mfa_token":"` + tok + `","code":123456}`, http.StatusBadRequest},
		{"token an object", `{"mfa_token":{},"code":"123456"}`, http.StatusBadRequest},
		{"unknown field", `{"mfa_token":"` + tok + `","code":"123456","x":1}`, http.StatusBadRequest},
		{"code too long", `{"mfa_token":"` + tok + `","code":"` + strings.Repeat("1", 65) + `"}`, http.StatusBadRequest},
		{"token garbage", `{"mfa_token":"../../etc/passwd","code":"123456"}`, http.StatusUnauthorized},
		{"token too long", `{"mfa_token":"` + strings.Repeat("A", 5000) + `","code":"123456"}`, http.StatusUnauthorized},
		{"token with NUL", `{"mfa_token":"\u0000` + tok[1:] + `","code":"123456"}`, http.StatusUnauthorized},
		{"code unicode digits", `{"mfa_token":"` + tok + `","code":"١٢٣٤٥٦"}`, http.StatusUnauthorized},
		{"code SQL", `{"mfa_token":"` + tok + `","code":"' OR 1=1 --"}`, http.StatusUnauthorized},
		{"huge body", `{"mfa_token":"` + strings.Repeat("A", 70<<10) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		resp := h.do(req{method: "POST", path: "/v1/session/mfa", body: tt.body})
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, resp.StatusCode, readBody(resp), tt.want)
		}
		h.clock.Advance(time.Minute)
	}
	for _, r := range []req{
		{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: s, body: `{"code":12}`},
		{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: s, body: `{}`},
		{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: s, body: `{"code":"` + strings.Repeat("9", 100) + `"}`},
	} {
		if resp := h.do(r); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s: %d %s, want 400", r.path, r.body, resp.StatusCode, readBody(resp))
		}
	}
	// Confirming when it is already on: 409, not a silent new secret.
	if resp := h.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: s, body: `{"code":"123456"}`}); resp.StatusCode != http.StatusConflict {
		t.Errorf("confirm when on: %d %s", resp.StatusCode, readBody(resp))
	}
}

// TestAssuranceInTokens: an app signed in through a browser session that
// gave two factors gets amr and acr saying so, in the ID token and the
// access token, and keeps them across a refresh; a password-only session
// says AAL1.
func TestAssuranceInTokens(t *testing.T) {
	h := newHarness(t, options{rs256: true})
	h.register("acr@example.com")
	a := h.newApp(client.Registration{FirstParty: true})
	tk, _ := h.codeFlow(a, h.login("acr@example.com"))
	if c := jwtClaims(t, tk.AccessToken); c["acr"] != "urn:authd:aal1" || fmt.Sprint(c["amr"]) != "[pwd]" {
		t.Errorf("password-only access token acr %v amr %v", c["acr"], c["amr"])
	}
	secret, _ := h.enableTOTP(h.login("acr@example.com"))
	tok := h.passwordStep("acr@example.com")
	resp := h.secondStep(tok, totpAt(t, secret, h.clock.Now()))
	wantStatus(t, "second step", resp, http.StatusCreated)
	tk, _ = h.codeFlow(a, sessionCookie(resp).Value)
	for name, raw := range map[string]string{"ID token": tk.IDToken, "access token": tk.AccessToken} {
		c := jwtClaims(t, raw)
		if c["acr"] != "urn:authd:aal2" || fmt.Sprint(c["amr"]) != "[pwd otp mfa]" {
			t.Errorf("%s acr %v amr %v, want urn:authd:aal2 [pwd otp mfa]", name, c["acr"], c["amr"])
		}
	}
	if len(tk.IDToken) > 1024 {
		t.Errorf("id_token is %d bytes, want ≤ 1 KB", len(tk.IDToken))
	}
	resp = h.tokenForm(a, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.RefreshToken}})
	wantStatus(t, "refresh", resp, http.StatusOK)
	if c := jwtClaims(t, decode[codeTokens](t, resp).AccessToken); c["acr"] != "urn:authd:aal2" {
		t.Errorf("refreshed access token acr %v", c["acr"])
	}
}

// TestStepUpThroughAnApp: an old browser session cannot mint a fresh
// token session through the code flow to pass the step-up: the app's
// session keeps the browser's sign-in time (auth_time).
func TestStepUpThroughAnApp(t *testing.T) {
	h := newHarness(t, options{})
	h.register("app-step@example.com")
	browser := h.login("app-step@example.com")
	h.clock.Advance(6 * time.Minute)
	a := h.newApp(client.Registration{FirstParty: true})
	fullFlow := func(cookie string) codeTokens {
		verifier, challenge := pkce()
		p := authzParams(a, challenge)
		p.Set("scope", "read write")
		q := redirectParams(t, h.authorize(cookie, p), a.RedirectURIs[0])
		resp := h.tokenForm(a, exchangeForm(a, q.Get("code"), verifier))
		wantStatus(t, "code exchange", resp, http.StatusOK)
		return decode[codeTokens](t, resp)
	}
	tk := fullFlow(browser)
	resp := h.do(req{method: "PUT", path: "/v1/user/password", header: map[string]string{"Authorization": "Bearer " + tk.AccessToken},
		body: `{"current_password":"` + testPassword + `","new_password":"another long passphrase 42"}`})
	if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusForbidden || p.Type != "urn:authd:problem:reauthentication-required" {
		t.Errorf("password change with a fresh app token of an old sign-in: %d %s", resp.StatusCode, p.Type)
	}
	// Signed in again, the app's new token may.
	tk = fullFlow(h.login("app-step@example.com"))
	resp = h.do(req{method: "PUT", path: "/v1/user/password", header: map[string]string{"Authorization": "Bearer " + tk.AccessToken},
		body: `{"current_password":"` + testPassword + `","new_password":"another long passphrase 42"}`})
	wantStatus(t, "password change after a fresh sign-in", resp, http.StatusNoContent)
}

// TestPageTOTP: the account page sets up an authenticator app (QR code
// and key, then a code), shows the recovery codes once, lists the session
// with how it signed in, and removes the app again (step-up first).
func TestPageTOTP(t *testing.T) {
	h := newHarness(t, options{})
	h.register("page@example.com")
	s := h.login("page@example.com")
	body := wantPage(t, "account", h.page("/account", s), http.StatusOK)
	wantContains(t, "account", body, `data-testid="setup-totp"`, `Signed in with`, `Password`)
	body = wantPage(t, "begin", h.form("/account/mfa/totp", url.Values{}, s), http.StatusOK)
	wantContains(t, "begin", body, `data-testid="totp-qr"`, `src="data:image/png;base64,`, `action="/account/mfa/totp/confirm"`)
	noInlineCode(t, "begin", body)
	i := strings.Index(body, `data-secret="`)
	if i < 0 {
		t.Fatal("no secret on the page")
	}
	secret := body[i+len(`data-secret="`):]
	secret = secret[:strings.IndexByte(secret, '"')]
	body = wantPage(t, "wrong code", h.form("/account/mfa/totp/confirm", url.Values{"code": {"000000"}}, s), http.StatusUnauthorized)
	wantContains(t, "wrong code", body, "That code is wrong")
	body = wantPage(t, "confirm", h.form("/account/mfa/totp/confirm", url.Values{"code": {totpAt(t, secret, h.clock.Now())}}, s), http.StatusOK)
	if n := strings.Count(body, `data-testid="recovery-code"`); n != 10 {
		t.Errorf("%d recovery codes on the page, want 10", n)
	}
	wantContains(t, "confirm", body, `data-testid="totp-on"`, "10 recovery codes left")
	// Shown once: the next view has none.
	if strings.Contains(wantPage(t, "account again", h.page("/account", s), http.StatusOK), `data-testid="recovery-code"`) {
		t.Error("recovery codes shown again")
	}
	// The password alone on the login page: the code step; then the code.
	h.clock.Advance(30 * time.Second)
	body = wantPage(t, "login", h.form("/login", url.Values{"email": {"page@example.com"}, "password": {testPassword}}, ""), http.StatusOK)
	wantContains(t, "login", body, `data-testid="mfa-form"`)
	i = strings.Index(body, `name="mfa_token" value="`)
	tok := body[i+len(`name="mfa_token" value="`):]
	tok = tok[:strings.IndexByte(tok, '"')]
	resp := h.form("/login/mfa", url.Values{"mfa_token": {tok}, "code": {totpAt(t, secret, h.clock.Now())}}, "")
	wantRedirect(t, "second step", resp, "/account")
	fresh := sessionCookie(resp).Value
	wantContains(t, "sessions", wantPage(t, "account", h.page("/account", fresh), http.StatusOK), "Password &#43; authenticator app")
	// Removing the app needs a recent sign-in.
	h.clock.Advance(6 * time.Minute)
	body = wantPage(t, "remove late", h.form("/account/mfa/totp/remove", url.Values{}, fresh), http.StatusForbidden)
	wantContains(t, "remove late", body, `data-testid="reauth"`, `/login?reauth=1`)
}

// TestPasskeyCeremonyLimit: anonymous sign-in ceremonies (each a stored
// challenge) are limited per client IP: a flood gets 429, another IP is
// not affected, and the bucket refills.
func TestPasskeyCeremonyLimit(t *testing.T) {
	h := newHarness(t, options{})
	begin := func(ip string) int {
		return h.do(req{method: "POST", path: "/v1/passkeys/login/begin", body: `{}`, remote: ip + ":1234"}).StatusCode
	}
	ok, limited := 0, 0
	for range 100 {
		switch begin("198.51.100.7") {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	if ok != 30 || limited != 70 {
		t.Errorf("100 ceremonies from one IP: %d begun, %d refused; want 30 and 70", ok, limited)
	}
	if st := begin("198.51.100.8"); st != http.StatusOK {
		t.Errorf("another IP: %d", st)
	}
	h.clock.Advance(2 * time.Second)
	if st := begin("198.51.100.7"); st != http.StatusOK {
		t.Errorf("after 2 s: %d", st)
	}
}

// TestMFATokenVoidedByChanges (black-box finding F1): a sign-in begun
// before the password changed, or before the authenticator app was
// turned off and on again, cannot be finished afterwards, not even with
// a right code of the new setup.
func TestMFATokenVoidedByChanges(t *testing.T) {
	h := newHarness(t, options{})
	h.register("void@example.com")
	s := h.login("void@example.com")
	secret, codes := h.enableTOTP(s)
	tok := h.passwordStep("void@example.com")
	wantStatus(t, "password change", h.do(req{method: "PUT", path: "/v1/user/password", cookie: s,
		body: `{"current_password":"` + testPassword + `","new_password":"another long passphrase 42"}`}), http.StatusNoContent)
	resp := h.secondStep(tok, codes[0])
	if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusUnauthorized || p.Type != "urn:authd:problem:mfa-token-invalid" {
		t.Errorf("finishing a sign-in begun with the old password: %d %s", resp.StatusCode, p.Type)
	}

	h.register("cycle@example.com")
	s = h.login("cycle@example.com")
	h.enableTOTP(s)
	tok = h.passwordStep("cycle@example.com")
	wantStatus(t, "remove TOTP", h.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: s}), http.StatusNoContent)
	h.clock.Advance(time.Second)
	secret, codes = h.enableTOTP(s)
	for _, code := range []string{totpAt(t, secret, h.clock.Now()), codes[0]} {
		resp := h.secondStep(tok, code)
		if p := decode[mfaProblem](t, resp); resp.StatusCode != http.StatusUnauthorized || p.Type != "urn:authd:problem:mfa-token-invalid" {
			t.Errorf("a code of the new setup on a sign-in begun under the old: %d %s", resp.StatusCode, p.Type)
		}
	}
}

// TestMFAAttemptsParallel (black-box finding F2): an mfa_token with one
// attempt left, sent many wrong codes and the right one at once, gets at
// most one of them checked.
func TestMFAAttemptsParallel(t *testing.T) {
	h := newHarness(t, options{noThrottle: true})
	h.register("burst@example.com")
	_, codes := h.enableTOTP(h.login("burst@example.com"))
	for trial := range 5 {
		tok := h.passwordStep("burst@example.com")
		for range 4 {
			wantStatus(t, "wrong code", h.secondStep(tok, "000000"), http.StatusUnauthorized)
		}
		var checked, wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 12 {
			code := "000000"
			if i == 11 {
				code = codes[trial]
			}
			wg.Go(func() {
				<-start
				resp := h.secondStep(tok, code)
				p := decode[mfaProblem](t, resp)
				switch {
				case resp.StatusCode == http.StatusCreated:
					checked.Add(1)
					wins.Add(1)
				case p.Type == "urn:authd:problem:invalid-code":
					checked.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if checked.Load() > 1 {
			t.Errorf("trial %d: %d codes checked (%d sessions) with one attempt left, want at most 1", trial, checked.Load(), wins.Load())
		}
	}
}
