package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/jwks"
)

// Sender defaults.
const (
	DefaultPollInterval = time.Second
	DefaultLease        = 2 * time.Minute
	DefaultRetryMin     = 5 * time.Second
	DefaultRetryMax     = time.Hour
	DefaultGiveUp       = 24 * time.Hour
	DefaultTimeout      = 10 * time.Second
	// batch is how many deliveries one claim takes; they are sent
	// concurrently.
	batch = 16
)

// SenderConfig configures NewSender. Store is required; zero durations
// take the defaults.
type SenderConfig struct {
	// Store holds the subscriptions and the outbox.
	Store Store
	// KEK opens the subscriptions' secrets (SealSecret).
	KEK jwks.KEK
	// Client sends the requests; nil: a client that follows no redirect.
	// Its own timeout and redirect policy are replaced by the sender's.
	Client *http.Client
	// Logger receives a warning for every failed attempt and an error for
	// every delivery dropped; nil: slog.Default(). No line carries a
	// payload or a secret.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// PollInterval is how often Run looks for due deliveries when not
	// woken (DefaultPollInterval).
	PollInterval time.Duration
	// Lease is how long a claimed delivery stays hidden from other
	// senders (DefaultLease): longer than Timeout.
	Lease time.Duration
	// RetryMin is the delay after a delivery's first failed attempt,
	// doubled at each further one up to RetryMax (DefaultRetryMin,
	// DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// GiveUp is how long after its event a delivery that could not be
	// made is dropped (DefaultGiveUp).
	GiveUp time.Duration
	// Timeout bounds one attempt (DefaultTimeout).
	Timeout time.Duration
}

// Sender delivers the outbox: it claims the due deliveries, POSTs each
// one signed, and records the outcome — Delivered on a 2xx answer,
// RetryDelivery with exponential backoff on anything else (a redirect
// too: it is not followed), DropDelivery once GiveUp has passed or when
// the subscription's URL or secret is unusable. Several senders may share
// a store: the claim's lease keeps them from sending a delivery twice at
// once.
type Sender struct {
	cfg    SenderConfig
	log    *slog.Logger
	client *http.Client
	wake   chan struct{}
	mu     sync.Mutex // one pass at a time
}

// NewSender returns a Sender for cfg; start it with Run.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhook: sender: need a store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.Lease, DefaultLease)
	def(&cfg.RetryMin, DefaultRetryMin)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.GiveUp, DefaultGiveUp)
	def(&cfg.Timeout, DefaultTimeout)
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryMin)
	var c http.Client
	if cfg.Client != nil {
		c = *cfg.Client
	}
	c.Timeout = cfg.Timeout
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Sender{cfg: cfg, log: log, client: &c, wake: make(chan struct{}, 1)}, nil
}

// Wake makes Run look for due deliveries now instead of at its next poll.
// It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxInFlight bounds the attempts Run has running at once.
const maxInFlight = 32

// Run delivers due deliveries until ctx ends, waits for the attempts in
// flight, then returns nil. A store that fails is logged and tried again
// at the next poll.
//
// Each attempt runs on its own: Run claims more while earlier attempts
// still wait for their receivers, so a receiver that hangs until the
// timeout holds up only its own deliveries (found by the black-box test:
// one slow receiver delayed every other by the timeout, batch after
// batch). Only maxInFlight deliveries of one hanging receiver would fill
// every slot.
func (s *Sender) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		if err := s.dispatch(ctx, slots, &wg); err != nil && ctx.Err() == nil {
			s.log.Error("webhook: sender: store failed; trying again at the next poll", "err", err)
		}
		t.Reset(s.cfg.PollInterval)
	}
}

// dispatch claims as many due deliveries as there are free slots and
// starts an attempt at each, without waiting for them.
func (s *Sender) dispatch(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) error {
	for {
		free := cap(slots) - len(slots)
		if free <= 0 {
			return nil
		}
		now := s.cfg.Now()
		ds, err := s.cfg.Store.ClaimDeliveries(ctx, now, s.cfg.Lease, min(free, batch))
		if err != nil {
			return fmt.Errorf("webhook: claim: %w", err)
		}
		for _, d := range ds {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				s.deliver(ctx, now, d)
			})
		}
		if len(ds) < min(free, batch) {
			return nil
		}
	}
}

// Flush makes one attempt at every delivery due now: one that fails is
// rescheduled, not tried again by this call. It returns the store's
// error, if any; failed attempts are logged, not returned.
func (s *Sender) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ds, err := s.cfg.Store.ClaimDeliveries(ctx, now, s.cfg.Lease, batch)
		if err != nil {
			return fmt.Errorf("webhook: claim: %w", err)
		}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() { s.deliver(ctx, now, d) })
		}
		wg.Wait()
		if len(ds) < batch {
			return nil
		}
	}
}

// deliver makes one attempt at d and records the outcome.
func (s *Sender) deliver(ctx context.Context, now time.Time, d *Claimed) {
	log := s.log.With("webhook_id", d.ID, "subscription", d.SubscriptionID, "type", d.EventType, "attempt", d.Attempts)
	if age := now.Sub(d.CreatedAt); age >= s.cfg.GiveUp {
		log.Error("webhook: giving up on a delivery not acknowledged in time; dropped", "url", logURL(d.URL), "age", age.Round(time.Second))
		s.record(ctx, "drop", d, func(c context.Context) error { return s.cfg.Store.DropDelivery(c, d.ID) })
		return
	}
	if err := CheckURL(d.URL); err != nil {
		log.Error("webhook: refusing to send; dropped", "err", err)
		s.record(ctx, "drop", d, func(c context.Context) error { return s.cfg.Store.DropDelivery(c, d.ID) })
		return
	}
	secret, err := OpenSecret(s.cfg.KEK, d.SubscriptionID, d.Secret)
	if err != nil {
		log.Error("webhook: cannot open the subscription's secret; dropped", "err", err)
		s.record(ctx, "drop", d, func(c context.Context) error { return s.cfg.Store.DropDelivery(c, d.ID) })
		return
	}
	err = s.post(ctx, d, secret)
	switch {
	case err == nil:
		log.Debug("webhook: delivered", "url", logURL(d.URL))
		s.record(ctx, "record delivered", d, func(c context.Context) error { return s.cfg.Store.Delivered(c, d.ID) })
	case ctx.Err() != nil:
		// Interrupted by shutdown: due again at once, for whoever runs next.
		s.record(ctx, "release", d, func(c context.Context) error {
			return s.cfg.Store.RetryDelivery(c, d.ID, now, "sender stopped")
		})
	default:
		// From when the attempt failed, not when it was claimed.
		next := s.cfg.Now().Add(s.backoff(d.Attempts))
		log.Warn("webhook: delivery failed; will retry", "url", logURL(d.URL), "next", next, "err", err)
		s.record(ctx, "reschedule", d, func(c context.Context) error {
			return s.cfg.Store.RetryDelivery(c, d.ID, next, err.Error())
		})
	}
}

// post sends d once: nil when the receiver answered 2xx.
func (s *Sender) post(ctx context.Context, d *Claimed, secret []byte) error {
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authd")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", Sign(secret, d.ID, ts, d.Payload))
	resp, err := s.client.Do(req)
	if err != nil {
		// Without the URL the error quotes: its query may hold a token
		// of the receiver's.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// logURL is a receiver URL as logged: without its query, which may hold
// a token of the receiver's.
func logURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// Sign returns the webhook-signature header of a delivery: "v1," and the
// standard base64 of HMAC-SHA256(secret, id.timestamp.body).
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// record runs an outbox update for d even when ctx has ended: a delivery
// made must be marked so, or it goes out again when its lease ends.
func (s *Sender) record(ctx context.Context, what string, d *Claimed, fn func(context.Context) error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := fn(c)
	switch {
	case err == nil:
	case errors.Is(err, authd.ErrNotFound):
		// The subscription was deleted meanwhile, or the lease ran out
		// and another sender finished the delivery.
		s.log.Warn("webhook: delivery already gone from the outbox", "webhook_id", d.ID, "op", what)
	default:
		s.log.Error("webhook: outbox update failed", "webhook_id", d.ID, "op", what, "err", err)
	}
}

// backoff is the delay after the attempts-th failed attempt: RetryMin,
// doubled per further attempt, at most RetryMax.
func (s *Sender) backoff(attempts int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < attempts && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}
