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

	"github.com/authd/authd/jwks"
)

// remoteKeys is a cached copy of authd's JWKS. It implements token.Keys.
// A known kid is answered from memory; the set is refreshed in the
// background when its Cache-Control max-age has passed, and synchronously
// when an unknown kid appears — but at most once per minRefresh, so a
// stream of tokens with made-up kids cannot make the service hammer authd.
type remoteKeys struct {
	url        string
	client     *http.Client
	now        func() time.Time
	log        *slog.Logger
	minRefresh time.Duration

	keys       atomic.Pointer[map[string]*jwks.Key]
	expires    atomic.Int64 // unix nanos after which the set is refreshed
	refreshing atomic.Bool  // a background refresh is running

	mu        sync.Mutex // one fetch at a time
	lastFetch time.Time
}

func newRemoteKeys(url string, client *http.Client, now func() time.Time, log *slog.Logger) *remoteKeys {
	return &remoteKeys{url: url, client: client, now: now, log: log, minRefresh: 5 * time.Second}
}

// VerificationKey implements token.Keys.
func (k *remoteKeys) VerificationKey(kid string) (*jwks.Key, bool) {
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
	// Unknown kid: maybe a key authd just published.
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
	if !force && now.Sub(k.lastFetch) < k.minRefresh {
		return nil
	}
	k.lastFetch = now
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
	m := map[string]*jwks.Key{}
	for _, r := range raw.Keys {
		var j jwks.JWK
		var members map[string]any
		if json.Unmarshal(r, &j) != nil || json.Unmarshal(r, &members) != nil {
			continue
		}
		key, err := jwks.ParseJWK(j, members)
		if err != nil {
			k.log.Warn("guard: skipping JWK", "kid", j.Kid, "err", err)
			continue
		}
		m[key.KID] = key
	}
	k.keys.Store(&m)
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
