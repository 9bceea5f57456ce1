package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
)

// fuzzBody is a request body like the API's, with a field of each JSON
// kind the endpoints take; fuzzProbe has the same names and records the
// raw value a member binds to.
type fuzzBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Remember bool   `json:"remember"`
	Tries    int    `json:"tries"`
}

type fuzzProbe struct {
	Email    json.RawMessage `json:"email"`
	Password json.RawMessage `json:"password"`
	Remember json.RawMessage `json:"remember"`
	Tries    json.RawMessage `json:"tries"`
}

// bindings returns, for each top-level member of a JSON object, the field
// encoding/json binds it to (alone, so its own matching rules decide), or
// false when body is not an object or a member binds to no field.
func bindings(body []byte) ([]string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var fields []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, false
		}
		one, _ := json.Marshal(map[string]json.RawMessage{t.(string): v})
		var p fuzzProbe
		d := json.NewDecoder(bytes.NewReader(one))
		d.DisallowUnknownFields()
		if d.Decode(&p) != nil {
			return nil, false
		}
		switch {
		case p.Email != nil:
			fields = append(fields, "email")
		case p.Password != nil:
			fields = append(fields, "password")
		case p.Remember != nil:
			fields = append(fields, "remember")
		case p.Tries != nil:
			fields = append(fields, "tries")
		default:
			return nil, false
		}
	}
	return fields, true
}

// FuzzDecodeJSON sends arbitrary bytes, under an arbitrary Content-Type,
// with or without a length, to decodeJSON. It never panics and never
// answers 5xx: 415, 413 or 400 with a problem document, or success. It
// succeeds exactly when the strict rules hold, judged independently: an
// application/json body of at most 64 KiB, valid UTF-8, one JSON object (or
// null, taken as {}) and nothing after it, every member naming a known field, no field named
// twice (in any case), every value of its field's type. On success dst
// holds what encoding/json makes of the body.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []struct {
		ct, body string
	}{
		{"application/json", `{"email":"a@example.com","password":"pw","remember":true,"tries":3}`},
		{"application/json; charset=utf-8", `{"email":"a@example.com"}`},
		{"application/json", `{"email":"a@example.com","EMAIL":"b@example.com"}`},
		{"application/json", `{"email":"a","\u0065mail":"b"}`},
		{"application/json", `{"e\u006dail":"a"}`},
		{"application/json", `{"emaıl":"a"}`}, // dotless ı: not a case of i
		{"application/json", `{"admin":true}`},
		{"application/json", `{"email":"a"} {"email":"b"}`},
		{"application/json", `{"email":"a"}]`},
		{"application/json", `{"email":"a\xffb"}`},
		{"application/json", `{"email":"a\u0000b"}`},
		{"application/json", `{"tries":"3"}`},
		{"application/json", `{"tries":1e400}`},
		{"application/json", `[{"email":"a"}]`},
		{"application/json", `null`},
		{"application/json", strings.Repeat("[", 20000)},
		{"application/json", `{"password":"` + strings.Repeat("x", maxBody) + `"}`},
		{"text/plain", `{"email":"a"}`},
		{"application/json;;", `{}`},
		{"", `{}`},
	} {
		f.Add(s.ct, []byte(s.body), false)
		f.Add(s.ct, []byte(s.body), true)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, chunked bool) {
		var got fuzzBody
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if decodeJSON(w, r, &got) {
				w.WriteHeader(http.StatusNoContent)
			}
		})
		r := httptest.NewRequest("POST", "http://authd.test/v1/session", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		if chunked {
			r.ContentLength = -1
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		mt, _, mtErr := mime.ParseMediaType(ct)
		isJSON := mtErr == nil && mt == "application/json"
		// A JSON null decodes as an empty object, by design: the endpoint
		// then names its missing fields (TestBadInput).
		fields, bound := bindings(body)
		if string(bytes.Trim(body, " \t\r\n")) == "null" {
			bound = true
		}
		var want fuzzBody
		strict := isJSON && len(body) <= maxBody && utf8.Valid(body) && json.Valid(body) && bound &&
			!hasDuplicate(fields) && json.Unmarshal(body, &want) == nil

		switch rec.Code {
		case http.StatusNoContent:
			if !strict {
				t.Fatalf("decodeJSON(%q, %q) accepted a body the strict rules refuse", ct, body)
			}
			if got != want {
				t.Fatalf("decodeJSON(%q) = %+v, encoding/json says %+v", body, got, want)
			}
			return
		case http.StatusUnsupportedMediaType:
			if isJSON {
				t.Fatalf("decodeJSON: 415 for Content-Type %q", ct)
			}
		case http.StatusRequestEntityTooLarge:
			if len(body) <= maxBody {
				t.Fatalf("decodeJSON: 413 for %d bytes", len(body))
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("decodeJSON(%q, %q) answered %d", ct, body, rec.Code)
		}
		if strict {
			t.Fatalf("decodeJSON(%q, %q) refused (%d) a body the strict rules accept: %s", ct, body, rec.Code, rec.Body)
		}
		if rec.Header().Get("Content-Type") != "application/problem+json" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("decodeJSON: %d without a problem document: %q", rec.Code, rec.Body)
		}
	})
}

func hasDuplicate(fields []string) bool {
	s := slices.Clone(fields)
	slices.Sort(s)
	return len(slices.Compact(s)) != len(fields)
}

// sameOriginPath reports whether a browser resolving s against an authd
// page stays on authd's origin, following the WHATWG URL parser: it drops
// leading and trailing C0 controls and spaces and every tab, CR and LF,
// reads '\' as '/' (http and https are special schemes), and takes "//"
// as the start of another host. Only a path-absolute reference qualifies.
func sameOriginPath(s string) bool {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, `\`, "/")
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
}

// pathOnly is safeReturnTo's contract on one form of the value: one leading
// '/', no "//" or "/\" (no '\' at all), no control character.
func pathOnly(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.Contains(s, `\`) &&
		!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || unicode.IsControl(r) })
}

// FuzzReturnTo is the return_to parameter and the X-Forwarded-Uri header
// through safeReturnTo. A value it keeps is the value given, a same-origin
// path both as given and once percent-decoded (pathOnly), with no scheme
// or host, that a browser resolves on authd's origin: as the Location of
// the redirect after sign-in (http.Redirect, which cleans the path) and as
// the return_to of the login URL, which carries it back unchanged.
func FuzzReturnTo(f *testing.F) {
	for _, s := range []string{
		"/account", "/account?tab=sessions#top", "/a/../b", "//evil.example", "/\\evil.example",
		"/%2F/evil.example", "/%5Cevil.example", "/%2f%2fevil.example", "/%252F%252Fevil.example",
		"https://evil.example/", "javascript:alert(1)", "/\t/evil.example", " /account", "/\x00",
		"/%00", "/%0a/evil.example", "/\u0085", "/%c2%85", "/\xff", "/%ff", "/%zz", "/a@evil.example",
		"/..//evil.example", "/.//evil.example", "/?//evil.example", "/#//evil.example", "/" + strings.Repeat("a", 4096),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := safeReturnTo(raw)
		if got == "" {
			return
		}
		if got != raw || len(got) > 4096 {
			t.Fatalf("safeReturnTo(%q) = %q, want the value itself or \"\"", raw, got)
		}
		dec, err := url.PathUnescape(got)
		if err != nil || !pathOnly(got) || !pathOnly(dec) || !sameOriginPath(got) || !sameOriginPath(dec) {
			t.Fatalf("safeReturnTo kept %q (decoded %q): not a same-origin path", got, dec)
		}
		if u, err := url.Parse(got); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			t.Fatalf("safeReturnTo kept %q: a scheme, host or user (%v)", got, err)
		}
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest("POST", "http://authd.test/login", nil), got, http.StatusSeeOther)
		if loc := rec.Header().Get("Location"); !sameOriginPath(loc) {
			t.Fatalf("safeReturnTo kept %q; redirected to it, a browser goes to %q", got, loc)
		}
		login := loginURL(got)
		u, err := url.Parse(login)
		if err != nil || u.Path != "/login" || u.Query().Get("return_to") != got || !sameOriginPath(login) {
			t.Fatalf("loginURL(%q) = %q: does not carry it back", got, login)
		}
	})
}

// fuzzTrusted are the proxies FuzzClientIP believes.
var fuzzTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("fe80::/10"),
}

// FuzzClientIP is the peer address and two X-Forwarded-For lines through
// clientIP. For any socket address the answer is a valid IP address in
// canonical form (no zone, no IPv4-mapped form); an untrusted peer's
// header is never believed; behind a trusted peer the answer is the peer
// or a header entry with only parseable trusted proxies to its right.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][3]string{
		{"203.0.113.9:5000", "1.2.3.4", ""},
		{"10.1.1.1:80", "6.6.6.6, 198.51.100.7", "10.2.2.2"},
		{"10.1.1.1:80", "<script>", ""},
		{"10.1.1.1:80", "198.51.100.7,,10.3.3.3", ""},
		{"[::1]:80", "2001:db8::1%eth0", ""},
		{"[::1]:80", "::ffff:10.0.0.1, ::ffff:203.0.113.5", ""},
		{"[fe80::1%eth0]:80", "198.51.100.7", ""},
		{"[::ffff:10.0.0.1]:1", " 198.51.100.7 ", "\x00"},
		{"10.1.1.1:80", "1.2.3.4%x", ""},
		{"garbage", "1.2.3.4", ""},
		{"", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		var entries []string
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
				entries = append(entries, strings.Split(v, ",")...)
			}
		}
		got := clientIP(r, fuzzTrusted)
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		peer, err := netip.ParseAddr(host)
		if err != nil {
			return // no socket address: net/http never sets one
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != got {
			t.Fatalf("clientIP(%q, %q) = %q: not a canonical address", remote, entries, got)
		}
		peer = peer.Unmap().WithZone("")
		if !isTrusted(peer, fuzzTrusted) {
			if got != peer.String() {
				t.Fatalf("clientIP(%q, %q) = %q: an untrusted peer's header was believed", remote, entries, got)
			}
			return
		}
		if got == peer.String() {
			return
		}
		for k := len(entries) - 1; k >= 0; k-- {
			e, err := netip.ParseAddr(strings.TrimSpace(entries[k]))
			if err != nil {
				break
			}
			e = e.Unmap().WithZone("")
			if e == a {
				return
			}
			if !isTrusted(e, fuzzTrusted) {
				break
			}
		}
		t.Fatalf("clientIP(%q, %q) = %q: not the peer, nor an entry vouched for by trusted proxies", remote, entries, got)
	})
}

// validHeader reports whether v could arrive as a header value (net/http
// refuses control characters other than tab).
func validHeader(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f })
}

// FuzzAuthCheck is GET /v1/auth/check through the whole server, with an
// arbitrary query, X-Forwarded-Uri, Accept, Cookie and Authorization, on a
// store where no session exists. It never answers 200 or 5xx; its 302 goes
// to the login page of this origin, with a return_to that safeReturnTo
// kept from X-Forwarded-Uri (or none).
func FuzzAuthCheck(f *testing.F) {
	st := memstore.New()
	sessions := session.NewManager(st, session.Config{})
	ring, err := jwks.NewRing(context.Background(), jwks.RingConfig{Store: st, KEK: jwks.NewKEK()})
	if err != nil {
		f.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(Config{
		Users: user.NewService(user.Config{Store: st, Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}, 1),
			Sessions: sessions, Logger: quiet}),
		Sessions: sessions, Store: st, Logger: quiet,
		Verifier: token.NewVerifier(token.VerifierConfig{Keys: ring, Issuer: "http://authd.test", Audience: "authd"}),
	})
	for _, s := range [][5]string{
		{"redirect=login", "/app?x=1", "text/html", "", ""},
		{"redirect=login", "//evil.example/", "text/html", "", ""},
		{"redirect=login", "/%2F%2Fevil.example", "text/html,application/xhtml+xml", DefaultCookieName + "=" + strings.Repeat("A", 43), ""},
		{"redirect=login&redirect=login", "/app", "text/html", "", ""},
		{"redirect=LOGIN", "/app", "text/html", "", ""},
		{"redirect=login;x", "/app", "text/html", "", ""},
		{"access_token=abc", "", "", "", ""},
		{"%zz", "/app", "text/html", "", ""},
		{"redirect=login", "/app", "text/html", "", "Bearer eyJhbGciOiJub25lIn0.e30."},
		{"", "", "", DefaultCookieName + "=\"" + strings.Repeat("A", 43) + "\"", "Basic Zm9vOmJhcg=="},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, query, xfu, accept, cookie, authz string) {
		if !validHeader(xfu) || !validHeader(accept) || !validHeader(cookie) || !validHeader(authz) {
			return
		}
		r := httptest.NewRequest("GET", "http://authd.test/v1/auth/check", nil)
		r.URL.RawQuery = query
		for k, v := range map[string]string{"X-Forwarded-Uri": xfu, "Accept": accept, "Cookie": cookie, "Authorization": authz} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusUnauthorized:
		case http.StatusFound:
			loc := rec.Header().Get("Location")
			u, err := url.Parse(loc)
			if err != nil || u.Path != "/login" || !sameOriginPath(loc) {
				t.Fatalf("auth check redirected to %q", loc)
			}
			rt := u.Query().Get("return_to")
			if rt != safeReturnTo(xfu) || (rt != "" && !sameOriginPath(rt)) {
				t.Fatalf("auth check with X-Forwarded-Uri %q redirected to %q", xfu, loc)
			}
		default:
			t.Fatalf("auth check (query %q, Cookie %q, Authorization %q) answered %d: %s", query, cookie, authz, rec.Code, rec.Body)
		}
	})
}
