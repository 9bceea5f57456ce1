package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/webhook"
)

// webhookCmd is `authd webhook add URL --events TYPES | list | delete ID`.
func webhookCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"webhook: want add, list or delete"}
	}
	sub := args[0]
	want := map[string]int{"add": 1, "list": 0, "delete": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("webhook: unknown subcommand %q (want add, list or delete)", sub)}
	}
	var events []string
	c, fs, err := adminFlags("webhook "+sub, args[1:], n, getenv, stderr, func(fs *flag.FlagSet) {
		if sub == "add" {
			fs.Var(splitFlag{&events, ","}, "events", "the audit event `types` to deliver, comma-separated ("+
				"session.revoked,refresh.replayed), or * for every type: "+strings.Join(webhook.EventTypes, ", "))
		}
	})
	if err != nil {
		return err
	}
	if sub == "add" {
		// Before the store opens: a typo must not create a data dir.
		if err := webhook.CheckURL(fs.Arg(0)); err != nil {
			return usageError{err.Error()}
		}
		if err := webhook.CheckEvents(events); err != nil {
			return usageError{"--events: " + strings.TrimPrefix(err.Error(), "webhook: ")}
		}
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	if kind, _, _ := c.databaseKind(); kind == "memory" {
		return usageError{"--database memory:// lives inside one serve process: an admin command cannot reach it (use the SQLite default or PostgreSQL)"}
	}
	b, err := openBackend(ctx, c, true)
	if err != nil {
		return err
	}
	defer b.Close()
	switch sub {
	case "add":
		kek, err := loadKEK(c, b.Memory, log)
		if err != nil {
			return err
		}
		s, secret, err := webhook.NewSubscription(fs.Arg(0), events, kek, time.Now())
		if err != nil {
			return err
		}
		if err := b.Webhooks.AddSubscription(ctx, s); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "id:     %s\nurl:    %s\nevents: %s\nsecret: %s\n\n", s.ID, s.URL, strings.Join(s.Events, ","), secret)
		fmt.Fprintln(stdout, "The secret is shown once: give it to the receiver, which verifies each delivery's webhook-signature with it (Standard Webhooks).")
	case "list":
		subs, err := b.Webhooks.Subscriptions(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tCREATED")
		for _, s := range subs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.URL, strings.Join(s.Events, ","), s.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		err := b.Webhooks.DeleteSubscription(ctx, fs.Arg(0))
		if errors.Is(err, authd.ErrNotFound) {
			return errors.New("no such webhook (see authd webhook list)")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted webhook %s and its pending deliveries\n", fs.Arg(0))
	}
	return nil
}

// openWebhooks builds serve's webhook sender over the store's outbox; Run
// starts it. Every published event wakes it: the event's deliveries were
// queued with its record (the audit recorder subscribed before), so they
// go out at once rather than at the next poll.
func openWebhooks(c *config, b *Backend, svc services, kek jwks.KEK, log *slog.Logger) (*webhook.Sender, error) {
	if c.WebhookRetryMin <= 0 {
		return nil, usageError{fmt.Sprintf("--webhook-retry-min must be positive, not %v", c.WebhookRetryMin)}
	}
	s, err := webhook.NewSender(webhook.SenderConfig{Store: b.Webhooks, KEK: kek, RetryMin: c.WebhookRetryMin, Logger: log})
	if err != nil {
		return nil, err
	}
	svc.events.Subscribe(func(context.Context, event.Event) { s.Wake() })
	log.Info("webhooks", "retry_min", c.WebhookRetryMin, "retry_max", webhook.DefaultRetryMax, "give_up", webhook.DefaultGiveUp)
	return s, nil
}
