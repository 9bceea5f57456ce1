package guard

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd/jwk"
)

// jwksServer serves one Ed25519 key as a JWKS and counts the fetches.
func jwksServer(t *testing.T, cacheControl string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(map[string]any{"keys": []jwk.JWK{{
		Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
		Kid: "k1", Alg: jwk.EdDSA, Use: "sig",
	}}})
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", cacheControl)
		w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	return srv, &fetches
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestRemoteKeysUnknownKidIsRateLimited: tokens naming made-up kids make
// the guard fetch the JWKS at most once per minRefresh, however many come.
func TestRemoteKeysUnknownKidIsRateLimited(t *testing.T) {
	srv, fetches := jwksServer(t, "max-age=300")
	clk := &testClock{now: time.Unix(1_800_000_000, 0)}
	k := newRemoteKeys(srv.URL, srv.Client(), clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if _, ok := k.VerificationKey("k1"); !ok {
		t.Fatal("k1 not found")
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first key, want 1", n)
	}
	for i := range 1000 {
		if _, ok := k.VerificationKey("forged-" + strconv.Itoa(i)); ok {
			t.Fatal("a made-up kid was found")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches after 1,000 made-up kids within minRefresh, want 1", n)
	}
	clk.Advance(k.minRefresh)
	for i := range 1000 {
		k.VerificationKey("forged-again-" + strconv.Itoa(i))
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after minRefresh and 1,000 more made-up kids, want 2", n)
	}
	if _, ok := k.VerificationKey("k1"); !ok {
		t.Error("k1 lost")
	}
}

// TestRemoteKeysFollowMaxAge: a known kid is answered from memory until
// the JWKS max-age has passed; then it is still answered at once, and the
// set is refreshed in the background.
func TestRemoteKeysFollowMaxAge(t *testing.T) {
	srv, fetches := jwksServer(t, "public, max-age=60")
	clk := &testClock{now: time.Unix(1_800_000_000, 0)}
	k := newRemoteKeys(srv.URL, srv.Client(), clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	k.VerificationKey("k1")
	for range 100 {
		clk.Advance(500 * time.Millisecond) // 50 s in all: within max-age
		if _, ok := k.VerificationKey("k1"); !ok {
			t.Fatal("k1 not found")
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	clk.Advance(11 * time.Second) // past max-age
	if _, ok := k.VerificationKey("k1"); !ok {
		t.Fatal("k1 not answered while the set is stale")
	}
	deadline := time.Now().Add(5 * time.Second)
	for fetches.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches after max-age, want 2 (a background refresh)", n)
	}
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		cc   string
		want time.Duration
	}{
		{"", 5 * time.Minute},
		{"no-cache", 5 * time.Minute},
		{"max-age=120", 2 * time.Minute},
		{"public, max-age=120, must-revalidate", 2 * time.Minute},
		{"MAX-AGE=60", time.Minute},
		{"max-age=0", 10 * time.Second},                   // floor: a JWKS fetch per request would hammer authd
		{"max-age=999999", time.Hour},                     // ceiling: a key authd withdrew is dropped within the hour
		{"max-age=abc", 5 * time.Minute},                  // malformed: the default
		{"max-age=-5", 10 * time.Second},                  // negative: the floor
		{"max-age=99999999999999999999", 5 * time.Minute}, // overflow: the default
	}
	for _, tt := range tests {
		if got := maxAge(tt.cc); got != tt.want {
			t.Errorf("maxAge(%q) = %v, want %v", tt.cc, got, tt.want)
		}
	}
}
