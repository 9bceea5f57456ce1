package memstore_test

import (
	"testing"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/refresh/refreshtest"
)

// BenchmarkRotateRefresh is one rotation's store work (one RotateRefresh),
// as on the SQL and Redis backends.
func BenchmarkRotateRefresh(b *testing.B) { refreshtest.BenchRotation(b, memstore.New()) }
