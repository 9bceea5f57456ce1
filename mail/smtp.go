package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/authd/authd/internal/redact"
)

// SendTimeout bounds one SMTP send: connecting, the dialogue and the data.
const SendTimeout = 30 * time.Second

// SMTP is a Transport that hands messages to a mail server over SMTP, one
// connection per message. Create it with NewSMTP.
type SMTP struct {
	host      string
	port      int
	implicit  bool // smtps: TLS from the first byte
	plaintext bool // insecure=1 on loopback: no TLS at all
	user      string
	pass      string
}

var _ Transport = (*SMTP)(nil)

// NewSMTP returns an SMTP transport for a URL:
//
//   - smtp://[user:pass@]host[:port] — STARTTLS when the server offers it
//     (opportunistic), default port 587;
//   - smtps://[user:pass@]host[:port] — TLS from the start (implicit),
//     default port 465;
//   - ?insecure=1 — no TLS at all, for a local test server such as
//     Mailpit; only with smtp:// and a loopback host (localhost,
//     127.0.0.1, ::1), refused otherwise.
//
// With a user name it authenticates with PLAIN, which go-mail refuses
// over a connection that is neither encrypted nor to localhost. The
// server's certificate is verified against the host name. Errors never
// show the password.
func NewSMTP(rawURL string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL: %w", redact.Err(err, rawURL))
	}
	s := &SMTP{host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("mail: SMTP URL: scheme %q, want smtp or smtps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("mail: SMTP URL: no host")
	}
	if u.Path != "" && u.Path != "/" || u.Opaque != "" || u.Fragment != "" {
		return nil, errors.New("mail: SMTP URL: want no path or fragment")
	}
	if p := u.Port(); p != "" {
		s.port, err = strconv.Atoi(p)
		if err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL: port %q", p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL: query: %w", redact.Err(err, rawURL))
	}
	for k, v := range q {
		if k != "insecure" {
			return nil, fmt.Errorf("mail: SMTP URL: unknown parameter %q (want insecure)", k)
		}
		switch strings.Join(v, ",") {
		case "1", "true":
			s.plaintext = true
		case "0", "false":
		default:
			return nil, fmt.Errorf("mail: SMTP URL: insecure=%q, want 1 or 0", strings.Join(v, ","))
		}
	}
	if s.plaintext {
		if s.implicit {
			return nil, errors.New("mail: SMTP URL: insecure=1 means no TLS, which smtps:// cannot do; use smtp://")
		}
		if !loopback(s.host) {
			return nil, fmt.Errorf("mail: SMTP URL: insecure=1 (no TLS) is allowed only for a server on this machine (localhost, 127.0.0.1, ::1), not %q", s.host)
		}
	}
	return s, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String describes the transport without its credentials.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicit {
		scheme = "smtps"
	}
	str := scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
	if s.plaintext {
		str += "?insecure=1"
	}
	return str
}

// Send implements Transport. A recipient or a message the server refuses
// with a 5xx reply, and a message with a line break in To, From or
// Subject, fail with ErrPermanent.
func (s *SMTP) Send(ctx context.Context, r *Rendered) error {
	msg, err := buildMsg(r)
	if err != nil {
		return err
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(SendTimeout),
	}
	switch {
	case s.implicit:
		opts = append(opts, gomail.WithSSL())
	case s.plaintext:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("mail: SMTP client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if permanent(err) {
			return fmt.Errorf("mail: send %s via %s: %w: %w", r.ID, s, ErrPermanent, err)
		}
		return fmt.Errorf("mail: send %s via %s: %w", r.ID, s, err)
	}
	return nil
}

// permanent reports whether err is the server refusing the recipient or
// the message for good (a 5xx reply to RCPT TO or to the data). A 5xx to
// anything else (MAIL FROM, authentication) is more likely the
// configuration, fixed by the operator while the message waits.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case gomail.ErrGetRcpts:
		return true
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		code := se.ErrorCode()
		return code >= 500 && code < 600
	}
	return false
}

// buildMsg turns r into a go-mail message: From, To, Subject, Date,
// Message-ID <ID@authd>, and text/plain with a text/html alternative.
func buildMsg(r *Rendered) (*gomail.Msg, error) {
	if err := checkHeaders(r); err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.From(r.From); err != nil {
		return nil, fmt.Errorf("mail: message %s: %w: From: %w", r.ID, ErrPermanent, err)
	}
	if err := m.To(r.To); err != nil {
		return nil, fmt.Errorf("mail: message %s: %w: To: %w", r.ID, ErrPermanent, err)
	}
	m.Subject(r.Subject)
	m.SetMessageIDWithValue(r.ID + "@authd")
	if r.Date.IsZero() {
		m.SetDate()
	} else {
		m.SetDateWithValue(r.Date)
	}
	m.SetBodyString(gomail.TypeTextPlain, r.Text)
	m.AddAlternativeString(gomail.TypeTextHTML, r.HTML)
	return m, nil
}
