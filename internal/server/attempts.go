package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/password"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/user"
)

// maxGuessesInFlight bounds the password hashes running at once for one
// throttle key (an account, or a known device of it). The throttle already
// admits only a handful of guesses per key; this keeps even those from
// occupying the hasher together.
const maxGuessesInFlight = 2

// A guess is one password check admitted by the throttle. Its attempt was
// counted BEFORE the hash (NIST SP 800-63B-4 §3.2.2; a check before the
// ~20 ms hash and a write after it would let parallel guesses through), so
// a guess that finds no budget left is refused without hashing. Exactly one
// of succeeded, failed or abandon ends it.
type guess struct {
	ctx   context.Context // the request's, marked for the hasher's priority slot when known
	s     *Server
	res   []reservation
	slot  string // in-flight key
	acct  string
	known bool // from a device that signed in to this account before
}

type reservation struct {
	t     throttle.Throttler
	key   string
	reset bool   // success resets the key; otherwise it gives its attempt back
	name  string // for Metrics.ThrottleRefused
}

// admit reserves an attempt at the password of the account acct (a
// throttleKey) for the request r.
//
// Lock-out resistance (OWASP "Slow down online guessing attacks with
// device cookies"): a client holding a device cookie for this account,
// given at an earlier successful sign-in, is counted under that device
// alone, so failures from elsewhere never slow its owner down. Every other
// source shares the account's budget, plus its own IP's and its own
// account+IP's. See docs/security.md for what this leaves an attacker.
func (s *Server) admit(ctx context.Context, r *http.Request, acct string) (*guess, error) {
	return s.admitAs(ctx, r, acct, "")
}

// admitAs is admit with the budgets kept under prefix: the second factor
// of an account ("mfa|") has budgets of its own, apart from its
// password's, and the device cookie of an earlier full sign-in to acct
// exempts its holder there too.
func (s *Server) admitAs(ctx context.Context, r *http.Request, acct, prefix string) (*guess, error) {
	ip := s.ipBucket(s.clientIP(r))
	g := &guess{s: s, acct: prefix + acct}
	if id, ok := s.knownDevice(r, acct); ok {
		g.known = true
		g.slot = prefix + "dev:" + id
		g.res = []reservation{{s.cfg.AccountThrottle, prefix + "dev:" + id, true, "device"}}
	} else {
		g.slot = prefix + acct
		g.res = []reservation{
			{s.cfg.AccountThrottle, prefix + acct, true, "account"},
			{s.cfg.AccountThrottle, prefix + acct + "|ip:" + ip, true, "account_ip"},
			{s.cfg.IPThrottle, "ip:" + ip, false, "ip"},
		}
	}
	g.ctx = ctx
	if g.known {
		// The owner's device must not queue behind a flood of other
		// sign-ins in the hasher either (password.WithPriority).
		g.ctx = password.WithPriority(ctx)
	}
	if !s.inflight.acquire(g.slot) {
		s.throttleRefused("in_flight")
		return nil, &authd.ThrottledError{RetryAfter: time.Second}
	}
	for i, rv := range g.res {
		if rv.t == nil {
			continue
		}
		wait, err := rv.t.Reserve(ctx, rv.key)
		if err == nil && wait <= 0 {
			continue
		}
		// Refused (or the store failed): give back what this guess took.
		g.res = g.res[:i]
		g.abandon(ctx)
		if err != nil {
			return nil, err // a throttle we cannot read fails closed: 503
		}
		s.throttleRefused(rv.name)
		return nil, &authd.ThrottledError{RetryAfter: wait}
	}
	return g, nil
}

// succeeded ends a guess whose password was right: the account's and the
// device's counts are forgotten, the IP gets its attempt back (other
// accounts' failures from that address still count).
func (g *guess) succeeded(ctx context.Context) {
	defer g.s.inflight.release(g.slot)
	ctx, cancel := settleContext(ctx)
	defer cancel()
	for _, rv := range g.res {
		if rv.t == nil {
			continue
		}
		var err error
		if rv.reset {
			err = rv.t.Reset(ctx, rv.key)
		} else {
			err = rv.t.Release(ctx, rv.key)
		}
		if err != nil {
			g.s.log.WarnContext(ctx, "throttle: settle a successful attempt", "err", err)
		}
	}
}

// failed ends a wrong guess: its counts stay.
func (g *guess) failed() { g.s.inflight.release(g.slot) }

// abandon ends a guess that never reached the password check (a malformed
// request, a store failure): every attempt it reserved is given back.
func (g *guess) abandon(ctx context.Context) {
	defer g.s.inflight.release(g.slot)
	ctx, cancel := settleContext(ctx)
	defer cancel()
	for _, rv := range g.res {
		if rv.t == nil {
			continue
		}
		if err := rv.t.Release(ctx, rv.key); err != nil {
			g.s.log.WarnContext(ctx, "throttle: release an abandoned attempt", "err", err)
		}
	}
}

// settleContext is the context a guess is settled in: the request's values
// without its deadline or cancellation, bounded on its own. A guess ended
// by the request's deadline (the hasher queue was long) must still give
// its attempts back, or the owner's own timed-out sign-ins would count as
// failures against their budget.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
}

// throttleKey is the account key a password attempt is counted under. A
// string that is no valid email (it may hold NUL, invalid UTF-8, anything a
// store refuses to hold) is counted under its hash, so every spelling of
// garbage still has a budget and no store sees the raw bytes.
func throttleKey(email string) string {
	if n, err := user.NormalizeEmail(email); err == nil {
		return "acct:" + n
	}
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "acct:?" + hex.EncodeToString(sum[:16])
}

// ipBucket is the key of a client address for the per-IP throttles: an
// IPv4 address as is, an IPv6 address by its prefix (/64 by default: one
// subscriber usually holds a whole /64, so per-address counting would give
// each of its 2^64 addresses a fresh budget).
func (s *Server) ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(s.cfg.IPv6Prefix)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// inflight counts the guesses running per key, within this process.
type inflight struct {
	mu sync.Mutex
	m  map[string]int
}

func (f *inflight) acquire(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]int{}
	}
	if f.m[key] >= maxGuessesInFlight {
		return false
	}
	f.m[key]++
	return true
}

func (f *inflight) release(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[key]--; f.m[key] <= 0 {
		delete(f.m, key)
	}
}
