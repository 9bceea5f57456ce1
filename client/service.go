package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd"
)

// Service registers, finds and authenticates clients, and remembers the
// consent users give them.
type Service struct {
	store    Store
	consents ConsentStore
	now      func() time.Time
	dummy    [32]byte
}

// errNoConsentStore is returned by the consent methods of a Service made
// without a ConsentStore.
var errNoConsentStore = errors.New("client: no consent store configured")

// NewService returns a Service. consents may be nil, when the deployment
// has no consent page: the consent methods then fail. now may be nil.
func NewService(store Store, consents ConsentStore, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, consents: consents, now: now}
}

// Registration is what an administrator registers a client with. The
// fields mean what Client's do; Create validates them.
type Registration struct {
	Name                   string
	Public                 bool
	FirstParty             bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Scopes                 []string
	GrantTypes             []string
	BackchannelLogoutURI   string
	IDTokenAlg             string
}

// Create validates r and registers the client. A confidential client is
// returned with its secret, which is shown this once and stored only as a
// hash; a public client has no secret (secret is "", SecretHash nil).
// Invalid input is an *authd.ValidationError naming the field; a name
// already taken is authd.ErrConflict.
func (s *Service) Create(ctx context.Context, r Registration) (c *Client, secret string, err error) {
	c, err = r.client()
	if err != nil {
		return nil, "", err
	}
	if !c.Public {
		var raw [32]byte
		rand.Read(raw[:])
		secret = base64.RawURLEncoding.EncodeToString(raw[:])
		sum := sha256.Sum256([]byte(secret))
		c.SecretHash = sum[:]
	}
	c.ID = "c_" + strings.ToLower(rand.Text())
	c.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("create client: %w", err)
	}
	return c, secret, nil
}

// Get returns the client with that ID, for the authorize endpoint, which
// must check the redirect URI (RedirectAllowed) before anything else. An
// ID no client can have is authd.ErrNotFound without asking the store.
func (s *Service) Get(ctx context.Context, id string) (*Client, error) {
	if !validID(id) {
		return nil, authd.ErrNotFound
	}
	c, err := s.store.ClientByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	return c, nil
}

// Authenticate checks a confidential client's credentials in constant
// time. Unknown IDs, wrong secrets and public clients (which have no
// secret to present, RFC 6749 §2.1) all return authd.ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, id, secret string) (*Client, error) {
	if len(secret) > 256 || !validID(id) {
		// An ID no client can have (NUL, control characters, invalid
		// UTF-8) is refused before the store, which may not even accept
		// it as text (PostgreSQL: SQLSTATE 22021 would be a 503).
		return nil, authd.ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(secret))
	c, err := s.store.ClientByID(ctx, id)
	if errors.Is(err, authd.ErrNotFound) {
		subtle.ConstantTimeCompare(sum[:], s.dummy[:])
		return nil, authd.ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate client: %w", err)
	}
	if c.Public {
		// The same work as for a wrong secret: the answer's timing must
		// not tell a public client from a confidential one.
		subtle.ConstantTimeCompare(sum[:], s.dummy[:])
		return nil, authd.ErrUnauthenticated
	}
	if subtle.ConstantTimeCompare(sum[:], c.SecretHash) != 1 {
		return nil, authd.ErrUnauthenticated
	}
	return c, nil
}

// List returns all clients.
func (s *Service) List(ctx context.Context) ([]*Client, error) {
	cs, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return cs, nil
}

// Delete removes a client and every consent given to it.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return authd.ErrNotFound
	}
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	return nil
}

// maxConsentScopes bounds a remembered consent: the union of every grant.
const maxConsentScopes = 256

// GrantConsent remembers that the user lets the client have scopes, on top
// of what they let it have before (the stored consent is the sorted union).
// Two grants racing for the same user and client may keep only one of the
// two unions: the user is then asked again, never given more than they
// approved. authd.ErrNotFound when the user or the client does not exist.
func (s *Service) GrantConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	if s.consents == nil {
		return errNoConsentStore
	}
	if !validID(userID) || !validID(clientID) {
		return authd.ErrNotFound
	}
	union := slices.Clone(scopes)
	slices.Sort(union)
	union = slices.Compact(union) // a repeated scope is no error here
	if err := checkScopes("scope", union, maxScopes); err != nil {
		return err
	}
	prev, err := s.consents.ConsentOf(ctx, userID, clientID)
	switch {
	case err == nil:
		union = append(union, prev.Scopes...)
	case !errors.Is(err, authd.ErrNotFound):
		return fmt.Errorf("grant consent: %w", err)
	}
	slices.Sort(union)
	union = slices.Compact(union)
	if len(union) > maxConsentScopes {
		return authd.Invalid("scope", "too_many", fmt.Sprintf("a consent covers at most %d scopes", maxConsentScopes))
	}
	c := &Consent{UserID: userID, ClientID: clientID, Scopes: union,
		GrantedAt: s.now().UTC().Truncate(time.Microsecond)}
	if err := s.consents.PutConsent(ctx, c); err != nil {
		return fmt.Errorf("grant consent: %w", err)
	}
	return nil
}

// ConsentCovers reports whether the user has already let the client have
// every one of scopes. A user who never consented to the client is not
// covered, even for no scopes: they have not approved the client itself.
func (s *Service) ConsentCovers(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	if s.consents == nil {
		return false, errNoConsentStore
	}
	if !validID(userID) || !validID(clientID) {
		return false, nil
	}
	c, err := s.consents.ConsentOf(ctx, userID, clientID)
	if errors.Is(err, authd.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return false, nil
		}
	}
	return true, nil
}

// Consents returns the user's consents ordered by client ID (for an
// account page listing the apps they let in).
func (s *Service) Consents(ctx context.Context, userID string) ([]*Consent, error) {
	if s.consents == nil {
		return nil, errNoConsentStore
	}
	if !validID(userID) {
		return []*Consent{}, nil
	}
	cs, err := s.consents.ListConsents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", err)
	}
	return cs, nil
}

// WithdrawConsent forgets the user's consent to the client: the next
// authorization asks again. authd.ErrNotFound when there is none.
func (s *Service) WithdrawConsent(ctx context.Context, userID, clientID string) error {
	if s.consents == nil {
		return errNoConsentStore
	}
	if !validID(userID) || !validID(clientID) {
		return authd.ErrNotFound
	}
	if err := s.consents.DeleteConsent(ctx, userID, clientID); err != nil {
		return fmt.Errorf("withdraw consent: %w", err)
	}
	return nil
}

// validID reports whether id could be a client's (or a user's) ID: 1 to
// 128 bytes of UTF-8 without control characters. Anything else is refused
// before the store, which may not even accept it as text (PostgreSQL
// cannot hold NUL).
func validID(id string) bool {
	return id != "" && len(id) <= 128 && printable(id)
}

// printable reports whether id is valid UTF-8 without control characters.
func printable(id string) bool {
	if !utf8.ValidString(id) {
		return false
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
