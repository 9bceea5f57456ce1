package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
)

var _ audit.Store = (*Store)(nil)

// RecordEvent implements audit.Store.
func (s *Store) RecordEvent(ctx context.Context, e *audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.events {
		if x.ID == e.ID {
			return authd.ErrConflict
		}
	}
	c := *e
	if err := s.enqueueDeliveries(&c); err != nil {
		return err
	}
	s.events = append(s.events, &c)
	return nil
}

// Events implements audit.Store.
func (s *Store) Events(ctx context.Context, f audit.Filter) ([]*audit.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*audit.Event{}
	for _, e := range s.events {
		if f.UserID != "" && e.UserID != f.UserID || !f.Since.IsZero() && e.At.Before(f.Since) ||
			len(f.Types) > 0 && !slices.Contains(f.Types, e.Type) ||
			f.Before != nil && !(e.At.Before(f.Before.At) || e.At.Equal(f.Before.At) && e.ID < f.Before.ID) {
			continue
		}
		c := *e
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *audit.Event) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	if len(out) > f.Lim() {
		out = out[:f.Lim()]
	}
	return out, nil
}

// DeleteEventsBefore implements audit.Store.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.events)
	s.events = slices.DeleteFunc(s.events, func(e *audit.Event) bool { return e.At.Before(before) })
	return int64(n - len(s.events)), nil
}
