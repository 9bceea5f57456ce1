package mail_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailpit"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/sqlitestore"
)

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		url    string
		want   string // String(); "" means an error
		errHas string
	}{
		{"smtp://mail.example.com", "smtp://mail.example.com:587", ""},
		{"smtp://u:p@mail.example.com:2525", "smtp://mail.example.com:2525", ""},
		{"smtps://u:p@mail.example.com", "smtps://mail.example.com:465", ""},
		{"smtp://127.0.0.1:1025?insecure=1", "smtp://127.0.0.1:1025?insecure=1", ""},
		{"smtp://localhost:1025?insecure=1", "smtp://localhost:1025?insecure=1", ""},
		{"smtp://[::1]:1025?insecure=1", "smtp://[::1]:1025?insecure=1", ""},
		{"smtp://mail.example.com?insecure=1", "", "only for a server on this machine"},
		{"smtp://10.0.0.1:25?insecure=1", "", "only for a server on this machine"},
		{"smtps://127.0.0.1?insecure=1", "", "smtps"},
		{"smtp://127.0.0.1?insecure=yes", "", "insecure"},
		{"smtp://127.0.0.1?tls=0", "", "unknown parameter"},
		{"http://mail.example.com", "", "scheme"},
		{"smtp://", "", "no host"},
		{"smtp://mail.example.com:0", "", "port"},
		{"smtp://mail.example.com/x", "", "path"},
		{"smtp://u:s3cret%zz@mail.example.com", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := mail.NewSMTP(tt.url)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NewSMTP = %v, want an error", s)
				}
				if !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("error %q lacks %q", err, tt.errHas)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSMTP = %v", err)
			}
			if s.String() != tt.want {
				t.Errorf("String() = %q, want %q", s, tt.want)
			}
		})
	}
}

// newMailpitSender returns a Sender over ob sending to srv, retrying
// after 1 ms at the real clock (RetryMax 1 ms), polling every 10 ms.
func newMailpitSender(t *testing.T, ob mail.Outbox, srv *mailpit.Server) *mail.Sender {
	t.Helper()
	tr, err := mail.NewSMTP(srv.SMTPURL())
	if err != nil {
		t.Fatal(err)
	}
	s, err := mail.NewSender(mail.SenderConfig{Outbox: ob, Transport: tr, From: "Example <no-reply@example.com>",
		Logger: slog.New(slog.DiscardHandler), RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPMailpit(t *testing.T) {
	srv := mailpit.Start(t)
	ctx := context.Background()
	st := memstore.New()
	s := newMailpitSender(t, st, srv)
	m := newMessage(time.Now().UTC().Truncate(time.Second), mail.TemplatePasswordReset)
	m.To = "bob@example.com"
	if err := st.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := srv.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("Mailpit has %d messages, want 1", len(list))
	}
	got, err := srv.Message(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "Reset your password" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if len(got.To) != 1 || got.To[0].Address != "bob@example.com" {
		t.Errorf("To = %+v", got.To)
	}
	if got.From.Address != "no-reply@example.com" || got.From.Name != "Example" {
		t.Errorf("From = %+v", got.From)
	}
	if got.MessageID != m.ID+"@authd" {
		t.Errorf("MessageID = %q, want %q", got.MessageID, m.ID+"@authd")
	}
	if !strings.Contains(strings.ReplaceAll(got.Text, "\r\n", "\n"), "\n"+m.Data["Link"]+"\n") {
		t.Errorf("text part lacks the link on its own line:\n%s", got.Text)
	}
	if !strings.Contains(got.HTML, "<a href=") {
		t.Errorf("no HTML part:\n%s", got.HTML)
	}
	if !got.Date.Equal(m.CreatedAt) {
		t.Errorf("Date = %v, want %v", got.Date, m.CreatedAt)
	}
	if n := pending(t, st); n != 0 {
		t.Errorf("%d left in the outbox", n)
	}
}

func TestSMTPHeaderInjection(t *testing.T) {
	srv := mailpit.Start(t)
	ctx := context.Background()
	st := memstore.New()
	s := newMailpitSender(t, st, srv)
	m := newMessage(time.Now(), mail.TemplateNewDevice)
	m.To = "bob@example.com\r\nBcc: eve@example.com"
	if err := st.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, st); n != 0 {
		t.Errorf("%d left in the outbox, want the message dropped", n)
	}
	list, err := srv.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("Mailpit received %d messages, want none", len(list))
	}
	// The transport alone refuses it as permanent too.
	tr, _ := mail.NewSMTP(srv.SMTPURL())
	for _, r := range []*mail.Rendered{
		{ID: "A", To: "b@example.com\nBcc: e@example.com", From: "a@example.com", Subject: "s"},
		{ID: "A", To: "b@example.com", From: "a@example.com\r", Subject: "s"},
		{ID: "A", To: "b@example.com", From: "a@example.com", Subject: "s\r\nBcc: e@example.com"},
	} {
		if err := tr.Send(ctx, r); !errors.Is(err, mail.ErrPermanent) {
			t.Errorf("Send(%q, %q, %q) = %v, want ErrPermanent", r.To, r.From, r.Subject, err)
		}
	}
}

// TestSMTPOutage: Mailpit is down when the mail is due; the sender keeps
// retrying; Mailpit comes back on the same port and the mail arrives once.
func TestSMTPOutage(t *testing.T) {
	srv := mailpit.Start(t)
	ctx := context.Background()
	st := memstore.New()
	s := newMailpitSender(t, st, srv)
	srv.Stop(t)
	m := newMessage(time.Now(), mail.TemplateVerifyEmail)
	if err := st.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	// Failed attempts: the message stays, rescheduled.
	for range 3 {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // past RetryMax: due again
	}
	ms, err := st.Claim(ctx, time.Now(), time.Nanosecond, 10)
	if err != nil || len(ms) != 1 || ms[0].Attempts < 4 {
		t.Fatalf("after the outage the outbox holds %+v, %v; want the message after 3 failed attempts", ms, err)
	}
	srv.Start(t)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(runCtx) }()
	waitFor(t, srv, 1)
	cancel()
	<-done
	list, err := srv.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].MessageID != m.ID+"@authd" {
		t.Fatalf("Mailpit has %+v, want the one message", list)
	}
}

// waitFor waits until srv holds n messages or more (the test's timeout
// bounds it), then a little longer to catch duplicates.
func waitFor(t *testing.T, srv *mailpit.Server, n int) []mailpit.Summary {
	t.Helper()
	for {
		list, err := srv.Messages(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) >= n {
			return list
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTwoSenders: two senders, each with its own store handle on one
// outbox, deliver 30 messages; each arrives exactly once.
func TestTwoSenders(t *testing.T) {
	outboxes := map[string]func(t *testing.T) (mail.Outbox, mail.Outbox){
		"SQLite": func(t *testing.T) (mail.Outbox, mail.Outbox) {
			path := filepath.Join(t.TempDir(), "authd.db")
			a := openSQLite(t, path)
			return a, openSQLite(t, path)
		},
		"PostgreSQL": func(t *testing.T) (mail.Outbox, mail.Outbox) {
			if testing.Short() {
				t.Skip("short")
			}
			dsn := pgtest.NewDatabase(t)
			return openPG(t, dsn), openPG(t, dsn)
		},
	}
	for name, open := range outboxes {
		t.Run(name, func(t *testing.T) {
			srv := mailpit.Start(t)
			a, b := open(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			want := map[string]bool{}
			for i := range 30 {
				m := newMessage(time.Now().Add(time.Duration(i)*time.Microsecond-time.Second), mail.TemplateNewDevice)
				m.To = fmt.Sprintf("user%d@example.com", i)
				if err := a.Enqueue(ctx, m); err != nil {
					t.Fatal(err)
				}
				want[m.ID+"@authd"] = true
			}
			var wg sync.WaitGroup
			for _, ob := range []mail.Outbox{a, b} {
				s := newMailpitSender(t, ob, srv)
				wg.Go(func() { s.Run(ctx) })
			}
			waitFor(t, srv, 30)
			time.Sleep(100 * time.Millisecond) // room for a duplicate to show
			cancel()
			wg.Wait()
			list, err := srv.Messages(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, m := range list {
				got[m.MessageID]++
			}
			for id := range want {
				if got[id] != 1 {
					t.Errorf("%s arrived %d times, want once", id, got[id])
				}
			}
			if len(list) != 30 {
				t.Errorf("Mailpit has %d messages, want 30", len(list))
			}
		})
	}
}

func openSQLite(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPG(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
