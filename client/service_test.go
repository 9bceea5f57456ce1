package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
)

// TestAuthenticateHostileID: a client ID no client can have (NUL, control
// characters, invalid UTF-8, over-long) is refused as unauthenticated
// before the store. PostgreSQL cannot hold NUL in text: before, such an ID
// sent in HTTP Basic answered 503 (found by the black-box test).
func TestAuthenticateHostileID(t *testing.T) {
	st, err := pgstore.Open(context.Background(), pgtest.NewDatabase(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := client.NewService(st, nil)
	c, secret, err := svc.Create(context.Background(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(context.Background(), c.ID, secret); err != nil {
		t.Fatalf("the real client: %v", err)
	}
	for _, id := range []string{"a\x00b", c.ID + "\x00", "\xff\xfe", "tab\there", string(make([]byte, 129))} {
		if _, err := svc.Authenticate(context.Background(), id, secret); !errors.Is(err, authd.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", id, err)
		}
	}
}
