package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

// The tests in this file keep docs/openapi.json honest: every route is
// documented and nothing else, every status a request can produce is
// listed, every $ref resolves, and the bodies the handlers really send fit
// the documented schemas.

const openAPIPath = "../../docs/openapi.json"

func oaLoad(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not valid JSON: %v", openAPIPath, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", v)
	}
	return doc
}

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// oaOps returns the "METHOD /path" of every operation.
func oaOps(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("the document has no paths object")
	}
	ops := map[string]map[string]any{}
	for p, item := range paths {
		m, ok := item.(map[string]any)
		if !ok {
			t.Errorf("path %s is not an object", p)
			continue
		}
		for _, meth := range oaMethods {
			if op, ok := m[meth].(map[string]any); ok {
				ops[strings.ToUpper(meth)+" "+p] = op
			}
		}
	}
	return ops
}

func TestOpenAPIRoutesMatchServer(t *testing.T) {
	doc := oaLoad(t)
	ops := oaOps(t, doc)
	routes := map[string]bool{}
	// The harness's server has token mode on: every route is registered.
	for _, r := range newHarness(t, options{}).srv.Routes() {
		// OpenAPI has no multi-segment wildcard: ServeMux's {name...} is
		// documented as {name}.
		r = strings.ReplaceAll(r, "...}", "}")
		if routes[r] {
			t.Errorf("Routes() lists %q twice", r)
		}
		routes[r] = true
	}
	var missing, extra []string
	for r := range routes {
		if ops[r] == nil {
			missing = append(missing, r)
		}
	}
	for op := range ops {
		if !routes[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("route %q is not documented in %s", r, openAPIPath)
	}
	for _, op := range extra {
		t.Errorf("%s documents %q, which the server does not register", openAPIPath, op)
	}
}

// oaPointer resolves a local JSON oaPointer ("#/components/schemas/User").
func oaPointer(doc map[string]any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("%q is not a local reference", ref)
	}
	var cur any = doc
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%q: %q is not inside an object", ref, tok)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("%q: no %q", ref, tok)
		}
	}
	return cur, nil
}

// oaDeref follows $ref chains.
func oaDeref(t *testing.T, doc map[string]any, node any) any {
	t.Helper()
	for range 16 {
		m, ok := node.(map[string]any)
		if !ok {
			return node
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return node
		}
		next, err := oaPointer(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		node = next
	}
	t.Fatal("$ref chain too long (a cycle?)")
	return nil
}

// oaWalk calls f on every object in the tree with its location.
func oaWalk(node any, loc string, f func(loc string, m map[string]any)) {
	switch v := node.(type) {
	case map[string]any:
		f(loc, v)
		for k, c := range v {
			oaWalk(c, loc+"/"+k, f)
		}
	case []any:
		for i, c := range v {
			oaWalk(c, fmt.Sprintf("%s/%d", loc, i), f)
		}
	}
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := oaLoad(t)
	n := 0
	oaWalk(doc, "#", func(loc string, m map[string]any) {
		ref, ok := m["$ref"]
		if !ok {
			return
		}
		n++
		s, ok := ref.(string)
		if !ok {
			t.Errorf("%s: $ref is not a string", loc)
			return
		}
		if _, err := oaPointer(doc, s); err != nil {
			t.Errorf("%s: %v", loc, err)
		}
	})
	if n == 0 {
		t.Error("no $ref found; the walk is broken")
	}
	for _, name := range []string{"User", "Session", "SessionResponse", "SessionListItem", "Problem", "FieldError",
		"TokenResponse", "OAuthError", "Introspection", "JWKS", "Metadata", "UserInfo", "AuthorizationRequest",
		"AuthorizationResponse", "EndSessionRequest"} {
		if _, err := oaPointer(doc, "#/components/schemas/"+name); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	for name, want := range map[string][2]string{
		"cookieAuth": {"apiKey", ""}, "bearerAuth": {"http", "bearer"}, "basicAuth": {"http", "basic"}} {
		v, err := oaPointer(doc, "#/components/securitySchemes/"+name)
		if err != nil {
			t.Errorf("security scheme %s: %v", name, err)
			continue
		}
		m := v.(map[string]any)
		if m["type"] != want[0] || (want[1] != "" && m["scheme"] != want[1]) {
			t.Errorf("security scheme %s = %v, want type %s scheme %q", name, m, want[0], want[1])
		}
		if name == "cookieAuth" && (m["in"] != "cookie" || m["name"] != server.DefaultCookieName) {
			t.Errorf("cookieAuth = %v, want the %s cookie", m, server.DefaultCookieName)
		}
	}
	// Every security requirement names a declared scheme.
	for key, op := range oaOps(t, doc) {
		sec, _ := op["security"].([]any)
		for _, r := range sec {
			for name := range r.(map[string]any) {
				if _, err := oaPointer(doc, "#/components/securitySchemes/"+name); err != nil {
					t.Errorf("%s: security %s: %v", key, name, err)
				}
			}
		}
	}
}

func TestOpenAPIRequiredPropertiesExist(t *testing.T) {
	doc := oaLoad(t)
	n := 0
	oaWalk(doc, "#", func(loc string, m map[string]any) {
		req, ok := m["required"].([]any)
		if !ok {
			return // also skips the boolean "required" of parameters and bodies
		}
		n++
		props, _ := m["properties"].(map[string]any)
		for _, r := range req {
			name, _ := r.(string)
			if _, ok := props[name]; !ok {
				t.Errorf("%s: required property %q is not in properties", loc, r)
			}
		}
	})
	if n == 0 {
		t.Error("no schema with required properties found; the walk is broken")
	}
}

// oaChecker compares real responses with the document.
type oaChecker struct {
	t      *testing.T
	doc    map[string]any
	ops    map[string]map[string]any
	probed map[string]bool
}

// oaHeadersChecked are response headers that, when a response carries them,
// the document must list for that operation and status.
var oaHeadersChecked = []string{"Cache-Control", "Pragma", "Retry-After", "WWW-Authenticate", "Set-Cookie", "Access-Control-Allow-Origin",
	"Allow", "X-Authd-User", "X-Authd-Session", "X-Authd-Scope", "X-Authd-Kind", "X-Accel-Buffering", "Location", "X-Frame-Options"}

// check asserts that resp (a response of operation key) has a documented
// status, content type and headers, and a body that fits the documented
// schema. want, if not 0, is the status the probe expects. It returns the
// decoded JSON body (nil when there is none).
func (c *oaChecker) check(key string, resp *http.Response, want int) map[string]any {
	c.t.Helper()
	m, _ := c.checkRaw(key, resp, want)
	return m
}

// checkRaw is check that also returns the raw body.
func (c *oaChecker) checkRaw(key string, resp *http.Response, want int) (map[string]any, []byte) {
	t := c.t
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	where := fmt.Sprintf("%s → %d", key, resp.StatusCode)
	if want != 0 && resp.StatusCode != want {
		t.Errorf("%s: want status %d; body %s", where, want, raw)
	}
	op := c.ops[key]
	if op == nil {
		t.Fatalf("%s: operation not documented", key)
	}
	c.probed[key] = true
	rs, _ := op["responses"].(map[string]any)
	r, ok := rs[fmt.Sprint(resp.StatusCode)]
	if !ok {
		t.Errorf("%s: status not documented (documented: %v); body %s", where, slices.Sorted(oaKeys(rs)), raw)
		return nil, raw
	}
	doc := oaDeref(t, c.doc, r).(map[string]any)

	hdrs, _ := doc["headers"].(map[string]any)
	for _, h := range oaHeadersChecked {
		if resp.Header.Get(h) == "" {
			continue
		}
		found := false
		for k := range hdrs {
			if strings.EqualFold(k, h) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: response has header %s: %q, which is not documented", where, h, resp.Header.Get(h))
		}
	}
	c.checkLocation(where, resp, hdrs)

	content, _ := doc["content"].(map[string]any)
	if len(raw) == 0 {
		if len(content) > 0 {
			t.Errorf("%s: empty body, but the document lists content %v", where, slices.Sorted(oaKeys(content)))
		}
		return nil, raw
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", where, resp.Header.Get("Content-Type"), err)
		return nil, raw
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Errorf("%s: content type %s is not documented (documented: %v)", where, mt, slices.Sorted(oaKeys(content)))
		return nil, raw
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil, raw // text/event-stream: the events are checked by the caller
	}
	var body any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", where, err, raw)
		return nil, raw
	}
	for _, e := range oaValidate(t, c.doc, media["schema"], body, "body") {
		t.Errorf("%s: %s; body %s", where, e, raw)
	}
	m, _ := body.(map[string]any)
	return m, raw
}

// checkLocation checks a redirect's target against its documentation: a
// Location header object may carry x-query, the schema of the query
// parameters authd puts into the URL (code, state, iss…). Each parameter
// must appear once; the query, as an object of strings, must fit the
// schema as strictly as a JSON body.
func (c *oaChecker) checkLocation(where string, resp *http.Response, hdrs map[string]any) {
	t := c.t
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return
	}
	for k, h := range hdrs {
		if !strings.EqualFold(k, "Location") {
			continue
		}
		hm, _ := oaDeref(t, c.doc, h).(map[string]any)
		schema, ok := hm["x-query"]
		if !ok {
			return
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Errorf("%s: Location %q: %v", where, loc, err)
			return
		}
		q := map[string]any{}
		for name, vs := range u.Query() {
			if len(vs) != 1 {
				t.Errorf("%s: Location %q has %s %d times", where, loc, name, len(vs))
			}
			q[name] = vs[0]
		}
		for _, e := range oaValidate(t, c.doc, schema, q, "Location query") {
			t.Errorf("%s: %s; Location %s", where, e, loc)
		}
	}
}

func oaKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// oaValidate checks v against the subset of JSON Schema the document uses.
// Objects are checked strictly: every key of v must be a documented
// property, and every required property must be present.
func oaValidate(t *testing.T, doc map[string]any, schema, v any, loc string) []string {
	t.Helper()
	s, ok := oaDeref(t, doc, schema).(map[string]any)
	if !ok {
		return []string{loc + ": no schema"}
	}
	if alts, ok := s["oneOf"].([]any); ok {
		var all []string
		matched := 0
		for i, a := range alts {
			errs := oaValidate(t, doc, a, v, loc)
			if len(errs) == 0 {
				matched++
			}
			all = append(all, fmt.Sprintf("(oneOf %d) %s", i, strings.Join(errs, "; ")))
		}
		if matched != 1 {
			return []string{fmt.Sprintf("%s: matches %d of the oneOf schemas: %s", loc, matched, strings.Join(all, " | "))}
		}
		return nil
	}
	var errs []string
	if want, ok := s["const"]; ok && !reflect.DeepEqual(want, v) {
		errs = append(errs, fmt.Sprintf("%s = %v, want const %v", loc, v, want))
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		errs = append(errs, fmt.Sprintf("%s = %v, not in enum %v", loc, v, enum))
	}
	if typ, ok := s["type"]; ok {
		var types []any
		switch ty := typ.(type) {
		case string:
			types = []any{ty}
		case []any:
			types = ty
		}
		if !slices.ContainsFunc(types, func(ty any) bool { return oaTypeIs(ty.(string), v) }) {
			errs = append(errs, fmt.Sprintf("%s = %v, want type %v", loc, v, typ))
			return errs
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for k, val := range v {
			ps, ok := props[k]
			if !ok {
				errs = append(errs, fmt.Sprintf("%s: key %q is not a documented property", loc, k))
				continue
			}
			errs = append(errs, oaValidate(t, doc, ps, val, loc+"."+k)...)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := v[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %q is missing", loc, r))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, oaValidate(t, doc, items, e, fmt.Sprintf("%s[%d]", loc, i))...)
			}
		}
	}
	return errs
}

func oaTypeIs(ty string, v any) bool {
	switch ty {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return false
}

// oaOutage makes a store fail on demand, for the 503 answers.
type oaOutage struct {
	backend
	down atomic.Bool
}

var errOAStoreDown = errors.New("store down (test)")

func (o *oaOutage) Ping(ctx context.Context) error {
	if o.down.Load() {
		return errOAStoreDown
	}
	return o.backend.Ping(ctx)
}

func (o *oaOutage) CreateUser(ctx context.Context, u *user.User) error {
	if o.down.Load() {
		return errOAStoreDown
	}
	return o.backend.CreateUser(ctx, u)
}

func (o *oaOutage) UserByEmail(ctx context.Context, email string) (*user.User, error) {
	if o.down.Load() {
		return nil, errOAStoreDown
	}
	return o.backend.UserByEmail(ctx, email)
}

func (o *oaOutage) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if o.down.Load() {
		return nil, errOAStoreDown
	}
	return o.backend.ClientByID(ctx, id)
}

func (o *oaOutage) ListSessions(ctx context.Context, userID string, now time.Time) ([]*session.Session, error) {
	if o.down.Load() {
		return nil, errOAStoreDown
	}
	return o.backend.ListSessions(ctx, userID, now)
}

func oaForm(v url.Values) (string, map[string]string) {
	return v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

func oaBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

func oaWithHeader(hs map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range hs {
		out[hk] = hv
	}
	return out
}

// TestOpenAPIResponsesMatchServer fires requests at every documented
// operation and checks each answer against the document: its status must
// be listed for the operation, its content type and notable headers
// documented, and its JSON body must fit the schema exactly (no
// undocumented keys, no missing required ones).
func TestOpenAPIResponsesMatchServer(t *testing.T) {
	doc := oaLoad(t)
	c := &oaChecker{t: t, doc: doc, ops: oaOps(t, doc), probed: map[string]bool{}}
	var store *oaOutage
	h := newHarness(t, options{storeWrap: func(b backend) backend { store = &oaOutage{backend: b}; return store }})
	ctx := context.Background()
	const email = "openapi@example.com"
	creds := `{"email":"` + email + `","password":"` + testPassword + `"}`
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}

	// Registration.
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: creds}), http.StatusCreated)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: creds}), http.StatusConflict)
	if p := c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: `{}`}), http.StatusBadRequest); p["errors"] == nil {
		t.Errorf("invalid-input problem without errors: %v", p)
	}
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: `{"email":1}`}), http.StatusBadRequest)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: `{"emial":"x"}`}), http.StatusBadRequest)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: creds + ` {}`}), http.StatusBadRequest)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: `{"email":"a@example.com","EMAIL":"b@example.com","password":"` + testPassword + `"}`}), http.StatusBadRequest)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: "{\"email\":\"\xff@example.com\",\"password\":\"" + testPassword + "\"}"}), http.StatusBadRequest)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: creds,
		header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users",
		body: `{"email":"` + strings.Repeat("a", 70<<10) + `"}`}), http.StatusRequestEntityTooLarge)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: creds, header: crossSite}), http.StatusForbidden)
	closed := newHarness(t, options{registrationClosed: true})
	c.check("POST /v1/users", closed.do(req{method: "POST", path: "/v1/users", body: creds}), http.StatusForbidden)

	// Cookie login and the authenticated reads.
	resp := h.do(req{method: "POST", path: "/v1/session", body: creds, header: map[string]string{"User-Agent": "openapi-test"}})
	ck := sessionCookie(resp)
	c.check("POST /v1/session", resp, http.StatusCreated)
	if ck == nil {
		t.Fatal("login set no cookie")
	}
	secret := ck.Value
	other := h.login(email) // a second cookie session, to revoke later
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session",
		body: `{"email":"` + email + `","password":"wrong password, sorry"}`}), http.StatusUnauthorized)
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session", body: `{"email":""}`}), http.StatusBadRequest)
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session", body: creds,
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}), http.StatusUnsupportedMediaType)
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session",
		body: `{"email":"` + strings.Repeat("a", 70<<10) + `"}`}), http.StatusRequestEntityTooLarge)
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session", body: creds, header: crossSite}), http.StatusForbidden)

	for _, key := range []string{"GET /v1/session", "GET /v1/user", "GET /v1/sessions"} {
		path := strings.TrimPrefix(key, "GET ")
		c.check(key, h.do(req{method: "GET", path: path}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: "GET", path: path, cookie: "no-such-session"}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: "GET", path: path, header: map[string]string{"Authorization": "Bearer not.a.token"}}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: "GET", path: path + "?access_token=x"}), http.StatusBadRequest)
		c.check(key, h.do(req{method: "GET", path: path, cookie: secret}), http.StatusOK)
	}

	c.check("GET /v1/auth/check", h.do(req{method: "GET", path: "/v1/auth/check"}), http.StatusUnauthorized)
	c.check("GET /v1/auth/check", h.do(req{method: "GET", path: "/v1/auth/check?access_token=x"}), http.StatusBadRequest)
	c.check("GET /v1/auth/check", h.do(req{method: "GET", path: "/v1/auth/check", cookie: secret}), http.StatusOK)
	c.check("GET /v1/auth/check", h.do(req{method: "GET", path: "/v1/auth/check?redirect=login", header: map[string]string{"Accept": "text/html"}}), http.StatusFound)
	c.check("GET /v1/auth/check", h.do(req{method: "GET", path: "/v1/auth/check?redirect=x"}), http.StatusBadRequest)

	// Token mode: password grant, refresh, bearer use, introspection.
	tokBody, tokHdr := oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {testPassword}, "scope": {"read"}})
	tok := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: tokBody, header: tokHdr}), http.StatusOK)
	access, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if access == "" || refresh == "" {
		t.Fatalf("password grant gave %v", tok)
	}
	body, hdr := oaForm(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	tok = c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusOK)
	if r, _ := tok["refresh_token"].(string); r != "" {
		refresh = r
	}
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token"}), http.StatusBadRequest)
	body, hdr = oaForm(url.Values{"grant_type": {"authorization_code"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusBadRequest)
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {"wrong password, sorry"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusBadRequest)
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {testPassword}, "scope": {"admin"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusBadRequest)
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "client_id": {"someone-else"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusUnauthorized)
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: tokBody,
		header: oaWithHeader(tokHdr, "Authorization", oaBasic("nobody", "nothing"))}), http.StatusUnauthorized)
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: "grant_type=" + strings.Repeat("a", 70<<10),
		header: tokHdr}), http.StatusRequestEntityTooLarge)
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: tokBody,
		header: oaWithHeader(oaWithHeader(tokHdr, "Sec-Fetch-Site", "cross-site"), "Origin", "https://evil.example")}), http.StatusForbidden)

	bearer := map[string]string{"Authorization": "Bearer " + access}
	if resp := h.do(req{method: "GET", path: "/v1/auth/check", header: bearer}); resp.Header.Get("X-Authd-Kind") != "token" || resp.Header.Get("X-Authd-Scope") != "read" {
		t.Errorf("GET /v1/auth/check with a bearer token: headers %v", resp.Header)
	} else {
		c.check("GET /v1/auth/check", resp, http.StatusOK)
	}
	c.check("GET /v1/session", h.do(req{method: "GET", path: "/v1/session", header: bearer}), http.StatusOK)
	c.check("GET /v1/user", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusOK)
	c.check("GET /v1/user/events", h.do(req{method: "GET", path: "/v1/user/events", cookie: secret}), http.StatusOK)
	c.check("GET /v1/user/events", h.do(req{method: "GET", path: "/v1/user/events?limit=0", cookie: secret}), http.StatusBadRequest)
	c.check("GET /v1/user/events", h.do(req{method: "GET", path: "/v1/user/events?access_token=x"}), http.StatusBadRequest)
	c.check("GET /v1/user/events", h.do(req{method: "GET", path: "/v1/user/events"}), http.StatusUnauthorized)
	list := c.check("GET /v1/sessions", h.do(req{method: "GET", path: "/v1/sessions", header: bearer}), http.StatusOK)
	kinds := map[string]bool{}
	otherID := ""
	if ss, ok := list["sessions"].([]any); ok {
		for _, s := range ss {
			m := s.(map[string]any)
			kinds[m["kind"].(string)] = true
		}
	}
	if !kinds["cookie"] || !kinds["token"] {
		t.Errorf("GET /v1/sessions: want cookie and token sessions in one list, got kinds %v", kinds)
	}
	// The ID of the second cookie session, seen from that session.
	if sr := c.check("GET /v1/session", h.do(req{method: "GET", path: "/v1/session", cookie: other}), http.StatusOK); sr != nil {
		otherID, _ = sr["session"].(map[string]any)["id"].(string)
	}

	cl, clientSecret, err := h.clients.Create(ctx, client.Registration{Name: "openapi-test", GrantTypes: []string{client.GrantPassword, client.GrantRefreshToken, client.GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	basic := oaBasic(cl.ID, clientSecret)
	c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect"}), http.StatusUnauthorized)
	c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect",
		header: map[string]string{"Authorization": oaBasic(cl.ID, "wrong")}}), http.StatusUnauthorized)
	body, hdr = oaForm(url.Values{"token": {access}})
	in := c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect", body: body,
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusOK)
	if in["active"] != true || len(in) < 8 {
		t.Errorf("introspection of a live access token = %v", in)
	}
	// The client's own refresh token (one of another client stays inactive).
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {testPassword}})
	own := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body,
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusOK)
	body, hdr = oaForm(url.Values{"token": {own["refresh_token"].(string)}})
	in = c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect", body: body,
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusOK)
	if in["active"] != true {
		t.Errorf("introspection of a live refresh token = %v", in)
	}
	_ = refresh
	body, hdr = oaForm(url.Values{"token": {"garbage"}})
	c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect", body: body,
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusOK)
	c.check("POST /oauth2/introspect", h.do(req{method: "POST", path: "/oauth2/introspect", body: "x=1",
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusBadRequest)

	c.check("GET /.well-known/jwks.json", h.do(req{method: "GET", path: "/.well-known/jwks.json"}), http.StatusOK)
	c.check("GET /.well-known/oauth-authorization-server", h.do(req{method: "GET", path: "/.well-known/oauth-authorization-server"}), http.StatusOK)
	c.check("GET /healthz", h.do(req{method: "GET", path: "/healthz"}), http.StatusOK)
	c.check("GET /readyz", h.do(req{method: "GET", path: "/readyz"}), http.StatusOK)

	// The code flow and OpenID Connect. /oauth2/authorize and /oauth2/logout
	// answer a browser: HTML pages and redirects, whose Location query is
	// checked against the document too (checkLocation).
	h.register("oidc@example.com")
	oc := h.login("oidc@example.com")
	web := h.newApp(client.Registration{Name: "OpenAPI web app", PostLogoutRedirectURIs: []string{"https://app.example/bye"}})
	first := h.newApp(client.Registration{Name: "OpenAPI first-party app", FirstParty: true, Public: true})
	postForm := func(path string, v url.Values, cookie string, extra map[string]string) *http.Response {
		body, hdr := oaForm(v)
		for k, x := range extra {
			hdr[k] = x
		}
		return h.do(req{method: "POST", path: path, body: body, header: hdr, cookie: cookie})
	}
	with := func(v url.Values, kv ...string) url.Values {
		out := url.Values{}
		for k, vs := range v {
			out[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	verifier, challenge := pkce()
	ap := authzParams(web, challenge)
	c.check("GET /oauth2/authorize", h.do(req{method: "GET", path: "/oauth2/authorize?" + with(ap, "client_id", "c_unknown").Encode(), cookie: oc}), http.StatusBadRequest)
	c.check("GET /oauth2/authorize", h.do(req{method: "GET", path: "/oauth2/authorize?" + ap.Encode() + "&state=again", cookie: oc}), http.StatusBadRequest)
	c.check("GET /oauth2/authorize", h.do(req{method: "GET", path: "/oauth2/authorize?" + with(ap, "redirect_uri", "https://evil.example/cb").Encode(), cookie: oc}), http.StatusBadRequest)
	c.check("GET /oauth2/authorize", h.authorize("", ap), http.StatusSeeOther)
	c.check("GET /oauth2/authorize", h.authorize(oc, with(ap, "prompt", "login", "login_hint", "oidc@example.com")), http.StatusSeeOther)
	c.check("GET /oauth2/authorize", h.authorize(oc, with(ap, "code_challenge_method", "plain")), http.StatusFound)
	c.check("GET /oauth2/authorize", h.authorize("", with(ap, "prompt", "none")), http.StatusFound)
	_, consentPage := c.checkRaw("GET /oauth2/authorize", h.authorize(oc, ap), http.StatusOK)
	consent := hiddenFields(t, string(consentPage))
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", ap, oc, nil), http.StatusOK)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", with(consent, "decision", "allow", "consent_token", "forged"), oc, nil), http.StatusForbidden)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", with(consent, "decision", "maybe"), oc, nil), http.StatusBadRequest)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize?x=1", ap, oc, nil), http.StatusBadRequest)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", with(consent, "decision", "allow"), "", crossSite), http.StatusSeeOther)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", with(consent, "decision", "deny"), oc, nil), http.StatusSeeOther)
	resp = postForm("/oauth2/authorize", with(consent, "decision", "allow"), oc, nil)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	c.check("POST /oauth2/authorize", resp, http.StatusSeeOther)
	code := loc.Query().Get("code")

	// The code redeemed by a confidential client (HTTP Basic): an ID token
	// too. (Its replay, invalid_grant, comes after the logout probes: it
	// ends the session.)
	webBasic := oaBasic(web.ID, web.secret)
	codeBody, codeHdr := oaForm(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {appRedirect}, "code_verifier": {verifier}})
	codeHdr = oaWithHeader(codeHdr, "Authorization", webBasic)
	webTok := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: codeBody, header: codeHdr}), http.StatusOK)
	if webTok["id_token"] == nil || webTok["refresh_token"] == nil {
		t.Errorf("code grant with scope openid: %v", webTok)
	}
	// A public client (client_id alone, PKCE) on the GET path: 302 with a code.
	fv, fc := pkce()
	resp = h.authorize(oc, authzParams(first, fc))
	loc, _ = url.Parse(resp.Header.Get("Location"))
	c.check("GET /oauth2/authorize", resp, http.StatusFound)
	body, hdr = oaForm(exchangeForm(first, loc.Query().Get("code"), fv))
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusOK)
	// client_secret_post; both methods at once; a wrong posted secret; a
	// grant the client is not registered for; an unknown grant.
	body, hdr = oaForm(url.Values{"grant_type": {"client_credentials"}, "client_id": {cl.ID}, "client_secret": {clientSecret}})
	if cc := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusOK); cc["refresh_token"] != nil || cc["id_token"] != nil {
		t.Errorf("client_credentials: %v", cc)
	}
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusBadRequest)
	body, hdr = oaForm(url.Values{"grant_type": {"client_credentials"}, "client_id": {cl.ID}, "client_secret": {"wrong"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusUnauthorized)
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {testPassword}})
	if e := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: oaWithHeader(hdr, "Authorization", webBasic)}), http.StatusBadRequest); e["error"] != "unauthorized_client" {
		t.Errorf("a grant the client is not registered for: %v", e)
	}
	body, hdr = oaForm(url.Values{"grant_type": {"implicit"}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusBadRequest)
	// --password-grant=off (the default): unsupported_grant_type.
	noPassword := newHarness(t, options{noPasswordGrant: true})
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {email}, "password": {testPassword}})
	if e := c.check("POST /oauth2/token", noPassword.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusBadRequest); e["error"] != "unsupported_grant_type" {
		t.Errorf("password grant while off: %v", e)
	}

	// UserInfo: a bearer token with openid; none, a bad one, one without
	// openid, one in the query, a cross-site POST.
	webBearer := map[string]string{"Authorization": "Bearer " + fmt.Sprint(webTok["access_token"])}
	for _, m := range []string{"GET", "POST"} {
		key := m + " /oauth2/userinfo"
		if ui := c.check(key, h.do(req{method: m, path: "/oauth2/userinfo", header: webBearer}), http.StatusOK); ui["email"] != "oidc@example.com" {
			t.Errorf("%s: %v", key, ui)
		}
		c.check(key, h.do(req{method: m, path: "/oauth2/userinfo"}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: m, path: "/oauth2/userinfo", cookie: oc}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: m, path: "/oauth2/userinfo", header: map[string]string{"Authorization": "Bearer x.y.z"}}), http.StatusUnauthorized)
		c.check(key, h.do(req{method: m, path: "/oauth2/userinfo", header: bearer}), http.StatusForbidden) // scope read
		c.check(key, h.do(req{method: m, path: "/oauth2/userinfo?access_token=x", header: webBearer}), http.StatusBadRequest)
	}
	c.check("POST /oauth2/userinfo", h.do(req{method: "POST", path: "/oauth2/userinfo", header: oaWithHeader(crossSite, "Authorization", webBearer["Authorization"])}), http.StatusForbidden)

	// Discovery: one document at three addresses; the RFC 8414 §3.1 path
	// form exists only for an issuer with a path.
	c.check("GET /.well-known/openid-configuration", h.do(req{method: "GET", path: "/.well-known/openid-configuration"}), http.StatusOK)
	c.check("GET /.well-known/oauth-authorization-server/{path}", h.do(req{method: "GET", path: "/.well-known/oauth-authorization-server/tenant"}), http.StatusNotFound)
	tenant := server.New(server.Config{Users: h.users, Sessions: h.sessions, Store: h.store, Tokens: &server.TokenConfig{
		IssuerURL: "http://authd.test/tenant", Scopes: []string{"read", "write"}, Clients: h.clients, PublicClientID: "authd", IDTokenAlgs: h.ring.Algs()}})
	for path, want := range map[string]int{"/tenant": http.StatusOK, "/other": http.StatusNotFound, "/tenant/x": http.StatusNotFound} {
		rec := httptest.NewRecorder()
		tenant.ServeHTTP(rec, httptest.NewRequest("GET", "http://authd.test/.well-known/oauth-authorization-server"+path, nil))
		if md := c.check("GET /.well-known/oauth-authorization-server/{path}", rec.Result(), want); want == http.StatusOK && md["issuer"] != "http://authd.test/tenant" {
			t.Errorf("path-form metadata: issuer %v", md["issuer"])
		}
	}

	// RP-Initiated Logout: error pages, the confirmation page, then the
	// sign-outs (each ends the browser's session, so they come last).
	idt := fmt.Sprint(webTok["id_token"])
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?id_token_hint=x", cookie: oc}), http.StatusBadRequest)
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?" + url.Values{"id_token_hint": {idt},
		"post_logout_redirect_uri": {"https://evil.example/"}}.Encode(), cookie: oc}), http.StatusBadRequest)
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?client_id=" + web.ID, cookie: oc}), http.StatusOK)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"client_id": {web.ID}}, oc, nil), http.StatusOK)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"client_id": {"c_unknown"}}, oc, nil), http.StatusBadRequest)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout?x=1", url.Values{"client_id": {web.ID}}, oc, nil), http.StatusBadRequest)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"decision": {"logout"}}, oc, crossSite), http.StatusForbidden)
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?" + url.Values{"id_token_hint": {idt},
		"post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s1"}}.Encode(), cookie: oc}), http.StatusFound)
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?id_token_hint=" + idt}), http.StatusSeeOther)
	oc = h.login("oidc@example.com")
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"decision": {"logout"}, "client_id": {web.ID},
		"post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s2"}}, oc, nil), http.StatusSeeOther)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"decision": {"logout"}}, h.login("oidc@example.com"), nil), http.StatusSeeOther)
	if e := c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: codeBody, header: codeHdr}), http.StatusBadRequest); e["error"] != "invalid_grant" {
		t.Errorf("a code redeemed twice: %v", e)
	}

	// Changing things.
	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", body: `{}`}), http.StatusUnauthorized)
	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", body: `{}`, cookie: secret}), http.StatusBadRequest)
	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", body: `{"current_password":"x"}`, cookie: secret,
		header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", cookie: secret,
		body: `{"current_password":"wrong password, sorry","new_password":"another fine passphrase"}`}), http.StatusUnauthorized)
	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", cookie: secret, header: crossSite,
		body: `{"current_password":"x","new_password":"y"}`}), http.StatusForbidden)

	c.check("DELETE /v1/sessions/{id}", h.do(req{method: "DELETE", path: "/v1/sessions/x"}), http.StatusUnauthorized)
	c.check("DELETE /v1/sessions/{id}", h.do(req{method: "DELETE", path: "/v1/sessions/no-such-session", cookie: secret}), http.StatusNotFound)
	c.check("DELETE /v1/sessions/{id}", h.do(req{method: "DELETE", path: "/v1/sessions/" + strings.Repeat("a", 100), cookie: secret}), http.StatusNotFound)
	c.check("DELETE /v1/sessions/{id}", h.do(req{method: "DELETE", path: "/v1/sessions/x", cookie: secret, header: crossSite}), http.StatusForbidden)
	if otherID != "" {
		c.check("DELETE /v1/sessions/{id}", h.do(req{method: "DELETE", path: "/v1/sessions/" + otherID, cookie: secret}), http.StatusNoContent)
	}
	c.check("DELETE /v1/sessions", h.do(req{method: "DELETE", path: "/v1/sessions"}), http.StatusUnauthorized)
	c.check("DELETE /v1/sessions", h.do(req{method: "DELETE", path: "/v1/sessions", cookie: secret, header: crossSite}), http.StatusForbidden)

	body, hdr = oaForm(url.Values{"token": {refresh}})
	c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke"}), http.StatusBadRequest)
	c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke", body: "x=1", header: hdr}), http.StatusBadRequest)
	c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke", body: body,
		header: oaWithHeader(hdr, "Authorization", oaBasic("nobody", "nothing"))}), http.StatusUnauthorized)
	c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke", body: body, header: hdr}), http.StatusOK)
	c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke", body: body, header: hdr}), http.StatusOK)
	// The revoked token session's access token is refused.
	c.check("GET /v1/user", h.do(req{method: "GET", path: "/v1/user", header: bearer}), http.StatusUnauthorized)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session", header: bearer}), http.StatusNoContent)

	c.check("PUT /v1/user/password", h.do(req{method: "PUT", path: "/v1/user/password", cookie: secret,
		body: `{"current_password":"` + testPassword + `","new_password":"another fine passphrase"}`}), http.StatusNoContent)
	c.check("DELETE /v1/sessions", h.do(req{method: "DELETE", path: "/v1/sessions", cookie: secret}), http.StatusNoContent)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session"}), http.StatusNoContent)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session?access_token=x"}), http.StatusBadRequest)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session", cookie: secret, header: crossSite}), http.StatusForbidden)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session", cookie: secret}), http.StatusNoContent)
	c.check("DELETE /v1/session", h.do(req{method: "DELETE", path: "/v1/session", cookie: secret}), http.StatusNoContent)

	// Only the owning client may revoke a token.
	h.register("owner@example.com")
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {"owner@example.com"}, "password": {testPassword}})
	tok = c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusOK)
	body, hdr = oaForm(url.Values{"token": {fmt.Sprint(tok["access_token"])}})
	if e := c.check("POST /oauth2/revoke", h.do(req{method: "POST", path: "/oauth2/revoke", body: body,
		header: oaWithHeader(hdr, "Authorization", basic)}), http.StatusBadRequest); e["error"] != "unauthorized_client" {
		t.Errorf("revoking another client's token: %v", e)
	}

	// The revocation feed.
	c.check("GET /v1/revocations", h.do(req{method: "GET", path: "/v1/revocations"}), http.StatusUnauthorized)
	c.check("GET /v1/revocations", h.do(req{method: "GET", path: "/v1/revocations?since=yesterday",
		header: map[string]string{"Authorization": basic}}), http.StatusBadRequest)
	_, raw := c.checkRaw("GET /v1/revocations", oaStream(t, h, "/v1/revocations", basic), http.StatusOK)
	feedSchema := map[string]any{"$ref": "#/components/schemas/FeedEvent"}
	revokedEvents, ready := 0, false
	for _, ev := range strings.Split(string(raw), "\n\n") {
		name, data := "", ""
		for _, line := range strings.Split(ev, "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			}
			if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		switch name {
		case "ready":
			ready = true
		case "revoked":
			revokedEvents++
			var v any
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Errorf("feed event data %q: %v", data, err)
				continue
			}
			for _, e := range oaValidate(t, doc, feedSchema, v, "data") {
				t.Errorf("GET /v1/revocations event: %s", e)
			}
		}
	}
	if revokedEvents == 0 || !ready {
		t.Errorf("GET /v1/revocations: %d revoked events, ready %v; stream %q", revokedEvents, ready, raw)
	}

	// The login throttle: 429 with Retry-After, for both login transports.
	h.register("throttled@example.com")
	got429 := false
	for range 12 {
		resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"throttled@example.com","password":"wrong password, sorry"}`})
		st := resp.StatusCode
		c.check("POST /v1/session", resp, 0)
		if st == http.StatusTooManyRequests {
			got429 = true
			break
		}
	}
	if !got429 {
		t.Error("POST /v1/session: no 429 after repeated failures")
	}
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {"throttled@example.com"}, "password": {testPassword}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusTooManyRequests)

	// A store oaOutage: 503 with Retry-After.
	live := oaRegisterAndLogin(h, "outage@example.com")
	store.down.Store(true)
	c.check("GET /readyz", h.do(req{method: "GET", path: "/readyz"}), http.StatusServiceUnavailable)
	c.check("POST /v1/users", h.do(req{method: "POST", path: "/v1/users", body: `{"email":"new@example.com","password":"` + testPassword + `"}`}), http.StatusServiceUnavailable)
	c.check("POST /v1/session", h.do(req{method: "POST", path: "/v1/session", body: `{"email":"x@example.com","password":"` + testPassword + `"}`}), http.StatusServiceUnavailable)
	c.check("GET /v1/sessions", h.do(req{method: "GET", path: "/v1/sessions", cookie: live}), http.StatusServiceUnavailable)
	body, hdr = oaForm(url.Values{"grant_type": {"password"}, "username": {"x@example.com"}, "password": {testPassword}})
	c.check("POST /oauth2/token", h.do(req{method: "POST", path: "/oauth2/token", body: body, header: hdr}), http.StatusServiceUnavailable)
	c.check("GET /oauth2/authorize", h.authorize("", ap), http.StatusServiceUnavailable)
	c.check("POST /oauth2/authorize", postForm("/oauth2/authorize", ap, "", nil), http.StatusServiceUnavailable)
	c.check("GET /oauth2/logout", h.do(req{method: "GET", path: "/oauth2/logout?client_id=" + web.ID}), http.StatusServiceUnavailable)
	c.check("POST /oauth2/logout", postForm("/oauth2/logout", url.Values{"client_id": {web.ID}}, "", nil), http.StatusServiceUnavailable)
	store.down.Store(false)

	// The emailed flows (password reset, verification, address change).
	{
		m := newHarness(t, options{})
		m.register("mail@example.com")
		m.register("taken@example.com")
		verifyTok := linkToken(t, m.waitMail("mail@example.com", mail.TemplateVerifyEmail), "/verify-email")
		m.mails()
		mc := m.login("mail@example.com")
		jb := func(kv ...string) string {
			o := map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				o[kv[i]] = kv[i+1]
			}
			return jsonBody(o)
		}
		post := func(path, body, cookie string, hdr map[string]string) *http.Response {
			return m.do(req{method: "POST", path: path, body: body, cookie: cookie, header: hdr})
		}
		put := func(body, cookie string, hdr map[string]string) *http.Response {
			return m.do(req{method: "PUT", path: "/v1/user/email", body: body, cookie: cookie, header: hdr})
		}

		// POST /v1/password-reset
		const pr = "POST /v1/password-reset"
		if a := c.check(pr, post("/v1/password-reset", jb("email", "mail@example.com"), "", nil), http.StatusAccepted); a["status"] != "accepted" || a["message"] == nil {
			t.Errorf("%s: %v", pr, a)
		}
		resetTok := linkToken(t, m.waitMail("mail@example.com", mail.TemplatePasswordReset), "/reset-password")
		c.check(pr, post("/v1/password-reset", jb("email", "nobody@example.com"), "", nil), http.StatusAccepted)
		c.check(pr, post("/v1/password-reset", `{}`, "", nil), http.StatusBadRequest)
		c.check(pr, post("/v1/password-reset", `{"email":"x@example.com","user":1}`, "", nil), http.StatusBadRequest)
		c.check(pr, m.do(req{method: "POST", path: "/v1/password-reset", body: `{"email":"x"}`, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
		c.check(pr, post("/v1/password-reset", `{"email":"`+strings.Repeat("a", 70<<10)+`"}`, "", nil), http.StatusRequestEntityTooLarge)
		c.check(pr, post("/v1/password-reset", jb("email", "x@example.com"), "", crossSite), http.StatusForbidden)
		got := false
		for range 6 {
			resp := post("/v1/password-reset", jb("email", "flood@example.com"), "", nil)
			st := resp.StatusCode
			c.check(pr, resp, 0)
			if st == http.StatusTooManyRequests {
				got = true
				break
			}
		}
		if !got {
			t.Errorf("%s: no 429", pr)
		}

		// POST /v1/password-reset/confirm
		const prc = "POST /v1/password-reset/confirm"
		c.check(prc, post("/v1/password-reset/confirm", jb("token", resetTok, "new_password", "password"), "", nil), http.StatusBadRequest)
		c.check(prc, post("/v1/password-reset/confirm", jb("token", strings.Repeat("A", 43), "new_password", newPassword2), "", nil), http.StatusBadRequest)
		c.check(prc, post("/v1/password-reset/confirm", `{}`, "", nil), http.StatusBadRequest)
		c.check(prc, m.do(req{method: "POST", path: "/v1/password-reset/confirm", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
		c.check(prc, post("/v1/password-reset/confirm", `{"token":"`+strings.Repeat("a", 70<<10)+`"}`, "", nil), http.StatusRequestEntityTooLarge)
		c.check(prc, post("/v1/password-reset/confirm", jb("token", resetTok, "new_password", newPassword2), "", crossSite), http.StatusForbidden)
		c.check(prc, post("/v1/password-reset/confirm", jb("token", resetTok, "new_password", newPassword2), "", nil), http.StatusNoContent)
		mc = m.login("mail@example.com", newPassword2)
		ip := newHarness(t, options{})
		got = false
		for range 30 {
			resp := ip.do(req{method: "POST", path: "/v1/password-reset/confirm", body: jb("token", strings.Repeat("A", 43), "new_password", newPassword2)})
			st := resp.StatusCode
			c.check(prc, resp, 0)
			if st == http.StatusTooManyRequests {
				got = true
				break
			}
		}
		if !got {
			t.Errorf("%s: no 429", prc)
		}

		// POST /v1/user/email/verify (the reset verified the address; a
		// second user has a live link).
		const ve = "POST /v1/user/email/verify"
		m.register("verify@example.com")
		vt := linkToken(t, m.waitMail("verify@example.com", mail.TemplateVerifyEmail), "/verify-email")
		_ = verifyTok
		c.check(ve, post("/v1/user/email/verify", jb("token", strings.Repeat("A", 43)), "", nil), http.StatusBadRequest)
		c.check(ve, post("/v1/user/email/verify", `{}`, "", nil), http.StatusBadRequest)
		c.check(ve, m.do(req{method: "POST", path: "/v1/user/email/verify", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
		c.check(ve, post("/v1/user/email/verify", `{"token":"`+strings.Repeat("a", 70<<10)+`"}`, "", nil), http.StatusRequestEntityTooLarge)
		c.check(ve, post("/v1/user/email/verify", jb("token", vt), "", crossSite), http.StatusForbidden)
		if u := c.check(ve, post("/v1/user/email/verify", jb("token", vt), "", nil), http.StatusOK); u["email_verified"] != true {
			t.Errorf("%s: %v", ve, u)
		}

		// POST /v1/user/email/verification
		const rv = "POST /v1/user/email/verification"
		m.register("resend@example.com")
		rc := m.login("resend@example.com")
		c.check(rv, post("/v1/user/email/verification", "", "", nil), http.StatusUnauthorized)
		c.check(rv, post("/v1/user/email/verification?access_token=x", "", "", nil), http.StatusBadRequest)
		c.check(rv, post("/v1/user/email/verification", "", rc, crossSite), http.StatusForbidden)
		if a := c.check(rv, post("/v1/user/email/verification", "", mc, nil), http.StatusAccepted); a["status"] != "accepted" {
			t.Errorf("%s: %v", rv, a)
		}
		got = false
		for range 25 {
			resp := post("/v1/user/email/verification", "", rc, nil)
			st := resp.StatusCode
			c.check(rv, resp, 0)
			if st == http.StatusTooManyRequests {
				got = true
				break
			}
		}
		if !got {
			t.Errorf("%s: no 429", rv)
		}
		nm := newHarness(t, options{noMail: true})
		nm.register("nomail@example.com")
		nc := nm.login("nomail@example.com")
		c.check(rv, nm.do(req{method: "POST", path: "/v1/user/email/verification", cookie: nc}), http.StatusConflict)
		c.check("PUT /v1/user/email", nm.do(req{method: "PUT", path: "/v1/user/email", cookie: nc,
			body: jb("new_email", "other@example.com", "current_password", testPassword)}), http.StatusConflict)

		// PUT /v1/user/email
		const ce = "PUT /v1/user/email"
		c.check(ce, put(jb("new_email", "new@example.com", "current_password", newPassword2), "", nil), http.StatusUnauthorized)
		c.check(ce, put(jb("new_email", "new@example.com", "current_password", "wrong password, sorry"), mc, nil), http.StatusUnauthorized)
		c.check(ce, put(jb("new_email", "taken@example.com", "current_password", newPassword2), mc, nil), http.StatusConflict)
		c.check(ce, put(jb("new_email", "mail@example.com", "current_password", newPassword2), mc, nil), http.StatusBadRequest)
		c.check(ce, put(jb("new_email", "not an address", "current_password", newPassword2), mc, nil), http.StatusBadRequest)
		c.check(ce, put(`{}`, mc, nil), http.StatusBadRequest)
		c.check(ce, m.do(req{method: "PUT", path: "/v1/user/email?access_token=x", body: `{}`, cookie: mc}), http.StatusBadRequest)
		c.check(ce, m.do(req{method: "PUT", path: "/v1/user/email", body: `{}`, cookie: mc, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
		c.check(ce, put(`{"new_email":"`+strings.Repeat("a", 70<<10)+`"}`, mc, nil), http.StatusRequestEntityTooLarge)
		c.check(ce, put(jb("new_email", "new@example.com", "current_password", newPassword2), mc, crossSite), http.StatusForbidden)
		m.mails()
		if a := c.check(ce, put(jb("new_email", "new@example.com", "current_password", newPassword2), mc, nil), http.StatusAccepted); a["status"] != "accepted" || a["message"] == nil {
			t.Errorf("%s: %v", ce, a)
		}
		var confirmTok, undoTok string
		for _, ms := range m.mails() {
			switch ms.Template {
			case mail.TemplateConfirmEmail:
				confirmTok = linkToken(t, ms, "/confirm-email")
			case mail.TemplateEmailChanging:
				undoTok = linkToken(t, ms, "/undo-email-change")
			}
		}
		tc := m.login("taken@example.com")
		got = false
		for range 12 {
			resp := put(jb("new_email", "new2@example.com", "current_password", "wrong password, sorry"), tc, nil)
			st := resp.StatusCode
			c.check(ce, resp, 0)
			if st == http.StatusTooManyRequests {
				got = true
				break
			}
		}
		if !got {
			t.Errorf("%s: no 429", ce)
		}

		// POST /v1/user/email/confirm and /undo
		for _, key := range []string{"POST /v1/user/email/confirm", "POST /v1/user/email/undo"} {
			path := strings.TrimPrefix(key, "POST ")
			c.check(key, post(path, jb("token", strings.Repeat("A", 43)), "", nil), http.StatusBadRequest)
			c.check(key, post(path, `{}`, "", nil), http.StatusBadRequest)
			c.check(key, m.do(req{method: "POST", path: path, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}), http.StatusUnsupportedMediaType)
			c.check(key, post(path, `{"token":"`+strings.Repeat("a", 70<<10)+`"}`, "", nil), http.StatusRequestEntityTooLarge)
			c.check(key, post(path, jb("token", confirmTok), "", crossSite), http.StatusForbidden)
		}
		if u := c.check("POST /v1/user/email/confirm", post("/v1/user/email/confirm", jb("token", confirmTok), "", nil), http.StatusOK); u["email"] != "new@example.com" || u["email_verified"] != true {
			t.Errorf("confirm: %v", u)
		}
		// The old address is taken meanwhile: undo answers 409.
		m.register("mail@example.com")
		c.check("POST /v1/user/email/undo", post("/v1/user/email/undo", jb("token", undoTok), "", nil), http.StatusConflict)
		// A second change, undone.
		mc = m.login("new@example.com", newPassword2)
		m.mails()
		c.check(ce, put(jb("new_email", "third@example.com", "current_password", newPassword2), mc, nil), http.StatusAccepted)
		for _, ms := range m.mails() {
			if ms.Template == mail.TemplateEmailChanging {
				undoTok = linkToken(t, ms, "/undo-email-change")
			}
		}
		if u := c.check("POST /v1/user/email/undo", post("/v1/user/email/undo", jb("token", undoTok), "", nil), http.StatusOK); u["email"] != "new@example.com" || u["email_verified"] != true {
			t.Errorf("undo: %v", u)
		}

		// --require-verified-email: the login's 403.
		rq := newHarness(t, options{requireVerified: true})
		rq.register("unverified@example.com")
		c.check("POST /v1/session", rq.do(req{method: "POST", path: "/v1/session", body: `{"email":"unverified@example.com","password":"` + testPassword + `"}`}), http.StatusForbidden)
	}

	// Second factors.
	{
		mh := newHarness(t, options{})
		mh.register("mfa@example.com")
		ms := mh.login("mfa@example.com")
		c.check("GET /v1/user/mfa", mh.do(req{method: "GET", path: "/v1/user/mfa", cookie: ms}), http.StatusOK)
		c.check("GET /v1/user/mfa", mh.do(req{method: "GET", path: "/v1/user/mfa"}), http.StatusUnauthorized)
		c.check("POST /v1/user/mfa/totp/confirm", mh.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ms, body: `{"code":"123456"}`}), http.StatusConflict)
		c.check("DELETE /v1/user/mfa/totp", mh.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: ms}), http.StatusConflict)
		c.check("POST /v1/user/mfa/recovery-codes", mh.do(req{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: ms}), http.StatusConflict)
		e := c.check("POST /v1/user/mfa/totp", mh.do(req{method: "POST", path: "/v1/user/mfa/totp", cookie: ms}), http.StatusCreated)
		secret, _ := e["secret"].(string)
		c.check("POST /v1/user/mfa/totp/confirm", mh.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ms, body: `{"code":"12"}`}), http.StatusUnauthorized)
		c.check("POST /v1/user/mfa/totp/confirm", mh.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ms, body: `{}`}), http.StatusBadRequest)
		c.check("POST /v1/user/mfa/totp/confirm", mh.do(req{method: "POST", path: "/v1/user/mfa/totp/confirm", cookie: ms,
			body: `{"code":"` + totpAt(t, secret, mh.clock.Now()) + `"}`}), http.StatusOK)
		c.check("POST /v1/user/mfa/totp", mh.do(req{method: "POST", path: "/v1/user/mfa/totp", cookie: ms}), http.StatusConflict)
		mh.clock.Advance(30 * time.Second)
		creds := `{"email":"mfa@example.com","password":"` + testPassword + `"}`
		p := c.check("POST /v1/session", mh.do(req{method: "POST", path: "/v1/session", body: creds}), http.StatusUnauthorized)
		tok, _ := p["mfa_token"].(string)
		c.check("POST /v1/session/mfa", mh.do(req{method: "POST", path: "/v1/session/mfa", body: `{}`}), http.StatusBadRequest)
		c.check("POST /v1/session/mfa", mh.do(req{method: "POST", path: "/v1/session/mfa", body: `{"mfa_token":"` + tok + `","code":"000000"}`}), http.StatusUnauthorized)
		c.check("POST /v1/session/mfa", mh.do(req{method: "POST", path: "/v1/session/mfa", body: `{"mfa_token":"x","code":"000000"}`}), http.StatusUnauthorized)
		c.check("POST /v1/session/mfa", mh.do(req{method: "POST", path: "/v1/session/mfa", body: `{"mfa_token":"` + tok + `","code":"000000"}`, header: crossSite}), http.StatusForbidden)
		mh.clock.Advance(time.Minute)
		c.check("POST /v1/session/mfa", mh.do(req{method: "POST", path: "/v1/session/mfa",
			body: `{"mfa_token":"` + tok + `","code":"` + totpAt(t, secret, mh.clock.Now()) + `"}`}), http.StatusCreated)
		c.check("POST /v1/user/mfa/recovery-codes", mh.do(req{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: ms}), http.StatusOK)
		mh.clock.Advance(6 * time.Minute)
		c.check("DELETE /v1/user/mfa/totp", mh.do(req{method: "DELETE", path: "/v1/user/mfa/totp", cookie: ms}), http.StatusForbidden)
		c.check("POST /v1/user/mfa/totp", mh.do(req{method: "POST", path: "/v1/user/mfa/totp", cookie: ms}), http.StatusForbidden)
		c.check("POST /v1/user/mfa/recovery-codes", mh.do(req{method: "POST", path: "/v1/user/mfa/recovery-codes", cookie: ms}), http.StatusForbidden)
	}
	oaProbeFactors(t, c)

	for key := range c.ops {
		if !c.probed[key] {
			t.Errorf("%s: documented but never probed by this test", key)
		}
	}
}

// oaStream reads an event stream for a moment, then hangs up.
func oaStream(t *testing.T, h *harness, path, authz string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "http://authd.test"+path, nil)
	r.Header.Set("Authorization", authz)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, r)
	return rec.Result()
}

// TestOpenAPIMethodNotAllowed checks the document against the router from
// the other side: a method documented for no path gets 405, and its Allow
// header lists exactly the documented methods (and HEAD with GET).
func TestOpenAPIMethodNotAllowed(t *testing.T) {
	doc := oaLoad(t)
	h := newHarness(t, options{})
	c := &oaChecker{t: t, doc: doc, ops: map[string]map[string]any{}, probed: map[string]bool{}}
	byPath := map[string][]string{}
	for key := range oaOps(t, doc) {
		m, p, _ := strings.Cut(key, " ")
		byPath[p] = append(byPath[p], m)
	}
	for p, methods := range byPath {
		want := map[string]bool{}
		for _, m := range methods {
			want[m] = true
			if m == "GET" {
				want["HEAD"] = true
			}
		}
		path := strings.NewReplacer("{id}", "x", "{path}", "x").Replace(p)
		method := "PATCH" // a method the path does not serve
		if want["PATCH"] {
			method = "PUT"
		}
		resp := h.do(req{method: method, path: path})
		got := map[string]bool{}
		for _, m := range strings.Split(resp.Header.Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "" {
				got[m] = true
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s: Allow %q, want the documented %v", method, path, resp.Header.Get("Allow"), slices.Sorted(oaKeys(want)))
		}
		// Check the answer against the shared MethodNotAllowed response.
		c.ops[method+" "+p] = map[string]any{"responses": map[string]any{"405": map[string]any{"$ref": "#/components/responses/MethodNotAllowed"}}}
		c.check(method+" "+p, resp, http.StatusMethodNotAllowed)
	}
}

func oaRegisterAndLogin(h *harness, email string) string {
	h.t.Helper()
	h.register(email)
	return h.login(email)
}
