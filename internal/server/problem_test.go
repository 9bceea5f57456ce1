package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/authd/authd"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/token"
)

// answer is what one surface sent for an error, reduced to what the table
// decides. Status 0: nothing was written.
type answer struct {
	Status     int
	Kind       string // problem type slug, OAuth error code, or page alert
	Challenge  string // WWW-Authenticate
	RetryAfter string
	Fields     string // pages: the field messages, "|"-separated
	Cleared    bool   // a credential cookie was cleared
	Logged     bool   // the cause went to the log
}

// TestClassify runs each kind of error through every renderer of the one
// table: the JSON API (writeAuthError, and writeError, which never clears
// the cookie), the OAuth endpoints and the page forms.
func TestClassify(t *testing.T) {
	const realm = `Bearer realm="authd"`
	unavailable := answer{Status: 503, Kind: "unavailable", RetryAfter: "1", Logged: true}
	oauthUnavailable := answer{Status: 503, Kind: "temporarily_unavailable", RetryAfter: "1", Logged: true}
	errorPage := answer{Status: 503, Kind: "(error page)", RetryAfter: "1", Logged: true}
	tests := []struct {
		name     string
		err      error
		canceled bool // the request's context is canceled
		api      answer
		oauth    answer
		page     answer
	}{
		{
			name:  "validation",
			err:   &authd.ValidationError{Fields: []authd.FieldError{{Field: "email", Reason: "required", Detail: "email is required"}, {Field: "new_password", Reason: "too_short", Detail: "password must be at least 12 characters"}}},
			api:   answer{Status: 400, Kind: "invalid-input"},
			oauth: answer{Status: 400, Kind: "invalid_request"},
			page:  answer{Status: 400, Kind: "Please correct the following:", Fields: "Email is required.|Password must be at least 12 characters."},
		},
		{
			name:  "throttled",
			err:   fmt.Errorf("login: %w", &authd.ThrottledError{RetryAfter: 3500 * time.Millisecond}),
			api:   answer{Status: 429, Kind: "throttled", RetryAfter: "4"},
			oauth: answer{Status: 429, Kind: "slow_down", RetryAfter: "4"},
			page:  answer{Status: 429, Kind: "Too many attempts. Try again in 4 seconds.", RetryAfter: "4"},
		},
		{
			name:  "unauthenticated",
			err:   fmt.Errorf("check session: %w", authd.ErrUnauthenticated),
			api:   answer{Status: 401, Kind: "unauthenticated", Challenge: realm, Cleared: true},
			oauth: answer{Status: 400, Kind: "invalid_grant"},
			page:  answer{Status: 401, Kind: "Wrong email or password.", Challenge: realm},
		},
		{
			name:  "wrong current password",
			err:   errWrongPassword,
			api:   answer{Status: 401, Kind: "wrong-password", Challenge: realm},
			oauth: oauthUnavailable,
			page:  answer{Status: 400, Fields: "The current password is wrong."},
		},
		{
			name:  "token in the query",
			err:   errTokenInQuery,
			api:   answer{Status: 400, Kind: "invalid-request", Challenge: realm + `, error="invalid_request", error_description="send the access token in the Authorization header, not the URL"`},
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "bad bearer token",
			err:   errBadToken,
			api:   answer{Status: 401, Kind: "unauthenticated", Challenge: realm + `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "invalid access token",
			err:   fmt.Errorf("verify: %w", token.ErrInvalid),
			api:   answer{Status: 401, Kind: "unauthenticated", Challenge: realm + `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "client authentication",
			err:   errBadClient,
			api:   unavailable,
			oauth: answer{Status: 401, Kind: "invalid_client", Challenge: `Basic realm="authd"`},
			page:  errorPage,
		},
		{
			name:  "revoking another client's token",
			err:   errForeignToken,
			api:   unavailable,
			oauth: answer{Status: 400, Kind: "unauthorized_client"},
			page:  errorPage,
		},
		{
			name:  "refresh token of another client",
			err:   refresh.ErrOtherClient,
			api:   unavailable,
			oauth: answer{Status: 400, Kind: "invalid_grant"},
			page:  errorPage,
		},
		{
			name:  "wider scope",
			err:   refresh.ErrWiderScope,
			api:   unavailable,
			oauth: answer{Status: 400, Kind: "invalid_scope"},
			page:  errorPage,
		},
		{
			name:  "invalid refresh token",
			err:   refresh.ErrInvalidGrant,
			api:   unavailable,
			oauth: answer{Status: 400, Kind: "invalid_grant", Cleared: true},
			page:  errorPage,
		},
		{
			name:  "reused refresh token",
			err:   &refresh.ReusedError{SessionID: "s", UserID: "u", Generation: 2},
			api:   unavailable,
			oauth: answer{Status: 400, Kind: "invalid_grant", Cleared: true},
			page:  errorPage,
		},
		{
			name:  "not found",
			err:   fmt.Errorf("session by id: %w", authd.ErrNotFound),
			api:   answer{Status: 404, Kind: "not-found"},
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "conflict",
			err:   fmt.Errorf("create user: %w", authd.ErrConflict),
			api:   answer{Status: 409, Kind: "conflict"},
			oauth: oauthUnavailable,
			page:  answer{Status: 409, Kind: "An account with this email address already exists. Sign in instead."},
		},
		{
			name:     "client went away",
			err:      fmt.Errorf("store: %w", context.Canceled),
			canceled: true,
		},
		{
			name:  "canceled, but not by the client",
			err:   context.Canceled,
			api:   unavailable,
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "deadline",
			err:   fmt.Errorf("store: %w", context.DeadlineExceeded),
			api:   unavailable,
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "store down",
			err:   fmt.Errorf("store: %w", authd.ErrUnavailable),
			api:   unavailable,
			oauth: oauthUnavailable,
			page:  errorPage,
		},
		{
			name:  "unknown",
			err:   errors.New("boom"),
			api:   unavailable,
			oauth: oauthUnavailable,
			page:  errorPage,
		},
	}
	var logs bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	request := func(canceled bool, target string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, nil)
		if canceled {
			ctx, cancel := context.WithCancel(r.Context())
			cancel()
			r = r.WithContext(ctx)
		}
		r.AddCookie(&http.Cookie{Name: s.cfg.CookieName, Value: "x"})
		r.AddCookie(&http.Cookie{Name: RefreshCookieName, Value: "y"})
		return r
	}
	// result reads what a renderer wrote; kind reads the body.
	result := func(rec *httptest.ResponseRecorder, kind func(body []byte) string) answer {
		if rec.Body.Len() == 0 && len(rec.Header()) == 0 {
			return answer{Logged: logs.Len() > 0}
		}
		a := answer{Status: rec.Code, Kind: kind(rec.Body.Bytes()), Challenge: rec.Header().Get("WWW-Authenticate"),
			RetryAfter: rec.Header().Get("Retry-After"), Cleared: rec.Header().Get("Set-Cookie") != "", Logged: logs.Len() > 0}
		logs.Reset()
		return a
	}
	problemKind := func(body []byte) string {
		var p problem
		json.Unmarshal(body, &p)
		return strings.TrimPrefix(p.Type, "urn:authd:problem:")
	}
	oauthKind := func(body []byte) string {
		var e oauthError
		json.Unmarshal(body, &e)
		return e.Error
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()

			rec := httptest.NewRecorder()
			s.writeAuthError(rec, request(tt.canceled, "/v1/session"), tt.err)
			if diff := cmp.Diff(tt.api, result(rec, problemKind)); diff != "" {
				t.Errorf("writeAuthError(%v) (-want +got):\n%s", tt.err, diff)
			}
			rec = httptest.NewRecorder()
			s.writeError(rec, request(tt.canceled, "/v1/session"), tt.err)
			want := tt.api
			want.Cleared = false // only authentication clears the cookie
			if diff := cmp.Diff(want, result(rec, problemKind)); diff != "" {
				t.Errorf("writeError(%v) (-want +got):\n%s", tt.err, diff)
			}

			rec = httptest.NewRecorder()
			r := request(tt.canceled, "/oauth2/token")
			r.PostForm = url.Values{"grant_type": {"refresh_token"}, "refresh_token_delivery": {"cookie"}}
			s.writeOAuthFailure(rec, r, tt.err)
			if diff := cmp.Diff(tt.oauth, result(rec, oauthKind)); diff != "" {
				t.Errorf("writeOAuthFailure(%v) (-want +got):\n%s", tt.err, diff)
			}

			// A page handler: formError, else pageFailure.
			rec = httptest.NewRecorder()
			r = request(tt.canceled, "/login")
			d := &pageData{}
			var got answer
			if status, ok := formError(rec, r, tt.err, d); ok {
				got = answer{Status: status, Kind: d.Alert, Challenge: rec.Header().Get("WWW-Authenticate"),
					RetryAfter: rec.Header().Get("Retry-After"), Fields: strings.Join(d.Messages, "|"), Logged: logs.Len() > 0}
			} else {
				s.pageFailure(rec, r, tt.err)
				got = result(rec, func([]byte) string { return "(error page)" })
			}
			if diff := cmp.Diff(tt.page, got); diff != "" {
				t.Errorf("formError(%v) (-want +got):\n%s", tt.err, diff)
			}
		})
	}
}

// TestClassifyColumns checks the table itself: an error with an answer on
// a surface has a complete one there, and the fail-closed row answers
// everywhere.
func TestClassifyColumns(t *testing.T) {
	errs := []error{
		&authd.ValidationError{}, &authd.ThrottledError{}, authd.ErrUnauthenticated, errWrongPassword,
		errTokenInQuery, errBadToken, token.ErrInvalid, errBadClient, errForeignToken, refresh.ErrOtherClient,
		refresh.ErrWiderScope, refresh.ErrInvalidGrant, authd.ErrTokenReused, authd.ErrNotFound, authd.ErrConflict,
		errors.New("unknown"),
	}
	for _, err := range errs {
		o := classify(context.Background(), err)
		if o.problem.Status != 0 && (o.problem.Type == "" || o.problem.Title == "" || o.problem.Detail == "") {
			t.Errorf("classify(%v).problem = %+v, want type, title and detail", err, o.problem)
		}
		if (o.oauthStatus == 0) != (o.oauth.Error == "") {
			t.Errorf("classify(%v) OAuth = %d %q, want both or neither", err, o.oauthStatus, o.oauth.Error)
		}
		if o.problem.Status == 0 && o.oauthStatus == 0 && o.form.status == 0 {
			t.Errorf("classify(%v) answers on no surface", err)
		}
	}
	o := failClosed()
	if !o.unknown || o.problem.Status != 503 || o.oauthStatus != 503 || o.form.status != 503 || o.retryAfter != 1 {
		t.Errorf("failClosed() = %+v, want 503 with Retry-After 1 on every surface", o)
	}
}
