package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

// The second factor at sign-in. A right password on an account with TOTP
// yields no session: login answers secondFactorError carrying an
// mfa_token, the handle of a short-lived single-use challenge in the
// store, bound to that account. The second step (POST /v1/session/mfa, the
// login page's code form) checks a TOTP or recovery code of the
// challenge's account — so a token cannot finish another account's
// sign-in — under a throttle of its own ("mfa|" budgets), and only then
// takes the challenge (one DELETE … RETURNING: of parallel finishes one
// wins) and starts the session with AMR pwd+otp (or pwd+rc).

// stepUpWindow is how recent a sign-in must be for the changes that could
// lock the owner out: password, address, factors (NIST SP 800-63B-4 §2.2.3
// reauthentication; ASVS 5.0 6.2.x / 7.5.x ask for it before changing
// authentication factors).
const stepUpWindow = 5 * time.Minute

// secondFactorError: the password was right, a second factor is due.
type secondFactorError struct {
	token     string
	methods   []string
	expiresIn int
}

func (e *secondFactorError) Error() string { return "second factor required" }

// invalidCodeError: a wrong, used or expired code; left is how many more
// the mfa_token takes (0: none, sign in again).
type invalidCodeError struct{ left int }

func (e *invalidCodeError) Error() string { return "invalid second-factor code" }

var (
	// errMFAToken: the mfa_token is unknown, expired, used up or void.
	errMFAToken = errors.New("invalid mfa_token")
	// errReauth: the change needs a sign-in within stepUpWindow.
	errReauth = errors.New("reauthentication required")
)

// signinData is what a sign-in challenge remembers of the password step.
type signinData struct {
	Acct string `json:"acct"` // the throttle key of the address signed in with
	// Stamp fingerprints the password hash it was checked against
	// (user.PasswordStamp): a password changed or reset meanwhile voids
	// the sign-in, as it voids reset links.
	Stamp string `json:"stamp"`
}

// factors returns the user's second factors; none when MFA is off.
func (s *Server) factors(ctx context.Context, userID string) (mfa.Factors, error) {
	if s.cfg.MFA == nil {
		return mfa.Factors{}, nil
	}
	return s.cfg.MFA.Factors(ctx, userID)
}

// methods names the second-step methods an account offers.
func methods(f mfa.Factors) []string {
	m := []string{"totp"}
	if f.RecoveryCodes > 0 {
		m = append(m, "recovery_code")
	}
	return m
}

// requireSecondFactor opens the challenge of a sign-in whose password was
// right and returns the error that answers it.
func (s *Server) requireSecondFactor(ctx context.Context, u *user.User, acct string, f mfa.Factors) error {
	data, err := json.Marshal(signinData{Acct: acct, Stamp: user.PasswordStamp(u.PasswordHash)})
	if err != nil {
		return err
	}
	tok, err := s.cfg.MFA.NewChallenge(ctx, mfa.KindSignIn, u.ID, data, 0)
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "login: second factor required", "user_id", u.ID)
	return &secondFactorError{token: tok, methods: methods(f), expiresIn: int(s.cfg.MFA.ChallengeTTL() / time.Second)}
}

// secondStep checks the code of a sign-in challenge and, when it is right,
// ends the challenge and returns the user and how they authenticated. It
// is shared by the API and the login page; the caller starts the session.
func (s *Server) secondStep(w http.ResponseWriter, r *http.Request, token, code string) (*user.User, []string, error) {
	ctx := r.Context()
	if s.cfg.MFA == nil {
		return nil, nil, errMFAToken
	}
	ch, err := s.cfg.MFA.Challenge(ctx, token, mfa.KindSignIn)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, nil, errMFAToken
	}
	if err != nil {
		return nil, nil, err
	}
	var d signinData
	if err := json.Unmarshal(ch.Data, &d); err != nil || d.Acct == "" {
		return nil, nil, errMFAToken
	}
	u, err := s.cfg.Users.Get(ctx, ch.UserID)
	if errors.Is(err, authd.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil, authd.ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(user.PasswordStamp(u.PasswordHash)), []byte(d.Stamp)) != 1 {
		return nil, nil, errMFAToken // the password changed since its check
	}
	g, err := s.admitAs(ctx, r, d.Acct, "mfa|")
	if err != nil {
		if _, ok := errors.AsType[*authd.ThrottledError](err); ok {
			s.observeLogin(LoginThrottled)
		}
		return nil, nil, err
	}
	// The attempt is counted on the challenge before the code is checked
	// (one store statement), so a parallel burst gets no more than
	// mfa.MaxAttempts codes checked per mfa_token.
	left, err := s.cfg.MFA.ReserveAttempt(ctx, token)
	if err != nil {
		g.abandon(ctx)
		if errors.Is(err, authd.ErrNotFound) {
			return nil, nil, errMFAToken
		}
		return nil, nil, err
	}
	method, err := s.cfg.MFA.Verify(ctx, ch.UserID, code, ch.CreatedAt)
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		g.failed()
		s.observeLogin(LoginFailure)
		s.signInFailed(ctx, "", ch.UserID, "bad_code")
		s.log.InfoContext(ctx, "login: wrong second factor", "user_id", ch.UserID, "attempts_left", left)
		return nil, nil, &invalidCodeError{left: left}
	case errors.Is(err, mfa.ErrNoTOTP):
		// Removed, or replaced, since the password step (an operator's
		// reset, off and on again): sign in again.
		g.abandon(ctx)
		return nil, nil, errMFAToken
	case err != nil:
		g.abandon(ctx)
		s.observeLogin(LoginError)
		return nil, nil, err
	}
	g.succeeded(ctx)
	if _, err := s.cfg.MFA.TakeChallenge(ctx, token, mfa.KindSignIn); err != nil {
		if errors.Is(err, authd.ErrNotFound) {
			return nil, nil, errMFAToken // a parallel finish won
		}
		return nil, nil, err
	}
	s.completeSignIn(w, r, u, d.Acct, g.known)
	return u, []string{session.AMRPassword, method, session.AMRMFA}, nil
}

// signInHow names a sign-in for the audit trail from its AMR.
func signInHow(amr []string) string {
	switch {
	case len(amr) == 0:
		return "password"
	case hasAMR(amr, session.AMROTP):
		return "password+totp"
	case hasAMR(amr, session.AMRRecovery):
		return "password+recovery_code"
	case hasAMR(amr, session.AMRHardwareKey), hasAMR(amr, session.AMRSoftwareKey):
		return "passkey"
	}
	return strings.Join(amr, "+")
}

func hasAMR(amr []string, v string) bool { return slices.Contains(amr, v) }

// amrOf is a session's AMR; sessions stored before authd recorded it were
// password sign-ins.
func amrOf(s *session.Session) []string {
	if len(s.AMR) == 0 {
		return []string{session.AMRPassword}
	}
	return s.AMR
}

// recentAuth refuses a change that needs a sign-in within stepUpWindow.
// It reads the session's AuthTime: for an app's session from the code
// flow that is the browser's sign-in, not the code's redemption, so an
// old browser session cannot mint a fresh-looking token to pass.
func (s *Server) recentAuth(ctx context.Context, c *caller) error {
	sess, err := c.load(ctx, s.cfg.Sessions)
	if err != nil {
		return err
	}
	if s.cfg.Now().Sub(sess.AuthenticatedAt()) > stepUpWindow {
		return errReauth
	}
	return nil
}

// factorsChanged records a factor turned on or off and ends the user's
// other sessions: whoever else is signed in signed in under the old rules.
func (s *Server) factorsChanged(ctx context.Context, c *caller, kind event.Kind, what string) error {
	ctx = withCaller(ctx, c)
	s.cfg.Events.Publish(ctx, event.Event{Kind: kind, At: s.cfg.Now().UTC(), UserID: c.UserID, SessionID: c.SessionID, Reason: what})
	if what == "recovery_codes" || what == "passkey" && kind == event.FactorAdded {
		return nil
	}
	return s.cfg.Sessions.RevokeUser(ctx, c.UserID, c.SessionID, event.CauseFactorsChanged)
}

// --- the API ---

type mfaSignIn struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

// handleLoginMFA is POST /v1/session/mfa: the second step of a sign-in.
func (s *Server) handleLoginMFA(w http.ResponseWriter, r *http.Request) {
	var in mfaSignIn
	if !decodeJSON(w, r, &in) {
		return
	}
	var ve authd.ValidationError
	if in.MFAToken == "" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "mfa_token", Reason: "required", Detail: "mfa_token is required"})
	}
	if in.Code == "" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "code", Reason: "required", Detail: "code is required"})
	} else if len(in.Code) > 64 {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "code", Reason: "too_long", Detail: "code is at most 64 bytes"})
	}
	if len(ve.Fields) > 0 {
		s.writeError(w, r, &ve)
		return
	}
	u, amr, err := s.secondStep(w, r, in.MFAToken, in.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.startCookieSession(w, r, u, s.clientIP(r), amr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, sessionResponse{Session: toSessionBody(sess), User: sessionUser{ID: u.ID, Email: u.Email}})
}

type mfaStatus struct {
	TOTP              bool `json:"totp"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
	Passkeys          int  `json:"passkeys"`
}

// handleGetMFA is GET /v1/user/mfa.
func (s *Server) handleGetMFA(w http.ResponseWriter, r *http.Request, c *caller) {
	f, err := s.factors(r.Context(), c.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mfaStatus{TOTP: f.TOTP, RecoveryCodesLeft: f.RecoveryCodes, Passkeys: f.Passkeys})
}

type totpEnrollment struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

// beginTOTP starts setting up an authenticator app (step-up: a session
// thief must not be able to set up a factor only they hold).
func (s *Server) beginTOTP(ctx context.Context, c *caller) (*mfa.Enrollment, error) {
	if err := s.recentAuth(ctx, c); err != nil {
		return nil, err
	}
	u, err := s.userBody(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	return s.cfg.MFA.BeginTOTP(ctx, c.UserID, u.Email)
}

// handleBeginTOTP is POST /v1/user/mfa/totp.
func (s *Server) handleBeginTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	e, err := s.beginTOTP(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, totpEnrollment{Secret: e.Secret, OTPAuthURI: e.URI})
}

// confirmTOTP turns TOTP on with a code from the app, under the second
// factor's throttle, and returns the recovery codes.
func (s *Server) confirmTOTP(r *http.Request, c *caller, code string) ([]string, error) {
	ctx := r.Context()
	if len(code) > 64 {
		return nil, authd.Invalid("code", "too_long", "code is at most 64 bytes")
	}
	u, err := s.userBody(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	g, err := s.admitAs(ctx, r, throttleKey(u.Email), "mfa|")
	if err != nil {
		return nil, err
	}
	codes, err := s.cfg.MFA.ConfirmTOTP(ctx, c.UserID, strings.TrimSpace(code))
	switch {
	case errors.Is(err, mfa.ErrInvalidCode):
		g.failed()
		return nil, &invalidCodeError{left: -1}
	case err != nil:
		g.abandon(ctx)
		return nil, err
	}
	g.succeeded(ctx)
	s.log.InfoContext(ctx, "totp turned on", "user_id", c.UserID)
	if err := s.factorsChanged(ctx, c, event.FactorAdded, "totp"); err != nil {
		return nil, err
	}
	return codes, nil
}

type codeBody struct {
	Code string `json:"code"`
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// handleConfirmTOTP is POST /v1/user/mfa/totp/confirm.
func (s *Server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	var in codeBody
	if !decodeJSON(w, r, &in) {
		return
	}
	if in.Code == "" {
		s.writeError(w, r, authd.Invalid("code", "required", "code is required"))
		return
	}
	codes, err := s.confirmTOTP(r, c, in.Code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{RecoveryCodes: codes})
}

// disableTOTP removes the authenticator app and the recovery codes.
func (s *Server) disableTOTP(ctx context.Context, c *caller) error {
	if err := s.recentAuth(ctx, c); err != nil {
		return err
	}
	if err := s.cfg.MFA.DisableTOTP(ctx, c.UserID); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "totp turned off", "user_id", c.UserID)
	return s.factorsChanged(ctx, c, event.FactorRemoved, "totp")
}

// handleDisableTOTP is DELETE /v1/user/mfa/totp.
func (s *Server) handleDisableTOTP(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.disableTOTP(r.Context(), c); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// newRecoveryCodes replaces the recovery codes (step-up).
func (s *Server) newRecoveryCodes(ctx context.Context, c *caller) ([]string, error) {
	if err := s.recentAuth(ctx, c); err != nil {
		return nil, err
	}
	codes, err := s.cfg.MFA.NewRecoveryCodes(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	return codes, s.factorsChanged(ctx, c, event.FactorAdded, "recovery_codes")
}

// handleNewRecoveryCodes is POST /v1/user/mfa/recovery-codes.
func (s *Server) handleNewRecoveryCodes(w http.ResponseWriter, r *http.Request, c *caller) {
	codes, err := s.newRecoveryCodes(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recoveryCodes{RecoveryCodes: codes})
}

// methodLabel says on the account page how a session signed in.
func methodLabel(x *session.Session) string {
	amr := amrOf(x)
	switch {
	case hasAMR(amr, session.AMROTP):
		return "Password + authenticator app"
	case hasAMR(amr, session.AMRRecovery):
		return "Password + recovery code"
	case hasAMR(amr, session.AMRHardwareKey), hasAMR(amr, session.AMRSoftwareKey):
		return "Passkey"
	}
	return "Password"
}
