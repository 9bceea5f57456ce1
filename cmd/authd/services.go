package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
)

// services are the domain services, over the stores a Backend names.
type services struct {
	users    *user.Service
	sessions *session.Manager
	clients  *client.Service
	revoked  *token.RevocationSet
	feed     *server.Feed
	events   *event.Bus
	audit    audit.Store
	hasher   *password.Hasher
	mfa      mfa.Store
	// metrics is set by serve with --metrics-addr; nil otherwise.
	metrics *metrics.Metrics
}

// revocationKeep is how long a revoked session stays in the revocation
// set: until every access token it could hold has expired.
func (c *config) revocationKeep() time.Duration { return c.AccessTokenTTL + token.MaxLeeway }

// keyRetain is how long a retired signing key stays published: until
// every token it signed has expired, access tokens and ID tokens
// (token.DefaultIDTokenTTL) alike.
func (c *config) keyRetain() time.Duration {
	return max(c.AccessTokenTTL, token.DefaultIDTokenTTL) + token.MaxLeeway
}

// newServices builds the services; email enables the emailed flows
// (serve's mail.go), zero for the admin commands.
func newServices(c *config, b *Backend, log *slog.Logger, now func() time.Time, email user.EmailConfig) services {
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
	// The audit trail records every security event, before the operation
	// that caused it returns (one insert; webhook deliveries join it).
	bus.Subscribe((&audit.Recorder{Store: b.Audit, Logger: log, Now: now}).Handle)
	sessions := session.NewManager(b.Sessions, session.Config{
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
		Store: b.Users, Hasher: hasher, Policy: password.Policy{MinLength: c.PasswordMinLength},
		Sessions: sessions, Now: now, Logger: log, Email: email, Events: bus,
	})
	return services{users: users, sessions: sessions, clients: client.NewService(b.Clients, b.Consents, now), revoked: revoked, feed: feed, events: bus, audit: b.Audit, hasher: hasher, mfa: b.MFA}
}
