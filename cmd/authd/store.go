package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/password"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
)

// store is what authd needs of a backend.
type store interface {
	session.Store
	user.Store
	refresh.Store
	jwks.Store
	client.Store
	Ping(ctx context.Context) error
	Close() error
}

// Aliases name the embedded fields of composite (they would all be
// called Store otherwise).
type (
	userStore    = user.Store
	keyStore     = jwks.Store
	clientStore  = client.Store
	sessionStore = session.Store
	refreshStore = refresh.Store
)

// composite keeps users, keys and clients in SQL and the hot, expiring
// data (sessions, refresh chains, revocations) in Redis.
type composite struct {
	userStore
	keyStore
	clientStore
	sessionStore
	refreshStore
	sql   store
	redis *redisstore.Store
}

func (c *composite) Ping(ctx context.Context) error {
	return errors.Join(c.sql.Ping(ctx), c.redis.Ping(ctx))
}

func (c *composite) Close() error {
	c.redis.Close()
	return c.sql.Close()
}

// openStore opens --database and, with --redis, puts Redis in front of it
// for sessions, refresh tokens and revocations. where names the store for
// logs, credentials already hidden (redact.URL): print it as it is (a
// second redaction would take the " + " of two URLs for one userinfo).
func openStore(ctx context.Context, c *config, migrate bool) (store, string, error) {
	st, where, err := openSQLStore(ctx, c, migrate)
	if err != nil || c.Redis == "" {
		return st, where, err
	}
	rs, err := redisstore.Open(ctx, c.Redis, redisstore.Options{Prefix: c.RedisPrefix})
	if err != nil {
		st.Close()
		return nil, "", fmt.Errorf("open redis %s: %w", redact.URL(c.Redis), redact.Err(err, c.Redis))
	}
	if err := rs.Ping(ctx); err != nil {
		rs.Close()
		st.Close()
		return nil, "", fmt.Errorf("redis %s: %w", redact.URL(c.Redis), redact.Err(err, c.Redis))
	}
	return &composite{userStore: st, keyStore: st, clientStore: st, sessionStore: rs, refreshStore: rs, sql: st, redis: rs},
		where + " + " + redact.URL(c.Redis), nil
}

func openSQLStore(ctx context.Context, c *config, migrate bool) (store, string, error) {
	kind, loc, err := c.databaseKind()
	if err != nil {
		return nil, "", usageError{err.Error()}
	}
	switch kind {
	case "memory":
		return memstore.New(), "memory://", nil
	case "sqlite":
		if err := ensureDataDir(c.DataDir); err != nil {
			return nil, "", err
		}
		st, err := sqlitestore.Open(ctx, loc, sqlitestore.Options{SkipMigrations: !migrate})
		if err != nil {
			return nil, "", fmt.Errorf("open sqlite store %s: %w", loc, err)
		}
		return st, "sqlite:" + loc, nil
	case "postgres":
		st, err := pgstore.Open(ctx, loc, pgstore.Options{SkipMigrations: !migrate, MaxConns: int32(c.DBMaxConns)})
		if err != nil {
			return nil, "", fmt.Errorf("open postgres store %s: %w", redact.URL(loc), redact.Err(err, loc))
		}
		return st, redact.URL(loc), nil
	}
	return nil, "", fmt.Errorf("unknown store kind %q", kind)
}

// services builds the domain services over st.
type services struct {
	users    *user.Service
	sessions *session.Manager
	clients  *client.Service
	revoked  *token.RevocationSet
	feed     *server.Feed
	events   *event.Bus
}

// revocationKeep is how long a revoked session stays in the revocation
// set: until every access token it could hold has expired.
func (c *config) revocationKeep() time.Duration { return c.AccessTokenTTL + token.MaxLeeway }

func newServices(c *config, st store, log *slog.Logger, now func() time.Time) services {
	revoked := token.NewRevocationSet(now)
	keep := c.revocationKeep()
	feed := server.NewFeed(keep)
	// Everything that happens to a session or a key is published on one
	// bus; the access-token revocation set and the feed subscribe.
	bus := &event.Bus{}
	bus.Subscribe(func(_ context.Context, e event.Event) {
		if e.Kind == event.SessionRevoked {
			// Refused until every access token it may hold has expired.
			revoked.Add(e.SessionID, e.At.Add(keep))
		}
	})
	bus.Subscribe(feed.Handle)
	sessions := session.NewManager(st, session.Config{
		Cookie:   session.Policy{IdleTimeout: c.SessionIdle, Lifetime: c.SessionLifetime},
		Token:    session.Policy{IdleTimeout: c.RefreshIdle, Lifetime: c.RefreshLifetime},
		CacheTTL: c.SessionCacheTTL,
		Events:   bus,
		Now:      now,
	})
	hasher := password.NewHasher(password.Params{
		Memory: uint32(c.Argon2Memory), Time: uint32(c.Argon2Time), Threads: uint8(c.Argon2Threads),
	}, c.HashConcurrency)
	users := user.NewService(user.Config{
		Store: st, Hasher: hasher, Policy: password.Policy{MinLength: c.PasswordMinLength},
		Sessions: sessions, Now: now, Logger: log,
	})
	return services{users: users, sessions: sessions, clients: client.NewService(st, now), revoked: revoked, feed: feed, events: bus}
}

// newThrottles returns the login throttles: shared through the store when
// several instances may serve the same users (PostgreSQL, Redis), in
// memory otherwise (SQLite and memory serve one instance).
func newThrottles(st store, acct, ip throttle.Config) (throttle.Throttler, throttle.Throttler) {
	switch s := st.(type) {
	case *composite:
		return redisstore.NewThrottle(s.redis, "acct", acct), redisstore.NewThrottle(s.redis, "ip", ip)
	case *pgstore.Store:
		return pgstore.NewThrottle(s, "acct", acct), pgstore.NewThrottle(s, "ip", ip)
	}
	return throttle.New(acct), throttle.New(ip)
}
