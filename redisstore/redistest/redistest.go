// Package redistest finds the Redis servers authd's tests run against and
// gives each test an isolated, self-cleaning redisstore.Store.
//
//	AUTHD_TEST_REDIS=redis://127.0.0.1:6379/0                      standalone
//	AUTHD_TEST_REDIS_CLUSTER=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
//	                                  (start one with: bash scripts/redis-cluster.sh start)
//
// When a variable is empty the test is skipped, unless CI=true, where it
// fails: CI must not silently skip the Redis backend.
package redistest

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/internal/redisurl"
	"github.com/redis/rueidis"
)

// Standalone returns the URL of the standalone test Redis
// ($AUTHD_TEST_REDIS), or skips t.
func Standalone(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AUTHD_TEST_REDIS")
	if u == "" {
		missing(t, "AUTHD_TEST_REDIS is not set; run with AUTHD_TEST_REDIS=redis://127.0.0.1:6379/0 (a local redis-server on port 6379)")
	}
	return u
}

// Cluster returns a redis-cluster:// URL for the test cluster
// ($AUTHD_TEST_REDIS_CLUSTER: a URL or host:port,host:port…), or skips t.
func Cluster(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AUTHD_TEST_REDIS_CLUSTER")
	if u == "" {
		missing(t, "AUTHD_TEST_REDIS_CLUSTER is not set; start a 3-master cluster with `bash scripts/redis-cluster.sh start` "+
			"and run with AUTHD_TEST_REDIS_CLUSTER=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103")
	}
	if !strings.Contains(u, "://") {
		u = "redis-cluster://" + u
	}
	return u
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Prefix returns a key prefix no other test uses.
func Prefix() string {
	return "authdtest:" + strings.ToLower(rand.Text()[:12]) + ":"
}

// NewStore opens a Store on url with a fresh Prefix (unless opts has one)
// and, when t ends, deletes every key under that prefix (SCAN on each
// node: tests only) and closes it.
func NewStore(t testing.TB, url string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = Prefix()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := redisstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("redisstore.Open(%s): %v", redact.URL(url), redact.Err(err, url))
	}
	t.Cleanup(func() {
		defer st.Close()
		if err := DeleteKeys(context.Background(), url, opts.Prefix); err != nil {
			t.Errorf("cleaning up %s*: %v", opts.Prefix, redact.Err(err, url))
		}
	})
	return st
}

// client opens a connection of its own to the Redis at url (redisstore
// keeps its client to itself).
func client(url string) (rueidis.Client, error) {
	co, err := redisurl.Parse(url)
	if err != nil {
		return nil, err
	}
	co.DisableRetry = true
	return rueidis.NewClient(co)
}

// Keys lists every key starting with prefix, on every node of the Redis
// at url.
func Keys(ctx context.Context, url, prefix string) ([]string, error) {
	c, err := client(url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return keys(ctx, c, prefix)
}

func keys(ctx context.Context, c rueidis.Client, prefix string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, node := range c.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(escapeGlob(prefix)+"*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return nil, err
			}
			for _, k := range e.Elements {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return out, nil
}

// DeleteKeys deletes every key starting with prefix from the Redis at url.
func DeleteKeys(ctx context.Context, url, prefix string) error {
	c, err := client(url)
	if err != nil {
		return err
	}
	defer c.Close()
	keys, err := keys(ctx, c, prefix)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		batch := keys[:n]
		keys = keys[n:]
		for _, r := range c.DoMulti(ctx, delCmds(c, batch)...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
	}
	return nil
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

// delCmds builds one DEL per key (keys live in different slots).
func delCmds(c rueidis.Client, keys []string) rueidis.Commands {
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Del().Key(k).Build()
	}
	return cmds
}
