package memstore_test

import (
	"testing"

	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
)

func TestSessionConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return memstore.New() })
}

func TestUserConformance(t *testing.T) {
	usertest.Run(t, func(t *testing.T) user.Store { return memstore.New() })
}
