package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/authd/authd/backchannel"
	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/token"
)

// loadKEK returns the key-encryption key: from --key-encryption-key, or in
// development from <data-dir>/kek (created with mode 0600 on first use).
func loadKEK(c *config, memory bool, log *slog.Logger) (jwks.KEK, error) {
	if c.KeyEncryptionKey != "" {
		k, err := jwks.ParseKEK(c.KeyEncryptionKey)
		if err != nil {
			return k, usageError{"--key-encryption-key: " + err.Error()}
		}
		return k, nil
	}
	if memory {
		return jwks.NewKEK(), nil // keys die with the process anyway
	}
	if kind, _, _ := c.databaseKind(); kind != "sqlite" {
		// A key file in one instance's data dir would give every instance
		// sharing the database a different KEK.
		return jwks.KEK{}, usageError{"with a shared --database every instance needs the same --key-encryption-key " +
			"(AUTHD_KEY_ENCRYPTION_KEY); make one with: openssl rand -base64 32"}
	}
	if err := ensureDataDir(c.DataDir); err != nil {
		return jwks.KEK{}, err
	}
	path := filepath.Join(c.DataDir, "kek")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k := jwks.NewKEK()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return k, fmt.Errorf("create %s: %w", path, err)
		}
		if _, err := f.WriteString(k.Encode() + "\n"); err != nil {
			f.Close()
			return k, fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return k, fmt.Errorf("write %s: %w", path, err)
		}
		log.Warn("generated a key-encryption key in the data dir: fine for development; in production pass --key-encryption-key (AUTHD_KEY_ENCRYPTION_KEY) from a secret store", "path", path)
		return k, nil
	}
	if err != nil {
		return jwks.KEK{}, fmt.Errorf("read %s: %w", path, err)
	}
	log.Warn("signing keys are sealed with the development key-encryption key from the data dir; set --key-encryption-key in production", "path", path)
	return jwks.ParseKEK(strings.TrimSpace(string(b)))
}

// tokenMode is everything token mode needs at run time.
type tokenMode struct {
	ring     *jwks.Ring
	verifier *token.Verifier
	server   *server.TokenConfig
	// deviceKey signs the device cookies of the login throttle.
	deviceKey []byte
	// logout tells apps registered with a back-channel logout URI that
	// one of their sessions ended; subscribed to the bus, run by Run.
	logout *backchannel.Notifier
	// kek seals the signing keys and the webhook secrets.
	kek jwks.KEK
}

func newTokenMode(ctx context.Context, c *config, b *Backend, svc services, issuerURL string, log *slog.Logger, now func() time.Time) (*tokenMode, error) {
	kek, err := loadKEK(c, b.Memory, log)
	if err != nil {
		return nil, err
	}
	algs, err := c.signingAlgs()
	if err != nil {
		return nil, usageError{err.Error()}
	}
	ring, err := jwks.NewRing(ctx, jwks.RingConfig{
		Store: b.Keys, KEK: kek, Algs: algs, Retain: c.keyRetain(), PublishLead: c.KeyPublishLead, Now: now,
		// A key revoked by any process is published on the bus; through
		// the revocation feed it reaches resource servers (guard drops it
		// from its JWKS cache).
		OnRevoke: func(kid string, at time.Time) {
			svc.events.Publish(context.Background(), event.Event{Kind: event.KeyRevoked, KeyID: kid, At: at})
		},
	})
	if err != nil {
		if errors.Is(err, jwks.ErrWrongKEK) {
			return nil, fmt.Errorf("%w (the store's signing keys were sealed with another key-encryption key)", err)
		}
		return nil, err
	}
	svc.feed.Keys = ring
	svc.feed.MaxStreamsPerClient = c.FeedMaxStreams
	// Rebuild the revocation set: every session revoked recently enough
	// that one of its access tokens may still be unexpired.
	keep := c.revocationKeep()
	revs, err := svc.sessions.RevokedSince(ctx, now().Add(-keep))
	if err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	for _, r := range revs {
		svc.revoked.Add(r.ID, r.RevokedAt.Add(keep))
	}
	verifier := token.NewVerifier(token.VerifierConfig{
		Keys: ring, Issuer: issuerURL, Audience: c.Audience, Revocations: svc.revoked, Now: now,
		CacheSize: c.TokenCacheSize,
	})
	// The refresh-token MAC key is derived from the KEK, so every instance
	// sharing the store shares it too.
	mac := hmac.New(sha256.New, kek[:])
	mac.Write([]byte("authd refresh-token MAC v1"))
	rc := refresh.Config{Store: b.Refresh, Sessions: svc.sessions, Grace: c.RefreshGrace, MACKey: mac.Sum(nil), Now: now}
	if svc.metrics != nil {
		rc.Observe = func(o refresh.Outcome) { svc.metrics.Rotation(o.String()) }
	}
	refresher := refresh.New(rc)
	tc := &server.TokenConfig{
		Issuer:    &token.Issuer{Keys: ring, URL: issuerURL, Audience: c.Audience, TTL: c.AccessTokenTTL, Now: now},
		Refresher: refresher, Keys: ring, Clients: svc.clients,
		IssuerURL: issuerURL, Scopes: strings.Fields(c.Scopes), PublicClientID: c.PublicClientID,
		AccessTTL: c.AccessTokenTTL, Codes: b.Codes, PasswordGrant: c.PasswordGrant == "on",
		IDTokenAlgs: ring.Algs(), HintKeys: ring,
	}
	// The device-cookie key (internal/server/device.go) is derived from the
	// KEK too: every instance recognises a device another one marked.
	dev := hmac.New(sha256.New, kek[:])
	dev.Write([]byte("authd device-cookie MAC v1"))
	// OpenID Connect Back-Channel Logout: every session this instance
	// ends is announced on the bus; the apps it was opened for hear of it.
	logout := backchannel.New(backchannel.Config{
		Clients: svc.clients, Tokens: tc.Issuer, Algs: ring.Algs(), Logger: log, Now: now,
	})
	svc.events.Subscribe(logout.Handle)
	return &tokenMode{ring: ring, verifier: verifier, server: tc, deviceKey: dev.Sum(nil), logout: logout, kek: kek}, nil
}

// maintainKeys reloads the key ring (another instance or `authd keys
// rotate` may have added a key, `authd keys revoke` withdrawn one; the
// reload interval is jwks.ReloadEvery, so a revoked key stops verifying
// everywhere within a second, and at most a quarter of the publish lead,
// so every instance knows a key before it signs), rotates every signing
// algorithm on schedule and prunes keys no longer published.
func maintainKeys(ctx context.Context, ring *jwks.Ring, every, lead time.Duration, log *slog.Logger, events event.Publisher) {
	t := time.NewTicker(min(jwks.ReloadEvery, lead/4))
	defer t.Stop()
	warn := rateLimitedWarn(log, "reload signing keys", time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := ring.Reload(ctx); err != nil {
			if ctx.Err() == nil {
				warn(err)
			}
			continue
		}
		if ring.Due(every) {
			// Every algorithm at once, so their keys age in step.
			made, err := ring.RotateAll(ctx)
			for _, k := range made {
				log.Info("signing key rotated", "kid", k.KID, "alg", k.Alg, "signs_from", k.ActivateAt)
				if events != nil {
					events.Publish(ctx, event.Event{Kind: event.KeyRotated, At: time.Now().UTC(), KeyID: k.KID, Reason: k.Alg, Actor: "system"})
				}
			}
			if err != nil {
				log.Error("scheduled key rotation", "err", err)
			}
		}
		if n, err := ring.Prune(ctx); err != nil {
			log.Warn("prune signing keys", "err", err)
		} else if n > 0 {
			log.Info("pruned retired signing keys", "count", n)
		}
	}
}
