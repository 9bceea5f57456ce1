package refresh_test

// BenchmarkRotate is one whole refresh-token rotation through the
// Refresher, serial, on every backend: parse and MAC check, the one store
// operation (RotateRefresh), the session check and its touch. The store's
// share alone is each backend's BenchmarkRotateRefresh.
//
//	AUTHD_TEST_POSTGRES=… AUTHD_TEST_REDIS=… AUTHD_TEST_REDIS_CLUSTER=… \
//	  go test -run '^$' -bench Rotat -benchtime 2s -count 3 ./refresh

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/redisstore"
	"github.com/authd/authd/redisstore/redistest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
	"github.com/authd/authd/sqlitestore"
)

func BenchmarkRotate(b *testing.B) {
	ctx := context.Background()
	opens := []struct {
		name string
		open func(b *testing.B) backend
	}{
		{"memory", func(b *testing.B) backend { return memstore.New() }},
		{"sqlite", func(b *testing.B) backend {
			st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "authd.db"), sqlitestore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}},
		{"postgres", func(b *testing.B) backend {
			st, err := pgstore.Open(ctx, pgtest.NewDatabase(b), pgstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis", func(b *testing.B) backend {
			return redistest.NewStore(b, redistest.Standalone(b), redisstore.Options{})
		}},
		{"cluster", func(b *testing.B) backend {
			return redistest.NewStore(b, redistest.Cluster(b), redisstore.Options{})
		}},
	}
	for _, o := range opens {
		b.Run(o.name, func(b *testing.B) {
			st := o.open(b)
			r := refresh.New(refresh.Config{Store: st, Sessions: session.NewManager(st, session.Config{})})
			g, err := r.Start(ctx, "user-1", "client-1", "read write", session.Meta{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if g, err = r.Rotate(ctx, refresh.Request{Token: g.Token, ClientID: "client-1"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
		})
	}
}
