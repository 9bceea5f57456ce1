package mfa

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/authd/authd"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: what every common authenticator app understands
// (RFC 6238 defaults; Google Authenticator ignores anything else).
const (
	Period     = 30 * time.Second
	Digits     = 6
	secretSize = 20 // 160 bits, RFC 4226 §4 R6
	// RecoveryCodes is how many recovery codes a user gets at a time.
	RecoveryCodes = 10
	// MaxAttempts is how many wrong answers a sign-in challenge takes
	// before it is void and the password must be entered again.
	MaxAttempts = 5
)

// Errors of the Service.
var (
	// ErrInvalidCode: the code is not the current TOTP code (±1 step),
	// nor an unused recovery code of the user.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrNoTOTP: the user has no TOTP secret in use (or none pending,
	// for a confirmation).
	ErrNoTOTP = errors.New("mfa: no TOTP secret")
	// ErrTOTPOn: the user already has TOTP turned on.
	ErrTOTPOn = errors.New("mfa: TOTP is already on")
)

// Config configures a Service.
type Config struct {
	Store Store
	// KEK seals TOTP secrets at rest (AES-256-GCM) and keys the recovery
	// code hashes (HMAC-SHA-256 under a key derived from it): a copy of
	// the database alone reveals neither.
	KEK [32]byte
	// Issuer names the service in authenticator apps.
	Issuer string
	// ChallengeTTL is how long a sign-in waits for its second factor.
	// Default 5 minutes.
	ChallengeTTL time.Duration
	Now          func() time.Time
}

// Service enrolls and checks second factors and keeps sign-in challenges.
type Service struct {
	cfg     Config
	aead    cipher.AEAD
	codeKey []byte
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = 5 * time.Minute
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "authd"
	}
	block, err := aes.NewCipher(cfg.KEK[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	m := hmac.New(sha256.New, cfg.KEK[:])
	m.Write([]byte("authd recovery codes v1"))
	return &Service{cfg: cfg, aead: aead, codeKey: m.Sum(nil)}
}

// Store returns the store the service uses.
func (s *Service) Store() Store { return s.cfg.Store }

// ChallengeTTL is how long a sign-in challenge lives.
func (s *Service) ChallengeTTL() time.Duration { return s.cfg.ChallengeTTL }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func totpAAD(userID string) []byte { return []byte("authd totp secret v1 " + userID) }

func (s *Service) seal(userID string, secret []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, secret, totpAAD(userID))
}

func (s *Service) open(userID string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("mfa: TOTP secret cannot be decrypted: wrong key-encryption key")
	}
	secret, err := s.aead.Open(nil, sealed[:n], sealed[n:], totpAAD(userID))
	if err != nil {
		return nil, errors.New("mfa: TOTP secret cannot be decrypted: wrong key-encryption key")
	}
	return secret, nil
}

// Enrollment is a new TOTP secret for the user's authenticator app.
type Enrollment struct {
	Secret string // base32, for typing in
	URI    string // otpauth:// URI, for the QR code
}

// QRCode returns a PNG of the enrollment's URI.
func (e *Enrollment) QRCode(size int) ([]byte, error) {
	k, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		return nil, err
	}
	img, err := k.Image(size, size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// BeginTOTP makes a new pending TOTP secret for the user (replacing a
// pending one); account names the user in the app (their address). It
// returns ErrTOTPOn if TOTP is already on.
func (s *Service) BeginTOTP(ctx context.Context, userID, account string) (*Enrollment, error) {
	raw := make([]byte, secretSize)
	rand.Read(raw)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Issuer, AccountName: account, Secret: raw,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("make TOTP secret: %w", err)
	}
	err = s.cfg.Store.PutTOTP(ctx, &TOTP{UserID: userID, Secret: s.seal(userID, raw), CreatedAt: s.now()})
	if errors.Is(err, authd.ErrConflict) {
		return nil, ErrTOTPOn
	}
	if err != nil {
		return nil, fmt.Errorf("store TOTP secret: %w", err)
	}
	return &Enrollment{Secret: key.Secret(), URI: key.URL()}, nil
}

// matchStep returns the time step, within ±1 of now's (RFC 6238 §5.2:
// one step of clock drift either way), whose code is code.
func (s *Service) matchStep(secret []byte, code string) (int64, bool) {
	if len(code) != Digits || strings.IndexFunc(code, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	now := s.cfg.Now().Unix() / int64(Period/time.Second)
	var found int64
	ok := 0
	for _, step := range []int64{now - 1, now, now + 1} {
		want, err := totp.GenerateCodeCustom(b32, time.Unix(step*int64(Period/time.Second), 0),
			totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		// Every step is computed and compared: the time taken does not
		// say which step matched.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// ConfirmTOTP turns the pending secret on once the user typed a code from
// their app, and returns their recovery codes (shown once; only hashes
// are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, userID, code string) ([]string, error) {
	t, err := s.cfg.Store.GetTOTP(ctx, userID)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrNoTOTP
	}
	if err != nil {
		return nil, fmt.Errorf("read TOTP secret: %w", err)
	}
	if t.Confirmed() {
		return nil, ErrTOTPOn
	}
	secret, err := s.open(userID, t.Secret)
	if err != nil {
		return nil, err
	}
	step, ok := s.matchStep(secret, code)
	if !ok {
		return nil, ErrInvalidCode
	}
	codes, hashes := s.newCodes(userID)
	err = s.cfg.Store.ConfirmTOTP(ctx, userID, step, hashes, s.now())
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrTOTPOn // a parallel confirmation won
	}
	if err != nil {
		return nil, fmt.Errorf("confirm TOTP: %w", err)
	}
	return codes, nil
}

// VerifyTOTP accepts code for the user's TOTP secret once: the store
// refuses its time step if it or a later one was used (ErrInvalidCode,
// wrapping ErrReplayed).
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) error {
	t, err := s.cfg.Store.GetTOTP(ctx, userID)
	if errors.Is(err, authd.ErrNotFound) || (err == nil && !t.Confirmed()) {
		return ErrNoTOTP
	}
	if err != nil {
		return fmt.Errorf("read TOTP secret: %w", err)
	}
	return s.verifyTOTP(ctx, t, code)
}

// verifyTOTP is VerifyTOTP for the user's confirmed secret t.
func (s *Service) verifyTOTP(ctx context.Context, t *TOTP, code string) error {
	userID := t.UserID
	secret, err := s.open(userID, t.Secret)
	if err != nil {
		return err
	}
	step, ok := s.matchStep(secret, code)
	if !ok {
		return ErrInvalidCode
	}
	switch err := s.cfg.Store.UseTOTPStep(ctx, userID, step); {
	case errors.Is(err, ErrReplayed):
		return fmt.Errorf("%w: %w", ErrInvalidCode, ErrReplayed)
	case errors.Is(err, authd.ErrNotFound):
		return ErrNoTOTP
	case err != nil:
		return fmt.Errorf("use TOTP code: %w", err)
	}
	return nil
}

// codeAlphabet is Crockford's base32: no i, l, o or u, so a code read
// aloud or copied by hand survives (normalCode maps i and l to 1, o to 0).
const codeAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// newCodes makes RecoveryCodes codes of 16 characters (80 bits) and their
// hashes.
func (s *Service) newCodes(userID string) (codes []string, hashes [][]byte) {
	for range RecoveryCodes {
		raw := make([]byte, 16)
		rand.Read(raw)
		var b strings.Builder
		for i, c := range raw {
			if i > 0 && i%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(codeAlphabet[int(c)%len(codeAlphabet)])
		}
		codes = append(codes, b.String())
		hashes = append(hashes, s.codeHash(userID, b.String()))
	}
	return codes, hashes
}

// normalCode is a recovery code as typed, without case, spaces or
// dashes; "" if it cannot be one.
func normalCode(code string) string {
	code = strings.NewReplacer("-", "", " ", "", "i", "1", "l", "1", "o", "0").Replace(strings.ToLower(code))
	if len(code) != 16 || strings.Trim(code, codeAlphabet) != "" {
		return ""
	}
	return code
}

// codeHash is the stored form of a recovery code: HMAC-SHA-256 under a key
// derived from the KEK, bound to the user. The codes carry 80 random
// bits and guesses are throttled online; the key keeps a stolen database
// from being searched offline (NIST SP 800-63B-4 §3.1.2.2 asks look-up
// secrets under 112 bits to be stored so that an offline attack is
// impractical).
func (s *Service) codeHash(userID, code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	m.Write([]byte(normalCode(code)))
	return m.Sum(nil)
}

// UseRecoveryCode spends one of the user's recovery codes.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code string) error {
	if normalCode(code) == "" {
		return ErrInvalidCode
	}
	err := s.cfg.Store.UseRecoveryCode(ctx, userID, s.codeHash(userID, code))
	if errors.Is(err, authd.ErrNotFound) {
		return ErrInvalidCode
	}
	if err != nil {
		return fmt.Errorf("use recovery code: %w", err)
	}
	return nil
}

// Verify checks a second-factor code of either kind — six digits are a
// TOTP code, anything else a recovery code — and returns the AMR value
// it proves ("otp" or "rc"). since is when the sign-in it finishes
// began: a factor turned on after that (off and on again, with a new
// secret and new codes) answers ErrNoTOTP, so a sign-in begun under the
// old one cannot be finished with the new one.
func (s *Service) Verify(ctx context.Context, userID, code string, since time.Time) (string, error) {
	t, err := s.cfg.Store.GetTOTP(ctx, userID)
	if errors.Is(err, authd.ErrNotFound) || (err == nil && (!t.Confirmed() || t.ConfirmedAt.After(since))) {
		return "", ErrNoTOTP
	}
	if err != nil {
		return "", fmt.Errorf("read TOTP secret: %w", err)
	}
	code = strings.TrimSpace(code)
	if len(code) == Digits {
		return "otp", s.verifyTOTP(ctx, t, code)
	}
	return "rc", s.UseRecoveryCode(ctx, userID, code)
}

// NewRecoveryCodes replaces the user's recovery codes.
func (s *Service) NewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, hashes := s.newCodes(userID)
	err := s.cfg.Store.ReplaceRecoveryCodes(ctx, userID, hashes)
	if errors.Is(err, authd.ErrNotFound) {
		return nil, ErrNoTOTP
	}
	if err != nil {
		return nil, fmt.Errorf("replace recovery codes: %w", err)
	}
	return codes, nil
}

// DisableTOTP removes the user's TOTP secret and recovery codes.
func (s *Service) DisableTOTP(ctx context.Context, userID string) error {
	err := s.cfg.Store.DeleteTOTP(ctx, userID)
	if errors.Is(err, authd.ErrNotFound) {
		return ErrNoTOTP
	}
	return err
}

// Factors summarises the user's factors.
func (s *Service) Factors(ctx context.Context, userID string) (Factors, error) {
	return s.cfg.Store.Factors(ctx, userID)
}

// --- challenges ---

// TokenLen is the length of a challenge token: 32 random bytes as
// unpadded base64url.
const TokenLen = 43

// hashToken validates a presented token's shape and returns its hash.
func hashToken(token string) ([]byte, bool) {
	if len(token) != TokenLen {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	h := sha256.Sum256([]byte(token))
	return h[:], true
}

// NewChallenge stores a challenge of kind for userID with data, living
// ttl (ChallengeTTL if 0), and returns its token.
func (s *Service) NewChallenge(ctx context.Context, kind, userID string, data []byte, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = s.cfg.ChallengeTTL
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	h := sha256.Sum256([]byte(token))
	now := s.now()
	c := &Challenge{Hash: h[:], Kind: kind, UserID: userID, Data: data, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.cfg.Store.CreateChallenge(ctx, c); err != nil {
		return "", fmt.Errorf("store challenge: %w", err)
	}
	return token, nil
}

// Challenge returns the live challenge of token and kind, or
// authd.ErrNotFound (also for a token of the wrong shape).
func (s *Service) Challenge(ctx context.Context, token, kind string) (*Challenge, error) {
	h, ok := hashToken(token)
	if !ok {
		return nil, authd.ErrNotFound
	}
	return s.cfg.Store.GetChallenge(ctx, h, kind, s.now())
}

// TakeChallenge returns and ends the live challenge of token and kind: of
// parallel takes, one gets it, the others authd.ErrNotFound.
func (s *Service) TakeChallenge(ctx context.Context, token, kind string) (*Challenge, error) {
	h, ok := hashToken(token)
	if !ok {
		return nil, authd.ErrNotFound
	}
	return s.cfg.Store.TakeChallenge(ctx, h, kind, s.now())
}

// FailChallenge counts a wrong answer; after MaxAttempts the challenge is
// void. It returns the attempts left.
func (s *Service) FailChallenge(ctx context.Context, token string) (int, error) {
	h, ok := hashToken(token)
	if !ok {
		return 0, authd.ErrNotFound
	}
	return s.cfg.Store.FailChallenge(ctx, h, MaxAttempts)
}

// ReserveAttempt counts an answer to the challenge before it is checked,
// in one store statement, and returns how many more it takes after this
// one; authd.ErrNotFound once MaxAttempts were counted (the challenge is
// then void). Parallel answers each take their own attempt, so at most
// MaxAttempts codes are ever checked against one challenge.
func (s *Service) ReserveAttempt(ctx context.Context, token string) (int, error) {
	h, ok := hashToken(token)
	if !ok {
		return 0, authd.ErrNotFound
	}
	left, err := s.cfg.Store.FailChallenge(ctx, h, MaxAttempts+1)
	if err != nil {
		return 0, err
	}
	if left == 0 {
		return 0, authd.ErrNotFound // the (MaxAttempts+1)th: void, deleted
	}
	return left - 1, nil
}

// Sweep deletes expired challenges.
func (s *Service) Sweep(ctx context.Context) (int64, error) {
	return s.cfg.Store.DeleteExpiredChallenges(ctx, s.now())
}
