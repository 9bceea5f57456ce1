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
	"sync"
	"time"

	"github.com/authd/authd/backchannel"
	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/session"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/webhook"
)

// serve is `authd serve`: flags, then Main's Open, Run and Close.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	m := &Main{Stdout: stdout, Stderr: stderr}
	fs := flag.NewFlagSet("authd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serveFlags(fs, &m.Config)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	err := m.Open(ctx)
	if err == nil {
		err = m.Run(ctx)
	}
	if cerr := m.Close(); cerr != nil && m.Log != nil {
		m.Log.Error("close store", "err", cerr)
	}
	return err
}

// Main is the server, as an object (after benbjohnson/wtf's cmd/wtfd):
// set Config (serveFlags), then Open builds everything and listens, Run
// serves until its context ends and shuts down gracefully, and Close
// releases what Open acquired, the stores last. Close is needed after a
// failed Open too.
type Main struct {
	Config         config
	Stdout, Stderr io.Writer // the listening line; the log

	Log     *slog.Logger // set by Open
	Backend *Backend     // set by Open

	svc    services
	tm     *tokenMode
	srv    *server.Server
	hs     *http.Server
	ln     net.Listener // Open's, until Run hands it to hs
	sweeps []func(context.Context) (int64, error)
	mail   *mailer
	hooks  *webhook.Sender
	mfa    *mfa.Service

	// With --metrics-addr: the collectors, and their own server and
	// listener (Open's, until Run hands it to mhs).
	metrics *metrics.Metrics
	mhs     *http.Server
	mln     net.Listener
}

// Open checks the configuration, opens the backend, builds the services
// and token mode over it, and listens on --addr. It prints the effective
// configuration and, last, the "authd listening on URL" line.
func (m *Main) Open(ctx context.Context) error {
	c := &m.Config
	if err := c.validate(true); err != nil {
		return usageError{err.Error()}
	}
	log, err := newLogger(c, m.Stderr)
	if err != nil {
		return err
	}
	m.Log = log
	proxies, _ := c.proxies()

	b, err := openBackend(ctx, c, c.AutoMigrate)
	if err != nil {
		return err
	}
	m.Backend = b
	if c.MetricsAddr != "" {
		m.metrics = metrics.New()
		m.instrumentStores(c)
	}

	// The effective configuration, without secrets.
	log.Info("authd starting", "version", versionString(), "addr", c.Addr, "store", b.Where,
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
	m.ln, err = net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	issuerURL := c.Issuer
	if issuerURL == "" {
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		issuerURL = scheme + "://" + m.ln.Addr().String()
	}
	var mailObserver func(string)
	if m.metrics != nil {
		mailObserver = m.metrics.Mail
	}
	m.mail, err = openMail(c, b, issuerURL, log, mailObserver)
	if err != nil {
		return err
	}
	m.svc = newServices(c, b, log, time.Now, m.mail.userConfig(c, b, issuerURL))
	m.svc.metrics = m.metrics
	m.observeServices()
	notifyReplays(m.svc.events, m.svc.users, log)
	m.tm, err = newTokenMode(ctx, c, b, m.svc, issuerURL, log, time.Now)
	if err != nil {
		return err
	}
	m.hooks, err = openWebhooks(c, b, m.svc, m.tm.kek, log)
	if err != nil {
		return err
	}
	m.mfa = openMFA(b, m.tm.kek, issuerURL)
	m.sweeps = append(m.sweeps, m.mfa.Sweep) // expired sign-in challenges
	passkeys, err := openPasskeys(c, m.mfa, m.svc.users, issuerURL, log)
	if err != nil {
		return err
	}
	signer, err := m.tm.ring.Signer()
	if err != nil {
		return err
	}
	log.Info("token mode", "issuer", issuerURL, "audience", c.Audience, "access_token_ttl", c.AccessTokenTTL,
		"refresh_token_lifetime", c.RefreshLifetime, "refresh_token_idle", c.RefreshIdle, "refresh_grace", c.RefreshGrace,
		"signing_kid", signer.KID, "signing_alg", signer.Alg, "key_rotation_interval", c.KeyRotation,
		"scopes", c.Scopes, "revoked_sessions_loaded", m.svc.revoked.Len())
	cfg := server.Config{
		Verifier: m.tm.verifier,
		Tokens:   m.tm.server,
		Feed:     m.svc.feed,
		Users:    m.svc.users, Sessions: m.svc.sessions, Store: b,
		RegistrationClosed: c.Registration == "closed",
		TrustedProxies:     proxies,
		IPv6Prefix:         c.ThrottleIPv6Prefix,
		DeviceKey:          m.tm.deviceKey,
		NotifyNewDevice:    c.NotifyNewDevice,
		Events:             m.svc.events,
		Audit:              b.Audit,
		MFA:                m.mfa,
		Passkeys:           passkeys,
		Logger:             log,
	}
	if m.metrics != nil {
		cfg.Metrics = m.metrics
	}
	if c.LoginThrottle == "on" {
		tc := throttle.Config{BaseDelay: c.ThrottleBaseDelay, MaxDelay: c.ThrottleMaxDelay}
		acct, ip := tc, tc
		acct.Free, ip.Free = c.ThrottleAccountMax, c.ThrottleIPMax
		var sweepAcct, sweepIP func(context.Context) (int64, error)
		cfg.AccountThrottle, sweepAcct = b.Throttle("acct", acct)
		cfg.IPThrottle, sweepIP = b.Throttle("ip", ip)
		for _, sw := range []func(context.Context) (int64, error){sweepAcct, sweepIP} {
			if sw != nil {
				m.sweeps = append(m.sweeps, sw)
			}
		}
		// Mails a client can have sent: 3 per address (then one per 20
		// min, doubling to an hour: authd cannot flood an inbox), 20 per
		// IP (then one a minute, doubling to an hour).
		var sweepAddr, sweepMailIP func(context.Context) (int64, error)
		cfg.MailAddrThrottle, sweepAddr = b.Throttle("mail", throttle.Config{Free: 2, BaseDelay: 20 * time.Minute, MaxDelay: time.Hour, Forget: 2 * time.Hour})
		cfg.MailIPThrottle, sweepMailIP = b.Throttle("mailip", throttle.Config{Free: 19, BaseDelay: time.Minute, MaxDelay: time.Hour, Forget: 2 * time.Hour})
		for _, sw := range []func(context.Context) (int64, error){sweepAddr, sweepMailIP} {
			if sw != nil {
				m.sweeps = append(m.sweeps, sw)
			}
		}
	} else {
		log.Warn("login throttling is OFF: use this only for load tests")
	}
	m.srv = server.New(cfg)

	m.hs = &http.Server{
		Handler:           m.srv,
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
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		m.hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		m.hs.Handler = hsts(m.hs.Handler) // hsts.go
		m.ln = tls.NewListener(m.ln, m.hs.TLSConfig)
		scheme = "https"
	}
	if err := m.listenMetrics(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "authd listening on %s://%s\n", scheme, m.ln.Addr())
	log.Info("listening", "url", fmt.Sprintf("%s://%s", scheme, m.ln.Addr()))
	return nil
}

// Run serves what Open built until ctx ends, then shuts down gracefully.
// It starts the background work (key maintenance, the revocation
// watcher, the sweeps, back-channel logout, mail and webhook delivery), which stops only after the
// last request has finished. The stores stay open for Close.
func (m *Main) Run(ctx context.Context) error {
	c, log, b := &m.Config, m.Log, m.Backend

	// Background work, stopped only after the last request has finished
	// and waited for before the store closes.
	bgCtx, stopBG := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	bg.Go(func() { maintainKeys(bgCtx, m.tm.ring, c.KeyRotation, c.KeyPublishLead, log, m.svc.events) })
	bg.Go(func() { m.tm.logout.Run(bgCtx) })
	bg.Go(func() { m.mail.run(bgCtx) })
	bg.Go(func() { m.hooks.Run(bgCtx) })
	if !b.Memory {
		// Only another process can revoke behind this one's back; an
		// in-memory store has no other process to follow.
		bg.Go(func() {
			m.svc.sessions.WatchRevocations(bgCtx, session.WatchConfig{OnError: rateLimitedWarn(log, "follow revocations", time.Minute)})
		})
	}
	bg.Go(func() {
		sweep(bgCtx, func(ctx context.Context, grace time.Duration) (int, error) {
			if _, err := b.Refresh.DeleteExpiredRefresh(ctx, time.Now().Add(-grace)); err != nil {
				return 0, err
			}
			if _, err := sweepCodes(ctx, b.Codes, time.Now().Add(-grace)); err != nil {
				return 0, err
			}
			if _, err := b.Tokens.DeleteExpiredTokens(ctx, time.Now().Add(-grace)); err != nil {
				return 0, err
			}
			if _, err := b.Audit.DeleteEventsBefore(ctx, time.Now().Add(-c.AuditRetention)); err != nil {
				return 0, err
			}
			for _, sw := range m.sweeps {
				if _, err := sw(ctx); err != nil {
					return 0, err
				}
			}
			return m.svc.sessions.Sweep(ctx, grace)
		}, log)
	})
	stopBackground := func() {
		// Logout tokens due now get one attempt's time to go out: the
		// back-channel logout queue is in memory (package backchannel).
		lctx, cancel := context.WithTimeout(context.Background(), backchannel.DefaultTimeout)
		m.tm.logout.Close(lctx)
		cancel()
		stopBG()
		bg.Wait()
	}

	ln := m.ln
	m.ln = nil // hs closes it from now on
	errc := make(chan error, 1)
	go func() { errc <- m.hs.Serve(ln) }()
	if m.mhs != nil {
		mln := m.mln
		m.mln = nil // mhs closes it from now on
		go func() {
			if err := m.mhs.Serve(mln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server stopped", "err", err)
			}
		}()
		// Scrapes go on while draining; the metrics server stops last.
		defer m.mhs.Close()
	}

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
	// background work stops, and the store closes (in Close).
	m.srv.Drain()
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
	m.svc.feed.Close()
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := m.hs.Shutdown(sctx); err != nil {
		log.Warn("shutdown: requests still running were cut off", "err", err)
		m.hs.Close()
	}
	stopBackground()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// Close releases what Open acquired: the listener, if Run never took it,
// then the stores. Call it after Run has returned, or instead of Run; a
// second call does nothing.
func (m *Main) Close() error {
	if m.ln != nil {
		m.ln.Close()
		m.ln = nil
	}
	if m.mln != nil {
		m.mln.Close()
		m.mln = nil
	}
	if m.Backend != nil {
		return m.Backend.Close()
	}
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

// instrumentStores times the hot calls of the session, refresh-token and
// user stores (package metrics says which), labelled with the kind of
// store serving each, and counts the mails queued.
func (m *Main) instrumentStores(c *config) {
	b := m.Backend
	sqlKind, _, _ := c.databaseKind()
	hotKind := sqlKind
	if c.Redis != "" {
		hotKind = "redis"
	}
	b.Sessions = m.metrics.Sessions(hotKind, b.Sessions)
	b.Refresh = m.metrics.Refresh(hotKind, b.Refresh)
	b.Users = m.metrics.Users(sqlKind, b.Users)
	b.Outbox = m.metrics.Outbox(b.Outbox)
	b.Tokens = m.metrics.Tokens(b.Tokens)
}

// observeServices connects the services' hooks to the metrics: the
// hasher's queue, revocations by cause (a subscriber of the bus), the
// revocation feed's followers and lag.
func (m *Main) observeServices() {
	mt := m.metrics
	if mt == nil {
		return
	}
	h := m.svc.hasher
	h.ObserveWait(mt.HashWait)
	mt.Gauge("authd_password_hash_in_flight", "Password hashes running now.", func() float64 { return float64(h.InFlight()) })
	mt.Gauge("authd_password_hash_waiting", "Password hashes waiting for a hashing slot now.", func() float64 { return float64(h.Waiting()) })
	m.svc.events.Subscribe(func(_ context.Context, e event.Event) {
		if e.Kind == event.SessionRevoked {
			mt.Revoked(string(e.Cause))
		}
	})
	feed := m.svc.feed
	feed.ObserveLag = mt.FeedLag
	mt.Gauge("authd_revocation_feed_followers", "Revocation-feed streams open on this instance.", func() float64 { return float64(feed.Followers()) })
}

// listenMetrics listens on --metrics-addr, if set, and prepares its
// server: GET /metrics only, nothing of the API.
func (m *Main) listenMetrics() error {
	if m.metrics == nil {
		return nil
	}
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen (--metrics-addr): %w", err)
	}
	if ln.Addr().String() == m.ln.Addr().String() {
		ln.Close()
		return usageError{"--metrics-addr must differ from --addr"}
	}
	m.mln = ln
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.metrics.Handler())
	m.mhs = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	url := fmt.Sprintf("http://%s/metrics", ln.Addr())
	fmt.Fprintf(m.Stdout, "authd metrics on %s\n", url)
	m.Log.Info("metrics", "url", url)
	return nil
}
