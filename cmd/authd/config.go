package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/password"
	"github.com/authd/authd/session"
	"github.com/authd/authd/webhook"
)

// config is everything serve and the admin commands read from flags and
// AUTHD_* environment variables.
type config struct {
	Addr               string
	MetricsAddr        string
	DataDir            string
	Database           string
	Redis              string
	RedisPrefix        string
	DBMaxConns         int
	AutoMigrate        bool
	SessionIdle        time.Duration
	SessionLifetime    time.Duration
	SessionCacheTTL    time.Duration
	Registration       string
	TLSCert, TLSKey    string
	TrustedProxies     string
	Argon2Memory       uint
	Argon2Time         uint
	Argon2Threads      uint
	HashConcurrency    int
	PasswordMinLength  int
	LoginThrottle      string
	ThrottleAccountMax int
	ThrottleIPMax      int
	ThrottleBaseDelay  time.Duration
	ThrottleMaxDelay   time.Duration
	ThrottleIPv6Prefix int
	ShutdownTimeout    time.Duration
	ShutdownDelay      time.Duration
	Issuer             string
	WebAuthnRPID       string
	WebAuthnOrigins    string
	Audience           string
	AccessTokenTTL     time.Duration
	RefreshLifetime    time.Duration
	RefreshIdle        time.Duration
	RefreshGrace       time.Duration
	SigningAlg         string
	KeyEncryptionKey   string
	KeyRotation        time.Duration
	Scopes             string
	PublicClientID     string
	PasswordGrant      string
	TokenCacheSize     int
	FeedMaxStreams     int
	KeyPublishLead     time.Duration
	LogLevel           string
	LogFormat          string
	SMTPURL            string
	MailFrom           string
	MailTemplates      string
	ResetTokenTTL      time.Duration
	RequireVerified    bool
	NotifyNewDevice    bool
	AuditRetention     time.Duration
	WebhookRetryMin    time.Duration
}

// storeFlags are the flags every command that opens the store needs.
func storeFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.DataDir, "data-dir", "./authd-data", "directory for authd's files (created with mode 0700)")
	fs.StringVar(&c.Database, "database", "", "store: sqlite:PATH, postgres://USER:PASS@HOST/DB, memory:// (ephemeral); default: an SQLite file in the data dir")
	fs.StringVar(&c.Redis, "redis", "", "keep sessions, refresh tokens, revocations and login throttling in Redis: redis://, rediss://, redis-sentinel://, redis-cluster:// (users, keys and clients stay in --database)")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", "authd:", "prefix of every Redis key (several deployments can share one Redis)")
	fs.IntVar(&c.DBMaxConns, "database-max-conns", 16, "PostgreSQL connection pool size per instance")
	fs.UintVar(&c.Argon2Memory, "argon2-memory", 19456, "Argon2id memory cost in KiB (OWASP: 19456)")
	fs.UintVar(&c.Argon2Time, "argon2-time", 2, "Argon2id iterations (OWASP: 2)")
	fs.UintVar(&c.Argon2Threads, "argon2-threads", 1, "Argon2id parallelism (OWASP: 1)")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", password.DefaultConcurrency(), "password hashes computed at once; more wait (default: GOMAXPROCS-1, at least 1, so hashing never takes every CPU)")
	fs.IntVar(&c.PasswordMinLength, "password-min-length", 12, "minimum password length in characters (NIST SP 800-63B-4: at least 8, 15 for single-factor)")
	fs.DurationVar(&c.AccessTokenTTL, "access-token-ttl", 10*time.Minute, "lifetime of access tokens (JWT)")
	fs.DurationVar(&c.RefreshLifetime, "refresh-token-lifetime", 30*24*time.Hour, "absolute lifetime of a token session (its refresh-token chain)")
	fs.DurationVar(&c.RefreshIdle, "refresh-token-idle", 7*24*time.Hour, "a token session unused for this long ends")
	fs.DurationVar(&c.KeyPublishLead, "key-publish-lead", time.Minute, "a rotated key is published this long before it signs (longer than verifiers' JWKS cache and instances' reload)")
	fs.StringVar(&c.SigningAlg, "signing-alg", "EdDSA,RS256", "algorithms authd signs with, comma-separated, each with its own key (EdDSA, ES256, RS256): the first signs access tokens; ID tokens are RS256 (OpenID Connect Core §15.1) unless a client registered another")
	fs.StringVar(&c.KeyEncryptionKey, "key-encryption-key", "", "32-byte key (base64) sealing signing keys at rest; default: generated into <data-dir>/kek (development only)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
}

func serveFlags(fs *flag.FlagSet, c *config) {
	storeFlags(fs, c)
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics at GET /metrics on this separate address, e.g. 127.0.0.1:9090 (default: off; never on --addr)")
	fs.BoolVar(&c.AutoMigrate, "auto-migrate", true, "apply schema migrations at start (false: run 'authd migrate' before starting)")
	fs.DurationVar(&c.SessionIdle, "session-idle-timeout", 30*time.Minute, "end a session unused for this long")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", 24*time.Hour, "end a session this long after login (NIST SP 800-63B-4 AAL2: 24h)")
	fs.DurationVar(&c.SessionCacheTTL, "session-cache-ttl", time.Second, "keep successful session look-ups in memory this long (0 to 1s; 0 disables); revocations elsewhere take effect within it")
	fs.StringVar(&c.Registration, "registration", "open", "open or closed: whether POST /v1/users is allowed")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key for --tls-cert (PEM)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&c.LoginThrottle, "login-throttle", "on", "on or off (off only for load tests)")
	fs.IntVar(&c.ThrottleAccountMax, "throttle-account-free", 5, "failed logins per account before delays start")
	fs.IntVar(&c.ThrottleIPMax, "throttle-ip-free", 20, "failed logins per client IP before delays start")
	fs.DurationVar(&c.ThrottleBaseDelay, "throttle-base-delay", time.Second, "first delay; it doubles with each further failure")
	fs.DurationVar(&c.ThrottleMaxDelay, "throttle-max-delay", 15*time.Minute, "longest delay (never a permanent lock-out)")
	fs.IntVar(&c.ThrottleIPv6Prefix, "throttle-ipv6-prefix", 64, "IPv6 clients share a per-IP budget per prefix of this length (IPv4: per address)")
	fs.StringVar(&c.Issuer, "issuer", "", "iss of access tokens and base URL of the OAuth metadata (default: http(s)://<addr>)")
	fs.StringVar(&c.WebAuthnRPID, "webauthn-rp-id", "", "passkeys' relying party ID: a domain, the origins' host or a registrable suffix of it (default: the issuer's host; passkeys are off if that is an IP address)")
	fs.StringVar(&c.WebAuthnOrigins, "webauthn-origins", "", "comma-separated origins (scheme://host[:port]) passkey ceremonies may run on (default: the issuer's)")
	fs.StringVar(&c.Audience, "audience", "authd", "aud of access tokens")
	fs.DurationVar(&c.RefreshGrace, "refresh-grace", 10*time.Second, "a just-rotated refresh token may be redeemed again this long (two tabs refreshing at once); 0 disables")
	fs.DurationVar(&c.KeyRotation, "key-rotation-interval", 0, "rotate the signing key this often (0: only by 'authd keys rotate')")
	fs.StringVar(&c.Scopes, "scopes", "read write", "space-separated scopes clients may request (none requested: all)")
	fs.IntVar(&c.TokenCacheSize, "token-cache-size", 10000, "verified access tokens remembered until they expire (revocation is still checked every time); -1 disables")
	fs.IntVar(&c.FeedMaxStreams, "feed-max-streams-per-client", server.DefaultMaxStreamsPerClient, "concurrent revocation-feed streams one client may hold on this instance; more get 429")
	fs.StringVar(&c.PublicClientID, "public-client-id", "authd", "client_id of authd's own first-party public client (no secret; the token demo)")
	fs.StringVar(&c.PasswordGrant, "password-grant", "off", "on or off: the OAuth password grant (RFC 9700 §2.4: MUST NOT be used; the code flow replaces it)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "send mail through this server: smtp://USER:PASS@HOST:PORT (STARTTLS when offered), smtps:// (implicit TLS), ?insecure=1 only on loopback; default: write each mail as an .eml file under <data-dir>/mail")
	fs.StringVar(&c.MailFrom, "mail-from", "", "From address of authd's mails (default: authd <noreply@ISSUER-HOST>)")
	fs.StringVar(&c.MailTemplates, "mail-templates", "", "directory of mail templates overriding the built-in ones by name (NAME.subject, NAME.txt, NAME.html)")
	fs.DurationVar(&c.ResetTokenTTL, "reset-token-ttl", 30*time.Minute, "lifetime of a password-reset link")
	fs.BoolVar(&c.RequireVerified, "require-verified-email", false, "refuse sign-in (403 urn:authd:problem:email-unverified) until the address is verified")
	fs.DurationVar(&c.AuditRetention, "audit-retention", 90*24*time.Hour, "keep audit events this long (the sweep deletes older ones)")
	fs.BoolVar(&c.NotifyNewDevice, "notify-new-device", false, "mail the user after a sign-in from a device that never signed in to the account before")
	fs.DurationVar(&c.WebhookRetryMin, "webhook-retry-min", webhook.DefaultRetryMin, "wait this long before a failed webhook delivery's first retry; the wait doubles per attempt up to an hour, for a day")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take after SIGTERM")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", 0, "after SIGTERM, keep serving this long with /readyz at 503 so load balancers stop routing here first (a second signal ends the process at once)")
}

// parse parses args, then fills every flag not given on the command line
// from its AUTHD_* variable (--data-dir ← AUTHD_DATA_DIR): flags win.
//
// Every error but flag.ErrHelp is a usageError (exit status 2), like the
// flag package's own ExitOnError.
//
// Flags and arguments may be mixed (`authd user add alice@example.com
// --data-dir /srv/authd`); "--" ends the flags.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	fs.Parse(append([]string{"--"}, positional...)) // leaves fs.Args() == positional
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := f.Value.(cliOnly); set[f.Name] || ok {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				// Only typed flags (numbers, durations) can fail here, so the
				// value is never a secret: show it.
				errs = append(errs, fmt.Errorf("%s=%q (--%s): %w", env, v, f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// cliOnly marks a flag that describes the one thing a command creates (a
// client's registration): it is never read from the environment, where a
// value left over would apply to every client created after.
type cliOnly interface{ cliOnly() }

func envName(flagName string) string {
	return "AUTHD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// validate checks the values that flag parsing cannot.
func (c *config) validate(serving bool) error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	if c.PasswordMinLength < 8 {
		errs = append(errs, errors.New("--password-min-length must be at least 8 (NIST SP 800-63B-4 §3.1.1.2)"))
	}
	if c.Argon2Memory < 8*1024 || c.Argon2Memory > 1<<20 {
		errs = append(errs, errors.New("--argon2-memory must be between 8192 and 1048576 KiB"))
	}
	// Values a component would otherwise replace with its default without
	// a word: refuse them.
	if c.HashConcurrency < 1 {
		errs = append(errs, errors.New("--hash-concurrency must be at least 1"))
	}
	if c.DBMaxConns < 1 {
		errs = append(errs, errors.New("--database-max-conns must be at least 1"))
	}
	if _, err := c.signingAlgs(); err != nil {
		errs = append(errs, err)
	}
	if c.KeyPublishLead < time.Second || c.KeyPublishLead > time.Hour {
		errs = append(errs, errors.New("--key-publish-lead must be between 1s and 1h"))
	}
	if c.Argon2Time < 1 || c.Argon2Time > 100 || c.Argon2Threads < 1 || c.Argon2Threads > 255 {
		errs = append(errs, errors.New("--argon2-time must be 1..100 and --argon2-threads 1..255"))
	}
	if serving {
		if c.ResetTokenTTL < time.Minute || c.ResetTokenTTL > 24*time.Hour {
			errs = append(errs, errors.New("--reset-token-ttl must be between 1m and 24h"))
		}
		if c.AuditRetention < time.Hour {
			errs = append(errs, errors.New("--audit-retention must be at least 1h"))
		}
		if c.Registration != "open" && c.Registration != "closed" {
			errs = append(errs, fmt.Errorf("--registration must be open or closed, not %q", c.Registration))
		}
		if c.LoginThrottle != "on" && c.LoginThrottle != "off" {
			errs = append(errs, fmt.Errorf("--login-throttle must be on or off, not %q", c.LoginThrottle))
		}
		if c.SessionIdle <= 0 || c.SessionLifetime <= 0 || c.SessionIdle > c.SessionLifetime {
			errs = append(errs, errors.New("--session-idle-timeout and --session-lifetime must be positive, idle ≤ lifetime"))
		} else if c.SessionIdle < session.MinIdleTimeout {
			errs = append(errs, fmt.Errorf("--session-idle-timeout must be at least %v: no one can click that often", session.MinIdleTimeout))
		}
		if c.SessionCacheTTL < 0 || c.SessionCacheTTL > time.Second {
			errs = append(errs, errors.New("--session-cache-ttl must be between 0 and 1s"))
		}
		if c.MetricsAddr != "" && sameListener(c.MetricsAddr, c.Addr) {
			errs = append(errs, fmt.Errorf("--metrics-addr %s must differ from --addr: metrics are never served on the public port", c.MetricsAddr))
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
		}
		if _, err := c.proxies(); err != nil {
			errs = append(errs, err)
		}
		if c.ThrottleIPv6Prefix < 32 || c.ThrottleIPv6Prefix > 128 {
			errs = append(errs, errors.New("--throttle-ipv6-prefix must be between 32 and 128"))
		}
		if c.ThrottleAccountMax < 1 || c.ThrottleIPMax < 1 || c.ThrottleBaseDelay <= 0 || c.ThrottleMaxDelay < c.ThrottleBaseDelay {
			errs = append(errs, errors.New("throttle settings must be positive, max delay ≥ base delay"))
		}
		if c.AccessTokenTTL < 30*time.Second || c.AccessTokenTTL > 24*time.Hour {
			errs = append(errs, errors.New("--access-token-ttl must be between 30s and 24h"))
		}
		if c.RefreshIdle <= 0 || c.RefreshLifetime <= 0 || c.RefreshIdle > c.RefreshLifetime {
			errs = append(errs, errors.New("--refresh-token-idle and --refresh-token-lifetime must be positive, idle ≤ lifetime"))
		} else if c.RefreshIdle < session.MinIdleTimeout {
			errs = append(errs, fmt.Errorf("--refresh-token-idle must be at least %v", session.MinIdleTimeout))
		}
		if c.RefreshGrace < 0 || c.RefreshGrace > time.Minute {
			errs = append(errs, errors.New("--refresh-grace must be between 0 and 1m"))
		}
		if c.KeyRotation < 0 || (c.KeyRotation > 0 && c.KeyRotation < time.Hour) {
			errs = append(errs, errors.New("--key-rotation-interval must be 0 (off) or at least 1h"))
		}
		if c.Audience == "" || c.PublicClientID == "" {
			errs = append(errs, errors.New("--audience and --public-client-id must not be empty"))
		}
		if c.PasswordGrant != "on" && c.PasswordGrant != "off" {
			errs = append(errs, fmt.Errorf("--password-grant must be on or off, not %q", c.PasswordGrant))
		}
		if kind, _, _ := c.databaseKind(); c.Issuer == "" && (kind == "postgres" || c.Redis != "") {
			// One deployment, one issuer: instances sharing a store that
			// each defaulted to their own address would refuse each
			// other's tokens (iss differs).
			errs = append(errs, errors.New("with a shared store (PostgreSQL or Redis) every instance needs the same --issuer: the public URL clients reach authd at"))
		}
		if c.Issuer != "" {
			if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				errs = append(errs, errors.New("--issuer must be an http(s) URL without query or fragment (RFC 8414 §2)"))
			}
		}
		if c.TokenCacheSize == 0 || c.TokenCacheSize < -1 {
			errs = append(errs, errors.New("--token-cache-size must be at least 1, or -1 to disable the cache"))
		}
		if c.FeedMaxStreams < 1 {
			errs = append(errs, errors.New("--feed-max-streams-per-client must be at least 1"))
		}
		if c.ShutdownTimeout <= 0 {
			errs = append(errs, errors.New("--shutdown-timeout must be positive"))
		}
		if c.ShutdownDelay < 0 || c.ShutdownDelay > 5*time.Minute {
			errs = append(errs, errors.New("--shutdown-delay must be between 0 and 5m"))
		}
	}
	return errors.Join(errs...)
}

// signingAlgs parses --signing-alg: a comma-separated list of known
// algorithms, at least one, none twice; the first is the default (access
// tokens).
func (c *config) signingAlgs() ([]string, error) {
	var algs []string
	for _, a := range strings.Split(c.SigningAlg, ",") {
		a = strings.TrimSpace(a)
		switch {
		case !jwk.Supported(a):
			return nil, fmt.Errorf("--signing-alg: %q is not EdDSA, ES256 or RS256 (want a comma-separated list, such as EdDSA,RS256)", a)
		case slices.Contains(algs, a):
			return nil, fmt.Errorf("--signing-alg: %s is listed twice", a)
		}
		algs = append(algs, a)
	}
	return algs, nil
}

func (c *config) proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(c.TrustedProxies, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR or address", s)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// databaseKind resolves --database into a backend and its location.
func (c *config) databaseKind() (kind, location string, err error) {
	db := c.Database
	switch {
	case db == "":
		return "sqlite", filepath.Join(c.DataDir, "authd.db"), nil
	case db == "memory://" || db == "memory:":
		return "memory", "", nil
	case strings.HasPrefix(db, "sqlite://"):
		return "sqlite", strings.TrimPrefix(db, "sqlite://"), nil
	case strings.HasPrefix(db, "sqlite:"):
		return "sqlite", strings.TrimPrefix(db, "sqlite:"), nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return "postgres", db, nil // wired in backend.go
	case strings.ContainsAny(db, "= \t"):
		// A key=value connection string (host=… password=…) is not a
		// file name; taking it for one would run on a new local SQLite.
		// Not echoed: it may hold a password.
		return "", "", errors.New("--database: a value with '=' or spaces is not a file name; PostgreSQL takes a URL (postgres://user:password@host/db)")
	case !strings.Contains(db, "://"):
		return "sqlite", db, nil
	}
	return "", "", fmt.Errorf("--database: unknown scheme in %q (want sqlite:PATH, postgres://… or memory://)", redact.URL(db))
}

// ensureDataDir creates the data dir with mode 0700 and refuses one that
// others can read.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir %s is readable by others and cannot be fixed: %w", dir, err)
		}
	}
	return nil
}

// sameListener reports whether two listen addresses would be the same
// socket: the same port (not 0, which picks a free one) on the same host,
// or on a host one of them covers by listening on every interface.
func sameListener(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}
