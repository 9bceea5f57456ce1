package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd"
)

// Rendered is a message ready to send: its template rendered with its data.
type Rendered struct {
	// ID is the message's ID (Message.ID); its Message-ID header is
	// <ID@authd>, the same on every attempt.
	ID string
	// To is the one recipient's address.
	To string
	// From is the From header, an address with an optional display name.
	From string
	// Subject is one line.
	Subject string
	// Text and HTML are the two alternative parts of the body.
	Text, HTML string
	// Date is when the message was enqueued (Message.CreatedAt): its Date
	// header, the same on every attempt.
	Date time.Time
}

// Transport hands rendered messages to a mail server (SMTP) or elsewhere
// (Dir). It must be safe for concurrent use.
type Transport interface {
	// Send delivers m or fails. An error wrapping ErrPermanent means
	// that sending m again cannot succeed (the server refused it for
	// good, or it is malformed): the sender drops it. Any other error is
	// retried with backoff.
	Send(ctx context.Context, m *Rendered) error
}

// ErrPermanent marks a failure that retrying cannot fix: a Transport
// wraps it, and the Sender drops the message instead of retrying.
var ErrPermanent = errors.New("permanent failure")

// checkHeaders refuses a message whose header fields would break out of
// their line (header injection): the templates cannot be trusted to keep
// a subject clean, nor the store a recipient.
func checkHeaders(m *Rendered) error {
	for _, f := range []struct{ name, value string }{{"To", m.To}, {"From", m.From}, {"Subject", m.Subject}, {"ID", m.ID}} {
		if strings.ContainsAny(f.value, "\r\n") {
			return fmt.Errorf("mail: message %q: %w: line break in %s", m.ID, ErrPermanent, f.name)
		}
	}
	if m.ID == "" || strings.ContainsAny(m.ID, "<>@ \t") {
		return fmt.Errorf("mail: message %q: %w: ID not fit for a Message-ID", m.ID, ErrPermanent)
	}
	return nil
}

// Sender defaults.
const (
	DefaultPollInterval = time.Second
	DefaultLease        = 2 * time.Minute
	DefaultRetryMin     = 5 * time.Second
	DefaultRetryMax     = 10 * time.Minute
	DefaultGiveUp       = 24 * time.Hour
	// batch is how many messages one claim takes.
	batch = 16
)

// SenderConfig configures NewSender. Outbox, Transport and From are
// required; zero durations take the defaults.
type SenderConfig struct {
	// Outbox holds the messages to send.
	Outbox Outbox
	// Transport sends them.
	Transport Transport
	// Templates renders them; nil: the built-in templates.
	Templates *Templates
	// From is the From header of every message, for example
	// "Example <no-reply@example.com>".
	From string
	// Logger receives a warning for every failed attempt and an error for
	// every message dropped; nil: slog.Default(). Neither carries a
	// message's body or link.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// PollInterval is how often Run looks for due messages when not woken
	// (DefaultPollInterval).
	PollInterval time.Duration
	// Lease is how long a claimed message stays hidden from other senders
	// (DefaultLease): longer than a send may take.
	Lease time.Duration
	// RetryMin is the delay after a message's first failed attempt,
	// doubled at each further one up to RetryMax (DefaultRetryMin,
	// DefaultRetryMax).
	RetryMin, RetryMax time.Duration
	// GiveUp is how long after it was enqueued a message that could not be
	// sent is dropped (DefaultGiveUp).
	GiveUp time.Duration
	// Observe, if set, is told the outcome of every attempt (for
	// metrics): OutcomeSent, OutcomeFailed (retried later) or
	// OutcomeDropped. It must be quick.
	Observe func(outcome string)
}

// The outcomes a SenderConfig.Observe is told.
const (
	OutcomeSent    = "sent"
	OutcomeFailed  = "failed"
	OutcomeDropped = "dropped"
)

// Sender delivers the messages of an outbox: it claims the due ones,
// renders and sends each, and records the outcome — Sent, Retry with
// exponential backoff, or Drop (unknown or failing template, permanent
// failure, or older than GiveUp). Several senders, in one process or
// several, may share an outbox: the claim's lease keeps them from sending
// the same message at once.
type Sender struct {
	cfg  SenderConfig
	log  *slog.Logger
	wake chan struct{}
	mu   sync.Mutex // one pass at a time per Sender
}

// NewSender returns a Sender for cfg; start it with Run.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Outbox == nil || cfg.Transport == nil {
		return nil, errors.New("mail: sender: need an outbox and a transport")
	}
	if strings.ContainsAny(cfg.From, "\r\n") {
		return nil, errors.New("mail: sender: line break in From")
	}
	if _, err := netmail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("mail: sender: From %q: %w", cfg.From, err)
	}
	if cfg.Templates == nil {
		t, err := LoadTemplates("")
		if err != nil {
			return nil, err
		}
		cfg.Templates = t
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
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = cfg.RetryMin
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Sender{cfg: cfg, log: log, wake: make(chan struct{}, 1)}, nil
}

// Wake makes Run look for due messages now instead of at its next poll;
// call it after enqueueing a message. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends, then returns nil. A store that
// fails is logged and tried again at the next poll.
func (s *Sender) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("mail: sender: outbox failed; trying again at the next poll", "err", err)
		}
		t.Reset(s.cfg.PollInterval)
	}
}

// Flush sends every message due now, once: a message that fails is
// rescheduled, not tried again by this call. It returns the outbox's
// error, if any; failed sends are logged, not returned.
func (s *Sender) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ms, err := s.cfg.Outbox.Claim(ctx, now, s.cfg.Lease, batch)
		if err != nil {
			return fmt.Errorf("mail: claim: %w", err)
		}
		for i, m := range ms {
			if ctx.Err() != nil {
				// Stopping: hand the rest back at once rather than at
				// the end of their lease.
				for _, r := range ms[i:] {
					s.record(ctx, "release", r, func(c context.Context) error {
						return s.cfg.Outbox.Retry(c, r.ID, now, "sender stopped")
					})
				}
				return ctx.Err()
			}
			s.deliver(ctx, now, m)
		}
		if len(ms) < batch {
			return nil
		}
	}
}

// deliver sends one claimed message and records the outcome.
func (s *Sender) deliver(ctx context.Context, now time.Time, m *Message) {
	log := s.log.With("id", m.ID, "template", m.Template, "attempt", m.Attempts)
	if age := now.Sub(m.CreatedAt); age >= s.cfg.GiveUp {
		log.Error("mail: giving up on a message not sent in time; dropped", "to", m.To, "age", age.Round(time.Second))
		s.drop(ctx, m)
		return
	}
	r, err := s.cfg.Templates.Render(m)
	if err != nil {
		log.Error("mail: cannot render message; dropped", "to", m.To, "err", err)
		s.drop(ctx, m)
		return
	}
	r.From = s.cfg.From
	err = s.cfg.Transport.Send(ctx, r)
	switch {
	case err == nil:
		s.observe(OutcomeSent)
		s.record(ctx, "record sent", m, func(c context.Context) error { return s.cfg.Outbox.Sent(c, m.ID) })
	case errors.Is(err, ErrPermanent):
		log.Error("mail: message refused for good; dropped", "to", m.To, "err", err)
		s.drop(ctx, m)
	case ctx.Err() != nil:
		// Interrupted by shutdown: due again at once, for whoever runs next.
		s.record(ctx, "release", m, func(c context.Context) error { return s.cfg.Outbox.Retry(c, m.ID, now, "sender stopped") })
	default:
		s.observe(OutcomeFailed)
		next := now.Add(s.backoff(m.Attempts))
		log.Warn("mail: send failed; will retry", "next", next, "err", err)
		s.record(ctx, "reschedule", m, func(c context.Context) error { return s.cfg.Outbox.Retry(c, m.ID, next, err.Error()) })
	}
}

func (s *Sender) observe(outcome string) {
	if s.cfg.Observe != nil {
		s.cfg.Observe(outcome)
	}
}

func (s *Sender) drop(ctx context.Context, m *Message) {
	s.observe(OutcomeDropped)
	s.record(ctx, "drop", m, func(c context.Context) error { return s.cfg.Outbox.Drop(c, m.ID) })
}

// record runs an outbox update for m even when ctx has ended: a message
// sent must be marked sent, or it goes out again when its lease ends.
func (s *Sender) record(ctx context.Context, what string, m *Message, fn func(context.Context) error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := fn(c)
	switch {
	case err == nil:
	case errors.Is(err, authd.ErrNotFound):
		// The lease ran out and another sender finished the message.
		s.log.Warn("mail: message already gone from the outbox", "id", m.ID, "op", what)
	default:
		s.log.Error("mail: outbox update failed", "id", m.ID, "op", what, "err", err)
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
