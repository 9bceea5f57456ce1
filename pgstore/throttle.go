package pgstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/throttle"
	"github.com/jackc/pgx/v5"
)

// Throttle counts login attempts in PostgreSQL, so every instance sharing
// the database sees the same counts. It follows the curve of
// throttle.Limiter (free attempts, then a doubling delay up to a ceiling,
// forgotten after a quiet period) and implements the server's Throttler.
//
// Reserve decides and counts in one INSERT … ON CONFLICT DO UPDATE … WHERE:
// the conflicting row is locked and the WHERE re-checked on its newest
// version, so concurrent attempts on one key are serialised by PostgreSQL
// and exactly as many get through as the curve allows. The curve itself
// comes from throttle.Config.Steps as an array parameter, so it is decided
// in Go only.
type Throttle struct {
	s     *Store
	name  string
	cfg   throttle.Config
	steps []float64 // seconds; Steps()[i] is the wait after attempt Free+1+i
}

// NewThrottle returns a throttle whose keys are namespaced by name
// ("acct", "ip").
func NewThrottle(s *Store, name string, cfg throttle.Config) *Throttle {
	cfg = cfg.WithDefaults()
	t := &Throttle{s: s, name: name, cfg: cfg}
	for _, d := range cfg.Steps() {
		t.steps = append(t.steps, d.Seconds())
	}
	return t
}

// key namespaces k. A key PostgreSQL cannot hold as text (NUL, invalid
// UTF-8) is stored by its hash: the server never sends one, but a throttle
// must not turn odd input into a store error.
func (t *Throttle) key(k string) string {
	if !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0 {
		sum := sha256.Sum256([]byte(k))
		k = "h:" + hex.EncodeToString(sum[:])
	}
	return t.name + ":" + k
}

// nextCount is the count after this attempt, read from the locked row:
// counting restarts after a quiet Forget period.
const nextCount = `(CASE WHEN t.last_fail <= $2::timestamptz - make_interval(secs => $3::float8) THEN 1 ELSE t.fails + 1 END)`

// reserveSQL: $1 key, $2::timestamptz now, $3::float8 Forget (s), $4::int Free, $5 steps (s),
// $6::float8 MaxDelay (s). n is the count after this attempt; its wait is 0 up to
// Free, then steps[n-Free], then the ceiling.
const reserveSQL = `
INSERT INTO throttle AS t (key, fails, last_fail, wait_until)
VALUES ($1, 1, $2::timestamptz, $2::timestamptz + make_interval(secs => CASE WHEN 1 <= $4::int THEN 0 ELSE COALESCE(($5::float8[])[1 - $4::int], $6::float8) END))
ON CONFLICT (key) DO UPDATE SET
	fails = ` + nextCount + `,
	last_fail = $2::timestamptz,
	wait_until = $2::timestamptz + make_interval(secs => CASE WHEN ` + nextCount + ` <= $4::int THEN 0
		ELSE COALESCE(($5::float8[])[` + nextCount + ` - $4::int], $6::float8) END)
WHERE t.last_fail <= $2::timestamptz - make_interval(secs => $3::float8) OR t.wait_until <= $2::timestamptz
RETURNING t.fails`

// Reserve counts one attempt for key if it may go now (0), or returns the
// wait and counts nothing.
func (t *Throttle) Reserve(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := t.cfg.Now().UTC()
	k := t.key(key)
	for range 3 {
		var n int
		err := t.s.pool.QueryRow(ctx, reserveSQL, k, now, t.cfg.Forget.Seconds(), t.cfg.Free, t.steps, t.cfg.MaxDelay.Seconds()).Scan(&n)
		if err == nil {
			return 0, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, t.s.fail(ctx, "throttle reserve", err)
		}
		// The WHERE refused: the key must still wait. Read how long.
		var until time.Time
		err = t.s.pool.QueryRow(ctx, `SELECT wait_until FROM throttle WHERE key = $1`, k).Scan(&until)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // reset meanwhile: try again
		}
		if err != nil {
			return 0, t.s.fail(ctx, "throttle reserve", err)
		}
		if d := until.Sub(now); d > 0 {
			return d, nil
		}
	}
	// Three changes raced us; refuse rather than admit unchecked.
	return time.Second, nil
}

// Release gives back one attempt reserved for key.
func (t *Throttle) Release(ctx context.Context, key string) error {
	_, err := t.s.exec(ctx, "throttle release", `
		UPDATE throttle SET fails = fails - 1,
			wait_until = last_fail + make_interval(secs => CASE WHEN fails - 1 <= $2::int THEN 0 ELSE COALESCE(($3::float8[])[fails - 1 - $2::int], $4::float8) END)
		WHERE key = $1 AND fails > 0`, t.key(key), t.cfg.Free, t.steps, t.cfg.MaxDelay.Seconds())
	return err
}

// Reset forgets key.
func (t *Throttle) Reset(ctx context.Context, key string) error {
	_, err := t.s.exec(ctx, "throttle reset", `DELETE FROM throttle WHERE key = $1`, t.key(key))
	return err
}

// Sweep deletes counters nobody has tried for a Forget period.
func (t *Throttle) Sweep(ctx context.Context) (int64, error) {
	return t.s.exec(ctx, "throttle sweep", `DELETE FROM throttle WHERE last_fail < $1`, t.cfg.Now().Add(-t.cfg.Forget))
}
