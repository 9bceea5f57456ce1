package pgstore_test

import (
	"context"
	"testing"

	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/throttle"
	"github.com/authd/authd/throttle/throttletest"
)

func TestThrottleConformance(t *testing.T) {
	throttletest.Run(t, true, func(t *testing.T, cfg throttle.Config) (a, b throttletest.Throttle) {
		dsn := pgtest.NewDatabase(t)
		open := func() *pgstore.Store {
			s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return pgstore.NewThrottle(open(), "acct", cfg), pgstore.NewThrottle(open(), "acct", cfg)
	})
}
