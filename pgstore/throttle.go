package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/authd/authd/throttle"
	"github.com/jackc/pgx/v5"
)

// Throttle counts failed logins in PostgreSQL, so every instance sharing
// the database sees the same counts. It follows the curve of
// throttle.Limiter (free attempts, then a doubling delay up to a ceiling,
// forgotten after a quiet period) and implements the server's Throttler.
type Throttle struct {
	s    *Store
	name string
	cfg  throttle.Config
}

// NewThrottle returns a throttle whose keys are namespaced by name
// ("acct", "ip").
func NewThrottle(s *Store, name string, cfg throttle.Config) *Throttle {
	return &Throttle{s: s, name: name, cfg: cfg.WithDefaults()}
}

func (t *Throttle) key(k string) string { return t.name + ":" + k }

// Wait returns how long key must wait.
func (t *Throttle) Wait(ctx context.Context, key string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var last, until time.Time
	err := t.s.pool.QueryRow(ctx, `SELECT last_fail, wait_until FROM throttle WHERE key = $1`, t.key(key)).Scan(&last, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, t.s.fail(ctx, "throttle wait", err)
	}
	now := t.cfg.Now()
	if now.Sub(last) >= t.cfg.Forget {
		return 0, nil
	}
	return max(until.Sub(now), 0), nil
}

// Fail records a failed attempt: one atomic upsert counts it (restarting
// the count after a quiet period) and sets the wait.
func (t *Throttle) Fail(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := t.cfg.Now().UTC()
	var fails int
	err := t.s.pool.QueryRow(ctx, `
		INSERT INTO throttle (key, fails, last_fail, wait_until) VALUES ($1, 1, $2, $2)
		ON CONFLICT (key) DO UPDATE SET
			fails = CASE WHEN throttle.last_fail <= $2 - make_interval(secs => $3) THEN 1 ELSE throttle.fails + 1 END,
			wait_until = CASE WHEN throttle.last_fail <= $2 - make_interval(secs => $3) THEN $2 ELSE throttle.wait_until END,
			last_fail = $2
		RETURNING fails`, t.key(key), now, t.cfg.Forget.Seconds()).Scan(&fails)
	if err != nil {
		return t.s.fail(ctx, "throttle fail", err)
	}
	until := now.Add(throttle.Delay(fails, t.cfg.Free, t.cfg.BaseDelay, t.cfg.MaxDelay))
	_, err = t.s.exec(ctx, "throttle fail", `UPDATE throttle SET wait_until = GREATEST(wait_until, $2) WHERE key = $1`, t.key(key), until)
	return err
}

// Reset forgets key.
func (t *Throttle) Reset(ctx context.Context, key string) error {
	_, err := t.s.exec(ctx, "throttle reset", `DELETE FROM throttle WHERE key = $1`, t.key(key))
	return err
}

// Sweep deletes counters nobody has failed for a Forget period.
func (t *Throttle) Sweep(ctx context.Context) (int64, error) {
	return t.s.exec(ctx, "throttle sweep", `DELETE FROM throttle WHERE last_fail < $1`, t.cfg.Now().Add(-t.cfg.Forget))
}
