package refresh_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
)

// TestRefreshClientAndScope: a refresh token is bound to its client and
// may only narrow its scope (RFC 6749 §6). A refused request does not
// spend the token: the rightful client's next refresh is not taken for
// reuse.
func TestRefreshClientAndScope(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		f := newRefreshFixture(t, open, 0) // no grace: a spent token would be reuse
		tok, sess := f.start(t)
		ctx := context.Background()
		refused := []struct {
			name string
			req  refresh.Request
			want error
		}{
			{"another client", refresh.Request{Token: tok, ClientID: "client-2"}, refresh.ErrOtherClient},
			{"no client", refresh.Request{Token: tok}, refresh.ErrOtherClient},
			{"a wider scope", refresh.Request{Token: tok, ClientID: "client-1", Scope: "read admin"}, refresh.ErrWiderScope},
			{"a scope of another token", refresh.Request{Token: tok, ClientID: "client-1", Scope: "profile"}, refresh.ErrWiderScope},
			{"33 scopes", refresh.Request{Token: tok, ClientID: "client-1", Scope: strings.Repeat("read ", 33)}, refresh.ErrWiderScope},
		}
		for _, c := range refused {
			g, err := f.r.Rotate(ctx, c.req)
			if !errors.Is(err, c.want) || g != nil {
				t.Errorf("%s: Rotate = %+v, %v; want %v", c.name, g, err, c.want)
			}
		}
		f.wantSessionLive(t, sess.ID)
		// Narrowing: the access token gets the narrower scope, the chain
		// keeps the original.
		g, err := f.r.Rotate(ctx, refresh.Request{Token: tok, ClientID: "client-1", Scope: "write write"})
		if err != nil || g.Scope != "write" || g.Refresh.Scope != "read write" {
			t.Fatalf("narrowing Rotate = %+v, %v; want scope write, the child keeping read write", g, err)
		}
		f.rotate(t, g.Token, sess.ID, 2)
	})
}

// TestRefreshRevoke: RFC 7009 for refresh tokens ends the whole session;
// a token of another client is refused, and one that is not ours or not
// stored ends nothing.
func TestRefreshRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) backend) {
		ctx := context.Background()
		f := newRefreshFixture(t, open, grace)
		tok, sess := f.start(t)
		unknown, _ := mintRefresh(t, macKey, sess.ID, 3)
		forged, _ := mintRefresh(t, []byte("another key"), sess.ID, 0)
		for name, tok := range map[string]string{"unknown": unknown, "forged": forged, "garbage": "x", "JWT": "a.b.c"} {
			if sid, err := f.r.Revoke(ctx, tok, "client-1"); sid != "" || err != nil {
				t.Errorf("Revoke(%s) = %q, %v; want nothing done", name, sid, err)
			}
		}
		if sid, err := f.r.Revoke(ctx, tok, "client-2"); sid != "" || !errors.Is(err, refresh.ErrOtherClient) {
			t.Errorf("Revoke by another client = %q, %v; want ErrOtherClient", sid, err)
		}
		f.wantSessionLive(t, sess.ID)
		f.clk.Advance(time.Second)
		child := f.rotate(t, tok, sess.ID, 1)
		// Revoking the used parent ends the session too.
		if sid, err := f.r.Revoke(ctx, tok, "client-1"); sid != sess.ID || err != nil {
			t.Fatalf("Revoke = %q, %v; want %s", sid, err, sess.ID)
		}
		f.wantSessionEnded(t, sess.ID)
		f.wantErr(t, child, refresh.ErrInvalidGrant)
		if _, err := f.r.Lookup(ctx, "a.b.c"); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("Lookup(JWT shape) = %v, want ErrNotFound", err)
		}
	})
}
