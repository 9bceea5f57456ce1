// Package passkey is authd's WebAuthn Level 3 relying party, on
// github.com/go-webauthn/webauthn: registering discoverable credentials
// (passkeys) of a signed-in user and signing in with one, without a
// password or even an email address.
//
// Each ceremony's state (the webauthn.SessionData: challenge, RP ID, user
// verification) lives server-side in an mfa challenge for 5 minutes; the
// client holds only its random token. A finish takes the challenge first,
// in one store statement, so a ceremony is answered at most once however
// many finishes race. A sign-in records the authenticator's signature
// counter in one statement that refuses a counter that did not grow
// (mfa.ErrReplayed: a replayed assertion or a cloned authenticator).
//
// The user handle of every credential is the authd user ID: random, it
// tells nothing about the person (WebAuthn Level 3 §14.6.1).
package passkey

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authd/authd"
	"github.com/authd/authd/mfa"
	"github.com/authd/authd/session"
	"github.com/authd/authd/user"
)

// CeremonyTTL is how long a ceremony waits for the browser's answer.
const CeremonyTTL = 5 * time.Minute

// MaxName is the longest passkey name, in characters.
const MaxName = 64

var (
	// ErrCeremony: the ceremony token is unknown, expired, already
	// answered or another user's.
	ErrCeremony = errors.New("passkey: unknown, expired or used ceremony")
	// ErrInvalid: the browser's answer does not verify (malformed, wrong
	// challenge, origin or RP ID, bad signature, user not verified, an
	// unknown or replayed credential, a disabled account).
	ErrInvalid = errors.New("passkey: invalid credential")
)

// Users finds accounts by ID (user.Service).
type Users interface {
	Get(ctx context.Context, id string) (*user.User, error)
}

// Config configures a Service.
type Config struct {
	// RPID is the relying party ID: a registrable domain suffix of the
	// origins' hosts (never an IP address).
	RPID string
	// RPDisplayName names authd in the authenticator's UI.
	RPDisplayName string
	// Origins are the web origins the ceremonies may run on.
	Origins []string
	MFA     *mfa.Service
	Users   Users
	Now     func() time.Time
}

// FromIssuer derives the RP ID (the host) and origin (scheme://host[:port])
// from the issuer URL; rpID and origins, when set, override them.
func FromIssuer(issuer, rpID string, origins []string) (id string, origs []string, err error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("passkey: issuer %q is not a URL", issuer)
	}
	id, origs = u.Hostname(), []string{u.Scheme + "://" + u.Host}
	if rpID != "" {
		id = rpID
	}
	if len(origins) > 0 {
		origs = origins
	}
	return id, origs, nil
}

// Service runs the ceremonies.
type Service struct {
	cfg Config
	wa  *webauthn.WebAuthn
}

// New returns a Service, or an error if the configuration is no valid
// relying party (an IP address as RP ID, no origin).
func New(cfg Config) (*Service, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = cfg.RPID
	}
	if cfg.MFA == nil || cfg.Users == nil {
		return nil, errors.New("passkey: MFA and Users are required")
	}
	if err := protocol.ValidateRPID(cfg.RPID); err != nil {
		return nil, fmt.Errorf("passkey: RP ID %q: %w", cfg.RPID, err)
	}
	for _, o := range cfg.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("passkey: origin %q is not scheme://host[:port]", o)
		}
		h := u.Hostname()
		if h != cfg.RPID && !strings.HasSuffix(h, "."+cfg.RPID) {
			return nil, fmt.Errorf("passkey: origin %q is not on the RP ID %q", o, cfg.RPID)
		}
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             cfg.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{cfg: cfg, wa: wa}, nil
}

// RPID is the relying party ID.
func (s *Service) RPID() string { return s.cfg.RPID }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// waUser adapts an authd user to webauthn.User.
type waUser struct {
	id, email string
	creds     []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *waUser) WebAuthnName() string                       { return u.email }
func (u *waUser) WebAuthnDisplayName() string                { return u.email }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// toWebAuthn is the credential record go-webauthn verifies against.
func toWebAuthn(c *mfa.Credential) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, Transport: tr,
		Flags: webauthn.CredentialFlags{UserPresent: true, UserVerified: c.UserVerified,
			BackupEligible: c.BackupEligible, BackupState: c.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount},
	}
}

func (s *Service) loadUser(ctx context.Context, userID string) (*waUser, error) {
	u, err := s.cfg.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	creds, err := s.cfg.MFA.Store().Credentials(ctx, userID)
	if err != nil {
		return nil, err
	}
	wu := &waUser{id: u.ID, email: u.Email}
	for _, c := range creds {
		wu.creds = append(wu.creds, toWebAuthn(c))
	}
	return wu, nil
}

// BeginRegistration starts registering a passkey for the user: it returns
// the ceremony token and the PublicKeyCredentialCreationOptions for
// navigator.credentials.create (the user's passkeys are excluded, so an
// authenticator holding one says so instead of making a second).
func (s *Service) BeginRegistration(ctx context.Context, userID string) (string, *protocol.PublicKeyCredentialCreationOptions, error) {
	wu, err := s.loadUser(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	creation, sd, err := s.wa.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()))
	if err != nil {
		return "", nil, fmt.Errorf("passkey: begin registration: %w", err)
	}
	tok, err := s.newCeremony(ctx, mfa.KindPasskeyRegister, userID, sd)
	if err != nil {
		return "", nil, err
	}
	return tok, &creation.Response, nil
}

func (s *Service) newCeremony(ctx context.Context, kind, userID string, sd *webauthn.SessionData) (string, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	return s.cfg.MFA.NewChallenge(ctx, kind, userID, data, CeremonyTTL)
}

// takeCeremony ends the ceremony of token (of the user, for a
// registration) and returns its session data.
func (s *Service) takeCeremony(ctx context.Context, token, kind, userID string) (*webauthn.SessionData, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrCeremony
	}
	ch, err := s.cfg.MFA.TakeChallenge(ctx, token, kind)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrCeremony
	}
	if err != nil {
		return nil, err
	}
	if ch.UserID != userID {
		return nil, ErrCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(ch.Data, &sd); err != nil {
		return nil, ErrCeremony
	}
	return &sd, nil
}

// CleanName is a passkey name as stored: control and format characters
// dropped, spaces trimmed, at most MaxName characters; "" if nothing is
// left.
func CleanName(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > MaxName {
		name = string([]rune(name)[:MaxName])
	}
	return strings.TrimSpace(name)
}

// FinishRegistration verifies the browser's answer (the JSON of the
// PublicKeyCredential) to the user's registration ceremony and stores the
// passkey under name (a default if empty).
func (s *Service) FinishRegistration(ctx context.Context, userID, token string, response []byte, name string) (*mfa.Credential, error) {
	sd, err := s.takeCeremony(ctx, token, mfa.KindPasskeyRegister, userID)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, invalid(err)
	}
	wu, err := s.loadUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	cred, err := s.wa.CreateCredential(wu, *sd, parsed)
	if err != nil {
		return nil, invalid(err)
	}
	now := s.now()
	name = CleanName(name)
	if name == "" {
		name = "Passkey (" + now.Format("2 Jan 2006") + ")"
	}
	c := &mfa.Credential{
		ID: cred.ID, UserID: userID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, AttestationType: cred.AttestationType,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		UserVerified: cred.Flags.UserVerified, Name: name, CreatedAt: now,
	}
	for _, t := range cred.Transport {
		c.Transports = append(c.Transports, string(t))
	}
	if err := s.cfg.MFA.Store().AddCredential(ctx, c); err != nil {
		if errors.Is(err, authd.ErrConflict) {
			return nil, fmt.Errorf("%w: the credential is already registered", ErrInvalid)
		}
		return nil, err
	}
	return c, nil
}

func invalid(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, pe.Details, pe.DevInfo)
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// BeginLogin starts a sign-in with a discoverable credential: it returns
// the ceremony token and the PublicKeyCredentialRequestOptions for
// navigator.credentials.get (no allowCredentials: the authenticator
// offers the passkeys it holds for the RP ID).
func (s *Service) BeginLogin(ctx context.Context) (string, *protocol.PublicKeyCredentialRequestOptions, error) {
	assertion, sd, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return "", nil, fmt.Errorf("passkey: begin login: %w", err)
	}
	tok, err := s.newCeremony(ctx, mfa.KindPasskeyLogin, "", sd)
	if err != nil {
		return "", nil, err
	}
	return tok, &assertion.Response, nil
}

// Login is a verified passkey sign-in.
type Login struct {
	UserID     string
	Credential *mfa.Credential
	// AMR is how the user authenticated (RFC 8176): swk for a synced
	// (backup eligible) passkey, else hwk; user and mfa when the
	// authenticator verified the user (always: UV is required).
	AMR []string
}

// FinishLogin verifies the browser's answer to a sign-in ceremony: the
// ceremony is taken first (it answers once), the credential must be
// registered to the account its user handle names, the account enabled,
// the signature valid, the user verified, and the signature counter must
// have grown (or be 0 on both sides).
func (s *Service) FinishLogin(ctx context.Context, token string, response []byte) (*Login, error) {
	sd, err := s.takeCeremony(ctx, token, mfa.KindPasskeyLogin, "")
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, invalid(err)
	}
	var (
		stored   *mfa.Credential
		storeErr error // a store failure is no invalid credential: 503, not 401
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		c, err := s.cfg.MFA.Store().Credential(ctx, rawID)
		if err != nil {
			if !errors.Is(err, authd.ErrNotFound) {
				storeErr = err
			}
			return nil, errors.New("unknown credential")
		}
		if !bytes.Equal(userHandle, []byte(c.UserID)) {
			return nil, errors.New("the user handle is not the credential's user")
		}
		u, err := s.cfg.Users.Get(ctx, c.UserID)
		if err != nil {
			if !errors.Is(err, authd.ErrNotFound) {
				storeErr = err
			}
			return nil, errors.New("no such user")
		}
		if u.Disabled {
			return nil, errors.New("the account is disabled")
		}
		stored = c
		return &waUser{id: u.ID, email: u.Email, creds: []webauthn.Credential{toWebAuthn(c)}}, nil
	}
	_, _, err = s.wa.ValidatePasskeyLogin(handler, *sd, parsed)
	if storeErr != nil {
		return nil, storeErr
	}
	if err != nil {
		return nil, invalid(err)
	}
	ad := parsed.Response.AuthenticatorData
	err = s.cfg.MFA.Store().UseCredential(ctx, stored.ID, ad.Counter, ad.Flags.HasBackupState(), s.now())
	switch {
	case errors.Is(err, mfa.ErrReplayed):
		return nil, fmt.Errorf("%w: %w (signature counter did not grow)", ErrInvalid, mfa.ErrReplayed)
	case errors.Is(err, authd.ErrNotFound):
		return nil, fmt.Errorf("%w: the passkey was removed", ErrInvalid)
	case err != nil:
		return nil, err
	}
	stored.SignCount, stored.BackupState, stored.LastUsedAt = ad.Counter, ad.Flags.HasBackupState(), s.now()
	amr := []string{session.AMRHardwareKey}
	if stored.BackupEligible {
		amr[0] = session.AMRSoftwareKey
	}
	if ad.Flags.HasUserVerified() {
		amr = append(amr, session.AMRUser, session.AMRMFA)
	}
	return &Login{UserID: stored.UserID, Credential: stored, AMR: amr}, nil
}
