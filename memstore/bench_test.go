package memstore_test

import (
	"testing"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/token/tokentest"
)

// BenchmarkUseRefresh is one rotation's store work, as on the SQL and
// Redis backends.
func BenchmarkUseRefresh(b *testing.B) { tokentest.BenchRotation(b, memstore.New()) }
