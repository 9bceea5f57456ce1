package backchannel

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authd/authd/token"
)

// attempt makes one delivery attempt of d: it looks the client up, signs
// a fresh logout token and POSTs it, holding one of the Workers slots
// meanwhile.
func (n *Notifier) attempt(ctx context.Context, d *delivery) result {
	select {
	case n.sem <- struct{}{}:
	case <-ctx.Done():
		return result{outcome: stopped}
	}
	defer func() { <-n.sem }()

	c, err := n.lookup(ctx, d.clientID)
	if err != nil {
		if ctx.Err() != nil {
			return result{outcome: stopped}
		}
		return result{outcome: failed, err: fmt.Errorf("look up client: %w", err)}
	}
	if !c.found || c.uri == "" {
		// Deleted since, or registered without back-channel logout
		// (§2.2: only clients that registered a URI are told).
		return result{outcome: gone}
	}
	// §2.4: aud is the client; sid the session its ID tokens named
	// (the session is the app's own: one per sign-in of the app); sub the
	// user, when the event names them. A fresh token per attempt: each
	// lives token.LogoutTokenTTL.
	tok, err := n.cfg.Tokens.IssueLogout(token.LogoutClaims{
		Audience: d.clientID, Subject: d.userID, SessionID: d.sessionID, Alg: n.alg(c.alg),
	})
	if err != nil {
		return result{outcome: failed, err: err}
	}
	status, err := n.post(ctx, c.uri, tok)
	switch {
	case ctx.Err() != nil:
		return result{outcome: stopped}
	case err != nil:
		return result{outcome: failed, err: err}
	case status >= 200 && status < 300:
		// §2.8: 200 OK, or 204 No Content from frameworks that answer
		// so; any 2xx is an acknowledgement.
		return result{outcome: delivered, status: status}
	case status >= 300 && status < 400:
		return result{outcome: failed, status: status,
			err: fmt.Errorf("the back-channel logout URI answered %d: redirects are not followed", status)}
	}
	// §2.8: 400 when the logout failed; retried like any other failure.
	return result{outcome: failed, status: status, err: fmt.Errorf("the back-channel logout URI answered %d", status)}
}

// post is the Back-Channel Logout Request (§2.5): an HTTP POST to the
// registered URI, the logout token as the logout_token member of an
// application/x-www-form-urlencoded body. Cache-Control: no-store keeps
// the token out of any cache on the way. It returns the answer's status;
// the answer's body is read (up to 4 KiB, so the connection can be
// reused) and ignored.
func (n *Notifier) post(ctx context.Context, uri, logoutToken string) (int, error) {
	body := url.Values{"logout_token": {logoutToken}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("back-channel logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("back-channel logout request: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// backoff is the wait after the attempts-th failed attempt: r.First,
// doubling with each further failure, capped at r.Max, then shortened by
// up to a quarter (j in [0, 1) picks how much) so that deliveries that
// failed together do not all come back at the same instant.
func backoff(r Retry, attempts int, j float64) time.Duration {
	w := r.First
	for i := 1; i < attempts && w < r.Max; i++ {
		w *= 2
	}
	w = min(w, r.Max)
	return w - time.Duration(float64(w/4)*j)
}

func jitter() float64 { return rand.Float64() }
