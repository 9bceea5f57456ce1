package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/user"
	"github.com/authd/authd/webhook"
)

// Backend says which store serves each kind of data. One constructor per
// deployment shape fills in every field, so the answer is written down
// once, here, and every consumer (the services, token mode, the admin
// commands, the sweeps, the revocation watcher, /readyz) takes the store
// it needs by name.
//
// Where the data lives, and why (docs/scaling.md, "What each store
// holds"):
//
//   - Users, signing keys, clients, consents, emailed tokens, the
//     mail outbox and the webhooks are always in SQL
//     (--database): they are few, long-lived, written rarely, and must
//     survive anything; a consent refers to a user and a client, and goes
//     when either is deleted.
//   - Sessions, refresh-token chains, the revocation list and
//     authorization codes are hot and expiring: in the SQL store by
//     default, in Redis with --redis, whose keys expire by themselves and
//     which several instances share.
//   - Login-throttle counters must be shared by every instance that may
//     serve the same users, or an attacker multiplies their guesses by the
//     number of instances: in Redis with --redis, in PostgreSQL's throttle
//     table without it. SQLite and memory:// serve one instance, so their
//     counters stay in memory.
type Backend struct {
	Users    user.Store
	Sessions session.Store // and the revocation list
	Refresh  refresh.Store
	Codes    authcode.Store // with the refresh chains: both are redeemed once
	Keys     jwks.Store
	Clients  client.Store
	Consents client.ConsentStore // next to Clients and Users: a consent refers to both
	// Tokens keeps emailed tokens and Outbox the mails that carry them,
	// both in SQL next to the users (a token is issued with its mail in
	// one transaction).
	Tokens user.TokenStore
	Outbox mail.Outbox
	// Audit keeps the security events, in SQL with the rest of the
	// record (webhook deliveries join its transaction).
	Audit audit.Store
	// Webhooks keeps the webhook subscriptions and their delivery outbox,
	// in SQL next to the audit trail (an event's deliveries are queued in
	// the transaction that records it).
	Webhooks webhook.Store
	// MFA keeps second factors, passkeys and sign-in challenges, in SQL
	// next to the users (their rows refer to them).
	MFA mfa.Store
	// Throttle returns the login throttle named name ("acct", "ip") with
	// the curve cfg, and sweep, which deletes its stale counters (nil when
	// they expire by themselves).
	Throttle func(name string, cfg throttle.Config) (t throttle.Throttler, sweep func(context.Context) (int64, error))
	// Where names the stores for logs, credentials already hidden
	// (redact.URL): print it as it is (a second redaction would take the
	// " + " of two URLs for one userinfo).
	Where string
	// Memory is set when --database is memory://: the signing keys die
	// with the process (no key-encryption key is needed to seal them) and
	// no other process shares the database, so there are no revocations
	// to follow.
	Memory bool

	pings  []func(context.Context) error
	closes []func() error // in order: the SQL store last
}

// Ping reports whether every store is reachable (for /readyz).
func (b *Backend) Ping(ctx context.Context) error {
	var errs []error
	for _, ping := range b.pings {
		errs = append(errs, ping(ctx))
	}
	return errors.Join(errs...)
}

// Close closes every store; a second call does nothing.
func (b *Backend) Close() error {
	var errs []error
	for _, fn := range b.closes {
		errs = append(errs, fn())
	}
	b.closes = nil
	return errors.Join(errs...)
}

// inMemoryThrottle keeps counters in this process: for the stores that
// serve one instance. The Limiter bounds its own memory.
func inMemoryThrottle(_ string, cfg throttle.Config) (throttle.Throttler, func(context.Context) (int64, error)) {
	return throttle.New(cfg), nil
}

// openBackend opens --database and, with --redis, moves the hot data to
// Redis (withRedis).
func openBackend(ctx context.Context, c *config, migrate bool) (*Backend, error) {
	kind, loc, err := c.databaseKind()
	if err != nil {
		return nil, usageError{err.Error()}
	}
	var b *Backend
	switch kind {
	case "memory":
		b = memoryBackend()
	case "sqlite":
		b, err = openSQLite(ctx, c, loc, migrate)
	case "postgres":
		b, err = openPostgres(ctx, c, loc, migrate)
	default:
		return nil, fmt.Errorf("unknown store kind %q", kind)
	}
	if err != nil || c.Redis == "" {
		return b, err
	}
	rb, err := withRedis(ctx, b, c)
	if err != nil {
		b.Close()
		return nil, err
	}
	return rb, nil
}

// memoryBackend keeps everything in this process (memory://): one
// instance, nothing survives a restart.
func memoryBackend() *Backend {
	st := memstore.New()
	return &Backend{
		Users: st, Sessions: st, Refresh: st, Codes: st, Keys: st, Clients: st, Consents: st, Tokens: st, Outbox: st, Audit: st, Webhooks: st, MFA: st,
		Throttle: inMemoryThrottle,
		Where:    "memory://",
		Memory:   true,
		pings:    []func(context.Context) error{st.Ping},
		closes:   []func() error{st.Close},
	}
}

// openSQLite keeps everything in one SQLite file (the default): one
// instance, so login throttling stays in memory.
func openSQLite(ctx context.Context, c *config, path string, migrate bool) (*Backend, error) {
	if err := ensureDataDir(c.DataDir); err != nil {
		return nil, err
	}
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{SkipMigrations: !migrate})
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return &Backend{
		Users: st, Sessions: st, Refresh: st, Codes: st, Keys: st, Clients: st, Consents: st, Tokens: st, Outbox: st, Audit: st, Webhooks: st, MFA: st,
		Throttle: inMemoryThrottle,
		Where:    "sqlite:" + path,
		pings:    []func(context.Context) error{st.Ping},
		closes:   []func() error{st.Close},
	}, nil
}

// openPostgres keeps everything in PostgreSQL, shared by every instance:
// the login-throttle counters too (its throttle table, swept now and
// then).
func openPostgres(ctx context.Context, c *config, dsn string, migrate bool) (*Backend, error) {
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{SkipMigrations: !migrate, MaxConns: int32(c.DBMaxConns)})
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", redact.URL(dsn), redact.Err(err, dsn))
	}
	return &Backend{
		Users: st, Sessions: st, Refresh: st, Codes: st, Keys: st, Clients: st, Consents: st, Tokens: st, Outbox: st, Audit: st, Webhooks: st, MFA: st,
		Throttle: func(name string, cfg throttle.Config) (throttle.Throttler, func(context.Context) (int64, error)) {
			t := pgstore.NewThrottle(st, name, cfg)
			return t, t.Sweep
		},
		Where:  redact.URL(dsn),
		pings:  []func(context.Context) error{st.Ping},
		closes: []func() error{st.Close},
	}, nil
}

// withRedis opens --redis and returns sql with the hot, expiring data
// moved there: sessions (and the revocation list), refresh chains,
// authorization codes and login-throttle counters, whose keys expire by
// themselves. Users, keys, clients and consents stay in sql. On error sql
// is left open for the caller.
func withRedis(ctx context.Context, sql *Backend, c *config) (*Backend, error) {
	rs, err := redisstore.Open(ctx, c.Redis, redisstore.Options{Prefix: c.RedisPrefix, CodeRetention: codeReplayWindow})
	if err != nil {
		return nil, fmt.Errorf("open redis %s: %w", redact.URL(c.Redis), redact.Err(err, c.Redis))
	}
	if err := rs.Ping(ctx); err != nil {
		rs.Close()
		return nil, fmt.Errorf("redis %s: %w", redact.URL(c.Redis), redact.Err(err, c.Redis))
	}
	return &Backend{
		Users:    sql.Users,
		Sessions: rs,
		Refresh:  rs,
		Codes:    rs,
		Keys:     sql.Keys,
		Clients:  sql.Clients,
		Consents: sql.Consents,
		Tokens:   sql.Tokens,
		Outbox:   sql.Outbox,
		Audit:    sql.Audit,
		Webhooks: sql.Webhooks,
		MFA:      sql.MFA,
		Throttle: func(name string, cfg throttle.Config) (throttle.Throttler, func(context.Context) (int64, error)) {
			return redisstore.NewThrottle(rs, name, cfg), nil
		},
		Where:  sql.Where + " + " + redact.URL(c.Redis),
		Memory: sql.Memory,
		pings:  append(append([]func(context.Context) error{}, sql.pings...), rs.Ping),
		closes: append([]func() error{rs.Close}, sql.closes...),
	}, nil
}

// codeReplayWindow is how long an authorization code is kept past its
// expiry: a replay within it is still recognised as one, and ends the
// session the code's first redemption created (RFC 6749 §4.1.2, RFC 9700
// §4.5), where a code already swept would only be unknown. The sweep
// keeps codes that long, and Redis keys live that long.
const codeReplayWindow = 10 * time.Minute

// sweepCodes deletes the authorization codes that expired more than
// codeReplayWindow before now.
func sweepCodes(ctx context.Context, codes authcode.Store, now time.Time) (int, error) {
	n, err := codes.DeleteExpiredCodes(ctx, now.Add(-codeReplayWindow))
	if err != nil {
		return 0, fmt.Errorf("sweep authorization codes: %w", err)
	}
	return n, nil
}
