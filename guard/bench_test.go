package guard_test

// The middleware's cost per request, next to the bare Ed25519 verify:
//
//	go test -run XXX -bench . -benchmem ./guard
//
// The keys come from an in-process JWKS endpoint (a jwks.Ring over the
// memory store); no network is involved after set-up.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/guard"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token"
)

type benchEnv struct {
	issuer *token.Issuer
	guard  *guard.Guard
	key    *jwk.Key
}

func newBenchEnv(b *testing.B) *benchEnv {
	ctx := context.Background()
	ring, err := jwks.NewRing(ctx, jwks.RingConfig{Store: memstore.New(), KEK: jwks.NewKEK()})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		body, _ := ring.JWKS()
		w.Write(body)
	})
	// No feed in a micro-benchmark: accept while it is "down" (the check
	// itself is one atomic load either way).
	g, err := guard.New(ctx, guard.Config{Issuer: srv.URL, Audience: "authd", AcceptWhenFeedDown: true})
	if err != nil {
		b.Fatal(err)
	}
	k, _ := ring.Signer()
	return &benchEnv{issuer: &token.Issuer{Keys: ring, URL: srv.URL, Audience: "authd", TTL: time.Hour}, guard: g, key: k}
}

func (e *benchEnv) token(b *testing.B) string {
	tok, _, err := e.issuer.Issue(token.Grant{UserID: "USER4ZQ2M3V7N5XKPLAQW2ERTY", SessionID: "SESS4ZQ2M3V7N5XKPLAQW2ERTY", ClientID: "authd", Scope: "read write"})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})

// BenchmarkRawVerify is the primitive: one Ed25519 signature check over a
// real token's signing input.
func BenchmarkRawVerify(b *testing.B) {
	e := newBenchEnv(b)
	tok := e.token(b)
	i := strings.LastIndexByte(tok, '.')
	sig, _ := jwsDecode(tok[i+1:])
	pub := e.key.Public.(ed25519.PublicKey)
	msg := []byte(tok[:i])
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkMiddlewareFirstSight: every request carries a token the guard
// has not seen (full parse, verify, claims, revocation check, cache insert,
// context). The tokens are minted before the clock starts.
func BenchmarkMiddlewareFirstSight(b *testing.B) {
	e := newBenchEnv(b)
	h := e.guard.Require("read")(okHandler)
	reqs := make([]*http.Request, 40_000)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/notes", nil)
		reqs[i].Header.Set("Authorization", "Bearer "+e.token(b))
	}
	w := httptest.NewRecorder()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, reqs[i%len(reqs)]) // b.N stays below len(reqs) at -benchtime 1s
		i++
	}
	if w.Code != http.StatusOK {
		b.Fatal(w.Code)
	}
}

// BenchmarkMiddlewareSeen: the same token again, as clients re-send it
// until it expires (cache hit; the revocation check still runs).
func BenchmarkMiddlewareSeen(b *testing.B) {
	e := newBenchEnv(b)
	h := e.guard.Require("read")(okHandler)
	r := httptest.NewRequest("GET", "/notes", nil)
	r.Header.Set("Authorization", "Bearer "+e.token(b))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
	if w.Code != http.StatusOK {
		b.Fatal(w.Code)
	}
}

// BenchmarkNoMiddleware is the floor: the bare handler with the same
// request and recorder.
func BenchmarkNoMiddleware(b *testing.B) {
	r := httptest.NewRequest("GET", "/notes", nil)
	w := httptest.NewRecorder()
	for b.Loop() {
		okHandler.ServeHTTP(w, r)
	}
}

func jwsDecode(s string) ([]byte, error) {
	return base64RawURL.DecodeString(s)
}

var base64RawURL = base64.RawURLEncoding
