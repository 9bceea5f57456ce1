package guard_test

import (
	"testing"

	"github.com/authd/authd/internal/authdtest"
)

// TestMain removes the authd binary the tests built.
func TestMain(m *testing.M) { authdtest.Main(m) }
