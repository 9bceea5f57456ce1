// Package redisclients measures the two Redis clients the scale-out issue
// named, on the operation authd's session check costs against Redis: one
// GET of a ~200-byte session record, from 32 concurrent goroutines. It is
// its own module so that authd does not depend on go-redis.
//
//	cd bench/redisclients && AUTHD_TEST_REDIS=redis://127.0.0.1:6379/0 \
//	  go test -run XXX -bench . -benchmem -count 5
package redisclients

import (
	"context"
	"os"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

const key = "authd-bench:h:0123456789abcdef"

var value = strings.Repeat("s", 200)

func addr(b *testing.B) string {
	u := os.Getenv("AUTHD_TEST_REDIS")
	if u == "" {
		b.Skip("AUTHD_TEST_REDIS is not set")
	}
	return strings.TrimSuffix(strings.TrimPrefix(u, "redis://"), "/0")
}

// BenchmarkRueidis: authd's configuration (client-side caching off,
// retries off).
func BenchmarkRueidis(b *testing.B) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr(b)}, DisableCache: true, DisableRetry: true})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, c.B().Set().Key(key).Value(value).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16) // 32 goroutines on 2 cores, like wrk -c32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString(); err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGoRedis: go-redis's UniversalClient with its default pool.
func BenchmarkGoRedis(b *testing.B) {
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{Addrs: []string{addr(b)}, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, key, value, 0).Err(); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := c.Get(ctx, key).Result(); err != nil || len(v) != len(value) {
				b.Fatal(err)
			}
		}
	})
}
