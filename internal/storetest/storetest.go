// Package storetest holds checks that span several store interfaces, for
// the backends that implement them all (SQLite, PostgreSQL, memory).
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
)

// Store is a backend holding users, sessions and refresh tokens.
type Store interface {
	user.Store
	session.Store
	refresh.Store
}

// Stress runs every kind of call from 32 goroutines at once and wants no
// error at all: on SQLite it is the "no database is locked" guarantee of
// the single-writer pool, on PostgreSQL that of the connection pool.
func Stress(t *testing.T, st Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	const workers, iters = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*iters*12)
	for w := range workers {
		wg.Go(func() {
			for i := range iters {
				u := usertest.New(fmt.Sprintf("w%d-i%d-%s@example.com", w, i, rand.Text()[:6]))
				if err := st.CreateUser(ctx, u); err != nil {
					errs <- fmt.Errorf("CreateUser: %w", err)
					continue
				}
				if _, err := st.UserByEmail(ctx, u.Email); err != nil {
					errs <- fmt.Errorf("UserByEmail: %w", err)
				}
				s, h := sessiontest.New(u.ID, now)
				if err := st.CreateSession(ctx, s, h); err != nil {
					errs <- fmt.Errorf("CreateSession: %w", err)
					continue
				}
				if _, err := st.SessionByHash(ctx, h, now.Add(time.Second)); err != nil {
					errs <- fmt.Errorf("SessionByHash: %w", err)
				}
				if err := st.TouchSession(ctx, s.ID, now.Add(time.Minute), now.Add(31*time.Minute)); err != nil {
					errs <- fmt.Errorf("TouchSession: %w", err)
				}
				if _, err := st.ListSessions(ctx, u.ID, now.Add(2*time.Minute)); err != nil {
					errs <- fmt.Errorf("ListSessions: %w", err)
				}
				rt := refreshtest.New(s.ID, 0, now)
				if err := st.CreateRefresh(ctx, rt); err != nil {
					errs <- fmt.Errorf("CreateRefresh: %w", err)
				} else if res, err := st.RotateRefresh(ctx, refreshtest.Redeem(rt, now.Add(time.Minute), 0)); err != nil || res.Outcome != refresh.Rotated {
					errs <- fmt.Errorf("RotateRefresh = %v, %v; want rotated", res, err)
				} else if _, err := st.RefreshByHash(ctx, s.ID, res.Child.Hash); err != nil {
					errs <- fmt.Errorf("RefreshByHash(child) = %v", err)
				}
				if err := st.RevokeSession(ctx, s.ID, now.Add(2*time.Minute)); err != nil {
					errs <- fmt.Errorf("RevokeSession: %w", err)
				}
				if _, err := st.SessionByHash(ctx, h, now.Add(3*time.Minute)); !errors.Is(err, authd.ErrNotFound) {
					errs <- fmt.Errorf("SessionByHash after revoke = %v, want ErrNotFound", err)
				}
				if _, err := st.RevokedSessions(ctx, now); err != nil {
					errs <- fmt.Errorf("RevokedSessions: %w", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := st.ListUsers(ctx, "", 0)
	if err != nil || len(list) != workers*iters {
		t.Errorf("ListUsers = %d users, %v; want %d", len(list), err, workers*iters)
	}
}
