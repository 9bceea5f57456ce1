package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token/tokentest"
)

// BenchmarkUseRefresh is one rotation's store work (the new token
// created, the old one marked used), as on the SQL and Redis backends:
//
//	go test -run XXX -bench UseRefresh ./memstore ./sqlitestore ./pgstore ./redisstore
func BenchmarkUseRefresh(b *testing.B) {
	st := memstore.New()
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	gen := 0
	b.ReportAllocs()
	for b.Loop() {
		rt := tokentest.New("session-1", gen, now)
		if err := st.CreateRefresh(ctx, rt); err != nil {
			b.Fatal(err)
		}
		if _, first, err := st.UseRefresh(ctx, rt.Hash, now.Add(time.Second)); err != nil || !first {
			b.Fatalf("UseRefresh = first %v, %v", first, err)
		}
		gen++
	}
}
