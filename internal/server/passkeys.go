package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/authd/authd"
	"github.com/authd/authd/event"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/passkey"
)

// Passkeys (WebAuthn Level 3). Registering one is a factor change of a
// signed-in user (step-up: a sign-in within stepUpWindow); it does not end
// the other sessions (adding a way in locks nobody out). Signing in with
// one needs neither password nor address: the browser offers the passkeys
// it holds for authd's RP ID (discoverable credentials), and the answer
// names the account by its user handle. Each ceremony is one mfa challenge
// (passkey package); a sign-in is counted under the client's IP like a
// password guess, so a flood of forged answers is throttled.

// passkeyRegError: a registration answer that does not verify (400, not
// the 401 of a sign-in: the caller is signed in).
type passkeyRegError struct{ err error }

func (e *passkeyRegError) Error() string { return e.err.Error() }

// passkeyBody is a passkey in the API.
type passkeyBody struct {
	ID             string     `json:"id"` // base64url credential ID
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	BackupEligible bool       `json:"backup_eligible"`
	BackupState    bool       `json:"backup_state"`
	Transports     []string   `json:"transports"`
}

func toPasskeyBody(c *mfa.Credential) passkeyBody {
	b := passkeyBody{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, CreatedAt: c.CreatedAt.UTC(),
		BackupEligible: c.BackupEligible, BackupState: c.BackupState, Transports: c.Transports}
	if b.Transports == nil {
		b.Transports = []string{}
	}
	if !c.LastUsedAt.IsZero() {
		t := c.LastUsedAt.UTC()
		b.LastUsedAt = &t
	}
	return b
}

// ceremonyBody answers a begin: the ceremony token and the options for
// navigator.credentials.create / .get (the publicKey member).
type ceremonyBody struct {
	Ceremony  string `json:"ceremony"`
	Options   any    `json:"options"`
	ExpiresIn int    `json:"expires_in"`
}

// passkeyName checks a name the user gave: at most passkey.MaxName
// characters, without control characters ("" keeps the default).
func passkeyName(name string) (string, error) {
	if utf8.RuneCountInString(name) > passkey.MaxName || len(name) > 4*passkey.MaxName {
		return "", authd.Invalid("name", "too_long", "name is at most 64 characters")
	}
	return passkey.CleanName(name), nil
}

// credentialID decodes the {id} of a passkey URL; a bad one is no
// passkey of the caller's.
func credentialID(s string) ([]byte, error) {
	id, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(id) == 0 || len(id) > 1023 {
		return nil, authd.ErrNotFound
	}
	return id, nil
}

// --- registration and management (signed in) ---

func (s *Server) beginPasskeyRegistration(ctx context.Context, c *caller) (string, any, error) {
	if err := s.recentAuth(ctx, c); err != nil {
		return "", nil, err
	}
	return s.cfg.Passkeys.BeginRegistration(ctx, c.UserID)
}

// handleBeginPasskeyRegistration is POST /v1/user/passkeys/register/begin.
func (s *Server) handleBeginPasskeyRegistration(w http.ResponseWriter, r *http.Request, c *caller) {
	tok, opts, err := s.beginPasskeyRegistration(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ceremonyBody{Ceremony: tok, Options: opts, ExpiresIn: int(passkey.CeremonyTTL / time.Second)})
}

type passkeyFinish struct {
	Ceremony   string          `json:"ceremony"`
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// handleFinishPasskeyRegistration is POST /v1/user/passkeys/register/finish.
func (s *Server) handleFinishPasskeyRegistration(w http.ResponseWriter, r *http.Request, c *caller) {
	var in passkeyFinish
	if !decodeJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	var ve authd.ValidationError
	if in.Ceremony == "" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "ceremony", Reason: "required", Detail: "ceremony is required"})
	}
	if len(in.Credential) == 0 || string(in.Credential) == "null" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "credential", Reason: "required", Detail: "credential is required"})
	}
	name, err := passkeyName(in.Name)
	if err != nil {
		ve.Fields = append(ve.Fields, err.(*authd.ValidationError).Fields...)
	}
	if len(ve.Fields) > 0 {
		s.writeError(w, r, &ve)
		return
	}
	if name == "" {
		name = deviceName(r)
	}
	cred, err := s.cfg.Passkeys.FinishRegistration(ctx, c.UserID, in.Ceremony, in.Credential, name)
	if errors.Is(err, passkey.ErrInvalid) || errors.Is(err, passkey.ErrCeremony) {
		s.log.InfoContext(ctx, "passkey registration refused", "user_id", c.UserID, "err", err)
		err = &passkeyRegError{err}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.InfoContext(ctx, "passkey added", "user_id", c.UserID)
	if err := s.factorsChanged(ctx, c, event.FactorAdded, "passkey"); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toPasskeyBody(cred))
}

// deviceName is a passkey's default name from the browser it was made
// in: "Passkey on Chrome on macOS", or "" for passkey's dated default.
func deviceName(r *http.Request) string {
	if d := describeDevice(parseUserAgent(r.UserAgent())); d != "" && d != "Unknown device" {
		return passkey.CleanName("Passkey on " + d)
	}
	return ""
}

// handleListPasskeys is GET /v1/user/passkeys.
func (s *Server) handleListPasskeys(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := s.cfg.MFA.Store().Credentials(r.Context(), c.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]passkeyBody, 0, len(list))
	for _, x := range list {
		out = append(out, toPasskeyBody(x))
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": out})
}

// renamePasskey renames one of the caller's passkeys.
func (s *Server) renamePasskey(ctx context.Context, c *caller, rawID, name string) (*mfa.Credential, error) {
	id, err := credentialID(rawID)
	if err != nil {
		return nil, err
	}
	clean, err := passkeyName(name)
	if err != nil {
		return nil, err
	}
	if clean == "" {
		return nil, authd.Invalid("name", "required", "name is required")
	}
	st := s.cfg.MFA.Store()
	cred, err := st.Credential(ctx, id)
	if err != nil {
		return nil, err
	}
	if cred.UserID != c.UserID {
		return nil, authd.ErrNotFound
	}
	if err := st.RenameCredential(ctx, c.UserID, id, clean); err != nil {
		return nil, err
	}
	cred.Name = clean
	return cred, nil
}

type nameBody struct {
	Name string `json:"name"`
}

// handleRenamePasskey is PATCH /v1/user/passkeys/{id}.
func (s *Server) handleRenamePasskey(w http.ResponseWriter, r *http.Request, c *caller) {
	var in nameBody
	if !decodeJSON(w, r, &in) {
		return
	}
	cred, err := s.renamePasskey(r.Context(), c, r.PathValue("id"), in.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toPasskeyBody(cred))
}

// deletePasskey removes one of the caller's passkeys (step-up) and ends
// their other sessions.
func (s *Server) deletePasskey(ctx context.Context, c *caller, rawID string) error {
	id, err := credentialID(rawID)
	if err != nil {
		return err
	}
	if err := s.recentAuth(ctx, c); err != nil {
		return err
	}
	if err := s.cfg.MFA.Store().DeleteCredential(ctx, c.UserID, id); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "passkey removed", "user_id", c.UserID)
	return s.factorsChanged(ctx, c, event.FactorRemoved, "passkey")
}

// handleDeletePasskey is DELETE /v1/user/passkeys/{id}.
func (s *Server) handleDeletePasskey(w http.ResponseWriter, r *http.Request, c *caller) {
	if err := s.deletePasskey(r.Context(), c, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// --- signing in ---

// handleBeginPasskeyLogin is POST /v1/passkeys/login/begin.
// Anyone may ask, so asking is rate-limited per client IP (each answer
// is a challenge stored for 5 minutes): 30 at once, then one per 2 s.
func (s *Server) handleBeginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.ceremonies.allow(s.ipBucket(s.clientIP(r))); !ok {
		s.throttleRefused("passkey_ceremonies")
		s.writeError(w, r, &authd.ThrottledError{RetryAfter: wait})
		return
	}
	tok, opts, err := s.cfg.Passkeys.BeginLogin(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ceremonyBody{Ceremony: tok, Options: opts, ExpiresIn: int(passkey.CeremonyTTL / time.Second)})
}

type passkeyLogin struct {
	Ceremony   string          `json:"ceremony"`
	Credential json.RawMessage `json:"credential"`
}

// admitPasskey reserves an attempt at a passkey sign-in under the
// client's IP alone (there is no account to count it under before the
// answer verified).
func (s *Server) admitPasskey(ctx context.Context, r *http.Request) (*guess, error) {
	key := "passkey|ip:" + s.ipBucket(s.clientIP(r))
	g := &guess{s: s, ctx: ctx, slot: key, acct: key,
		res: []reservation{{s.cfg.IPThrottle, key, false, "ip"}}}
	if !s.inflight.acquire(g.slot) {
		s.throttleRefused("in_flight")
		return nil, &authd.ThrottledError{RetryAfter: time.Second}
	}
	if s.cfg.IPThrottle != nil {
		wait, err := s.cfg.IPThrottle.Reserve(ctx, key)
		if err != nil || wait > 0 {
			g.res = nil
			g.abandon(ctx)
			if err != nil {
				return nil, err
			}
			s.throttleRefused("ip")
			return nil, &authd.ThrottledError{RetryAfter: wait}
		}
	}
	return g, nil
}

// handleFinishPasskeyLogin is POST /v1/passkeys/login/finish.
func (s *Server) handleFinishPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var in passkeyLogin
	if !decodeJSON(w, r, &in) {
		return
	}
	ctx := r.Context()
	var ve authd.ValidationError
	if in.Ceremony == "" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "ceremony", Reason: "required", Detail: "ceremony is required"})
	}
	if len(in.Credential) == 0 || string(in.Credential) == "null" {
		ve.Fields = append(ve.Fields, authd.FieldError{Field: "credential", Reason: "required", Detail: "credential is required"})
	}
	if len(ve.Fields) > 0 {
		s.writeError(w, r, &ve)
		return
	}
	g, err := s.admitPasskey(ctx, r)
	if err != nil {
		if _, ok := errors.AsType[*authd.ThrottledError](err); ok {
			s.observeLogin(LoginThrottled)
		}
		s.writeError(w, r, err)
		return
	}
	l, err := s.cfg.Passkeys.FinishLogin(ctx, in.Ceremony, in.Credential)
	switch {
	case errors.Is(err, passkey.ErrInvalid), errors.Is(err, passkey.ErrCeremony):
		g.failed()
		s.observeLogin(LoginFailure)
		if errors.Is(err, passkey.ErrInvalid) {
			s.signInFailed(ctx, "", "", "bad_passkey")
		}
		s.log.InfoContext(ctx, "login: passkey refused", "err", err)
		s.writeError(w, r, err)
		return
	case err != nil:
		g.abandon(ctx)
		s.observeLogin(LoginError)
		s.writeError(w, r, err)
		return
	}
	g.succeeded(ctx)
	u, err := s.cfg.Users.Get(ctx, l.UserID)
	if errors.Is(err, authd.ErrNotFound) || (err == nil && u.Disabled) {
		s.writeError(w, r, passkey.ErrInvalid)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	acct := throttleKey(u.Email)
	_, known := s.knownDevice(r, acct)
	sess, err := s.startCookieSession(w, r, u, s.clientIP(r), l.AMR)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.completeSignIn(w, r, u, acct, known)
	writeJSON(w, http.StatusCreated, sessionResponse{Session: toSessionBody(sess), User: sessionUser{ID: u.ID, Email: u.Email}})
}
