// Package mail delivers authd's mails (verification links, password
// resets, address changes, security notices) through an outbox in the
// store: the request that causes a mail commits it with its own change
// (user.TokenStore.IssueTokens) or enqueues it (Outbox.Enqueue), and a
// Sender delivers it afterwards with retries and backoff. An SMTP outage
// loses nothing, a restart resends what was not yet accepted, and several
// instances sharing a store do not send the same mail twice in normal
// operation: a sender claims a message with a lease before sending it.
//
// A message is stored as a template name and its fields, and rendered
// when it is sent (html/template for the HTML part, text/template for
// the text part), so templates overridden with --mail-templates apply to
// mails already queued.
//
// A message whose link holds a secret (a reset token) is stored with the
// secret until it is sent, then deleted: the outbox is the one place a
// bearer secret of authd is kept in clear, for as long as delivery takes
// (docs/security.md).
package mail

import (
	"context"
	"time"
)

// The templates authd sends. Each has a text and an HTML part
// (templates/NAME.txt, templates/NAME.html) and a subject
// (templates/NAME.subject).
const (
	TemplateVerifyEmail     = "verify_email"     // Data: Link
	TemplatePasswordReset   = "password_reset"   // Data: Link
	TemplateConfirmEmail    = "confirm_email"    // to the new address. Data: Link, OldEmail
	TemplateEmailChanging   = "email_changing"   // to the old address. Data: Link (undo), NewEmail
	TemplatePasswordChanged = "password_changed" // Data: How ("changed" or "reset"), IP
	TemplateEmailChanged    = "email_changed"    // to the old address, once confirmed. Data: NewEmail, Link (undo)
	TemplateRefreshReplayed = "refresh_replayed" // Data: Device, IP, SignedInAt
	TemplateNewDevice       = "new_device"       // Data: Device, IP
)

// Message is one mail in the outbox.
type Message struct {
	// ID identifies the message: a random string, also the local part of
	// its Message-ID header, so a receiver can tell a resend.
	ID string
	// To is the one recipient, a normalised address (user.NormalizeEmail).
	To string
	// Template names the templates the message is rendered from.
	Template string
	// Data holds the template's fields. Values are plain text; the
	// templates escape them.
	Data map[string]string
	// CreatedAt is when the message was enqueued. A message not accepted
	// by the mail server within the sender's give-up time (24 h) is
	// dropped and logged.
	CreatedAt time.Time
	// Attempts counts the claims so far (set by the outbox).
	Attempts int
	// NextAt is when the message may be claimed (set by the outbox).
	NextAt time.Time
}

// Outbox stores messages until a Sender has delivered them. The SQL
// stores and memstore implement it; mailtest proves them. Every method
// honours ctx; errors other than the documented sentinels are store
// failures.
type Outbox interface {
	// Enqueue stores m, due at once (m.NextAt zero) or at m.NextAt.
	Enqueue(ctx context.Context, m *Message) error
	// Claim leases up to n messages due at now (NextAt <= now), oldest
	// first: each one's NextAt moves to now+lease and its Attempts grows
	// by one, in one atomic step, so two senders never claim the same
	// message while the lease runs. A sender that dies leaves its
	// messages to be claimed again when the lease ends.
	Claim(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*Message, error)
	// Sent deletes the message: the mail server accepted it.
	// authd.ErrNotFound when there is none.
	Sent(ctx context.Context, id string) error
	// Retry makes the message due again at next and records why the
	// last attempt failed. authd.ErrNotFound when there is none.
	Retry(ctx context.Context, id string, next time.Time, reason string) error
	// Drop deletes a message that will not be delivered.
	// authd.ErrNotFound when there is none.
	Drop(ctx context.Context, id string) error
}
