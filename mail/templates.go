package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*.subject templates/*.txt templates/*.html
var embedded embed.FS

// Names lists the templates authd sends, the Template* constants.
var Names = []string{
	TemplateVerifyEmail,
	TemplatePasswordReset,
	TemplateConfirmEmail,
	TemplateEmailChanging,
	TemplatePasswordChanged,
	TemplateEmailChanged,
	TemplateRefreshReplayed,
	TemplateNewDevice,
}

// ErrUnknownTemplate is returned by Render for a name with no template.
var ErrUnknownTemplate = errors.New("mail: unknown template")

// The parts of a template, by file extension.
const (
	extSubject = ".subject"
	extText    = ".txt"
	extHTML    = ".html"
)

// Templates renders messages: a subject and a text part with text/template,
// an HTML part with html/template (which escapes the data for HTML). A
// field the data lacks is an error, not an empty string. Create it with
// LoadTemplates; it is safe for concurrent use.
type Templates struct {
	set map[string]*templateSet
}

type templateSet struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// LoadTemplates parses the templates. With dir "" they are the ones built
// into authd (mail/templates); otherwise a file NAME.subject, NAME.txt or
// NAME.html in dir replaces that part of the built-in template NAME, and
// the parts dir lacks stay built in. Other files in dir are ignored, but a
// part for a name authd does not send is an error (a misspelt file would
// otherwise be silently unused), and so is a template that does not parse.
func LoadTemplates(dir string) (*Templates, error) {
	var override fs.FS
	if dir != "" {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("mail: templates: %s is not a directory", dir)
		}
		override = os.DirFS(dir)
		entries, err := fs.ReadDir(override, ".")
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if ext != extSubject && ext != extText && ext != extHTML {
				continue
			}
			if name := strings.TrimSuffix(e.Name(), ext); !known(name) {
				return nil, fmt.Errorf("mail: templates: %s: no template named %q (want one of %s)",
					filepath.Join(dir, e.Name()), name, strings.Join(Names, ", "))
			}
		}
	}
	read := func(file string) (string, string, error) {
		if override != nil {
			b, err := fs.ReadFile(override, file)
			if err == nil {
				return string(b), filepath.Join(dir, file), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", "", fmt.Errorf("mail: templates: %w", err)
			}
		}
		b, err := embedded.ReadFile("templates/" + file)
		if err != nil {
			return "", "", fmt.Errorf("mail: templates: built-in %s: %w", file, err)
		}
		return string(b), "built-in " + file, nil
	}
	t := &Templates{set: map[string]*templateSet{}}
	for _, name := range Names {
		var ts templateSet
		for _, ext := range []string{extSubject, extText, extHTML} {
			src, from, err := read(name + ext)
			if err != nil {
				return nil, err
			}
			switch ext {
			case extSubject:
				ts.subject, err = texttemplate.New(name + ext).Option("missingkey=error").Parse(src)
			case extText:
				ts.text, err = texttemplate.New(name + ext).Option("missingkey=error").Parse(src)
			case extHTML:
				ts.html, err = htmltemplate.New(name + ext).Option("missingkey=error").Parse(src)
			}
			if err != nil {
				return nil, fmt.Errorf("mail: templates: parse %s: %w", from, err)
			}
		}
		t.set[name] = &ts
	}
	return t, nil
}

func known(name string) bool {
	for _, n := range Names {
		if n == name {
			return true
		}
	}
	return false
}

// Render renders m: Subject, Text and HTML, with ID and To copied from m
// (From is the sender's to set). ErrUnknownTemplate when m.Template names
// no template; a template that fails to execute (for example on a field
// m.Data lacks) is an error too. The subject is one line: line breaks in
// it become spaces, and leading and trailing space is trimmed.
func (t *Templates) Render(m *Message) (*Rendered, error) {
	ts, ok := t.set[m.Template]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTemplate, m.Template)
	}
	data := m.Data
	if data == nil {
		data = map[string]string{}
	}
	var subject, text, html bytes.Buffer
	if err := ts.subject.Execute(&subject, data); err != nil {
		return nil, fmt.Errorf("mail: render %s subject: %w", m.Template, err)
	}
	if err := ts.text.Execute(&text, data); err != nil {
		return nil, fmt.Errorf("mail: render %s text: %w", m.Template, err)
	}
	if err := ts.html.Execute(&html, data); err != nil {
		return nil, fmt.Errorf("mail: render %s HTML: %w", m.Template, err)
	}
	return &Rendered{
		ID:      m.ID,
		To:      m.To,
		Date:    m.CreatedAt,
		Subject: oneLine(subject.String()),
		Text:    text.String(),
		HTML:    html.String(),
	}, nil
}

// oneLine joins the non-blank lines of s, trimmed, with single spaces.
func oneLine(s string) string {
	var lines []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}
