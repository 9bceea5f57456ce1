package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/throttle"
)

// Throttle is a login throttle whose counts live in Redis, so every authd
// instance sharing the store sees the same attempts. It follows
// throttle.Limiter's curve exactly: the count and the time of the last
// counted attempt are stored (hash P t:<name>:<key>), and the curve comes
// from throttle.Config.Steps as a script argument, so it is decided in Go
// only. Reserve decides and counts in one Lua script, which Redis runs
// atomically: concurrent attempts on one key get through exactly as the
// curve allows. The key expires after cfg.Forget without an attempt.
// cfg.MaxKeys is not used: Redis's memory policy bounds it.
type Throttle struct {
	s     *Store
	name  string
	cfg   throttle.Config
	steps string // comma-separated µs: the wait after attempt Free+1+i
}

// throttleLib computes the wait after count n: 0 up to Free (ARGV[4]),
// then the n-Free'th of the steps (ARGV[5]), then the ceiling (ARGV[6]).
const throttleLib = `
local function wait_after(n)
  local free = tonumber(ARGV[4])
  if n <= free then return 0 end
  local i = 0
  for s in string.gmatch(ARGV[5], '[^,]+') do
    i = i + 1
    if i == n - free then return tonumber(s) end
  end
  return tonumber(ARGV[6])
end
`

// reserveScript counts an attempt at ARGV[1] (µs) unless the key must
// wait; the count restarts when the last counted attempt is ARGV[2] µs old
// or more (Forget); the key expires after ARGV[3] ms. It returns 0 when
// the attempt was counted, else the wait in µs.
var reserveScript = newScript(throttleLib + `
local k = KEYS[1]
local now = tonumber(ARGV[1])
local n = tonumber(redis.call('HGET', k, 'f') or '0')
local l = tonumber(redis.call('HGET', k, 'l') or '0')
if n > 0 and now - l >= tonumber(ARGV[2]) then n = 0 end
if n > 0 then
  local wait = l + wait_after(n) - now
  if wait > 0 then return wait end
  if l > now then now = l end
end
n = n + 1
redis.call('HSET', k, 'f', string.format('%d', n), 'l', string.format('%d', now))
redis.call('PEXPIRE', k, ARGV[3])
return 0
`)

// releaseScript gives back one counted attempt.
var releaseScript = newScript(`
local k = KEYS[1]
local n = tonumber(redis.call('HGET', k, 'f') or '0')
if n <= 1 then redis.call('DEL', k) return 0 end
redis.call('HSET', k, 'f', string.format('%d', n - 1))
return n - 1
`)

// NewThrottle returns a Throttle named name (accounts, ips…: each name is
// its own key space) with throttle.New's defaults for zero fields.
func NewThrottle(store *Store, name string, cfg throttle.Config) *Throttle {
	cfg = cfg.WithDefaults()
	var steps []string
	for _, d := range cfg.Steps() {
		steps = append(steps, strconv.FormatInt(d.Microseconds(), 10))
	}
	return &Throttle{s: store, name: name, cfg: cfg, steps: strings.Join(steps, ",")}
}

// Reserve counts one attempt for key if it may go now (0), or returns the
// wait and counts nothing.
func (t *Throttle) Reserve(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("redisstore: throttle reserve: %w", err)
	}
	now := t.cfg.Now()
	ms := (t.cfg.Forget + time.Millisecond - 1) / time.Millisecond
	wait, err := t.s.do1(ctx, t.s.lua(reserveScript, t.s.kThrottle(t.name, key),
		micros(now), strconv.FormatInt(t.cfg.Forget.Microseconds(), 10), strconv.FormatInt(int64(ms), 10),
		strconv.Itoa(t.cfg.Free), t.steps, strconv.FormatInt(t.cfg.MaxDelay.Microseconds(), 10))).AsInt64()
	if err != nil {
		return 0, t.s.fail("throttle reserve", ctx, err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

// Release gives back one attempt reserved for key.
func (t *Throttle) Release(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: throttle release: %w", err)
	}
	if err := t.s.do1(ctx, t.s.lua(releaseScript, t.s.kThrottle(t.name, key))).Error(); err != nil {
		return t.s.fail("throttle release", ctx, err)
	}
	return nil
}

// Reset forgets key's attempts.
func (t *Throttle) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("redisstore: throttle reset: %w", err)
	}
	if err := t.s.c.Do(ctx, t.s.c.B().Del().Key(t.s.kThrottle(t.name, key)).Build()).Error(); err != nil {
		return t.s.fail("throttle reset", ctx, err)
	}
	return nil
}
