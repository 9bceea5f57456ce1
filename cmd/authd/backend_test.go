package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/authcode/authcodetest"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/throttle"
)

// TestBackendShapes is the table of docs/scaling.md, "What each store
// holds", for each deployment shape: which store serves each kind of
// data.
func TestBackendShapes(t *testing.T) {
	const (
		mem   = "*memstore.Store"
		lite  = "*sqlitestore.Store"
		pg    = "*pgstore.Store"
		redis = "*redisstore.Store"
	)
	tests := []struct {
		name     string
		postgres bool // --database is a fresh PostgreSQL database
		database string
		redis    bool // --redis is the test Redis
		// users, keys, clients, consents; sessions, refresh chains, codes; the throttle's type.
		sql, hot, throttle string
		swept              bool // the throttle's counters need sweeping
		memory             bool
		where              string // prefix
	}{
		{name: "memory", database: "memory://", sql: mem, hot: mem, throttle: "*throttle.Limiter", memory: true, where: "memory://"},
		{name: "sqlite", sql: lite, hot: lite, throttle: "*throttle.Limiter", where: "sqlite:"},
		{name: "postgres", postgres: true, sql: pg, hot: pg, throttle: "*pgstore.Throttle", swept: true, where: "postgres://"},
		{name: "sqlite+redis", redis: true, sql: lite, hot: redis, throttle: "*redisstore.Throttle", where: "sqlite:"},
		{name: "postgres+redis", postgres: true, redis: true, sql: pg, hot: redis, throttle: "*redisstore.Throttle", where: "postgres://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config{DataDir: filepath.Join(t.TempDir(), "data"), Database: tt.database, DBMaxConns: 4, RedisPrefix: redistest.Prefix()}
			if tt.postgres {
				c.Database = pgtest.NewDatabase(t) // skipped without AUTHD_TEST_POSTGRES, outside CI
			}
			if tt.redis {
				c.Redis = redistest.Standalone(t) // likewise with AUTHD_TEST_REDIS
			}
			ctx := context.Background()
			b, err := openBackend(ctx, c, true)
			if err != nil {
				t.Fatalf("openBackend: %v", err)
			}
			defer func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			got := map[string]string{
				"Users": fmt.Sprintf("%T", b.Users), "Keys": fmt.Sprintf("%T", b.Keys), "Clients": fmt.Sprintf("%T", b.Clients),
				"Consents": fmt.Sprintf("%T", b.Consents),
				"Sessions": fmt.Sprintf("%T", b.Sessions), "Refresh": fmt.Sprintf("%T", b.Refresh), "Codes": fmt.Sprintf("%T", b.Codes),
			}
			want := map[string]string{"Users": tt.sql, "Keys": tt.sql, "Clients": tt.sql, "Consents": tt.sql,
				"Sessions": tt.hot, "Refresh": tt.hot, "Codes": tt.hot}
			for field, w := range want {
				if got[field] != w {
					t.Errorf("Backend.%s is a %s, want a %s", field, got[field], w)
				}
			}
			th, sweep := b.Throttle("acct", throttle.Config{})
			if got := fmt.Sprintf("%T", th); got != tt.throttle {
				t.Errorf("Backend.Throttle is a %s, want a %s", got, tt.throttle)
			}
			if (sweep != nil) != tt.swept {
				t.Errorf("Backend.Throttle's sweep is set = %t, want %t", sweep != nil, tt.swept)
			}
			if b.Memory != tt.memory {
				t.Errorf("Backend.Memory = %t, want %t", b.Memory, tt.memory)
			}
			if !strings.HasPrefix(b.Where, tt.where) || strings.Contains(b.Where, " + ") != tt.redis {
				t.Errorf("Backend.Where = %q, want it to start with %q, with Redis after \" + \": %t", b.Where, tt.where, tt.redis)
			}
			if err := b.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
			testSweepCodes(t, b.Codes)
		})
	}
}

// testSweepCodes: the sweep keeps a code codeReplayWindow past its
// expiry, so its replay is still caught, and deletes it after that.
func testSweepCodes(t *testing.T, codes authcode.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	mk := func(expiredFor time.Duration) *authcode.Code {
		c := authcodetest.New(now.Add(-expiredFor - time.Minute))
		c.ExpiresAt = now.Add(-expiredFor)
		if err := codes.CreateCode(ctx, c); err != nil {
			t.Fatalf("CreateCode = %v", err)
		}
		if _, err := codes.RedeemCode(ctx, c.Hash, c.CreatedAt); err != nil {
			t.Fatalf("RedeemCode = %v", err)
		}
		return c
	}
	recent := mk(codeReplayWindow - time.Minute)
	old := mk(codeReplayWindow + time.Minute)
	if n, err := sweepCodes(ctx, codes, now); err != nil || n != 1 {
		t.Errorf("sweepCodes = %d, %v; want 1 (the code expired longer than %v ago)", n, err, codeReplayWindow)
	}
	if _, err := codes.RedeemCode(ctx, recent.Hash, now); !errors.Is(err, authd.ErrTokenReused) {
		t.Errorf("replay of a code expired %v ago = %v, want ErrTokenReused", codeReplayWindow-time.Minute, err)
	}
	if _, err := codes.RedeemCode(ctx, old.Hash, now); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("replay of a swept code = %v, want ErrNotFound", err)
	}
}
