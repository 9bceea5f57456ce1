package user_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/password"
	"github.com/authd/authd/user"
)

// TestInvisibleCharactersNeitherRegisterNorSignIn: an address with an
// invisible character is refused at registration (400), and at sign-in it
// matches nobody: the same ErrUnauthenticated (401) as an unknown email,
// never the account it imitates.
func TestInvisibleCharactersNeitherRegisterNorSignIn(t *testing.T) {
	const pw = "correct horse battery staple"
	svc := user.NewService(user.Config{
		Store:  memstore.New(),
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}, 1),
		Now:    func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	ctx := context.Background()
	if _, err := svc.Register(ctx, "alice@example.com", pw); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{
		"alice\u034f@example.com",
		"alice\ufe0f@example.com",
		"alice\u3164@example.com",
		"alice\u200b@example.com",
		"alice\u00ad@example.com",
		"alice\U000e0041@example.com",
		"alice@example.com\u2060",
	} {
		var ve *authd.ValidationError
		if _, err := svc.Register(ctx, email, pw); !errors.As(err, &ve) {
			t.Errorf("Register(%+q) = %v, want a ValidationError", email, err)
		}
		if u, err := svc.Authenticate(ctx, email, pw); !errors.Is(err, authd.ErrUnauthenticated) {
			t.Errorf("Authenticate(%+q) = %v, %v; want ErrUnauthenticated", email, u, err)
		}
	}
}
