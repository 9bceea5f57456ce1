// Package mailpit runs Mailpit (https://mailpit.axllent.org), an SMTP
// server that keeps what it receives and shows it through an HTTP API, for
// tests that send mail for real.
//
// The binary comes from the environment variable AUTHD_TEST_MAILPIT_BIN,
// which scripts/mailpit.sh prints (it builds Mailpit once into a cache):
//
//	eval "$(bash scripts/mailpit.sh)"
//
// When it is unset the calling test is skipped, except under CI=true,
// where it fails: CI must not pass by skipping the mail tests.
//
// Start runs a private server on free loopback ports, which a test may
// stop and restart; Shared connects to the one scripts/mailpit.sh start
// runs (AUTHD_TEST_MAILPIT, SMTP address; HTTP API on the next port).
package mailpit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Environment variables.
const (
	// EnvBin holds the path of the mailpit binary.
	EnvBin = "AUTHD_TEST_MAILPIT_BIN"
	// EnvAddr holds the SMTP address (host:port) of a running shared
	// server whose HTTP API is on the next port.
	EnvAddr = "AUTHD_TEST_MAILPIT"
)

// Bin returns the binary in AUTHD_TEST_MAILPIT_BIN, skipping t (failing it
// under CI=true) when the variable is empty.
func Bin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBin)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the mail tests", EnvBin)
		}
		t.Skip("set " + EnvBin + " to run the mail tests against Mailpit: eval \"$(bash scripts/mailpit.sh)\"")
	}
	return bin
}

// Server is a Mailpit process of a test's own, or the shared one.
type Server struct {
	// SMTPAddr is the SMTP address, 127.0.0.1:PORT.
	SMTPAddr string
	// APIURL is the base URL of the HTTP API, http://127.0.0.1:PORT.
	APIURL string

	bin, db  string
	httpAddr string
	cmd      *exec.Cmd
	done     chan struct{}
	http     *http.Client
}

// Start runs a Mailpit of t's own on two free loopback ports, with its
// database in a temporary directory so that what it received survives
// Stop and Start. It is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		bin:      Bin(t),
		db:       filepath.Join(t.TempDir(), "mailpit.db"),
		SMTPAddr: freeAddr(t),
		httpAddr: freeAddr(t),
		http:     &http.Client{Timeout: 10 * time.Second},
	}
	s.APIURL = "http://" + s.httpAddr
	s.Start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Shared returns the server in AUTHD_TEST_MAILPIT, skipping t (failing it
// under CI=true) when the variable is empty. It cannot be stopped or
// started; tests sharing it should tell their mails apart by recipient.
func Shared(t testing.TB) *Server {
	t.Helper()
	addr := os.Getenv(EnvAddr)
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the mail tests", EnvAddr)
		}
		t.Skip("set " + EnvAddr + " to run the mail tests against Mailpit: eval \"$(bash scripts/mailpit.sh start 1025)\"")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("mailpit: %s=%q: %v", EnvAddr, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("mailpit: %s=%q: %v", EnvAddr, addr, err)
	}
	httpAddr := net.JoinHostPort(host, strconv.Itoa(p+1))
	return &Server{SMTPAddr: addr, httpAddr: httpAddr, APIURL: "http://" + httpAddr, http: &http.Client{Timeout: 10 * time.Second}}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailpit: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SMTPURL is the URL for mail.NewSMTP: no TLS (insecure=1), no login.
func (s *Server) SMTPURL() string { return "smtp://" + s.SMTPAddr + "?insecure=1" }

// Start starts the server again after Stop, on the same ports and
// database, and waits until it is ready.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.bin == "" {
		t.Fatalf("mailpit: the shared server cannot be started")
	}
	if s.cmd != nil {
		t.Fatalf("mailpit: already running")
	}
	cmd := exec.Command(s.bin, "--smtp", s.SMTPAddr, "--listen", s.httpAddr, "--database", s.db,
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--smtp-disable-rdns",
		"--disable-version-check", "--quiet")
	out, err := os.CreateTemp(filepath.Dir(s.db), "mailpit-*.log")
	if err != nil {
		t.Fatalf("mailpit: %v", err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("mailpit: start %s: %v", s.bin, err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-s.done:
			log, _ := os.ReadFile(out.Name())
			s.cmd = nil
			t.Fatalf("mailpit exited at start: %s", log)
		default:
		}
		if s.ready() {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("mailpit not ready after 20 s: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reports whether both the HTTP API and the SMTP port answer.
func (s *Server) ready() bool {
	resp, err := s.http.Get(s.APIURL + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop kills the server (an outage, not a shutdown) and waits until it is
// gone. It does nothing when the server is not running.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Address is a mail address as Mailpit reports it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Summary is a received message as Mailpit lists it.
type Summary struct {
	ID        string    `json:"ID"` // Mailpit's own ID
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Created   time.Time `json:"Created"`
}

// Message is a received message in full.
type Message struct {
	ID        string    `json:"ID"` // Mailpit's own ID
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Date      time.Time `json:"Date"`
	Text      string    `json:"Text"`
	HTML      string    `json:"HTML"`
}

// Messages lists what the server received, newest first (GET
// /api/v1/messages), up to 1000.
func (s *Server) Messages(ctx context.Context) ([]Summary, error) {
	var out struct {
		Messages []Summary `json:"messages"`
	}
	if err := s.get(ctx, "/api/v1/messages?limit=1000", &out); err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// Message returns a received message by Mailpit's ID (GET
// /api/v1/message/{ID}).
func (s *Server) Message(ctx context.Context, id string) (*Message, error) {
	var m Message
	if err := s.get(ctx, "/api/v1/message/"+url.PathEscape(id), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Raw returns a received message as it arrived (GET /api/v1/message/{ID}/raw).
func (s *Server) Raw(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+"/api/v1/message/"+url.PathEscape(id)+"/raw", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mailpit: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("mailpit: raw %s: %s", id, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// DeleteAll deletes every received message (DELETE /api/v1/messages).
func (s *Server) DeleteAll(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.APIURL+"/api/v1/messages", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit: delete: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit: delete: %s", resp.Status)
	}
	return nil
}

// To lists the messages received for the address to.
func (s *Server) To(ctx context.Context, to string) ([]Summary, error) {
	all, err := s.Messages(ctx)
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, m := range all {
		for _, a := range m.To {
			if a.Address == to {
				out = append(out, m)
				break
			}
		}
	}
	return out, nil
}

func (s *Server) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.APIURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("mailpit: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("mailpit: GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("mailpit: GET %s: %w", path, err)
	}
	return nil
}
