package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/authd/authd/throttle"
)

// Throttle is a login throttle whose counts live in Redis, so every authd
// instance sharing the store sees the same failures. It follows
// throttle.Limiter's curve exactly: the count and the time of the last
// failure are stored (hash P t:<name>:<key>), and the wait is computed in
// Go with throttle.Delay. The key expires after cfg.Forget without a
// failure. cfg.MaxKeys is not used: Redis's memory policy bounds it.
type Throttle struct {
	s    *Store
	name string
	cfg  throttle.Config
}

// failScript counts a failure at ARGV[1] (µs): the count restarts when the
// previous failure is ARGV[2] µs old or more (Forget); the key expires
// after ARGV[3] ms. It returns the count.
var failScript = newScript(`
local k = KEYS[1]
local f = redis.call('HGET', k, 'f')
local l = redis.call('HGET', k, 'l')
local now = ARGV[1]
local n = 1
if f and l and tonumber(now) - tonumber(l) < tonumber(ARGV[2]) then
  n = tonumber(f) + 1
  if tonumber(l) > tonumber(now) then now = l end
end
redis.call('HSET', k, 'f', tostring(n), 'l', now)
redis.call('PEXPIRE', k, ARGV[3])
return n
`)

// NewThrottle returns a Throttle named name (accounts, ips…: each name is
// its own key space) with throttle.New's defaults for zero fields.
func NewThrottle(store *Store, name string, cfg throttle.Config) *Throttle {
	return &Throttle{s: store, name: name, cfg: cfg.WithDefaults()}
}

// Wait returns how long key must wait before its next attempt (0: go).
func (t *Throttle) Wait(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: throttle wait: %w", err)
	}
	now := t.cfg.Now()
	vals, err := t.s.c.Do(ctx, t.s.c.B().Hmget().Key(t.s.kThrottle(t.name, key)).Field("f", "l").Build()).ToArray()
	if err != nil {
		return 0, t.s.fail("throttle wait", ctx, err)
	}
	if len(vals) != 2 {
		return 0, nil
	}
	f, err1 := vals[0].AsInt64()
	l, err2 := vals[1].AsInt64()
	if err1 != nil || err2 != nil {
		return 0, nil // no failures recorded
	}
	last := time.UnixMicro(l)
	if now.Sub(last) >= t.cfg.Forget {
		return 0, nil
	}
	until := last.Add(throttle.Delay(int(f), t.cfg.Free, t.cfg.BaseDelay, t.cfg.MaxDelay))
	if d := until.Sub(now); d > 0 {
		return d, nil
	}
	return 0, nil
}

// Fail records a failed attempt for key.
func (t *Throttle) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: throttle fail: %w", err)
	}
	now := t.cfg.Now()
	ms := (t.cfg.Forget + time.Millisecond - 1) / time.Millisecond
	err := t.s.do1(ctx, t.s.lua(failScript, t.s.kThrottle(t.name, key),
		micros(now), strconv.FormatInt(t.cfg.Forget.Microseconds(), 10), strconv.FormatInt(int64(ms), 10))).Error()
	if err != nil {
		return t.s.fail("throttle fail", ctx, err)
	}
	return nil
}

// Reset forgets key's failures.
func (t *Throttle) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: throttle reset: %w", err)
	}
	if err := t.s.c.Do(ctx, t.s.c.B().Del().Key(t.s.kThrottle(t.name, key)).Build()).Error(); err != nil {
		return t.s.fail("throttle reset", ctx, err)
	}
	return nil
}
