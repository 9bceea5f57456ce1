package guard_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/authd/authd/jwk"
	"github.com/authd/authd/token"
	"github.com/authd/authd/wire"
)

// stubAuthd stands in for authd, in process and offline, for the examples
// and the cookie tests: its metadata, its JWKS (one key), its revocation
// feed (an empty backlog, then heartbeats), a token issuer with that key,
// and /v1/auth/check, which knows one cookie, "alice-cookie" (user alice,
// session s1, scope read).
type stubAuthd struct {
	*httptest.Server
	issuer *token.Issuer
	// check, when set, is the status /v1/auth/check answers whatever the
	// cookie; -1 drops the connection without an answer.
	check atomic.Int32
	done  chan struct{}
}

// oneKey is a token.Signers of a single key.
type oneKey struct{ k *jwk.Key }

func (o oneKey) Signer() (*jwk.Key, error) { return o.k, nil }

func (o oneKey) SignerFor(alg string) (*jwk.Key, error) {
	if alg != o.k.Alg {
		return nil, fmt.Errorf("no %s key", alg)
	}
	return o.k, nil
}

// newStubAuthd starts a stubAuthd; Close stops it. It panics on failure
// (examples have no *testing.T).
func newStubAuthd() *stubAuthd {
	key, err := jwk.Generate(jwk.EdDSA, time.Now(), time.Now())
	if err != nil {
		panic(err)
	}
	pub, err := key.JWK()
	if err != nil {
		panic(err)
	}
	a := &stubAuthd{done: make(chan struct{})}
	mux := http.NewServeMux()
	a.Server = httptest.NewServer(mux)
	a.issuer = &token.Issuer{Keys: oneKey{key}, URL: a.URL, Audience: "authd"}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": a.URL, "jwks_uri": a.URL + "/jwks",
			"authd_revocation_feed_endpoint": a.URL + wire.FeedPath})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []jwk.JWK{pub}})
	})
	mux.HandleFunc("GET "+wire.FeedPath, func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "notes" || secret != "notes-secret" {
			http.Error(w, "unknown client", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		wire.Write(w, wire.Ready)
		w.(http.Flusher).Flush()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-a.done:
				return
			case <-tick.C:
				wire.WriteHeartbeat(w)
				w.(http.Flusher).Flush()
			}
		}
	})
	mux.HandleFunc("GET /v1/auth/check", func(w http.ResponseWriter, r *http.Request) {
		switch st := a.check.Load(); st {
		case 0:
		case -1:
			panic(http.ErrAbortHandler) // the connection is closed, no answer
		default:
			http.Error(w, http.StatusText(int(st)), int(st))
			return
		}
		if ck, err := r.Cookie(wire.SessionCookie); err != nil || ck.Value != "alice-cookie" {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Authd-User", "alice")
		w.Header().Set("X-Authd-Session", "s1")
		w.Header().Set("X-Authd-Scope", "read")
	})
	return a
}

// token returns an access token for user with scope, signed by the stub.
func (a *stubAuthd) token(user, scope string) string {
	tok, _, err := a.issuer.Issue(token.Grant{UserID: user, SessionID: "s1", ClientID: "authd", Scope: scope})
	if err != nil {
		panic(err)
	}
	return tok
}

// Close ends the feed streams and stops the server.
func (a *stubAuthd) Close() {
	close(a.done)
	a.Server.Close()
}
