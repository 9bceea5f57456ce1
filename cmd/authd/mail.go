package main

import (
	stdcmp "cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/authd/authd/event"
	"github.com/authd/authd/internal/redact"
	"github.com/authd/authd/internal/server"
	authdmail "github.com/authd/authd/mail"
	"github.com/authd/authd/user"
)

// mailer is serve's mail delivery: the outbox in the SQL store, a sender
// that delivers it (SMTP with --smtp-url, else .eml files under
// <data-dir>/mail), and the notices that follow events.
type mailer struct {
	sender *authdmail.Sender
	where  string
	log    *slog.Logger
}

// openMail builds the sender; nothing runs until run.
// observe, if set, is told each delivery's outcome (metrics).
func openMail(c *config, b *Backend, issuer string, log *slog.Logger, observe func(string)) (*mailer, error) {
	from, err := c.mailFrom(issuer)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	tmpl, err := authdmail.LoadTemplates(c.MailTemplates)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--mail-templates: %v", err)}
	}
	var tr authdmail.Transport
	var where string
	if c.SMTPURL != "" {
		smtp, err := authdmail.NewSMTP(c.SMTPURL)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--smtp-url %s: %v", redact.URL(c.SMTPURL), redact.Err(err, c.SMTPURL))}
		}
		tr, where = smtp, redact.URL(c.SMTPURL)
	} else {
		dir := filepath.Join(c.DataDir, "mail")
		d, err := authdmail.NewDir(dir)
		if err != nil {
			return nil, err
		}
		tr, where = d, dir
		log.Warn("no --smtp-url: mails are written as .eml files, not sent", "dir", dir)
	}
	s, err := authdmail.NewSender(authdmail.SenderConfig{Outbox: b.Outbox, Transport: tr, Templates: tmpl, From: from, Logger: log, Observe: observe})
	if err != nil {
		return nil, err
	}
	log.Info("mail", "delivery", where, "from", from, "templates", stdcmp.Or(c.MailTemplates, "built-in"),
		"reset_token_ttl", c.ResetTokenTTL, "require_verified_email", c.RequireVerified, "notify_new_device", c.NotifyNewDevice)
	return &mailer{sender: s, where: where, log: log}, nil
}

// userConfig is the user service's view of mail.
func (m *mailer) userConfig(c *config, b *Backend, issuer string) user.EmailConfig {
	return user.EmailConfig{
		Tokens: b.Tokens, Outbox: b.Outbox, BaseURL: strings.TrimSuffix(issuer, "/"), Wake: m.sender.Wake,
		ResetTTL: c.ResetTokenTTL, RequireVerified: c.RequireVerified,
	}
}

// run delivers the outbox until ctx ends.
func (m *mailer) run(ctx context.Context) {
	if err := m.sender.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		m.log.Error("mail sender stopped", "err", err)
	}
}

// mailFrom is --mail-from, or "authd <noreply@HOST>" of the issuer.
func (c *config) mailFrom(issuer string) (string, error) {
	from := c.MailFrom
	if from == "" {
		host := "localhost"
		if u, err := url.Parse(issuer); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		if strings.Contains(host, ":") || strings.Trim(host, "0123456789.") == "" {
			host = "localhost" // an IP address is no mail domain
		}
		from = "authd <noreply@" + host + ">"
	}
	if strings.ContainsAny(from, "\r\n") {
		return "", errors.New("--mail-from must be one line")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return "", fmt.Errorf("--mail-from %q: %v", from, err)
	}
	return from, nil
}

// notifyReplays mails the owner of a session that a replayed refresh
// token ended (the device and IP it was signed in from). The bus handler
// must not block: the notice is queued from a goroutine, bounded.
func notifyReplays(bus *event.Bus, users *user.Service, log *slog.Logger) {
	sem := make(chan struct{}, 16)
	bus.Subscribe(func(ctx context.Context, e event.Event) {
		if e.Kind != event.SessionRevoked || e.Cause != event.CauseRefreshReused || e.UserID == "" {
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			log.Warn("refresh-replay notice dropped: too many at once", "user_id", e.UserID)
			return
		}
		ctx = context.WithoutCancel(ctx)
		go func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			u, err := users.Get(ctx, e.UserID)
			if err != nil {
				log.Warn("refresh-replay notice: user not read", "user_id", e.UserID, "err", err)
				return
			}
			data := map[string]string{"Device": server.DescribeUserAgent(e.UserAgent), "IP": stdcmp.Or(e.IP, "unknown"),
				"SignedInAt": "an unknown time"}
			if !e.SignedInAt.IsZero() {
				data["SignedInAt"] = e.SignedInAt.UTC().Format(time.RFC1123)
			}
			if err := users.Notify(ctx, u, authdmail.TemplateRefreshReplayed, data); err != nil {
				log.Error("refresh-replay notice not queued", "user_id", e.UserID, "err", err)
			}
		}()
	})
}
