package session_test

import (
	"context"
	"fmt"
	"time"

	"github.com/authd/authd/event"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/session"
)

// A session's life on the memory store, with a clock the example moves:
// sign-in (Create), a request (Check), a logout (End), and idleness.
func ExampleManager() {
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	m := session.NewManager(memstore.New(), session.Config{
		Cookie: session.Policy{IdleTimeout: 30 * time.Minute, Lifetime: 24 * time.Hour},
		Now:    func() time.Time { return now },
	})
	at := func(t time.Time) string { return t.Format("Jan 2 15:04") }

	// Sign-in: the secret goes into the cookie, once; the store keeps its
	// SHA-256 only.
	secret, s, err := m.Create(ctx, "alice", session.KindCookie, session.Meta{IP: "192.0.2.1", UserAgent: "Example/1.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("created %s: idle until %s, ends by %s\n", at(s.CreatedAt), at(s.IdleExpiresAt), at(s.ExpiresAt))
	unused, _, _ := m.Create(ctx, "alice", session.KindCookie, session.Meta{IP: "192.0.2.1", UserAgent: "Example/1.0"})

	// Every request checks the cookie; use moves the idle expiry.
	now = now.Add(20 * time.Minute)
	s, err = m.Check(ctx, secret)
	fmt.Printf("checked %s: %s, %v; idle until %s\n", at(now), s.UserID, err, at(s.IdleExpiresAt))

	// Logout ends the session at once.
	if err := m.End(ctx, s.ID, event.CauseLogout); err != nil {
		fmt.Println(err)
		return
	}
	_, err = m.Check(ctx, secret)
	fmt.Printf("checked after End: %v\n", err)

	// A session unused for longer than the idle timeout is over.
	now = now.Add(11 * time.Minute)
	_, err = m.Check(ctx, unused)
	fmt.Printf("the other session, unused since 09:00, checked %s: %v\n", at(now), err)
	// Output:
	// created Jan 1 09:00: idle until Jan 1 09:30, ends by Jan 2 09:00
	// checked Jan 1 09:20: alice, <nil>; idle until Jan 1 09:50
	// checked after End: unauthenticated
	// the other session, unused since 09:00, checked Jan 1 09:31: unauthenticated
}
