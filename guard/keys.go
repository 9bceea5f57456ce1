package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authd/authd/jwk"
)

// remoteKeys is a cached copy of authd's JWKS. It implements token.Keys.
// A known kid is answered from memory; the set is refreshed in the
// background when its Cache-Control max-age has passed, and synchronously
// when an unknown kid appears — but at most once per minRefresh, so a
// stream of tokens with made-up kids cannot make the service hammer authd.
//
// A key that the revocation feed reports revoked is dropped at once and
// remembered for revokedFor: a JWKS fetched later (from an authd instance
// that has not reloaded yet, or an HTTP cache up to its max-age) cannot
// bring it back.
type remoteKeys struct {
	url        string
	client     *http.Client
	now        func() time.Time
	log        *slog.Logger
	minRefresh time.Duration

	keys       atomic.Pointer[map[string]*jwk.Key]
	expires    atomic.Int64 // unix nanos after which the set is refreshed
	refreshing atomic.Bool  // a background refresh is running

	mu        sync.Mutex   // one fetch at a time
	lastFetch atomic.Int64 // unix nanos; zero allows the next fetch at once

	revMu   sync.Mutex           // guards revoked and every store to keys
	revoked map[string]time.Time // revoked kid → when it may be forgotten
}

// revokedFor is how long a revoked kid is remembered: far longer than any
// JWKS cache (max-age is capped at 1 h here) and than any token it signed.
const revokedFor = 24 * time.Hour

func newRemoteKeys(url string, client *http.Client, now func() time.Time, log *slog.Logger) *remoteKeys {
	return &remoteKeys{url: url, client: client, now: now, log: log, minRefresh: 5 * time.Second, revoked: map[string]time.Time{}}
}

// revoke drops kid now and keeps every later JWKS from re-adding it. It
// also allows the next unknown-kid fetch at once: authd replaced a key
// still in service by one that signs immediately, which this guard has not
// seen yet.
func (k *remoteKeys) revoke(kid string) {
	now := k.now()
	k.revMu.Lock()
	defer k.revMu.Unlock()
	for id, until := range k.revoked {
		if now.After(until) {
			delete(k.revoked, id)
		}
	}
	k.revoked[kid] = now.Add(revokedFor)
	if p := k.keys.Load(); p != nil {
		if _, ok := (*p)[kid]; ok {
			m := make(map[string]*jwk.Key, len(*p))
			for id, key := range *p {
				if id != kid {
					m[id] = key
				}
			}
			k.keys.Store(&m)
		}
	}
	k.lastFetch.Store(0)
}

func (k *remoteKeys) isRevoked(kid string) bool {
	k.revMu.Lock()
	defer k.revMu.Unlock()
	_, ok := k.revoked[kid]
	return ok
}

// VerificationKey implements token.Keys.
func (k *remoteKeys) VerificationKey(kid string) (*jwk.Key, bool) {
	if m := k.keys.Load(); m != nil {
		if key, ok := (*m)[kid]; ok {
			// Stale: refresh in the background, one refresh at a time (not
			// a goroutine per request while the fetch is in flight).
			if k.now().UnixNano() > k.expires.Load() && k.refreshing.CompareAndSwap(false, true) {
				go func() {
					defer k.refreshing.Store(false)
					if err := k.refresh(context.Background(), false); err != nil {
						k.log.Warn("guard: refresh JWKS", "err", err)
					}
				}()
			}
			return key, true
		}
	}
	// Unknown kid: maybe a key authd just published; a revoked one is not
	// worth a fetch.
	if k.isRevoked(kid) {
		return nil, false
	}
	if err := k.refresh(context.Background(), false); err != nil {
		k.log.Warn("guard: refresh JWKS", "err", err)
	}
	if m := k.keys.Load(); m != nil {
		key, ok := (*m)[kid]
		return key, ok
	}
	return nil, false
}

// refresh fetches the JWKS unless one was fetched within minRefresh (or
// force).
func (k *remoteKeys) refresh(ctx context.Context, force bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if last := k.lastFetch.Load(); !force && last != 0 && now.Sub(time.Unix(0, last)) < k.minRefresh {
		return nil
	}
	k.lastFetch.Store(now.UnixNano())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("guard: jwks: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("guard: jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("guard: jwks: %s answered %s", k.url, resp.Status)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&raw); err != nil {
		return fmt.Errorf("guard: jwks: %w", err)
	}
	m := map[string]*jwk.Key{}
	for _, r := range raw.Keys {
		var j jwk.JWK
		var members map[string]any
		if json.Unmarshal(r, &j) != nil || json.Unmarshal(r, &members) != nil {
			continue
		}
		key, err := jwk.ParseJWK(j, members)
		if err != nil {
			k.log.Warn("guard: skipping JWK", "kid", j.Kid, "err", err)
			continue
		}
		m[key.KID] = key
	}
	k.revMu.Lock() // a revocation that arrived during the fetch wins
	for kid := range k.revoked {
		delete(m, kid)
	}
	k.keys.Store(&m)
	k.revMu.Unlock()
	k.expires.Store(now.Add(maxAge(resp.Header.Get("Cache-Control"))).UnixNano())
	return nil
}

// maxAge reads max-age from Cache-Control, bounded to [10 s, 1 h];
// default 5 minutes.
func maxAge(cc string) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(name, "max-age") {
			if n, err := strconv.Atoi(val); err == nil {
				return min(max(time.Duration(n)*time.Second, 10*time.Second), time.Hour)
			}
		}
	}
	return 5 * time.Minute
}
