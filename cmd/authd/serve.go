package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/session"
	"github.com/authd/authd/throttle"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("authd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveFlags(fs, &c)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	if err := c.validate(true); err != nil {
		return usageError{err.Error()}
	}
	log, err := newLogger(&c, stderr)
	if err != nil {
		return err
	}
	proxies, _ := c.proxies()

	st, where, err := openStore(ctx, &c, c.AutoMigrate)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	// The effective configuration, without secrets.
	log.Info("authd starting", "version", versionString(), "addr", c.Addr, "store", where,
		"data_dir", c.DataDir, "session_idle_timeout", c.SessionIdle, "session_lifetime", c.SessionLifetime, "session_cache_ttl", c.SessionCacheTTL,
		"registration", c.Registration, "tls", c.TLSCert != "", "trusted_proxies", len(proxies),
		"argon2", fmt.Sprintf("m=%d,t=%d,p=%d", c.Argon2Memory, c.Argon2Time, c.Argon2Threads),
		"hash_concurrency", c.HashConcurrency, "password_min_length", c.PasswordMinLength,
		"login_throttle", c.LoginThrottle, "throttle_account_free", c.ThrottleAccountMax,
		"throttle_ip_free", c.ThrottleIPMax, "throttle_base_delay", c.ThrottleBaseDelay, "throttle_max_delay", c.ThrottleMaxDelay,
		"throttle_ipv6_prefix", c.ThrottleIPv6Prefix,
		"database_max_conns", c.DBMaxConns, "auto_migrate", c.AutoMigrate, "redis_prefix", c.RedisPrefix,
		"token_cache_size", c.TokenCacheSize, "feed_max_streams_per_client", c.FeedMaxStreams, "key_publish_lead", c.KeyPublishLead, "public_client_id", c.PublicClientID,
		"shutdown_timeout", c.ShutdownTimeout, "shutdown_delay", c.ShutdownDelay, "log_format", c.LogFormat)
	if c.Registration == "open" && c.TLSCert == "" {
		log.Debug("serving plain HTTP: put authd behind TLS outside development (the __Host- cookie is Secure)")
	}

	// Listen first: with --addr :0 the issuer must name the real port.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	svc := newServices(&c, st, log, time.Now)
	issuerURL := c.Issuer
	if issuerURL == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		issuerURL = scheme + "://" + ln.Addr().String()
	}
	tm, err := newTokenMode(ctx, &c, st, svc, strings.HasPrefix(where, "memory"), issuerURL, log, time.Now)
	if err != nil {
		return err
	}
	signer, err := tm.ring.Signer()
	if err != nil {
		return err
	}
	log.Info("token mode", "issuer", issuerURL, "audience", c.Audience, "access_token_ttl", c.AccessTokenTTL,
		"refresh_token_lifetime", c.RefreshLifetime, "refresh_token_idle", c.RefreshIdle, "refresh_grace", c.RefreshGrace,
		"signing_kid", signer.KID, "signing_alg", signer.Alg, "key_rotation_interval", c.KeyRotation,
		"scopes", c.Scopes, "revoked_sessions_loaded", svc.revoked.Len())
	cfg := server.Config{
		Verifier: tm.verifier,
		Tokens:   tm.server,
		Feed:     svc.feed,
		Users:    svc.users, Sessions: svc.sessions, Store: st,
		RegistrationClosed: c.Registration == "closed",
		TrustedProxies:     proxies,
		IPv6Prefix:         c.ThrottleIPv6Prefix,
		DeviceKey:          tm.deviceKey,
		Logger:             log,
	}
	if c.LoginThrottle == "on" {
		tc := throttle.Config{BaseDelay: c.ThrottleBaseDelay, MaxDelay: c.ThrottleMaxDelay}
		acct, ip := tc, tc
		acct.Free, ip.Free = c.ThrottleAccountMax, c.ThrottleIPMax
		cfg.AccountThrottle, cfg.IPThrottle = newThrottles(st, acct, ip)
	} else {
		log.Warn("login throttling is OFF: use this only for load tests")
	}
	srv := server.New(cfg)

	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		hs.Handler = hsts(hs.Handler) // hsts.go
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	fmt.Fprintf(stdout, "authd listening on %s://%s\n", scheme, ln.Addr())
	log.Info("listening", "url", fmt.Sprintf("%s://%s", scheme, ln.Addr()))

	// Background work, stopped only after the last request has finished
	// and waited for before the store closes.
	bgCtx, stopBG := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { maintainKeys(bgCtx, tm.ring, c.KeyRotation, c.KeyPublishLead, log) })
	if !strings.HasPrefix(where, "memory") {
		// Only another process can revoke behind this one's back; an
		// in-memory store has no other process to follow.
		bg.Go(func() {
			svc.sessions.WatchRevocations(bgCtx, session.WatchConfig{OnError: rateLimitedWarn(log, "follow revocations", time.Minute)})
		})
	}
	bg.Go(func() {
		sweep(bgCtx, func(ctx context.Context, grace time.Duration) (int, error) {
			if _, err := st.DeleteExpiredRefresh(ctx, time.Now().Add(-grace)); err != nil {
				return 0, err
			}
			for _, t := range []throttle.Throttler{cfg.AccountThrottle, cfg.IPThrottle} {
				if sw, ok := t.(interface {
					Sweep(context.Context) (int64, error)
				}); ok {
					if _, err := sw.Sweep(ctx); err != nil {
						return 0, err
					}
				}
			}
			return svc.sessions.Sweep(ctx, grace)
		}, log)
	})
	stopBackground := func() {
		stopBG()
		bg.Wait()
	}

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Graceful shutdown: readiness fails first so load balancers move
	// away, and for --shutdown-delay the instance still serves everything
	// else (a balancer notices the 503 only at its next health check);
	// revocation-feed streams end (their followers reconnect to another
	// instance); in-flight requests finish within the bound while
	// revocations from other instances are still followed; then the
	// background work stops, and the store closes (deferred above).
	srv.Drain()
	if c.ShutdownDelay > 0 {
		log.Info("draining: /readyz answers 503, still serving", "for", c.ShutdownDelay)
		select {
		case <-time.After(c.ShutdownDelay):
		case err := <-errc:
			stopBackground()
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	svc.feed.Close()
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown: requests still running were cut off", "err", err)
		hs.Close()
	}
	stopBackground()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// rateLimitedWarn logs an error at most once per period.
func rateLimitedWarn(log *slog.Logger, msg string, period time.Duration) func(error) {
	var last time.Time
	var mu sync.Mutex
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) >= period {
			last = time.Now()
			log.Warn(msg, "err", err)
		}
	}
}

// sweep deletes sessions past their absolute lifetime now and then.
func sweep(ctx context.Context, fn func(context.Context, time.Duration) (int, error), log *slog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if n, err := fn(ctx, 0); err != nil && ctx.Err() == nil {
			log.Warn("sweep expired sessions", "err", err)
		} else if n > 0 {
			log.Info("swept expired sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
