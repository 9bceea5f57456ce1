package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authd/authd/passkey/passkeytest"
)

func pkProblem(t *testing.T, resp *http.Response, status int, typ string) {
	t.Helper()
	wantProblem(t, "passkey request", resp, status, typ)
}

type pkSession struct {
	Session struct {
		AMR []string `json:"amr"`
		AAL int      `json:"aal"`
	} `json:"session"`
}

// pkClient is a signed-in user of a harness with a software authenticator.
type pkClient struct {
	h      *harness
	cookie string
	auth   *passkeytest.Authenticator
}

func newPKClient(h *harness, email string) *pkClient {
	h.register(email)
	return &pkClient{h: h, cookie: h.login(email), auth: &passkeytest.Authenticator{Origin: issuerURL}}
}

type ceremonyResp struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

func (p *pkClient) begin(t *testing.T) ceremonyResp {
	t.Helper()
	resp := p.h.do(req{method: "POST", path: "/v1/user/passkeys/register/begin", cookie: p.cookie})
	wantStatus(t, "register begin", resp, http.StatusOK)
	return decode[ceremonyResp](t, resp)
}

func finishBody(ceremony, name string, cred []byte) string {
	b, _ := json.Marshal(map[string]any{"ceremony": ceremony, "name": name, "credential": json.RawMessage(cred)})
	return string(b)
}

// register adds a passkey through the API.
func (p *pkClient) register(t *testing.T, name string) (*passkeytest.Credential, map[string]any) {
	t.Helper()
	cr := p.begin(t)
	cred, body, err := p.auth.Create(cr.Options, passkeytest.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	resp := p.h.do(req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: p.cookie, body: finishBody(cr.Ceremony, name, body)})
	wantStatus(t, "register finish", resp, http.StatusCreated)
	return cred, decode[map[string]any](t, resp)
}

func loginBegin(t *testing.T, h *harness) ceremonyResp {
	t.Helper()
	resp := h.do(req{method: "POST", path: "/v1/passkeys/login/begin"})
	wantStatus(t, "login begin", resp, http.StatusOK)
	return decode[ceremonyResp](t, resp)
}

func loginFinishBody(ceremony string, cred []byte) string {
	b, _ := json.Marshal(map[string]any{"ceremony": ceremony, "credential": json.RawMessage(cred)})
	return string(b)
}

func TestPasskeyAPI(t *testing.T) {
	h := newHarness(t, options{})
	p := newPKClient(h, "pk@example.com")
	other := p.h.login("pk@example.com") // a second session: kept when a passkey is added
	cred, body := p.register(t, "Laptop\u0007 key")
	if body["name"] != "Laptop key" || body["last_used_at"] != nil || body["backup_eligible"] != false {
		t.Fatalf("registered %v", body)
	}
	id := body["id"].(string)
	if resp := h.do(req{method: "GET", path: "/v1/session", cookie: other}); resp.StatusCode != http.StatusOK {
		t.Fatalf("adding a passkey ended the other session: %d", resp.StatusCode)
	}

	// Sign in with it: no password, no address.
	cr := loginBegin(t, h)
	if strings.Contains(string(cr.Options), "allowCredentials") {
		t.Errorf("discoverable login lists credentials: %s", cr.Options)
	}
	assertion, err := p.auth.Get(cr.Options, cred, passkeytest.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	resp := h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr.Ceremony, assertion)})
	wantStatus(t, "login finish", resp, http.StatusCreated)
	ck := sessionCookie(resp)
	s := decode[pkSession](t, resp)
	if ck == nil || s.Session.AAL != 2 || !slices.Equal(s.Session.AMR, []string{"hwk", "user", "mfa"}) {
		t.Fatalf("passkey session %+v cookie %v", s, ck)
	}
	// The same answer again: the ceremony is used up.
	resp = h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr.Ceremony, assertion)})
	pkProblem(t, resp, http.StatusUnauthorized, "passkey-invalid")

	// A replayed assertion in a new ceremony: the counter did not grow.
	cr2 := loginBegin(t, h)
	n := uint32(1)
	replay, _ := p.auth.Get(cr2.Options, cred, passkeytest.Ceremony{Counter: &n})
	resp = h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr2.Ceremony, replay)})
	pkProblem(t, resp, http.StatusUnauthorized, "passkey-invalid")

	// The list shows it used; rename it.
	resp = h.do(req{method: "GET", path: "/v1/user/passkeys", cookie: ck.Value})
	wantStatus(t, "list", resp, http.StatusOK)
	list := decode[struct{ Passkeys []map[string]any }](t, resp)
	if len(list.Passkeys) != 1 || list.Passkeys[0]["last_used_at"] == nil {
		t.Fatalf("list %v", list)
	}
	resp = h.do(req{method: "PATCH", path: "/v1/user/passkeys/" + id, cookie: ck.Value, body: `{"name":"Work laptop"}`})
	wantStatus(t, "rename", resp, http.StatusOK)
	if b := decode[map[string]any](t, resp); b["name"] != "Work laptop" {
		t.Fatalf("renamed %v", b)
	}
	resp = h.do(req{method: "PATCH", path: "/v1/user/passkeys/" + id, cookie: ck.Value, body: `{"name":"` + strings.Repeat("x", 65) + `"}`})
	pkProblem(t, resp, http.StatusBadRequest, "invalid-input")

	// Another user cannot see, rename or delete it.
	q := newPKClient(h, "other@example.com")
	for _, r := range []req{
		{method: "PATCH", path: "/v1/user/passkeys/" + id, cookie: q.cookie, body: `{"name":"mine"}`},
		{method: "DELETE", path: "/v1/user/passkeys/" + id, cookie: q.cookie},
	} {
		pkProblem(t, h.do(r), http.StatusNotFound, "not-found")
	}
	// Another user's registration ceremony does not finish for q.
	cr3 := p.begin(t)
	_, c3, _ := p.auth.Create(cr3.Options, passkeytest.Ceremony{})
	resp = h.do(req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: q.cookie, body: finishBody(cr3.Ceremony, "", c3)})
	pkProblem(t, resp, http.StatusBadRequest, "passkey-invalid")

	// Step-up: an old sign-in cannot add or delete passkeys.
	h.clock.Advance(6 * time.Minute)
	pkProblem(t, h.do(req{method: "POST", path: "/v1/user/passkeys/register/begin", cookie: ck.Value}), http.StatusForbidden, "reauthentication-required")
	pkProblem(t, h.do(req{method: "DELETE", path: "/v1/user/passkeys/" + id, cookie: ck.Value}), http.StatusForbidden, "reauthentication-required")

	// Fresh: delete; the other sessions end.
	fresh := h.login("pk@example.com")
	resp = h.do(req{method: "DELETE", path: "/v1/user/passkeys/" + id, cookie: fresh})
	wantStatus(t, "delete", resp, http.StatusNoContent)
	if resp := h.do(req{method: "GET", path: "/v1/session", cookie: ck.Value}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("deleting a passkey kept the other session: %d", resp.StatusCode)
	}
	cr4 := loginBegin(t, h)
	gone, _ := p.auth.Get(cr4.Options, cred, passkeytest.Ceremony{})
	pkProblem(t, h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr4.Ceremony, gone)}), http.StatusUnauthorized, "passkey-invalid")
}

func TestPasskeyLoginDisabledUser(t *testing.T) {
	h := newHarness(t, options{})
	p := newPKClient(h, "dis@example.com")
	cred, _ := p.register(t, "")
	u, err := h.store.UserByEmail(t.Context(), "dis@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.users.SetDisabled(t.Context(), u.ID, true); err != nil {
		t.Skipf("cannot disable users here: %v", err)
	}
	cr := loginBegin(t, h)
	a, _ := p.auth.Get(cr.Options, cred, passkeytest.Ceremony{})
	pkProblem(t, h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr.Ceremony, a)}), http.StatusUnauthorized, "passkey-invalid")
}

// TestPasskeyBadInput: hostile bodies get a 4xx problem, never a 500 or 503.
func TestPasskeyBadInput(t *testing.T) {
	h := newHarness(t, options{})
	p := newPKClient(h, "bad@example.com")
	cred, _ := p.register(t, "")
	// An answer for another RP ID.
	cr := loginBegin(t, h)
	foreign, _ := p.auth.Get(cr.Options, cred, passkeytest.Ceremony{RPID: "evil.example"})
	wrongOrigin, _ := p.auth.Get(loginBegin(t, h).Options, cred, passkeytest.Ceremony{Origin: "https://evil.example"})
	reg := p.begin(t)
	_, foreignReg, _ := p.auth.Create(reg.Options, passkeytest.Ceremony{RPID: "evil.example"})
	live := loginBegin(t, h).Ceremony
	for _, tc := range []struct {
		name string
		r    req
		want int
	}{
		{"login finish: malformed JSON", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":`}, 400},
		{"login finish: wrong types", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":1,"credential":{}}`}, 400},
		{"login finish: unknown field", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"x","credential":{},"user":"x"}`}, 400},
		{"login finish: missing", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{}`}, 400},
		{"login finish: null credential", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"x","credential":null}`}, 400},
		{"login finish: oversize", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"` + strings.Repeat("a", 70<<10) + `"}`}, 413},
		{"login finish: not JSON", req{method: "POST", path: "/v1/passkeys/login/finish", body: `x`, header: map[string]string{"Content-Type": "text/plain"}}, 415},
		{"login finish: unknown ceremony", req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody("nope", foreign)}, 401},
		{"login finish: huge ceremony", req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(strings.Repeat("a", 4000), foreign)}, 401},
		{"login finish: string credential", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"` + live + `","credential":"abc"}`}, 401},
		{"login finish: another RP ID", req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(cr.Ceremony, foreign)}, 401},
		{"login finish: another origin", req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(loginBegin(t, h).Ceremony, wrongOrigin)}, 401},
		{"login finish: garbage credential", req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"` + loginBegin(t, h).Ceremony + `","credential":{"id":"!!","response":{"clientDataJSON":"%%"}}}`}, 401},
		{"register finish: another RP ID", req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: p.cookie, body: finishBody(reg.Ceremony, "", foreignReg)}, 400},
		{"register finish: unknown ceremony", req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: p.cookie, body: finishBody("nope", "", foreignReg)}, 400},
		{"register finish: long name", req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: p.cookie, body: finishBody("x", strings.Repeat("n", 65), foreignReg)}, 400},
		{"register finish: array", req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: p.cookie, body: `[]`}, 400},
		{"register finish: no session", req{method: "POST", path: "/v1/user/passkeys/register/finish", body: finishBody("x", "", foreignReg)}, 401},
		{"register begin: no session", req{method: "POST", path: "/v1/user/passkeys/register/begin"}, 401},
		{"rename: not base64url", req{method: "PATCH", path: "/v1/user/passkeys/a+b", cookie: p.cookie, body: `{"name":"x"}`}, 404},
		{"rename: unknown", req{method: "PATCH", path: "/v1/user/passkeys/AAAA", cookie: p.cookie, body: `{"name":"x"}`}, 404},
		{"rename: empty name", req{method: "PATCH", path: "/v1/user/passkeys/AAAA", cookie: p.cookie, body: `{"name":"\u0000"}`}, 400},
		{"rename: wrong type", req{method: "PATCH", path: "/v1/user/passkeys/AAAA", cookie: p.cookie, body: `{"name":7}`}, 400},
		{"delete: unknown", req{method: "DELETE", path: "/v1/user/passkeys/AAAA", cookie: p.cookie}, 404},
		{"delete: huge id", req{method: "DELETE", path: "/v1/user/passkeys/" + strings.Repeat("A", 3000), cookie: p.cookie}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(tc.r)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, readBody(resp))
			}
		})
	}
}

// TestPasskeyLoginThrottled: forged answers count against the client IP.
func TestPasskeyLoginThrottled(t *testing.T) {
	h := newHarness(t, options{})
	var last int
	for range 30 {
		cr := loginBegin(t, h)
		resp := h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: `{"ceremony":"` + cr.Ceremony + `","credential":{}}`})
		last = resp.StatusCode
		if last == http.StatusTooManyRequests {
			break
		}
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("30 forged passkey answers were never throttled (last %d)", last)
	}
}

func TestPasskeyPages(t *testing.T) {
	h := newHarness(t, options{})
	resp := h.do(req{method: "GET", path: "/login"})
	page := readBody(resp)
	for _, want := range []string{`id="passkey-login"`, `src="/static/passkeys.js"`, `autocomplete="username webauthn"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/login lacks %s", want)
		}
	}
	if resp := h.do(req{method: "GET", path: "/static/passkeys.js"}); resp.StatusCode != http.StatusOK {
		t.Errorf("passkeys.js: %d", resp.StatusCode)
	}
	p := newPKClient(h, "pages@example.com")
	_, body := p.register(t, "Phone")
	id := body["id"].(string)
	page = readBody(h.do(req{method: "GET", path: "/account", cookie: p.cookie}))
	for _, want := range []string{`id="add-passkey"`, `data-testid="passkey-name">Phone<`, `/account/passkeys/` + id + `/rename`, `/account/passkeys/` + id + `/delete`} {
		if !strings.Contains(page, want) {
			t.Errorf("/account lacks %s", want)
		}
	}
	form := func(path, body string) *http.Response {
		return h.do(req{method: "POST", path: path, body: body, cookie: p.cookie,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	}
	resp = form("/account/passkeys/"+id+"/rename", "name=Old+phone")
	if page := readBody(resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="passkey-name">Old phone<`) {
		t.Fatalf("rename: %d", resp.StatusCode)
	}
	resp = form("/account/passkeys/"+id+"/delete", "")
	if page := readBody(resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, `data-testid="no-passkeys"`) {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
}

// oaProbeFactors probes the second-factor and passkey operations for the
// OpenAPI test.
func oaProbeFactors(t *testing.T, c *oaChecker) {
	h := newHarness(t, options{})
	p := newPKClient(h, "factors@example.com")
	ck := p.cookie
	c.check("GET /v1/user/mfa", h.do(req{method: "GET", path: "/v1/user/mfa", cookie: ck}), http.StatusOK)

	// Passkeys.
	b := c.check("POST /v1/user/passkeys/register/begin", h.do(req{method: "POST", path: "/v1/user/passkeys/register/begin", cookie: ck}), http.StatusOK)
	opts, _ := json.Marshal(b["options"])
	cred, answer, err := p.auth.Create(opts, passkeytest.Ceremony{})
	if err != nil {
		t.Fatal(err)
	}
	c.check("POST /v1/user/passkeys/register/finish", h.do(req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: ck,
		body: finishBody(b["ceremony"].(string), "", answer)}), http.StatusCreated)
	c.check("POST /v1/user/passkeys/register/finish", h.do(req{method: "POST", path: "/v1/user/passkeys/register/finish", cookie: ck,
		body: finishBody(b["ceremony"].(string), "", answer)}), http.StatusBadRequest)
	l := c.check("GET /v1/user/passkeys", h.do(req{method: "GET", path: "/v1/user/passkeys", cookie: ck}), http.StatusOK)
	id := l["passkeys"].([]any)[0].(map[string]any)["id"].(string)
	c.check("PATCH /v1/user/passkeys/{id}", h.do(req{method: "PATCH", path: "/v1/user/passkeys/" + id, cookie: ck, body: `{"name":"Key"}`}), http.StatusOK)
	c.check("PATCH /v1/user/passkeys/{id}", h.do(req{method: "PATCH", path: "/v1/user/passkeys/AAAA", cookie: ck, body: `{"name":"Key"}`}), http.StatusNotFound)
	lb := c.check("POST /v1/passkeys/login/begin", h.do(req{method: "POST", path: "/v1/passkeys/login/begin"}), http.StatusOK)
	lopts, _ := json.Marshal(lb["options"])
	a, _ := p.auth.Get(lopts, cred, passkeytest.Ceremony{})
	c.check("POST /v1/passkeys/login/finish", h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(lb["ceremony"].(string), a)}), http.StatusCreated)
	c.check("POST /v1/passkeys/login/finish", h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: loginFinishBody(lb["ceremony"].(string), a)}), http.StatusUnauthorized)
	c.check("POST /v1/passkeys/login/finish", h.do(req{method: "POST", path: "/v1/passkeys/login/finish", body: `{}`}), http.StatusBadRequest)
	c.check("DELETE /v1/user/passkeys/{id}", h.do(req{method: "DELETE", path: "/v1/user/passkeys/" + id, cookie: ck}), http.StatusNoContent)

	// TOTP and recovery codes.
	ck = h.login("factors@example.com")
	e := c.check("POST /v1/user/mfa/totp", h.do(req{method: "POST", path: "/v1/user/mfa/totp", cookie: ck}), http.StatusCreated)
	c.check("POST /v1/user/mfa/totp/confirm", h.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ck, body: `{"code":"000000x"}`}), http.StatusUnauthorized)
	code, err := totp.GenerateCode(e["secret"].(string), h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	rc := c.check("POST /v1/user/mfa/totp/confirm", h.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ck, body: `{"code":"` + code + `"}`}), http.StatusOK)
	if len(rc["recovery_codes"].([]any)) == 0 {
		t.Fatalf("no recovery codes: %v", rc)
	}
	rc = c.check("POST /v1/user/mfa/recovery-codes", h.do(req{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: ck}), http.StatusOK)
	resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"factors@example.com","password":"` + testPassword + `"}`})
	mt := decode[map[string]any](t, resp)
	tok, _ := mt["mfa_token"].(string)
	c.check("POST /v1/session/mfa", h.do(req{method: "POST", path: "/v1/session/mfa", body: `{"mfa_token":"` + tok + `","code":"nope"}`}), http.StatusUnauthorized)
	c.check("POST /v1/session/mfa", h.do(req{method: "POST", path: "/v1/session/mfa",
		body: `{"mfa_token":"` + tok + `","code":"` + rc["recovery_codes"].([]any)[0].(string) + `"}`}), http.StatusCreated)
	c.check("DELETE /v1/user/mfa/totp", h.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: ck}), http.StatusNoContent)
	c.check("DELETE /v1/user/mfa/totp", h.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: ck}), http.StatusConflict)
}
