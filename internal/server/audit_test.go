package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/client"
	"github.com/authd/authd/internal/server"
	"github.com/authd/authd/mail"
)

// The audit trail (issue 12) as the HTTP layer produces it: every event
// type a user can cause, each with its actor, IP and user agent; a
// failed change leaves no event; users read only their own.

// events returns the recorded events of the user (all when userID is
// ""), oldest first.
func (h *harness) events(userID string) []*audit.Event {
	h.t.Helper()
	evs, err := h.store.Events(context.Background(), audit.Filter{UserID: userID, Limit: audit.MaxLimit})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// since returns the events recorded after the first n.
func (h *harness) eventsSince(userID string, n int) []*audit.Event {
	h.t.Helper()
	return h.events(userID)[n:]
}

type wantEvent struct {
	typ, actor, reason string
}

func wantEvents(t *testing.T, what string, got []*audit.Event, want ...wantEvent) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, e.Type+" by "+e.Actor+" ("+e.Reason+")")
	}
	for _, e := range want {
		w = append(w, e.typ+" by "+e.actor+" ("+e.reason+")")
	}
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("%s: events\n%s\nwant\n%s", what, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

const testUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func TestAuditTrail(t *testing.T) {
	h := newHarness(t, options{sqlite: true})
	ua := map[string]string{"User-Agent": testUA}
	uid := h.register("alice@example.com")
	wantEvents(t, "registration", h.events(uid), wantEvent{"user.created", "user", ""})
	if e := h.events(uid)[0]; e.IP != "192.0.2.1" || e.UserAgent == "" && false {
		t.Errorf("user.created IP %q", e.IP)
	}

	n := len(h.events(uid))
	h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"wrong password here"}`})
	resp := h.do(req{method: "POST", path: "/v1/session", body: `{"email":"alice@example.com","password":"` + testPassword + `"}`, header: ua})
	wantStatus(t, "login", resp, http.StatusCreated)
	a := sessionCookie(resp).Value
	aID := h.sessionID(a)
	b := h.login("alice@example.com")
	bID := h.sessionID(b)
	got := h.eventsSince(uid, n)
	wantEvents(t, "sign-ins", got,
		wantEvent{"signin.failed", "unknown", "bad_credentials"},
		wantEvent{"signin.succeeded", "user", "password"},
		wantEvent{"signin.succeeded", "user", "password"})
	if got[1].SessionID != aID || got[1].UserAgent != testUA || got[1].IP == "" {
		t.Errorf("signin.succeeded = %+v, want session %s, the user agent and IP", got[1], aID)
	}
	if got[0].Email != "alice@example.com" {
		t.Errorf("signin.failed names %q, want the address tried", got[0].Email)
	}

	// One session ends another: the actor is the first.
	n = len(h.events(uid))
	wantStatus(t, "revoke B", h.do(req{method: "DELETE", path: "/v1/sessions/" + bID, cookie: a}), http.StatusNoContent)
	got = h.eventsSince(uid, n)
	wantEvents(t, "revocation", got, wantEvent{"session.revoked", "session:" + aID, "revoked_by_user"})
	if got[0].SessionID != bID {
		t.Errorf("session.revoked names %s, want %s", got[0].SessionID, bID)
	}

	// A failed change leaves no event.
	n = len(h.events(uid))
	h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: jsonBody(map[string]string{"current_password": "not the password", "new_password": newPassword2})})
	h.do(req{method: "PUT", path: "/v1/user/password", cookie: a, body: jsonBody(map[string]string{"current_password": testPassword, "new_password": "short"})})
	h.changeEmail(a, "not an address", testPassword)
	h.changeEmail(a, "new@example.com", "wrong password!")
	wantEvents(t, "failed changes", h.eventsSince(uid, n))

	// Password change from A ends C; address change; tokens; logout.
	c := h.login("alice@example.com")
	cID := h.sessionID(c)
	n = len(h.events(uid))
	wantStatus(t, "change password", h.do(req{method: "PUT", path: "/v1/user/password", cookie: a,
		body: jsonBody(map[string]string{"current_password": testPassword, "new_password": newPassword2})}), http.StatusNoContent)
	got = h.eventsSince(uid, n)
	wantEvents(t, "password change", got,
		wantEvent{"session.revoked", "session:" + aID, "password_changed"},
		wantEvent{"password.changed", "user", ""})
	if got[0].SessionID != cID {
		t.Errorf("the password change ended %s, want %s", got[0].SessionID, cID)
	}

	// Refresh-token theft.
	pair := tokenPairFor(t, h, "alice@example.com", newPassword2)
	wantStatus(t, "refresh", h.refresh(pair.RefreshToken), http.StatusOK)
	h.clock.Advance(11e9) // past the grace
	n = len(h.events(uid))
	h.refresh(pair.RefreshToken)
	wantEvents(t, "replay", h.eventsSince(uid, n), wantEvent{"refresh.replayed", "system", "refresh_reused"})

	// Logout.
	n = len(h.events(uid))
	wantStatus(t, "logout", h.do(req{method: "DELETE", path: "/v1/session", cookie: a}), http.StatusNoContent)
	wantEvents(t, "logout", h.eventsSince(uid, n), wantEvent{"signout", "user", "logout"})

	// The user reads their own events, newest first; nobody else's.
	bob := h.register("bob@example.com")
	d := h.login("alice@example.com", newPassword2)
	body := readBody(h.do(req{method: "GET", path: "/v1/user/events?limit=5", cookie: d}))
	if strings.Contains(body, bob) || !strings.Contains(body, `"type":"signin.succeeded"`) || strings.Count(body, `"type":`) != 5 {
		t.Errorf("GET /v1/user/events?limit=5 = %s", body)
	}
	for _, bad := range []string{"0", "101", "x", "-1", "1e3"} {
		wantProblem(t, "limit="+bad, h.do(req{method: "GET", path: "/v1/user/events?limit=" + bad, cookie: d}), http.StatusBadRequest, "invalid-input")
	}
	wantStatus(t, "events without a session", h.do(req{method: "GET", path: "/v1/user/events"}), http.StatusUnauthorized)
	page := readBody(h.page("/account", d))
	if !strings.Contains(page, "Recent security activity") || !strings.Contains(page, "Password changed") {
		t.Error("the account page does not show the recent security activity")
	}

	// No secret is in the trail.
	for _, e := range h.events("") {
		for _, secret := range []string{a, b, c, d, pair.RefreshToken, pair.AccessToken, testPassword, newPassword2} {
			if strings.Contains(e.Reason+e.Email+e.UserAgent+e.SessionID, secret) {
				t.Errorf("event %s carries a secret", e.Type)
			}
		}
	}
}

// tokenPairFor runs the password grant with pw.
func tokenPairFor(t *testing.T, h *harness, email, pw string) tokenPair {
	t.Helper()
	resp := h.postForm("/oauth2/token", form("grant_type", "password", "username", email, "password", pw), nil)
	wantStatus(t, "password grant", resp, http.StatusOK)
	return decode[tokenPair](t, resp)
}

func TestAuditEmailAndConsent(t *testing.T) {
	h := newHarness(t, options{})
	uid := h.register("alice@example.com")
	tok := linkToken(t, h.waitMail("alice@example.com", mail.TemplateVerifyEmail), "/verify-email")
	wantStatus(t, "verify", h.do(req{method: "POST", path: "/v1/user/email/verify", body: jsonBody(map[string]string{"token": tok})}), http.StatusOK)
	cookie := h.login("alice@example.com")
	wantStatus(t, "change", h.changeEmail(cookie, "new@example.com", testPassword), http.StatusAccepted)
	var confirm, undo string
	for _, m := range h.mails() {
		switch m.Template {
		case mail.TemplateConfirmEmail:
			confirm = linkToken(t, m, "/confirm-email")
		case mail.TemplateEmailChanging:
			undo = linkToken(t, m, "/undo-email-change")
		}
	}
	wantStatus(t, "confirm", h.do(req{method: "POST", path: "/v1/user/email/confirm", body: jsonBody(map[string]string{"token": confirm})}), http.StatusOK)
	wantStatus(t, "undo", h.do(req{method: "POST", path: "/v1/user/email/undo", body: jsonBody(map[string]string{"token": undo})}), http.StatusOK)
	wantStatus(t, "reset request", h.requestReset("alice@example.com"), http.StatusAccepted)
	reset := linkToken(t, h.waitMail("alice@example.com", mail.TemplatePasswordReset), "/reset-password")
	wantStatus(t, "reset", h.confirmReset(reset, newPassword2), http.StatusNoContent)

	// Consent to a third-party app, then withdrawn on the account page.
	cookie = h.login("alice@example.com", newPassword2)
	n := len(h.events(uid))
	a := h.newApp(client.Registration{Name: "Photo Printer"})
	_, challenge := pkce()
	page := readBody(h.authorize(cookie, authzParams(a, challenge)))
	f := hiddenFields(t, page)
	f.Set("decision", "allow")
	hr := httptest.NewRequest("POST", "http://authd.test/oauth2/authorize", strings.NewReader(f.Encode()))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Cookie", server.DefaultCookieName+"="+cookie)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, hr)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("allow: %d", rec.Code)
	}
	h.form("/account/apps/"+url.PathEscape(a.ID)+"/withdraw", url.Values{}, cookie)

	all := h.events(uid)
	wantEvents(t, "email and consent", all[n:],
		wantEvent{"consent.given", "user", "openid email read"},
		wantEvent{"consent.withdrawn", "user", ""})
	types := map[string]bool{}
	for _, e := range all {
		types[e.Type] = true
	}
	for _, want := range []string{"user.created", "email.verified", "email.change_requested", "email.changed", "email.change_undone",
		"password.reset", "session.revoked"} {
		if !types[want] {
			t.Errorf("no %s event among %v", want, types)
		}
	}
}
