package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// krTokens runs the password grant and returns the access and refresh
// tokens.
func krTokens(t *testing.T, base string, form url.Values) (access, refresh string) {
	t.Helper()
	resp, err := testClient.PostForm(base+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /oauth2/token %v: %d %s", form.Get("grant_type"), resp.StatusCode, b)
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	return tr.AccessToken, tr.RefreshToken
}

// krBearer calls GET /v1/user with a bearer token.
func krBearer(base, tok string) (int, string, error) {
	req, _ := http.NewRequest("GET", base+"/v1/user", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := testClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), nil
}

func krKid(tok string) string {
	h, _, _ := strings.Cut(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(h)
	var hdr struct{ Kid string }
	json.Unmarshal(b, &hdr)
	return hdr.Kid
}

func krJWKSKids(t *testing.T, base string) []string {
	t.Helper()
	resp, body := call(t, testClient, "GET", base+"/.well-known/jwks.json", nil, "")
	wantStatus(t, resp, body, http.StatusOK)
	var set struct{ Keys []struct{ Kid string } }
	json.Unmarshal(body, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// feedStream is an open GET /v1/revocations.
type feedStream struct {
	resp   *http.Response
	lines  chan string // closed at the end of the stream
	cancel context.CancelFunc
}

func openFeed(t *testing.T, base, id, secret string) (*feedStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/revocations", nil)
	req.SetBasicAuth(id, secret)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		return nil, resp
	}
	fs := &feedStream{resp: resp, lines: make(chan string, 1024), cancel: cancel}
	t.Cleanup(fs.close)
	go func() {
		defer close(fs.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			fs.lines <- sc.Text()
		}
	}()
	return fs, resp
}

func (fs *feedStream) close() { fs.cancel(); fs.resp.Body.Close() }

// waitFor reads lines until one contains want; it fails after within or
// at the end of the stream.
func (fs *feedStream) waitFor(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-fs.lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on the stream within %v", want, within)
		}
	}
}

// waitEnd waits for the end of the stream and returns how long it took.
func (fs *feedStream) waitEnd(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		select {
		case _, ok := <-fs.lines:
			if !ok {
				return time.Since(start)
			}
		case <-deadline:
			t.Fatalf("stream still open after %v", within)
		}
	}
}

var clientLine = regexp.MustCompile(`client_id:\s+(\S+)\s+client_secret:\s+(\S+)`)

// TestKeysRevoke: `authd keys revoke KID`, run beside a serving instance
// (another store handle, as another process would be), withdraws the key:
// the running instance refuses its tokens within a second (401
// invalid_token) and drops it from the JWKS; the feed announces it; the
// session lives on and its refresh token gets a token from the new key.
func TestKeysRevoke(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, nil, serveArgs(dir, "--password-grant", "on")...)
	base := s.URL
	m := clientLine.FindStringSubmatch(mustRun(t, "", "client", "add", "notes", "--data-dir", dir))
	if m == nil {
		t.Fatal("client add printed no credentials")
	}
	feed, _ := openFeed(t, base, m[1], m[2])
	feed.waitFor(t, "event: ready", 5*time.Second)
	register(t, testClient, base, "alice@example.com", "correct horse battery staple")
	cookie := login(t, testClient, base, "alice@example.com", "correct horse battery staple")
	access, refresh := krTokens(t, base, url.Values{"grant_type": {"password"}, "username": {"alice@example.com"},
		"password": {"correct horse battery staple"}})
	if st, _, _ := krBearer(base, access); st != http.StatusOK {
		t.Fatalf("before revocation: %d", st)
	}
	old := krKid(access)

	_, _, err := runCmd(t, nil, "", "keys", "revoke", "no-such-kid", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), `no signing key "no-such-kid"`) {
		t.Errorf("keys revoke (unknown KID) = %v, want a clear error", err)
	}
	out := mustRun(t, "", "keys", "revoke", old, "--data-dir", dir)
	revokedAt := time.Now()
	if !strings.Contains(out, "revoked key "+old) || !strings.Contains(out, "signs now") {
		t.Errorf("keys revoke printed %q", out)
	}
	var took time.Duration
	for {
		st, hdr, err := krBearer(base, access)
		if err != nil {
			t.Fatal(err)
		}
		if st == http.StatusUnauthorized {
			took = time.Since(revokedAt)
			if !strings.Contains(hdr, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q, want invalid_token", hdr)
			}
			break
		}
		if time.Since(revokedAt) > time.Second {
			t.Fatalf("the revoked key's token still accepted (%d) a second after keys revoke", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("keys revoke (another store handle) to 401 at the running instance: %v", took)
	if slices.Contains(krJWKSKids(t, base), old) {
		t.Error("the revoked key is still in the JWKS")
	}
	feed.waitFor(t, `"kid":"`+old+`"`, 2*time.Second)
	later, _ := openFeed(t, base, m[1], m[2]) // a new follower gets it in its backlog
	later.waitFor(t, `"kid":"`+old+`"`, 2*time.Second)

	// The session lives on: its cookie, and its refresh token, which
	// now gets a token from the new key.
	if st, _ := whoami(t, testClient, base, cookie); st != http.StatusOK {
		t.Errorf("cookie session after the key revocation: %d, want 200", st)
	}
	fresh, _ := krTokens(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if krKid(fresh) == old {
		t.Fatal("refresh issued a token signed by the revoked key")
	}
	if st, _, _ := krBearer(base, fresh); st != http.StatusOK {
		t.Errorf("the refreshed token: %d, want 200", st)
	}
	list := mustRun(t, "", "keys", "list", "--data-dir", dir)
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(old) + `\s.*revoked$`).MatchString(list) {
		t.Errorf("keys list does not show %s revoked:\n%s", old, list)
	}
	if out := mustRun(t, "", "keys", "revoke", old, "--data-dir", dir); !strings.Contains(out, "already revoked") {
		t.Errorf("second keys revoke printed %q", out)
	}
}

// TestFeedStreamLimits: one client may hold --feed-max-streams-per-client
// streams; one more gets 429 with Retry-After and a problem body; when
// the client is deleted (`authd client delete`, another store handle) its
// open streams end within a few seconds.
func TestFeedStreamLimits(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, nil, serveArgs(dir, "--feed-max-streams-per-client", "2")...)
	base := s.URL
	m := clientLine.FindStringSubmatch(mustRun(t, "", "client", "add", "notes", "--data-dir", dir))
	other := clientLine.FindStringSubmatch(mustRun(t, "", "client", "add", "billing", "--data-dir", dir))
	if m == nil || other == nil {
		t.Fatal("client add printed no credentials")
	}
	var streams []*feedStream
	for range 2 {
		fs, resp := openFeed(t, base, m[1], m[2])
		if fs == nil {
			t.Fatalf("stream within the limit: %d", resp.StatusCode)
		}
		fs.waitFor(t, "event: ready", 5*time.Second)
		streams = append(streams, fs)
	}
	fs, resp := openFeed(t, base, m[1], m[2])
	if fs != nil {
		t.Fatal("a third stream was accepted with a limit of 2")
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct {
		Type   string
		Status int
	}
	json.Unmarshal(body, &p)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || p.Status != 429 || p.Type != "urn:authd:problem:too-many-streams" {
		t.Errorf("third stream: %d, Retry-After %q, %s %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
	// The limit is per client: another client is not affected.
	if fs, resp := openFeed(t, base, other[1], other[2]); fs == nil {
		t.Errorf("another client's stream: %d", resp.StatusCode)
	}
	// A closed stream frees its slot.
	streams[1].close()
	if err := eventually(5*time.Second, func() error {
		fs, resp := openFeed(t, base, m[1], m[2])
		if fs == nil {
			resp.Body.Close()
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		streams[1] = fs
		return nil
	}); err != nil {
		t.Fatalf("after closing a stream: %v", err)
	}

	mustRun(t, "", "client", "delete", m[1], "--data-dir", dir)
	for i, fs := range streams {
		took := fs.waitEnd(t, 6*time.Second)
		t.Logf("stream %d ended %v after client delete", i, took)
	}
	if fs, resp := openFeed(t, base, m[1], m[2]); fs != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the deleted client's reconnect: %d, want 401", resp.StatusCode)
	}
}

func eventually(within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
