package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

// probeStore is a real memstore that counts the look-ups by hash, so the
// fuzz target can tell whether a malformed cookie reached the store.
type probeStore struct {
	*memstore.Store
	lookups atomic.Int64
}

func (p *probeStore) SessionByHash(ctx context.Context, hash []byte, now time.Time) (*session.Session, error) {
	p.lookups.Add(1)
	return p.Store.SessionByHash(ctx, hash, now)
}

// FuzzHashSecret is the session cookie value, as a browser or an attacker
// sends it, through HashSecret and Manager.Check:
//   - nothing panics;
//   - a value that is not exactly SecretLen bytes (over-long ones
//     included) is refused with a zero hash, and Check never asks the store;
//   - an accepted value is canonical base64url of 32 bytes: it re-encodes
//     to itself, and its hash is SHA-256 of the value;
//   - Check answers ErrUnauthenticated for everything but the one live
//     session's secret, and only an accepted value reaches the store.
func FuzzHashSecret(f *testing.F) {
	st := &probeStore{Store: memstore.New()}
	m := session.NewManager(st, session.Config{})
	ctx := context.Background()
	live, _, err := m.Create(ctx, "user-1", session.KindCookie, session.Meta{IP: "192.0.2.1"})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		live,
		strings.Repeat("A", session.SecretLen),
		strings.Repeat("_", session.SecretLen),
		live[:session.SecretLen-1] + "B", // last character with non-zero padding bits
		live + "=",
		live + "\n",
		" " + live[1:],
		`"` + live + `"`,
		live[:20] + "\x00" + live[21:],
		live[:20] + "+" + live[21:], // standard alphabet, not URL
		live[:20] + "\xff" + live[21:],
		strings.Repeat("A", 1<<16),
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		hash, ok := session.HashSecret(secret)
		if len(secret) != session.SecretLen && ok {
			t.Fatalf("HashSecret(%d bytes) accepted, want only %d-byte values", len(secret), session.SecretLen)
		}
		if !ok {
			if hash != [32]byte{} {
				t.Fatalf("HashSecret(%q) refused but returned a hash", secret)
			}
		} else {
			raw, err := base64.RawURLEncoding.Strict().DecodeString(secret)
			if err != nil || len(raw) != 32 {
				t.Fatalf("HashSecret(%q) accepted a value that is not 32 bytes of base64url: %v", secret, err)
			}
			if again := base64.RawURLEncoding.EncodeToString(raw); again != secret {
				t.Fatalf("HashSecret(%q) accepted a non-canonical value (re-encodes to %q)", secret, again)
			}
			if hash != sha256.Sum256([]byte(secret)) {
				t.Fatalf("HashSecret(%q) = %x, want SHA-256 of the value", secret, hash)
			}
		}

		before := st.lookups.Load()
		s, err := m.Check(ctx, secret)
		asked := st.lookups.Load() != before
		if !ok && asked {
			t.Fatalf("Check(%q): a malformed value reached the store", secret)
		}
		if secret == live {
			if err != nil || s == nil {
				t.Fatalf("Check(live secret) = %v, want the session", err)
			}
			return
		}
		if !errors.Is(err, authd.ErrUnauthenticated) || s != nil {
			t.Fatalf("Check(%q) = %v, %v; want ErrUnauthenticated", secret, s, err)
		}
	})
}
