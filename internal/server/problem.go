package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/token"
	"github.com/authd/authd/user"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string             `json:"type"`
	Title  string             `json:"title"`
	Status int                `json:"status"`
	Detail string             `json:"detail,omitempty"`
	Errors []authd.FieldError `json:"errors,omitempty"`
	// Extension members (RFC 9457 §3.2) of mfa-required and
	// invalid-code.
	MFAToken     string   `json:"mfa_token,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	ExpiresIn    int      `json:"expires_in,omitempty"`
	AttemptsLeft *int     `json:"attempts_left,omitempty"`
}

// problemType builds the type URI of one of authd's problems; every slug is
// documented in docs/api.md.
func problemType(slug string) string { return "urn:authd:problem:" + slug }

// writeProblem sends p as application/problem+json.
func writeProblem(w http.ResponseWriter, p problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// outcome is how authd answers one error, with a column per surface: the
// JSON API (problem, plus the bearer challenge), the OAuth endpoints and
// the page forms. A zero column means the error is no answer on that
// surface (a refresh-token error on /v1/*, say): there it fails closed
// like an unknown error. The renderers (writeError, writeAuthError,
// writeOAuthFailure, formError, pageFailure) only format an outcome.
type outcome struct {
	// problem is the JSON API's answer (RFC 9457); Status 0: none.
	problem problem
	// bearer is the RFC 6750 §3.1 error code of a refused bearer
	// credential, with bearerDesc, for WWW-Authenticate (see challenge).
	bearer, bearerDesc string
	// oauthStatus and oauth are the /oauth2/* answer (RFC 6749 §5.2);
	// oauth.Error "": none.
	oauthStatus int
	oauth       oauthError
	// form is the pages' answer; status 0: none (the error page answers).
	form formAnswer
	// retryAfter is the Retry-After header in seconds (RFC 9110 §10.2.3),
	// on every surface; 0: none.
	retryAfter int
	// staleCookie: the session credential was refused, so a session
	// cookie sent along (authentication) is cleared.
	staleCookie bool
	// staleRefresh: the refresh token is dead, so a browser's refresh
	// cookie (browser token mode) is cleared.
	staleRefresh bool
	// gone: the client canceled the request; nobody is listening and
	// nothing is written.
	gone bool
	// unknown: not one of authd's errors. The answer is the fail-closed
	// 503 and the cause is logged; the client sees no internals.
	unknown bool
}

// formAnswer is a page form's answer to an error: its status, the alert
// above the form and the messages of fields (each turned into a sentence).
type formAnswer struct {
	status int
	alert  string
	fields []authd.FieldError
}

// Errors that exist only at the HTTP layer: a handler gives a domain error
// its meaning at one endpoint, and the table answers it.
var (
	// errWrongPassword: the current password of a password change is
	// wrong (authd.ErrUnauthenticated from the change).
	errWrongPassword = errors.New("wrong current password")
	// errBadClient: client authentication failed (RFC 6749 §5.2
	// invalid_client).
	errBadClient = errors.New("client authentication failed")
	// errForeignToken: a token presented for revocation was issued to
	// another client (RFC 7009 §2.1 unauthorized_client).
	errForeignToken = errors.New("token issued to another client")
)

// classify is the one table mapping errors to answers. ctx is the
// request's: a cancellation is the client's only while it is done. Anything
// the table does not know is a dependency failure: authd fails closed with
// 503 and Retry-After, and the renderer logs the cause.
func classify(ctx context.Context, err error) outcome {
	var ve *authd.ValidationError
	var te *authd.ThrottledError
	var sf *secondFactorError
	var ic *invalidCodeError
	var pr *passkeyRegError
	switch {
	case errors.As(err, &pr):
		return outcome{
			problem: problem{Type: problemType("passkey-invalid"), Title: "Passkey not accepted", Status: http.StatusBadRequest,
				Detail: "The passkey could not be verified, or the ceremony is unknown, expired or used. Start again."},
			form: formAnswer{status: http.StatusBadRequest, alert: "The passkey could not be added. Please try again."},
		}
	case errors.Is(err, passkey.ErrInvalid), errors.Is(err, passkey.ErrCeremony):
		return outcome{
			problem: problem{Type: problemType("passkey-invalid"), Title: "Passkey not accepted", Status: http.StatusUnauthorized,
				Detail: "The passkey could not be verified, is not registered here, or the ceremony is unknown, expired or used. Start again."},
			form: formAnswer{status: http.StatusUnauthorized, alert: "That passkey did not work. Try again, or sign in with your password."},
		}
	case errors.As(err, &sf):
		return outcome{
			problem: problem{Type: problemType("mfa-required"), Title: "Second factor required", Status: http.StatusUnauthorized,
				Detail:   "The password is right; finish signing in with a code at POST /v1/session/mfa.",
				MFAToken: sf.token, Methods: sf.methods, ExpiresIn: sf.expiresIn},
			// The password grant cannot carry a second step: an account
			// with a second factor signs in through the authorization
			// endpoint (RFC 9700 §2.4 deprecates this grant anyway).
			oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_grant",
				Description: "the account has a second factor: sign in through the authorization endpoint"},
		}
	case errors.As(err, &ic):
		var left *int // how many more codes the mfa_token takes
		if ic.left >= 0 {
			left = &ic.left
		}
		return outcome{
			problem: problem{Type: problemType("invalid-code"), Title: "Invalid code", Status: http.StatusUnauthorized,
				Detail: "The code is wrong, expired or already used.", AttemptsLeft: left},
			form: formAnswer{status: http.StatusUnauthorized, alert: "That code is wrong, expired or already used."},
		}
	case errors.Is(err, errMFAToken):
		return outcome{
			problem: problem{Type: problemType("mfa-token-invalid"), Title: "Sign-in expired", Status: http.StatusUnauthorized,
				Detail: "The mfa_token is invalid, expired, used, or took too many wrong codes. Sign in again with the password."},
			form: formAnswer{status: http.StatusUnauthorized, alert: "This sign-in expired or took too many wrong codes. Enter your password again."},
		}
	case errors.Is(err, errReauth):
		return outcome{
			problem: problem{Type: problemType("reauthentication-required"), Title: "Sign in again", Status: http.StatusForbidden,
				Detail: "This change needs a sign-in within the last 5 minutes. Sign in again (POST /v1/session) and retry."},
			form: formAnswer{status: http.StatusForbidden, alert: "For this change, please sign in again first (it needs a sign-in within the last 5 minutes)."},
		}
	case errors.Is(err, mfa.ErrTOTPOn):
		return outcome{
			problem: problem{Type: problemType("mfa-enabled"), Title: "Already on", Status: http.StatusConflict,
				Detail: "An authenticator app is already set up; remove it first."},
			form: formAnswer{status: http.StatusConflict, alert: "An authenticator app is already set up; remove it first."},
		}
	case errors.Is(err, mfa.ErrNoTOTP):
		return outcome{
			problem: problem{Type: problemType("mfa-not-enabled"), Title: "Not set up", Status: http.StatusConflict,
				Detail: "No authenticator app is set up (or none is waiting for confirmation)."},
			form: formAnswer{status: http.StatusConflict, alert: "No authenticator app is set up."},
		}
	case errors.As(err, &ve):
		return outcome{
			problem: problem{Type: problemType("invalid-input"), Title: "Invalid input", Status: http.StatusBadRequest,
				Detail: "The request has invalid fields; see errors.", Errors: ve.Fields},
			oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_request", Description: ve.Error()},
			form: formAnswer{status: http.StatusBadRequest, alert: "Please correct the following:", fields: ve.Fields},
		}
	case errors.As(err, &te):
		secs := strconv.Itoa(te.Seconds())
		return outcome{
			retryAfter: te.Seconds(),
			problem: problem{Type: problemType("throttled"), Title: "Too many attempts", Status: http.StatusTooManyRequests,
				Detail: "Too many failed attempts. Try again in " + secs + " seconds."},
			// RFC 6749 §5.2 has no code for this; slow_down (RFC 8628
			// §3.5) says what the client must do.
			oauthStatus: http.StatusTooManyRequests,
			oauth:       oauthError{Error: "slow_down", Description: "too many failed attempts; retry after " + secs + " s"},
			form:        formAnswer{status: http.StatusTooManyRequests, alert: "Too many attempts. Try again in " + secs + " seconds."},
		}
	case errors.Is(err, errTokenInQuery):
		// RFC 6750 §3.1 invalid_request: the token was sent where authd
		// refuses it (§2.3).
		return outcome{
			problem: problem{Type: problemType("invalid-request"), Title: "Invalid request", Status: http.StatusBadRequest,
				Detail: "Access tokens are accepted only in the Authorization header."},
			bearer: "invalid_request", bearerDesc: "send the access token in the Authorization header, not the URL",
		}
	case errors.Is(err, errBadToken), errors.Is(err, token.ErrInvalid):
		// RFC 6750 §3.1 invalid_token.
		return outcome{
			problem: problem{Type: problemType("unauthenticated"), Title: "Unauthenticated", Status: http.StatusUnauthorized,
				Detail: "The access token is invalid, expired or revoked."},
			bearer: "invalid_token", bearerDesc: "the access token is invalid, expired or revoked",
		}
	case errors.Is(err, errWrongPassword):
		return outcome{
			problem: problem{Type: problemType("wrong-password"), Title: "Wrong password", Status: http.StatusUnauthorized,
				Detail: "The current password is wrong."},
			form: formAnswer{status: http.StatusBadRequest,
				fields: []authd.FieldError{{Field: "current_password", Detail: "The current password is wrong."}}},
		}
	case errors.Is(err, authd.ErrUnauthenticated):
		return outcome{
			problem: problem{Type: problemType("unauthenticated"), Title: "Unauthenticated", Status: http.StatusUnauthorized,
				Detail: "Missing or invalid credentials."},
			// RFC 6749 §5.2: wrong resource-owner credentials are an
			// invalid grant, not a failed client authentication.
			oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_grant", Description: "invalid username or password"},
			form:        formAnswer{status: http.StatusUnauthorized, alert: "Wrong email or password."},
			staleCookie: true,
		}
	case errors.Is(err, errBadClient):
		// RFC 6749 §5.2 invalid_client: 401 with a WWW-Authenticate for
		// the scheme the client used (writeOAuthError).
		return outcome{oauthStatus: http.StatusUnauthorized, oauth: oauthError{Error: "invalid_client", Description: "client authentication failed"}}
	case errors.Is(err, errForeignToken):
		// RFC 7009 §2.1: only the client a token was issued to may revoke it.
		return outcome{oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "unauthorized_client", Description: "the token was issued to another client"}}
	case errors.Is(err, refresh.ErrOtherClient):
		// RFC 6749 §6: a refresh token is bound to its client; §5.2
		// invalid_grant.
		return outcome{oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_grant", Description: "the refresh token was issued to another client"}}
	case errors.Is(err, refresh.ErrWiderScope):
		// RFC 6749 §6: a refresh may narrow the scope, never widen it;
		// §5.2 invalid_scope.
		return outcome{oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_scope", Description: "a refresh may only narrow the original scope"}}
	case errors.Is(err, refresh.ErrInvalidGrant), errors.Is(err, authd.ErrTokenReused):
		// RFC 6749 §5.2 invalid_grant: invalid, expired, revoked or reused.
		return outcome{oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_grant", Description: "the refresh token is invalid, expired or revoked"},
			staleRefresh: true}
	case errors.Is(err, user.ErrInvalidLink):
		return outcome{
			problem: problem{Type: problemType("invalid-link"), Title: "Invalid or expired link", Status: http.StatusBadRequest,
				Detail: "The link is invalid, expired or already used, or a newer one was sent. Ask for a new one."},
			form: formAnswer{status: http.StatusBadRequest, alert: "This link is invalid, expired or already used, or a newer one was sent. Ask for a new one."},
		}
	case errors.Is(err, user.ErrEmailUnverified):
		return outcome{
			problem: problem{Type: problemType("email-unverified"), Title: "Email address not verified", Status: http.StatusForbidden,
				Detail: "Verify your email address with the link sent to it before signing in."},
			oauthStatus: http.StatusBadRequest, oauth: oauthError{Error: "invalid_grant", Description: "the email address is not verified"},
			form: formAnswer{status: http.StatusForbidden, alert: "Verify your email address first: follow the link we sent to it."},
		}
	case errors.Is(err, errNoMail):
		return outcome{
			problem: problem{Type: problemType("mail-unavailable"), Title: "Mail not configured", Status: http.StatusConflict,
				Detail: "This server does not send mail, so this operation is not available."},
			form: formAnswer{status: http.StatusConflict, alert: "This server does not send mail, so this is not available."},
		}
	case errors.Is(err, authd.ErrNotFound):
		return outcome{problem: problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound,
			Detail: "No such resource, or not yours."}}
	case errors.Is(err, authd.ErrConflict):
		return outcome{
			problem: problem{Type: problemType("conflict"), Title: "Conflict", Status: http.StatusConflict,
				Detail: "The request conflicts with existing data (on registration: the email address is already registered)."},
			form: formAnswer{status: http.StatusConflict, alert: "An account with this email address already exists. Sign in instead."},
		}
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return outcome{gone: true}
	}
	return failClosed()
}

// failClosed is the table's last row: a store outage or any error authd
// does not know. On /oauth2/* it is RFC 6749 §5.2 temporarily_unavailable;
// at revocation a 503 tells the client the token may still be valid and
// to retry (RFC 7009 §2.2.1), so no revocation is claimed that did not
// happen.
func failClosed() outcome {
	return outcome{
		unknown:    true,
		retryAfter: 1,
		problem: problem{Type: problemType("unavailable"), Title: "Service unavailable", Status: http.StatusServiceUnavailable,
			Detail: "A dependency of authd is unavailable; try again shortly."},
		oauthStatus: http.StatusServiceUnavailable, oauth: oauthError{Error: "temporarily_unavailable", Description: "try again shortly"},
		form: formAnswer{status: http.StatusServiceUnavailable, alert: "Something went wrong on our side. Try again in a moment."},
	}
}

// challenge is the WWW-Authenticate value of o on the API: the RFC 6750
// §3.1 error when there is one, and the bare scheme on any other 401 (RFC
// 9110 §15.5.2: a 401 names the scheme that would work). "": none.
func (o outcome) challenge() string {
	switch {
	case o.bearer != "":
		return `Bearer realm="authd", error="` + o.bearer + `", error_description="` + o.bearerDesc + `"`
	case o.problem.Status == http.StatusUnauthorized:
		return `Bearer realm="authd"`
	}
	return ""
}

// setRetryAfter sets the Retry-After header of o, if it has one.
func (o outcome) setRetryAfter(w http.ResponseWriter) {
	if o.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(o.retryAfter))
	}
}

// writeError answers err on the JSON API with RFC 9457 problem details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeOutcome(w, r, err, classify(r.Context(), err))
}

// writeOutcome writes o, the outcome of err, on the JSON API.
func (s *Server) writeOutcome(w http.ResponseWriter, r *http.Request, err error, o outcome) {
	if o.gone {
		return
	}
	if o.unknown || o.problem.Status == 0 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		o = failClosed()
	}
	o.setRetryAfter(w)
	if c := o.challenge(); c != "" && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", c)
	}
	writeProblem(w, o.problem)
}

// writeJSON sends v with status. Responses from this API carry or depend on
// credentials, so none may be cached (ASVS 5.0 14.3.2).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// noRoute answers a request no route matched. The catch-all "/" route
// shadows ServeMux's own 405, so it is restored here: a path served under
// other methods gets 405 with Allow (RFC 9110 §15.5.6), anything else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 || slices.Contains(allow, r.Method) {
		writeProblem(w, problem{Type: problemType("not-found"), Title: "Not found", Status: http.StatusNotFound,
			Detail: "No route matches this path."})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeProblem(w, problem{Type: problemType("method-not-allowed"), Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
		Detail: "This path does not support " + r.Method + "; see Allow."})
}
