package password

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheap are fast parameters for tests.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)

func TestDefaultParams(t *testing.T) {
	want := Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	if diff := cmp.Diff(want, DefaultParams()); diff != "" {
		t.Errorf("DefaultParams() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, NewHasher(Params{}, 1).Params()); diff != "" {
		t.Errorf("NewHasher(Params{}).Params() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, NewHasher(cheap, 1).Params()); diff != "" {
		t.Errorf("NewHasher(cheap).Params() mismatch (-want +got):\n%s", diff)
	}
}

func TestNewHasherConcurrencyDefault(t *testing.T) {
	for _, c := range []int{0, -1} {
		if got, want := cap(NewHasher(cheap, c).sem), max(1, runtime.GOMAXPROCS(0)-1); got != want {
			t.Errorf("NewHasher(cheap, %d) concurrency = %d, want %d", c, got, want)
		}
	}
	if got := cap(NewHasher(cheap, 3).sem); got != 3 {
		t.Errorf("NewHasher(cheap, 3) concurrency = %d, want 3", got)
	}
}

func TestNewHasherInvalidParams(t *testing.T) {
	for _, p := range []Params{
		{Memory: 7, Time: 1, Threads: 1},
		{Memory: 64, Time: 1, Threads: 9},
		{Memory: 1<<20 + 1, Time: 1, Threads: 1},
		{Memory: 64, Time: 101, Threads: 1},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 8},
		{Memory: 64, Time: 1, Threads: 1, KeyLen: 129},
	} {
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%+v) did not panic", p)
				}
			}()
			NewHasher(p, 1)
		})
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	for _, pw := range []string{"", "correct horse battery staple", "🔑密码e\u0301", strings.Repeat("x", 1024)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash(%q): %v", pw, err)
		}
		m := phcRE.FindStringSubmatch(enc)
		if m == nil {
			t.Fatalf("Hash(%q) = %q, not a PHC string", pw, enc)
		}
		if got := m[1] + "," + m[2] + "," + m[3]; got != "64,1,1" {
			t.Errorf("Hash(%q) params = %s, want 64,1,1", pw, got)
		}
		salt, _ := base64.RawStdEncoding.DecodeString(m[4])
		key, _ := base64.RawStdEncoding.DecodeString(m[5])
		if len(salt) != 16 || len(key) != 32 {
			t.Errorf("Hash(%q): salt %d bytes, key %d bytes; want 16, 32", pw, len(salt), len(key))
		}
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if !ok || rehash || err != nil {
			t.Errorf("Verify(%q, Hash(%q)) = %v, %v, %v; want true, false, nil", pw, pw, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, pw+"x", enc)
		if ok || rehash || err != nil {
			t.Errorf("Verify(%q+\"x\", Hash(%q)) = %v, %v, %v; want false, false, nil", pw, pw, ok, rehash, err)
		}
	}
	a, _ := h.Hash(ctx, "same")
	b, _ := h.Hash(ctx, "same")
	if a == b {
		t.Errorf("two hashes of the same password are equal (salt not random): %q", a)
	}
}

// TestVerifyHandMade checks interoperability of the encoding with a PHC
// string built directly from argon2.IDKey, with other parameters.
func TestVerifyHandMade(t *testing.T) {
	salt := []byte("somesaltsomesalt")
	key := argon2.IDKey([]byte("password"), salt, 3, 32, 4, 24)
	enc := fmt.Sprintf("$argon2id$v=19$m=32,t=3,p=4$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	h := NewHasher(cheap, 1)
	ok, rehash, err := h.Verify(context.Background(), "password", enc)
	if !ok || !rehash || err != nil {
		t.Errorf("Verify(hand-made) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, _, err = h.Verify(context.Background(), "Password", enc)
	if ok || err != nil {
		t.Errorf("Verify(wrong, hand-made) = %v, %v; want false, nil", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(cheap, 1)
	enc, err := old.Hash(ctx, "hunter2hunter2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		p    Params
		want bool
	}{
		{"same", cheap, false},
		{"memory", Params{Memory: 128, Time: 1, Threads: 1}, true},
		{"time", Params{Memory: 64, Time: 2, Threads: 1}, true},
		{"threads", Params{Memory: 64, Time: 1, Threads: 2}, true},
		{"salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 32}, true},
		{"key", Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.p, 1)
			ok, rehash, err := h.Verify(ctx, "hunter2hunter2", enc)
			if !ok || rehash != tt.want || err != nil {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
			ok, rehash, err = h.Verify(ctx, "wrong", enc)
			if ok || rehash || err != nil {
				t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyBcrypt(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 1)
	b, err := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	base := string(b) // $2a$04$...
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + base[4:]
		ok, rehash, err := h.Verify(ctx, "imported password", enc)
		if !ok || !rehash || err != nil {
			t.Errorf("Verify(%s) = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, "imported passwore", enc)
		if ok || rehash || err != nil {
			t.Errorf("Verify(%s, wrong) = %v, %v, %v; want false, false, nil", prefix, ok, rehash, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 1)
	var hashOps atomic.Int32
	h.onAcquire = func() { hashOps.Add(1) }

	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	phc := func(v, params, s, k string) string {
		return "$argon2id$" + v + "$" + params + "$" + s + "$" + k
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"garbage", "garbage"},
		{"plaintext password", "hunter2hunter2"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$" + salt + "$" + key},
		{"wrong version", phc("v=16", "m=64,t=1,p=1", salt, key)},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"bad base64 salt", phc("v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!", key)},
		{"bad base64 hash", phc("v=19", "m=64,t=1,p=1", salt, "****")},
		{"padded base64", phc("v=19", "m=64,t=1,p=1", salt+"==", key)},
		{"url base64", phc("v=19", "m=64,t=1,p=1", salt, strings.Repeat("_", 43))},
		{"missing hash", phc("v=19", "m=64,t=1,p=1", salt, "")},
		{"extra field", phc("v=19", "m=64,t=1,p=1", salt, key) + "$x"},
		{"short salt", phc("v=19", "m=64,t=1,p=1", "YWJjZA", key)},
		{"short hash", phc("v=19", "m=64,t=1,p=1", salt, "YWJjZA")},
		{"huge m", phc("v=19", "m=4294967295,t=1,p=1", salt, key)},
		{"m over 1 GiB", phc("v=19", "m=1048577,t=1,p=1", salt, key)},
		{"m overflow", phc("v=19", "m=4294967296,t=1,p=1", salt, key)},
		{"m below 8p", phc("v=19", "m=15,t=1,p=2", salt, key)},
		{"t=0", phc("v=19", "m=64,t=0,p=1", salt, key)},
		{"t=101", phc("v=19", "m=64,t=101,p=1", salt, key)},
		{"huge t", phc("v=19", "m=64,t=4294967295,p=1", salt, key)},
		{"p=0", phc("v=19", "m=64,t=1,p=0", salt, key)},
		{"p=256", phc("v=19", "m=4096,t=1,p=256", salt, key)},
		{"signed m", phc("v=19", "m=+64,t=1,p=1", salt, key)},
		{"negative t", phc("v=19", "m=64,t=-1,p=1", salt, key)},
		{"params out of order", phc("v=19", "t=1,m=64,p=1", salt, key)},
		{"missing param", phc("v=19", "m=64,t=1", salt, key)},
		{"extra param", phc("v=19", "m=64,t=1,p=1,keyid=x", salt, key)},
		{"spaces", phc("v=19", "m=64, t=1, p=1", salt, key)},
		{"too long", phc("v=19", "m=64,t=1,p=1", salt, strings.Repeat("A", 600))},
		{"bcrypt garbage", "$2b$04$garbage"},
		{"bcrypt truncated", string(bc[:len(bc)-5])},
		{"bcrypt cost 31", "$2b$31$" + string(bc[7:])},
		{"bcrypt 2x", "$2x$" + string(bc[4:])},
		{"bcrypt 2", "$2$" + string(bc[4:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hashOps.Load()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			ok, rehash, err := h.Verify(ctx, "pw", tt.enc)
			runtime.ReadMemStats(&ms1)
			if ok || rehash || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformedHash", tt.enc, ok, rehash, err)
			}
			if n := hashOps.Load() - before; n != 1 {
				t.Errorf("Verify(%q) did %d hash operations, want 1 (the dummy work)", tt.enc, n)
			}
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 16<<20 {
				t.Errorf("Verify(%q) allocated %d bytes", tt.enc, alloc)
			}
		})
	}
}

func TestDummyVerify(t *testing.T) {
	h := NewHasher(cheap, 1)
	var hashOps atomic.Int32
	h.onAcquire = func() { hashOps.Add(1) }
	if err := h.DummyVerify(context.Background(), "anything"); err != nil {
		t.Fatalf("DummyVerify: %v", err)
	}
	if n := hashOps.Load(); n != 1 {
		t.Errorf("DummyVerify did %d hash operations, want 1", n)
	}
}

func TestCancelledContext(t *testing.T) {
	h := NewHasher(cheap, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	enc, err := NewHasher(cheap, 1).Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash(cancelled) error = %v, want context.Canceled", err)
	}
	if _, _, err := h.Verify(ctx, "pw", enc); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify(cancelled) error = %v, want context.Canceled", err)
	}
	if _, _, err := h.Verify(ctx, "pw", "garbage"); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(cancelled, garbage) error = %v, want context.Canceled and ErrMalformedHash", err)
	}
	if err := h.DummyVerify(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("DummyVerify(cancelled) error = %v, want context.Canceled", err)
	}
}

// waitFor yields until cond holds.
func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

func TestConcurrencyBound(t *testing.T) {
	const limit, callers = 2, 6
	h := NewHasher(cheap, limit)
	entered := make(chan struct{}, callers+1)
	release := make(chan struct{})
	h.onAcquire = func() {
		entered <- struct{}{}
		<-release
	}

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.Hash(ctx, fmt.Sprint("pw", i))
			errs <- err
		}()
	}

	// limit callers hold a slot; the others wait.
	for range limit {
		<-entered
	}
	waitFor(func() bool { return h.waiting.Load() == callers-limit })
	if got := h.inFlight.Load(); got != limit {
		t.Errorf("in flight = %d, want %d", got, limit)
	}
	if len(entered) != 0 {
		t.Errorf("%d more callers entered past the limit", len(entered))
	}

	// A caller whose context is cancelled while waiting gives up.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := h.Hash(cctx, "cancelled")
		done <- err
	}()
	waitFor(func() bool { return h.waiting.Load() == callers-limit+1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with context cancelled while waiting: error = %v, want context.Canceled", err)
	}

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Hash: %v", err)
		}
	}
	if got := h.maxInFlight.Load(); got != limit {
		t.Errorf("max in flight = %d, want %d", got, limit)
	}
	if got := h.inFlight.Load(); got != 0 {
		t.Errorf("in flight after all done = %d, want 0", got)
	}
}

func TestDefaultParamsRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams(), 0)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("Hash = %q, want prefix $argon2id$v=19$m=19456,t=2,p=1$", enc)
	}
	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	if !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	// A hash made with cheaper parameters needs rehashing.
	old, _ := NewHasher(cheap, 1).Hash(ctx, "pw")
	if ok, rehash, err := h.Verify(ctx, "pw", old); !ok || !rehash || err != nil {
		t.Errorf("Verify(cheap hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := NewHasher(DefaultParams(), 0)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := NewHasher(DefaultParams(), 0)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestPriorityLane: while a flood holds every regular slot and more wait,
// a priority caller (WithPriority: a known device's sign-in) gets the
// reserved slot at once; a second priority caller waits like anyone.
func TestPriorityLane(t *testing.T) {
	const limit, flood = 1, 5
	h := NewHasher(cheap, limit)
	entered := make(chan string, flood+2)
	release := make(chan struct{})
	h.onAcquire = func() { entered <- "x"; <-release }
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() { h.Hash(ctx, fmt.Sprint("flood", i)) })
	}
	<-entered
	waitFor(func() bool { return h.waiting.Load() == flood-limit })
	done := make(chan error, 1)
	go func() { _, err := h.Hash(WithPriority(ctx), "owner"); done <- err }()
	<-entered // the priority caller holds the reserved slot, the flood still waits
	if got := h.inFlight.Load(); got != limit+1 {
		t.Errorf("in flight = %d, want %d (the regular slots and the priority one)", got, limit+1)
	}
	if w := h.waiting.Load(); w != flood-limit {
		t.Errorf("waiting = %d, want the %d flood callers", w, flood-limit)
	}
	// A second priority caller finds both kinds of slot taken: it waits.
	go func() { h.Hash(WithPriority(ctx), "second") }()
	waitFor(func() bool { return h.waiting.Load() == flood-limit+1 })
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
