package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/server"
)

// Passwords the hostile table submits. No response may ever contain one.
var (
	impostorPassword = "not alice but looks like her"
	sqlPassword      = "' OR '1'='1'; DROP TABLE users;--"
	newPassword      = "another perfectly fine passphrase"
	password4K       = strings.Repeat("p4ss-", 820) // 4100 bytes
	password1025     = strings.Repeat("c", 1025)
	password1024     = strings.Repeat("b", 1024) // the limit itself is accepted
	passwordNUL      = "correct horse\x00battery staple"
)

// cyrillicAlice is "аlice@example.com" with U+0430 CYRILLIC SMALL LETTER A:
// NFKC-stable, so normalisation would keep it a different address; it is
// refused because its local part mixes scripts. cyrillicName is a genuine
// Cyrillic address, which is accepted as its own account.
const (
	cyrillicAlice = "\u0430lice@example.com"
	cyrillicName  = "иван@example.com"
)

// problemBody is an RFC 9457 problem as authd sends it.
type problemBody struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status *int         `json:"status"`
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors"`
}

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// badCase is one hostile request and the one answer authd must give.
type badCase struct {
	name    string
	r       req
	want    int
	fields  []string // a 400 whose errors must name each of these fields
	creates int      // users a success legitimately creates
}

// js encodes v as JSON. encoding/json escapes control characters, so NUL
// bytes travel as \u0000; raw invalid UTF-8 is built by hand instead.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func creds(email, pw string) string { return js(map[string]string{"email": email, "password": pw}) }

// endpoint is a JSON-taking route and two names for its two fields.
type endpoint struct {
	name   string
	mk     func(body string) req
	f1, f2 string
	valid  string // a well-formed body whose success would be visible in the final checks
}

// checkResponse asserts the status, and for errors the problem document:
// RFC 9457 shape, status echoed, fields named, nothing leaked.
func checkResponse(t *testing.T, resp *http.Response, want int, fields []string) {
	t.Helper()
	body := readBody(resp)
	if resp.StatusCode >= 500 {
		t.Fatalf("server error %d: %s", resp.StatusCode, body)
	}
	if resp.StatusCode != want {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, want, body)
	}
	for _, pw := range []string{testPassword, impostorPassword, sqlPassword, newPassword, password4K, password1025, password1024, passwordNUL, "correct horse"} {
		if strings.Contains(body, pw) || strings.Contains(body, js(pw)) {
			t.Errorf("response echoes a submitted password: %.200s", body)
		}
	}
	if want < 400 {
		return
	}
	for _, leak := range []string{"goroutine", "panic", "sql", "runtime."} {
		if strings.Contains(strings.ToLower(body), leak) {
			t.Errorf("response leaks internals (%q): %s", leak, body)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var p problemBody
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body is not a problem document (%v): %s", err, body)
	}
	if !strings.HasPrefix(p.Type, "urn:authd:problem:") || p.Title == "" || p.Status == nil || *p.Status != want {
		t.Errorf("problem = %s, want type, title and status %d", body, want)
	}
	for _, e := range p.Errors {
		if e.Field == "" || e.Reason == "" || e.Detail == "" {
			t.Errorf("incomplete field error %+v in %s", e, body)
		}
	}
	for _, f := range fields {
		if !slices.ContainsFunc(p.Errors, func(e fieldError) bool { return e.Field == f }) {
			t.Errorf("errors do not name field %q: %s", f, body)
		}
	}
	if want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	if want == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// buildRequest is h.do's request, for the cases that need their own body
// reader or context.
func buildRequest(ctx context.Context, r req, body io.Reader) *http.Request {
	hr := httptest.NewRequestWithContext(ctx, r.method, "http://authd.test"+r.path, body)
	hr.Header.Set("Content-Type", "application/json")
	if r.cookie != "" {
		hr.Header.Set("Cookie", server.DefaultCookieName+"="+r.cookie)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	return hr
}

// countingReader serves prefix then filler bytes up to size, counting what
// is read.
type countingReader struct {
	prefix string
	size   int64
	read   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read >= c.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), c.size-c.read))
	for i := range n {
		if off := c.read + int64(i); off < int64(len(c.prefix)) {
			p[i] = c.prefix[off]
		} else {
			p[i] = 'a'
		}
	}
	c.read += int64(n)
	return n, nil
}

func TestBadInput(t *testing.T) {
	forBackends(t, func(t *testing.T, sqlite bool) {
		h := newHarness(t, options{sqlite: sqlite, noThrottle: true})
		ctx := context.Background()
		aliceID := h.register("alice@example.com")
		keep := h.login("alice@example.com")   // never used by the table: must survive it
		work := h.login("alice@example.com")   // the cookie the table's authenticated cases use
		victim := h.login("alice@example.com") // the target of forged cross-site revocations
		victimID := decode[sessionResp](t, h.do(req{method: "GET", path: "/v1/session", cookie: victim})).Session.ID

		ctJSON := map[string]string{"Content-Type": "application/json"}
		withCT := func(ct string) map[string]string { return map[string]string{"Content-Type": ct} }
		register := func(body string) req { return req{method: "POST", path: "/v1/users", body: body} }
		login := func(body string) req { return req{method: "POST", path: "/v1/session", body: body} }
		change := func(body string) req { return req{method: "PUT", path: "/v1/user/password", body: body, cookie: work} }
		pwChange := func(cur, next string) string {
			return js(map[string]string{"current_password": cur, "new_password": next})
		}
		endpoints := []endpoint{
			{"register", register, "email", "password", creds("mallory@example.com", testPassword)},
			{"login", login, "email", "password", creds("alice@example.com", testPassword)},
			{"change", change, "current_password", "new_password", pwChange(testPassword, newPassword)},
		}

		var cases []badCase
		add := func(c ...badCase) { cases = append(cases, c...) }

		// Malformed bodies, the same answer from every JSON endpoint.
		for _, e := range endpoints {
			f1, f2, v := e.f1, e.f2, e.valid
			mk := func(body string) req { return e.mk(body) }
			with := func(body string, hdr map[string]string) req { r := e.mk(body); r.header = hdr; return r }
			obj := func(members string) string { return "{" + members + "}" }
			s := func(f, val string) string { return js(f) + ":" + val }
			fine1, fine2 := s(f1, js("alice@example.com")), s(f2, js(testPassword))
			if e.name == "change" {
				fine1 = s(f1, js(testPassword))
				fine2 = s(f2, js(newPassword))
			}
			p := e.name + ": "
			add(
				badCase{name: p + "malformed JSON", r: mk(`{"` + f1 + `" "x"}`), want: 400},
				badCase{name: p + "single quotes", r: mk(`{'` + f1 + `':'x'}`), want: 400},
				badCase{name: p + "bare words", r: mk(`{email: alice, password: secret}`), want: 400},
				badCase{name: p + "truncated JSON", r: mk(v[:len(v)-6]), want: 400},
				badCase{name: p + "lone brace", r: mk(`{`), want: 400},
				badCase{name: p + "trailing comma", r: mk(obj(fine1 + "," + fine2 + ",")), want: 400},
				badCase{name: p + "empty body", r: with("", ctJSON), want: 400},
				badCase{name: p + "whitespace body", r: mk(" \n\t "), want: 400},
				badCase{name: p + "null", r: mk(`null`), want: 400, fields: []string{f1, f2}},
				badCase{name: p + "array", r: mk(`[]`), want: 400, fields: []string{"body"}},
				badCase{name: p + "array of the object", r: mk("[" + v + "]"), want: 400, fields: []string{"body"}},
				badCase{name: p + "string", r: mk(`"` + f1 + `"`), want: 400, fields: []string{"body"}},
				badCase{name: p + "number", r: mk(`42`), want: 400, fields: []string{"body"}},
				badCase{name: p + "boolean", r: mk(`true`), want: 400, fields: []string{"body"}},
				badCase{name: p + "empty object", r: mk(`{}`), want: 400, fields: []string{f1, f2}},
				badCase{name: p + "missing " + f1, r: mk(obj(fine2)), want: 400, fields: []string{f1}},
				badCase{name: p + "missing " + f2, r: mk(obj(fine1)), want: 400, fields: []string{f2}},
				badCase{name: p + "empty " + f1, r: mk(obj(s(f1, `""`) + "," + fine2)), want: 400, fields: []string{f1}},
				badCase{name: p + "empty " + f2, r: mk(obj(fine1 + "," + s(f2, `""`))), want: 400, fields: []string{f2}},
				badCase{name: p + "null " + f2, r: mk(obj(fine1 + "," + s(f2, `null`))), want: 400, fields: []string{f2}},
				badCase{name: p + "unknown field", r: mk(obj(fine1 + "," + fine2 + `,"admin":true`)), want: 400, fields: []string{"admin"}},
				badCase{name: p + "unknown __proto__", r: mk(obj(`"__proto__":{"admin":true},` + fine1 + "," + fine2)), want: 400, fields: []string{"__proto__"}},
				badCase{name: p + "second object", r: mk(v + v), want: 400},
				badCase{name: p + "trailing garbage", r: mk(v + " x"), want: 400},
				badCase{name: p + "trailing bracket", r: mk(v + "]"), want: 400},
				badCase{name: p + "duplicate " + f1, r: mk(obj(fine1 + "," + fine2 + "," + s(f1, js("mallory@example.com")))), want: 400, fields: []string{f1}},
				badCase{name: p + "duplicate " + f2 + " in other case", r: mk(obj(fine1 + "," + fine2 + "," + s(strings.ToUpper(f2), js(newPassword)))), want: 400, fields: []string{f2}},
				badCase{name: p + "10000 nested arrays", r: mk(strings.Repeat("[", 10000)), want: 400},
				badCase{name: p + "10001 nested arrays", r: mk(strings.Repeat("[", 10001)), want: 400},
				badCase{name: p + "deeply nested " + f1, r: mk(`{"` + f1 + `":` + strings.Repeat(`{"a":`, 10000)), want: 400},
				badCase{name: p + "raw invalid UTF-8 in " + f1, r: mk(obj(s(f1, "\"ali\xffce@example.com\"") + "," + fine2)), want: 400},
				badCase{name: p + "raw invalid UTF-8 in " + f2, r: mk(obj(fine1 + "," + s(f2, "\""+testPassword+"\xc3\x28\""))), want: 400},
				badCase{name: p + "UTF-16 body", r: mk("\xff\xfe{\x00}\x00"), want: 400},
				badCase{name: p + "no Content-Type", r: with(v, map[string]string{"Content-Type": ""}), want: 415},
				badCase{name: p + "text/plain", r: with(v, withCT("text/plain")), want: 415},
				badCase{name: p + "form-urlencoded", r: with("email=alice%40example.com&password=x", withCT("application/x-www-form-urlencoded")), want: 415},
				badCase{name: p + "multipart", r: with(v, withCT("multipart/form-data; boundary=x")), want: 415},
				badCase{name: p + "application/jsonp", r: with(v, withCT("application/jsonp")), want: 415},
				badCase{name: p + "unparsable Content-Type", r: with(v, withCT("application/json; charset")), want: 415},
				badCase{name: p + "foreign Origin", r: with(v, map[string]string{"Origin": "https://evil.example"}), want: 403},
				badCase{name: p + "Origin null", r: with(v, map[string]string{"Origin": "null"}), want: 403},
				badCase{name: p + "Sec-Fetch-Site cross-site", r: with(v, map[string]string{"Sec-Fetch-Site": "cross-site"}), want: 403},
				badCase{name: p + "Sec-Fetch-Site same-site", r: with(v, map[string]string{"Sec-Fetch-Site": "same-site"}), want: 403},
			)
			for _, wrong := range []struct{ kind, val string }{{"number", `1`}, {"big number", `1e999`}, {"bool", `true`}, {"object", `{"$ne":null}`}, {"array", `["x"]`}} {
				add(
					badCase{name: p + f1 + " is a " + wrong.kind, r: mk(obj(s(f1, wrong.val) + "," + fine2)), want: 400, fields: []string{f1}},
					badCase{name: p + f2 + " is a " + wrong.kind, r: mk(obj(fine1 + "," + s(f2, wrong.val))), want: 400, fields: []string{f2}},
				)
			}
		}

		// Registration: what is refused, and what is a distinct account.
		long := strings.Repeat("a", 300-len("@example.com")) + "@example.com"
		add(
			badCase{name: "register: charset=utf-8 accepted", r: req{method: "POST", path: "/v1/users", body: creds("charset@example.com", testPassword),
				header: withCT("application/json; charset=utf-8")}, want: 201, creates: 1},
			badCase{name: "register: 4 KB password", r: register(creds("big@example.com", password4K)), want: 400, fields: []string{"password"}},
			badCase{name: "register: 1025-byte password", r: register(creds("big@example.com", password1025)), want: 400, fields: []string{"password"}},
			badCase{name: "register: 1024-byte password accepted", r: register(creds("long@example.com", password1024)), want: 201, creates: 1},
			badCase{name: "register: NUL in email", r: register(creds("alice\x00@example.com", testPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: NUL-suffixed alice", r: register(creds("alice@example.com\x00", testPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: NUL in password", r: register(creds("nul@example.com", passwordNUL)), want: 400, fields: []string{"password"}},
			badCase{name: "register: escaped invalid email and password together", r: register(creds("nope", "short")), want: 400, fields: []string{"email", "password"}},
			badCase{name: "register: SQL email", r: register(creds("' OR '1'='1", testPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: SQL-suffixed alice", r: register(creds("alice@example.com'; DROP TABLE users;--", testPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: SQL password is only a password", r: register(creds("bobby.tables@example.com", sqlPassword)), want: 201, creates: 1},
			badCase{name: "register: CRLF header injection", r: register(creds("bob@example.com\r\nBcc: all@example.com", testPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: full-width alice", r: register(creds("ａｌｉｃｅ@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: full-width at sign", r: register(creds("alice＠example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: Cyrillic а among Latin letters", r: register(creds(cyrillicAlice, impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: Cyrillic а in the domain", r: register(creds("alice@ex\u0430mple.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: Greek ο among Latin letters", r: register(creds("b\u03bfb@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: a Cyrillic name is its own address", r: register(creds(cyrillicName, impostorPassword)), want: 201, creates: 1},
			badCase{name: "register: the Cyrillic name again", r: register(creds(cyrillicName, impostorPassword)), want: 409},
			badCase{name: "register: upper-case alice collides", r: register(creds("ALICE@example.com", impostorPassword)), want: 409},
			badCase{name: "register: zero-width space inside", r: register(creds("ali\u200bce@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: zero-width space first", r: register(creds("\u200balice@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: zero-width space in domain", r: register(creds("alice@exam\u200bple.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: zero-width joiner last", r: register(creds("alice@example.com\u200d", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: BOM first", r: register(creds("\ufeffalice@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: right-to-left override", r: register(creds("alice\u202e@example.com", impostorPassword)), want: 400, fields: []string{"email"}},
			badCase{name: "register: 300-character email", r: register(creds(long, testPassword)), want: 400, fields: []string{"email"}},
		)

		// Login: a bad email is indistinguishable from a wrong password (401);
		// only an over-long password is refused as input (400, unhashed).
		add(
			badCase{name: "login: charset=utf-8 accepted", r: req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword),
				header: withCT("application/json; charset=utf-8")}, want: 201},
			badCase{name: "login: upper-case media type accepted", r: req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword),
				header: withCT("APPLICATION/JSON")}, want: 201},
			badCase{name: "login: 4 KB password", r: login(creds("alice@example.com", password4K)), want: 400, fields: []string{"password"}},
			badCase{name: "login: 1025-byte password", r: login(creds("alice@example.com", password1025)), want: 400, fields: []string{"password"}},
			badCase{name: "login: NUL in email", r: login(creds("alice@example.com\x00", testPassword)), want: 401},
			badCase{name: "login: NUL in password", r: login(creds("alice@example.com", testPassword+"\x00")), want: 401},
			badCase{name: "login: SQL email and password", r: login(creds("' OR '1'='1", "' OR '1'='1")), want: 401},
			badCase{name: "login: SQL-suffixed alice", r: login(creds("alice@example.com'; DROP TABLE users;--", testPassword)), want: 401},
			badCase{name: "login: SQL comment after alice", r: login(creds("alice@example.com'--", testPassword)), want: 401},
			badCase{name: "login: SQL password for alice", r: login(creds("alice@example.com", sqlPassword)), want: 401},
			badCase{name: "login: full-width alice", r: login(creds("ａｌｉｃｅ@example.com", testPassword)), want: 401},
			badCase{name: "login: full-width at sign", r: login(creds("alice＠example.com", testPassword)), want: 401},
			badCase{name: "login: Cyrillic а with alice's password", r: login(creds(cyrillicAlice, testPassword)), want: 401},
			badCase{name: "login: alice with the Cyrillic account's password", r: login(creds("alice@example.com", impostorPassword)), want: 401},
			badCase{name: "login: zero-width space in alice", r: login(creds("ali\u200bce@example.com", testPassword)), want: 401},
			badCase{name: "login: zero-width space after alice", r: login(creds("alice@example.com\u200b", testPassword)), want: 401},
			badCase{name: "login: 300-character email", r: login(creds(long, testPassword)), want: 401},
		)

		// Password change, authenticated by the work cookie.
		add(
			badCase{name: "change: charset=utf-8 accepted (then a weak password)", r: req{method: "PUT", path: "/v1/user/password", cookie: work,
				body: pwChange(testPassword, "short"), header: withCT("application/json; charset=utf-8")}, want: 400, fields: []string{"new_password"}},
			badCase{name: "change: 4 KB new password", r: change(pwChange(testPassword, password4K)), want: 400, fields: []string{"new_password"}},
			badCase{name: "change: 4 KB current password", r: change(pwChange(password4K, newPassword)), want: 400, fields: []string{"current_password"}},
			badCase{name: "change: 1025-byte new password", r: change(pwChange(testPassword, password1025)), want: 400, fields: []string{"new_password"}},
			badCase{name: "change: 1025-byte current password", r: change(pwChange(password1025, newPassword)), want: 400, fields: []string{"current_password"}},
			badCase{name: "change: NUL in new password", r: change(pwChange(testPassword, passwordNUL)), want: 400, fields: []string{"new_password"}},
			badCase{name: "change: NUL in current password", r: change(pwChange(testPassword+"\x00", newPassword)), want: 401},
			badCase{name: "change: SQL current password", r: change(pwChange("' OR '1'='1", newPassword)), want: 401},
			badCase{name: "change: SQL new password, wrong current", r: change(pwChange(impostorPassword, sqlPassword)), want: 401},
			badCase{name: "change: no cookie", r: req{method: "PUT", path: "/v1/user/password", body: pwChange(testPassword, newPassword)}, want: 401},
			badCase{name: "change: forged cookie", r: req{method: "PUT", path: "/v1/user/password", body: pwChange(testPassword, newPassword), cookie: "' OR '1'='1"}, want: 401},
		)

		// GET /v1/session: the cookie is the input.
		for name, cv := range map[string]string{
			"garbage": "garbage", "SQL": "' OR '1'='1", "1000 characters": strings.Repeat("A", 1000),
			"NUL": "\x00" + work[1:], "work with a suffix": work + "%00", "non-ASCII": "ａ" + work[3:],
		} {
			add(badCase{name: "get session: " + name + " cookie", r: req{method: "GET", path: "/v1/session", cookie: cv}, want: 401})
		}
		add(
			badCase{name: "get session: no cookie", r: req{method: "GET", path: "/v1/session"}, want: 401},
			badCase{name: "get session: Basic credentials", r: req{method: "GET", path: "/v1/session",
				header: map[string]string{"Authorization": "Basic YWxpY2VAZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZQ=="}}, want: 401},
			badCase{name: "get session: bogus bearer", r: req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer ' OR '1'='1"}}, want: 401},
			badCase{name: "get session: 10 KB bearer", r: req{method: "GET", path: "/v1/session", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("e", 10<<10)}}, want: 401},
			badCase{name: "get session: access token in the query", r: req{method: "GET", path: "/v1/session?access_token=" + work, cookie: work}, want: 400},
			badCase{name: "get session: secret of alice in another cookie", r: req{method: "GET", path: "/v1/session", header: map[string]string{"Cookie": "authd_session=" + work}}, want: 401},
		)

		// DELETE /v1/sessions/{id}: the path is the input.
		for name, id := range map[string]string{
			"encoded traversal": "..%2F..%2Fetc", "encoded slash": "x%2Fy", "1000 characters": strings.Repeat("a", 1000),
			"65 characters": strings.Repeat("A", 65), "NUL": "%00", "SQL": "'%20OR%20'1'%3D'1",
			"SQL drop": "x'%3B%20DROP%20TABLE%20sessions%3B--", "zero-width space": "%E2%80%8B", "star": "*",
			"percent": "%25", "well-formed unknown": strings.Repeat("A", 26), "encoded own id with a NUL": victimID + "%00",
			"lower-case victim id": strings.ToLower(victimID),
		} {
			add(badCase{name: "revoke: " + name, r: req{method: "DELETE", path: "/v1/sessions/" + id, cookie: work}, want: 404})
		}
		add(
			badCase{name: "revoke: no cookie", r: req{method: "DELETE", path: "/v1/sessions/" + victimID}, want: 401},
			badCase{name: "revoke: foreign Origin", r: req{method: "DELETE", path: "/v1/sessions/" + victimID, cookie: work,
				header: map[string]string{"Origin": "https://evil.example"}}, want: 403},
			badCase{name: "revoke: cross-site", r: req{method: "DELETE", path: "/v1/sessions/" + victimID, cookie: work,
				header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, want: 403},
			badCase{name: "revoke all: cross-site", r: req{method: "DELETE", path: "/v1/sessions", cookie: work,
				header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, want: 403},
			badCase{name: "logout: cross-site", r: req{method: "DELETE", path: "/v1/session", cookie: victim,
				header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, want: 403},
		)

		// Methods and unknown paths.
		add(
			badCase{name: "PATCH /v1/session", r: req{method: "PATCH", path: "/v1/session", body: creds("alice@example.com", testPassword)}, want: 405},
			badCase{name: "PUT /v1/session", r: req{method: "PUT", path: "/v1/session", cookie: work}, want: 405},
			badCase{name: "PUT /v1/users", r: req{method: "PUT", path: "/v1/users", body: creds("put@example.com", testPassword)}, want: 405},
			badCase{name: "GET /v1/users", r: req{method: "GET", path: "/v1/users"}, want: 405},
			badCase{name: "POST /v1/user/password", r: req{method: "POST", path: "/v1/user/password", cookie: work, body: pwChange(testPassword, newPassword)}, want: 405},
			badCase{name: "GET /v1/sessions/{id}", r: req{method: "GET", path: "/v1/sessions/" + victimID, cookie: work}, want: 405},
			badCase{name: "TRACE /v1/session", r: req{method: "TRACE", path: "/v1/session"}, want: 405},
			badCase{name: "PATCH on an unknown path", r: req{method: "PATCH", path: "/v1/nope"}, want: 404},
			badCase{name: "unknown API version", r: req{method: "POST", path: "/v2/session", body: creds("alice@example.com", testPassword)}, want: 404},
		)

		created := 0
		for _, tc := range cases {
			if !t.Run(tc.name, func(t *testing.T) {
				checkResponse(t, h.do(tc.r), tc.want, tc.fields)
			}) {
				continue
			}
			created += tc.creates
		}

		// A 10 MB body is refused without being read: by its Content-Length,
		// or, when the length is unknown, after at most the 64 KiB limit.
		for _, e := range endpoints {
			for _, declared := range []bool{true, false} {
				name := e.name + ": 10 MB body, length declared"
				if !declared {
					name = e.name + ": 10 MB body, length unknown"
				}
				t.Run(name, func(t *testing.T) {
					const size = 10 << 20
					body := &countingReader{prefix: `{"` + e.f1 + `":"` + password4K + `","` + e.f2 + `":"`, size: size}
					r := e.mk("")
					hr := buildRequest(ctx, r, body)
					hr.ContentLength = -1
					if declared {
						hr.ContentLength = size
					}
					rec := httptest.NewRecorder()
					h.srv.ServeHTTP(rec, hr)
					checkResponse(t, rec.Result(), http.StatusRequestEntityTooLarge, nil)
					if limit := int64(64<<10 + 1); body.read > limit || declared && body.read != 0 {
						t.Errorf("read %d bytes of a 10 MB body (declared length: %v)", body.read, declared)
					}
				})
			}
		}

		// Over-long passwords are refused before any hashing. Probe: the
		// request's context is already cancelled, so a handler that reached
		// the hasher would give up without an answer (see writeError); a 400
		// proves it never got there. The control shows the probe bites.
		t.Run("over-long passwords are never hashed", func(t *testing.T) {
			h.do(req{method: "GET", path: "/v1/session", cookie: work}) // the session is now cached: no store read
			cancelled, cancel := context.WithCancel(ctx)
			cancel()
			try := func(r req) *http.Response {
				rec := httptest.NewRecorder()
				h.srv.ServeHTTP(rec, buildRequest(cancelled, r, strings.NewReader(r.body)))
				return rec.Result()
			}
			for _, tc := range []badCase{
				{name: "register 4 KB", r: register(creds("hash@example.com", password4K)), fields: []string{"password"}},
				{name: "register 1025", r: register(creds("hash@example.com", password1025)), fields: []string{"password"}},
				{name: "login 4 KB", r: login(creds("alice@example.com", password4K)), fields: []string{"password"}},
				{name: "login 1025", r: login(creds("alice@example.com", password1025)), fields: []string{"password"}},
				{name: "login unknown user 4 KB", r: login(creds("nobody@example.com", password4K)), fields: []string{"password"}},
				{name: "change current 4 KB", r: change(pwChange(password4K, newPassword)), fields: []string{"current_password"}},
				{name: "change new 4 KB", r: change(pwChange(testPassword, password4K)), fields: []string{"new_password"}},
				{name: "change current 1025", r: change(pwChange(password1025, newPassword)), fields: []string{"current_password"}},
			} {
				t.Run(tc.name, func(t *testing.T) { checkResponse(t, try(tc.r), 400, tc.fields) })
			}
			for name, r := range map[string]req{
				"register": register(creds("hash@example.com", testPassword)),
				"login":    login(creds("not-an-email", testPassword)),
			} {
				if resp := try(r); resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusCreated {
					t.Errorf("control %s: status %d; the cancelled-context probe does not detect hashing", name, resp.StatusCode)
				}
			}
		})

		// Nothing the table did changed alice or her sessions.
		wantStatus(t, "alice's untouched session", h.do(req{method: "GET", path: "/v1/session", cookie: keep}), http.StatusOK)
		wantStatus(t, "the table's own session", h.do(req{method: "GET", path: "/v1/session", cookie: work}), http.StatusOK)
		wantStatus(t, "the session forged requests tried to end", h.do(req{method: "GET", path: "/v1/session", cookie: victim}), http.StatusOK)
		resp := h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword)})
		wantStatus(t, "alice logs in with her password", resp, http.StatusCreated)
		if got := decode[sessionResp](t, resp).User; got.ID != aliceID || got.Email != "alice@example.com" {
			t.Errorf("alice's login = %+v, want %s", got, aliceID)
		}
		wantStatus(t, "new password was never set", h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", newPassword)}), http.StatusUnauthorized)

		// The Cyrillic account is its own, never alice's.
		resp = h.do(req{method: "POST", path: "/v1/session", body: creds(cyrillicName, impostorPassword)})
		wantStatus(t, "the Cyrillic account logs in to itself", resp, http.StatusCreated)
		if got := decode[sessionResp](t, resp).User; got.ID == aliceID || got.Email != cyrillicName {
			t.Errorf("Cyrillic account's login = %+v; alice is %s", got, aliceID)
		}
		// The successes are real accounts with the passwords they were given.
		h.login("charset@example.com")
		wantStatus(t, "SQL password logs in", h.do(req{method: "POST", path: "/v1/session", body: creds("bobby.tables@example.com", sqlPassword)}), http.StatusCreated)
		wantStatus(t, "1024-byte password logs in", h.do(req{method: "POST", path: "/v1/session", body: creds("long@example.com", password1024)}), http.StatusCreated)

		users, err := h.users.List(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		var emails []string
		for _, u := range users {
			emails = append(emails, u.Email)
		}
		slices.Sort(emails)
		want := []string{"alice@example.com", "bobby.tables@example.com", "charset@example.com", "long@example.com", cyrillicName}
		if len(users) != 1+created || !slices.Equal(emails, want) {
			t.Errorf("users = %q (%d), want %q (1 + %d created by the table)", emails, len(users), want, created)
		}
	})
}

// TestThrottledIsProblem: a throttled login or password change is a 429
// problem with Retry-After, like every other refusal.
func TestThrottledIsProblem(t *testing.T) {
	h := newHarness(t, options{})
	h.register("alice@example.com")
	s := h.login("alice@example.com")
	for range 6 {
		wantStatus(t, "failure", h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", "not the password")}), http.StatusUnauthorized)
	}
	resp := h.do(req{method: "POST", path: "/v1/session", body: creds("alice@example.com", testPassword)})
	checkResponse(t, resp, http.StatusTooManyRequests, nil)
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1", ra)
	}

	// The password change counts in the login's account bucket, from
	// another IP too. (A successful login first resets the bucket.)
	h.clock.Advance(time.Second)
	h.login("alice@example.com")
	for range 6 {
		wantStatus(t, "wrong current password", h.do(req{method: "PUT", path: "/v1/user/password", cookie: s, remote: "198.51.100.7:1",
			body: js(map[string]string{"current_password": "not the password", "new_password": newPassword})}), http.StatusUnauthorized)
	}
	resp = h.do(req{method: "PUT", path: "/v1/user/password", cookie: s, remote: "198.51.100.7:1",
		body: js(map[string]string{"current_password": testPassword, "new_password": newPassword})})
	checkResponse(t, resp, http.StatusTooManyRequests, nil)
}
