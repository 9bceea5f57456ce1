package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrMalformedHash is returned (wrapped) by [Hasher.Verify] when the stored
// hash cannot be parsed, uses an unsupported algorithm, or has parameters
// outside the accepted bounds.
var ErrMalformedHash = errors.New("password: malformed hash")

// Bounds on Argon2id parameters, applied both to the Params given to
// NewHasher and to the parameters read from a stored hash, so that a
// corrupted or hostile hash cannot make Verify allocate unbounded memory or
// spin for an unbounded time.
const (
	maxMemory  = 1 << 20 // KiB (1 GiB)
	maxTime    = 100
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 128

	// maxBcryptCost bounds the cost accepted from an imported bcrypt hash
	// (cost 16 is about 2^16 Blowfish key expansions, several seconds).
	maxBcryptCost = 16

	// maxEncodedLen bounds the length of a stored hash that is parsed.
	maxEncodedLen = 512
)

// Params are Argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8
	SaltLen uint32 // bytes, default 16
	KeyLen  uint32 // bytes, default 32
}

// DefaultParams returns the OWASP parameters: m=19456 KiB, t=2, p=1,
// 16-byte salt, 32-byte key.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// withDefaults replaces zero fields of p by those of DefaultParams.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return p
}

// validate reports whether p is within the accepted bounds.
func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("p must be at least 1")
	case p.Memory < 8*uint32(p.Threads):
		return errors.New("m must be at least 8*p")
	case p.Memory > maxMemory:
		return fmt.Errorf("m must be at most %d", maxMemory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("t must be between 1 and %d", maxTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt must be %d to %d bytes", minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("hash must be %d to %d bytes", minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords. At most a fixed number of hash
// operations run at once (a semaphore), so a flood of logins cannot starve
// other work; waiting for a slot respects the context, whose error is
// returned wrapped.
//
// The bound is what keeps the rest of the server responsive: an Argon2id
// hash is ~17 ms of CPU that the Go scheduler preempts only every 10 ms, so
// when hashes hold every P (GOMAXPROCS), a session check waits for a
// preemption, and its p99 during a login flood rose from 2.7 ms to 30–45 ms
// on two cores. [DefaultConcurrency] therefore leaves one P to the rest.
//
// A Hasher is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	// prio is one more slot that only priority callers (WithPriority) may
	// take, so they never queue behind a flood of other hashes.
	prio chan struct{}

	// dummySalt and dummyKey are random values used by DummyVerify.
	dummySalt []byte
	dummyKey  []byte

	// Instrumentation for tests.
	inFlight    atomic.Int32 // hash operations holding a slot
	maxInFlight atomic.Int32 // high-water mark of inFlight
	waiting     atomic.Int32 // callers waiting for a slot
	onAcquire   func()       // if non-nil, called while holding a slot

	// onWait, if set (ObserveWait), is told how long each caller that
	// got a slot waited for it.
	onWait func(time.Duration)
}

// DefaultConcurrency is the number of hashes a Hasher runs at once unless
// told otherwise: GOMAXPROCS − 1, at least 1. Hashing so never takes the
// last P, and requests that do not hash (session checks, token checks) are
// served while a login flood keeps the others busy; logins are served at
// the rate of the remaining cores (half the machine's on two cores, 3/4 on
// four). docs/benchmarks.md has the measurements behind the choice.
func DefaultConcurrency() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// NewHasher returns a Hasher using Argon2id parameters p, running at most
// concurrency hash operations at once. concurrency <= 0 means
// [DefaultConcurrency].
//
// Zero fields of p are replaced by those of [DefaultParams]. NewHasher panics
// if the resulting parameters are unusable (Memory < 8*Threads, Memory over
// 1 GiB, Time over 100, SaltLen outside 8..64 or KeyLen outside 16..128):
// this is a configuration error.
func NewHasher(p Params, concurrency int) *Hasher {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		panic("password: invalid Argon2id parameters: " + err.Error())
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency()
	}
	h := &Hasher{
		params:    p,
		sem:       make(chan struct{}, concurrency),
		prio:      make(chan struct{}, 1),
		dummySalt: make([]byte, p.SaltLen),
		dummyKey:  make([]byte, p.KeyLen),
	}
	rand.Read(h.dummySalt)
	rand.Read(h.dummyKey)
	return h
}

// ObserveWait makes h tell wait how long each hash waited for a slot
// (for metrics); wait must be quick and safe for concurrent use. Call it
// before h is used.
func (h *Hasher) ObserveWait(wait func(time.Duration)) { h.onWait = wait }

// InFlight is the number of hashes running now (holding a slot).
func (h *Hasher) InFlight() int { return int(h.inFlight.Load()) }

// Waiting is the number of callers waiting for a slot now.
func (h *Hasher) Waiting() int { return int(h.waiting.Load()) }

// Params returns the (effective) parameters used by h for new hashes.
func (h *Hasher) Params() Params { return h.params }

// acquire waits for a hashing slot. The returned function releases it.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("password: waiting to hash: %w", err)
	}
	h.waiting.Add(1)
	var start time.Time
	if h.onWait != nil {
		start = time.Now()
	}
	slot := h.sem
	var prio chan struct{} // nil: a send on it never proceeds
	if ctx.Value(priorityKey{}) != nil {
		prio = h.prio
	}
	select {
	case h.sem <- struct{}{}:
	case prio <- struct{}{}:
		slot = prio
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, fmt.Errorf("password: waiting to hash: %w", ctx.Err())
	}
	h.waiting.Add(-1)
	if h.onWait != nil {
		h.onWait(time.Since(start))
	}
	n := h.inFlight.Add(1)
	for {
		m := h.maxInFlight.Load()
		if n <= m || h.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if h.onAcquire != nil {
		h.onAcquire()
	}
	return func() {
		h.inFlight.Add(-1)
		<-slot
	}, nil
}

type priorityKey struct{}

// WithPriority marks ctx so that the Hasher's work for it may also use a
// slot reserved for priority callers: the server gives it to sign-ins from
// a device that signed in to the account before, so a flood of other
// sign-ins (which the throttle lets through, one budget per account and
// IP) cannot make the account's owner wait for the hasher. At most one
// priority hash runs beside the regular ones.
func WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

// idKey computes an Argon2id key while holding a slot.
func (h *Hasher) idKey(ctx context.Context, pw string, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// Hash returns the Argon2id hash of pw (its exact bytes, without
// normalisation) as a PHC string with a fresh random salt:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt b64 raw std>$<hash b64 raw std>
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	p := h.params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: generating salt: %w", err)
	}
	key, err := h.idKey(ctx, pw, salt, p, p.KeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify checks pw (its exact bytes) against an encoded hash: Argon2id PHC
// strings (any parameters within bounds) and bcrypt ($2a$, $2b$, $2y$) for
// imported users.
//
// needsRehash is true when ok and the hash is bcrypt, or Argon2id with
// parameters different from h.Params(); the caller should then store a new
// [Hasher.Hash] of pw.
//
// A malformed encoded hash returns an error wrapping [ErrMalformedHash],
// after doing the same work as [Hasher.DummyVerify] so that timing does not
// reveal it. A wrong password is not an error: it returns ok == false and a
// nil error. Comparison is constant-time.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, want, perr := parsePHC(encoded)
		if perr != nil {
			return false, false, h.malformed(ctx, pw, perr)
		}
		got, err := h.idKey(ctx, pw, salt, p, p.KeyLen)
		if err != nil {
			return false, false, err
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return false, false, nil
		}
		return true, p != h.params, nil

	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, cerr := bcrypt.Cost([]byte(encoded))
		if cerr != nil {
			return false, false, h.malformed(ctx, pw, cerr)
		}
		if cost > maxBcryptCost {
			return false, false, h.malformed(ctx, pw, fmt.Errorf("bcrypt cost %d above %d", cost, maxBcryptCost))
		}
		release, err := h.acquire(ctx)
		if err != nil {
			return false, false, err
		}
		// CompareHashAndPassword compares in constant time.
		err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		release()
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, fmt.Errorf("%w: %v", ErrMalformedHash, err)
		}

	default:
		return false, false, h.malformed(ctx, pw, errors.New("unsupported algorithm"))
	}
}

// malformed does the work of DummyVerify and returns an error wrapping
// ErrMalformedHash (joined with the context error if the work could not be
// done).
func (h *Hasher) malformed(ctx context.Context, pw string, reason error) error {
	err := fmt.Errorf("%w: %v", ErrMalformedHash, reason)
	if derr := h.DummyVerify(ctx, pw); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// DummyVerify does the same hashing work as a Verify of a wrong password
// against an Argon2id hash with h's params. Use it when the account is
// unknown, so that both paths cost the same. It returns an error only if ctx
// ends while waiting for a hashing slot.
func (h *Hasher) DummyVerify(ctx context.Context, pw string) error {
	got, err := h.idKey(ctx, pw, h.dummySalt, h.params, h.params.KeyLen)
	if err != nil {
		return err
	}
	subtle.ConstantTimeCompare(got, h.dummyKey)
	return nil
}

// parsePHC parses an Argon2id PHC string
// $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash> strictly, and checks its
// parameters against the bounds. The returned Params have SaltLen and KeyLen
// set from the decoded salt and hash.
func parsePHC(s string) (p Params, salt, key []byte, err error) {
	if len(s) > maxEncodedLen {
		return p, nil, nil, errors.New("too long")
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("unsupported version %q", parts[2])
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, fmt.Errorf("bad parameters %q", parts[3])
	}
	m, err1 := parseField(fields[0], "m=", 32)
	t, err2 := parseField(fields[1], "t=", 32)
	th, err3 := parseField(fields[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, nil, nil, err
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	enc := base64.RawStdEncoding.Strict()
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, nil, nil, fmt.Errorf("salt: %v", err)
	}
	if key, err = enc.DecodeString(parts[5]); err != nil {
		return p, nil, nil, fmt.Errorf("hash: %v", err)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return p, nil, nil, err
	}
	return p, salt, key, nil
}

// parseField parses "<prefix><decimal>" as an unsigned integer of the given
// bit size.
func parseField(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("expected %q parameter, got %q", prefix, s)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("parameter %q: %v", s, err)
	}
	return n, nil
}

// CheckEncoded reports whether encoded is a hash Verify can use: a
// well-formed argon2id PHC string within the accepted bounds, or a bcrypt
// hash ($2a$, $2b$, $2y$) of acceptable cost. It is for imports; it does no
// hashing.
func CheckEncoded(encoded string) error {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		if _, _, _, err := parsePHC(encoded); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformedHash, err)
		}
		return nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil || len(encoded) != 60 {
			return fmt.Errorf("%w: not a bcrypt hash", ErrMalformedHash)
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d above %d", ErrMalformedHash, cost, maxBcryptCost)
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported algorithm (want argon2id or bcrypt)", ErrMalformedHash)
}
