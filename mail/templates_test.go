package mail_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/mail"
)

const link = "https://auth.example/email/verify?token=abc&x=1"

// data is each template's documented fields (mail.go).
var data = map[string]map[string]string{
	mail.TemplateVerifyEmail:     {"Link": link},
	mail.TemplatePasswordReset:   {"Link": link},
	mail.TemplateConfirmEmail:    {"Link": link, "OldEmail": "old@example.com"},
	mail.TemplateEmailChanging:   {"Link": link, "NewEmail": "new@example.com"},
	mail.TemplatePasswordChanged: {"How": "reset", "IP": "192.0.2.1"},
	mail.TemplateEmailChanged:    {"Link": link, "NewEmail": "new@example.com"},
	mail.TemplateRefreshReplayed: {"Device": "Firefox on Linux", "IP": "192.0.2.1", "SignedInAt": "2030-01-02 03:04 UTC"},
	mail.TemplateNewDevice:       {"Device": "Firefox on Linux", "IP": "192.0.2.1"},
}

func mustLoad(t *testing.T, dir string) *mail.Templates {
	t.Helper()
	ts, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatalf("LoadTemplates(%q) = %v", dir, err)
	}
	return ts
}

func TestBuiltinTemplates(t *testing.T) {
	ts := mustLoad(t, "")
	if len(data) != len(mail.Names) {
		t.Fatalf("test covers %d templates, mail.Names has %d", len(data), len(mail.Names))
	}
	for _, name := range mail.Names {
		t.Run(name, func(t *testing.T) {
			d := data[name]
			r, err := ts.Render(&mail.Message{ID: "ID1", To: "a@example.com", Template: name, Data: d})
			if err != nil {
				t.Fatalf("Render = %v", err)
			}
			if r.Subject == "" || strings.ContainsAny(r.Subject, "\r\n") {
				t.Errorf("Subject = %q, want one non-empty line", r.Subject)
			}
			if r.ID != "ID1" || r.To != "a@example.com" {
				t.Errorf("ID, To = %q, %q", r.ID, r.To)
			}
			// The text part: the link exactly once, on its own line.
			want := 0
			if _, ok := d["Link"]; ok {
				want = 1
			}
			if n := strings.Count(r.Text, "https://"); n != want {
				t.Errorf("text has %d links, want %d:\n%s", n, want, r.Text)
			}
			if want == 1 && !strings.Contains("\n"+r.Text, "\n"+link+"\n") {
				t.Errorf("text lacks the link on a line of its own:\n%s", r.Text)
			}
			// The HTML part: the link escaped for HTML, once.
			if want == 1 && strings.Count(r.HTML, `href="https://auth.example/email/verify?token=abc&amp;x=1"`) != 1 {
				t.Errorf("HTML lacks the escaped link:\n%s", r.HTML)
			}
			for k, v := range d {
				if k != "Link" && !strings.Contains(r.Text, v) {
					t.Errorf("text lacks %s %q", k, v)
				}
			}
			if strings.Contains(r.Text+r.HTML+r.Subject, "authd") {
				t.Errorf("the mail names authd; it should say \"your account\"")
			}
			// A field missing from the data is an error, not an empty string.
			if len(d) > 0 {
				if _, err := ts.Render(&mail.Message{ID: "ID1", Template: name}); err == nil {
					t.Errorf("Render without data = nil error, want one")
				}
			}
		})
	}
}

func TestRenderEscapesAndOneLineSubject(t *testing.T) {
	ts := mustLoad(t, "")
	r, err := ts.Render(&mail.Message{ID: "X", Template: mail.TemplatePasswordChanged,
		Data: map[string]string{"How": "changed\r\nBcc: evil@example.com", "IP": "<script>alert(1)</script>"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Your password was changed Bcc: evil@example.com" {
		t.Errorf("Subject = %q, want the line break replaced by a space", r.Subject)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") {
		t.Errorf("HTML does not escape the data:\n%s", r.HTML)
	}
	if _, err := ts.Render(&mail.Message{ID: "X", Template: "nope"}); !errors.Is(err, mail.ErrUnknownTemplate) {
		t.Errorf("Render(unknown) = %v, want ErrUnknownTemplate", err)
	}
}

func TestTemplateOverride(t *testing.T) {
	write := func(t *testing.T, dir string, files map[string]string) {
		t.Helper()
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("OverridesByName", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, map[string]string{
			"verify_email.subject": "Bitte bestätigen\n",
			"verify_email.txt":     "Link:\n{{.Link}}\n",
			"README.md":            "ignored",
		})
		ts := mustLoad(t, dir)
		r, err := ts.Render(&mail.Message{ID: "X", Template: mail.TemplateVerifyEmail, Data: data[mail.TemplateVerifyEmail]})
		if err != nil {
			t.Fatal(err)
		}
		if r.Subject != "Bitte bestätigen" || r.Text != "Link:\n"+link+"\n" {
			t.Errorf("Subject, Text = %q, %q; want the overrides", r.Subject, r.Text)
		}
		builtin, _ := mustLoad(t, "").Render(&mail.Message{ID: "X", Template: mail.TemplateVerifyEmail, Data: data[mail.TemplateVerifyEmail]})
		if r.HTML != builtin.HTML {
			t.Errorf("HTML = %q, want the built-in one (not overridden)", r.HTML)
		}
		other, _ := ts.Render(&mail.Message{ID: "X", Template: mail.TemplatePasswordReset, Data: data[mail.TemplatePasswordReset]})
		want, _ := mustLoad(t, "").Render(&mail.Message{ID: "X", Template: mail.TemplatePasswordReset, Data: data[mail.TemplatePasswordReset]})
		if *other != *want {
			t.Errorf("password_reset changed by an override of verify_email")
		}
	})
	bad := []struct {
		name  string
		files map[string]string
	}{
		{"ParseErrorText", map[string]string{"verify_email.txt": "{{.Link"}},
		{"ParseErrorHTML", map[string]string{"new_device.html": "{{if}}"}},
		{"UnknownName", map[string]string{"verify_mail.txt": "{{.Link}}"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.files)
			if _, err := mail.LoadTemplates(dir); err == nil {
				t.Fatalf("LoadTemplates = nil error, want one")
			}
		})
	}
	t.Run("MissingDir", func(t *testing.T) {
		if _, err := mail.LoadTemplates(filepath.Join(t.TempDir(), "none")); err == nil {
			t.Fatal("LoadTemplates(missing dir) = nil error")
		}
	})
}
