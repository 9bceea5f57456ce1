package server

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/throttle"
)

// TestAbandonAfterDeadline: a guess ended by the request's deadline (the
// hasher's queue was long) still gives its attempts back, on a shared
// throttle too. Before, the release ran on the expired context, failed on
// PostgreSQL and Redis, and the owner's own timed-out sign-ins counted as
// failures (found by the black-box test).
func TestAbandonAfterDeadline(t *testing.T) {
	throttles := map[string]func(t *testing.T) (acct, ip throttle.Throttler){
		"memory": func(*testing.T) (throttle.Throttler, throttle.Throttler) {
			return throttle.New(throttle.Config{Free: 2}), throttle.New(throttle.Config{Free: 2})
		},
	}
	if os.Getenv("AUTHD_TEST_POSTGRES") != "" || os.Getenv("CI") != "" {
		throttles["postgres"] = func(t *testing.T) (throttle.Throttler, throttle.Throttler) {
			st, err := pgstore.Open(context.Background(), pgtest.NewDatabase(t), pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return pgstore.NewThrottle(st, "acct", throttle.Config{Free: 2}), pgstore.NewThrottle(st, "ip", throttle.Config{Free: 2})
		}
	}
	for name, mk := range throttles {
		t.Run(name, func(t *testing.T) {
			acct, ip := mk(t)
			s := New(Config{AccountThrottle: acct, IPThrottle: ip})
			r := httptest.NewRequest("POST", "/v1/session", nil)
			for i := range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				g, err := s.admit(ctx, r, "acct:owner@example.com")
				if err != nil {
					t.Fatalf("attempt %d: %v (abandoned attempts were counted)", i+1, err)
				}
				cancel() // the request's deadline passes while it waits to hash
				g.abandon(ctx)
			}
		})
	}
}

func TestThrottleKeyOfGarbage(t *testing.T) {
	for _, in := range []string{"a\x00b@example.com", "\xff\xfe", "no at sign", ""} {
		k := throttleKey(in)
		for _, c := range []byte(k) {
			if c < 0x20 || c > 0x7e {
				t.Errorf("throttleKey(%q) = %q: not printable ASCII", in, k)
				break
			}
		}
		if throttleKey(in) != k {
			t.Errorf("throttleKey(%q) is not stable", in)
		}
	}
	if throttleKey(" Alice@Example.com ") != "acct:alice@example.com" {
		t.Errorf("a valid email's key = %q", throttleKey(" Alice@Example.com "))
	}
}
