package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/webhook"
)

var _ webhook.Store = (*Store)(nil)

// hookDelivery is a queued delivery and why its last attempt failed.
type hookDelivery struct {
	webhook.Delivery
	lastError string
}

func cloneSub(s *webhook.Subscription) *webhook.Subscription {
	c := *s
	c.Events = slices.Clone(s.Events)
	c.Secret = slices.Clone(s.Secret)
	return &c
}

// enqueueDeliveries queues e's webhook deliveries; the caller holds s.mu
// for writing, so the event and its deliveries appear together.
func (s *Store) enqueueDeliveries(e *audit.Event) error {
	subs := make([]*webhook.Subscription, 0, len(s.hookSubs))
	for _, sub := range s.hookSubs {
		subs = append(subs, sub)
	}
	ds, err := webhook.Deliveries(subs, e)
	if err != nil {
		return err
	}
	for _, d := range ds {
		s.hookOutbox[d.ID] = &hookDelivery{Delivery: *d}
	}
	return nil
}

// AddSubscription implements webhook.Store.
func (s *Store) AddSubscription(ctx context.Context, sub *webhook.Subscription) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hookSubs[sub.ID]; ok {
		return authd.ErrConflict
	}
	s.hookSubs[sub.ID] = cloneSub(sub)
	return nil
}

// Subscriptions implements webhook.Store.
func (s *Store) Subscriptions(ctx context.Context) ([]*webhook.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*webhook.Subscription{}
	for _, sub := range s.hookSubs {
		out = append(out, cloneSub(sub))
	}
	slices.SortFunc(out, func(a, b *webhook.Subscription) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteSubscription implements webhook.Store.
func (s *Store) DeleteSubscription(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hookSubs[id]; !ok {
		return authd.ErrNotFound
	}
	delete(s.hookSubs, id)
	for k, d := range s.hookOutbox {
		if d.SubscriptionID == id {
			delete(s.hookOutbox, k)
		}
	}
	return nil
}

// ClaimDeliveries implements webhook.Store under the store's lock, which
// makes it atomic.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*webhook.Claimed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n <= 0 {
		return []*webhook.Claimed{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	due := []*hookDelivery{}
	for _, d := range s.hookOutbox {
		if !d.NextAt.After(now) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *hookDelivery) int {
		return cmp.Or(a.NextAt.Compare(b.NextAt), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(due) > n {
		due = due[:n]
	}
	out := make([]*webhook.Claimed, len(due))
	for i, d := range due {
		d.NextAt = now.Add(lease)
		d.Attempts++
		sub := s.hookSubs[d.SubscriptionID]
		c := &webhook.Claimed{Delivery: d.Delivery, URL: sub.URL, Secret: slices.Clone(sub.Secret)}
		c.Payload = slices.Clone(d.Payload)
		out[i] = c
	}
	return out, nil
}

// Delivered implements webhook.Store.
func (s *Store) Delivered(ctx context.Context, id string) error { return s.deleteDelivery(ctx, id) }

// DropDelivery implements webhook.Store.
func (s *Store) DropDelivery(ctx context.Context, id string) error { return s.deleteDelivery(ctx, id) }

func (s *Store) deleteDelivery(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hookOutbox[id]; !ok {
		return authd.ErrNotFound
	}
	delete(s.hookOutbox, id)
	return nil
}

// RetryDelivery implements webhook.Store.
func (s *Store) RetryDelivery(ctx context.Context, id string, next time.Time, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.hookOutbox[id]
	if !ok {
		return authd.ErrNotFound
	}
	d.NextAt, d.lastError = next, reason
	return nil
}
