package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/mail"
)

var _ mail.Outbox = (*Store)(nil)

// Enqueue implements mail.Outbox.
func (s *Store) Enqueue(ctx context.Context, m *mail.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertMessage(m)
}

// Claim implements mail.Outbox under the store's lock, which makes it
// atomic.
func (s *Store) Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*mail.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*mail.Message{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	due := []*mail.Message{}
	for _, m := range s.outbox {
		if !m.NextAt.After(now) {
			due = append(due, m)
		}
	}
	slices.SortFunc(due, func(a, b *mail.Message) int {
		return cmp.Or(a.NextAt.Compare(b.NextAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(due) > n {
		due = due[:n]
	}
	out := make([]*mail.Message, len(due))
	for i, m := range due {
		m.NextAt = now.Add(lease)
		m.Attempts++
		c := *m
		c.Data = maps.Clone(m.Data)
		out[i] = &c
	}
	return out, nil
}

// Sent implements mail.Outbox.
func (s *Store) Sent(ctx context.Context, id string) error {
	return s.deleteMessage(ctx, id)
}

// Drop implements mail.Outbox.
func (s *Store) Drop(ctx context.Context, id string) error {
	return s.deleteMessage(ctx, id)
}

func (s *Store) deleteMessage(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.outbox[id]; !ok {
		return authd.ErrNotFound
	}
	delete(s.outbox, id)
	delete(s.mailErrors, id)
	return nil
}

// Retry implements mail.Outbox.
func (s *Store) Retry(ctx context.Context, id string, next time.Time, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.outbox[id]
	if !ok {
		return authd.ErrNotFound
	}
	m.NextAt = next
	s.mailErrors[id] = reason
	return nil
}
