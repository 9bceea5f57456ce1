package mail_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authdmail "github.com/authd/authd/mail"
	"github.com/authd/authd/memstore"
)

func TestDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	tr, err := authdmail.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	ctx := context.Background()
	st := memstore.New()
	s, err := authdmail.NewSender(authdmail.SenderConfig{Outbox: st, Transport: tr, From: "no-reply@example.com",
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	m := newMessage(t0, authdmail.TemplateVerifyEmail)
	if err := st.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	want := filepath.Join(dir, "20300102T030405.123456Z-"+m.ID+".eml")
	if len(files) != 1 || files[0] != want {
		t.Fatalf("files = %v, want [%s]", files, want)
	}
	fi, err := os.Stat(want)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	f, err := os.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("ReadMessage = %v", err)
	}
	for k, v := range map[string]string{
		"To": "<alice@example.com>", "From": "<no-reply@example.com>",
		"Subject": "Verify your email address", "Message-Id": "<" + m.ID + "@authd>",
	} {
		if got := msg.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if d, err := msg.Header.Date(); err != nil || !d.Equal(t0.Truncate(1e9)) {
		t.Errorf("Date = %v, %v; want %v", d, err, t0)
	}
	text, html := parts(t, msg)
	if n := strings.Count(text, "https://"); n != 1 || !strings.Contains(text, "\n"+m.Data["Link"]+"\n") {
		t.Errorf("text part has %d links, want the one on its own line:\n%s", n, text)
	}
	if !strings.Contains(html, "<a href=") {
		t.Errorf("HTML part = %q", html)
	}
	// A resend (same ID) overwrites the same file.
	r, err := authdmail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := r.Render(m)
	again.From = "no-reply@example.com"
	if err := tr.Send(ctx, again); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 {
		t.Errorf("after a resend: files = %v, want one", files)
	}
	if tr.Path(again) != want {
		t.Errorf("Path = %q, want %q", tr.Path(again), want)
	}
}

// parts returns the decoded text/plain and text/html parts of msg.
func parts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v; want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			return text, html
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = body
		case "text/html":
			html = body
		}
	}
}
