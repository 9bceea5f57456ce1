// Package client manages authd's OAuth clients (RFC 6749 §2): the apps
// that sign users in through the authorization code flow, and the
// services that call introspection, the revocation feed or the
// client_credentials grant.
//
// A confidential client's secret is 256 random bits, shown once at
// creation; only its SHA-256 is stored (a secret with that much entropy
// needs no slow hash). A public client (a browser or native app, RFC 6749
// §2.1) has no secret and proves itself with PKCE alone.
package client

import (
	"context"
	"time"
)

// Grant types a client may be registered for.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Client is a registered OAuth client.
type Client struct {
	ID         string
	Name       string
	SecretHash []byte // SHA-256 of the secret, 32 bytes; nil for a public client
	CreatedAt  time.Time

	// Public clients have no secret (RFC 6749 §2.1) and authenticate
	// with PKCE alone.
	Public bool
	// FirstParty clients are the deployment's own apps: no consent page.
	FirstParty bool
	// RedirectURIs are compared by exact string match (RFC 9700 §4.1.3),
	// but a loopback http://127.0.0.1/… registration matches any port
	// (RFC 8252 §7.3). See RedirectAllowed.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where RP-Initiated Logout may return to
	// (exact match).
	PostLogoutRedirectURIs []string
	// Scopes the client may ask for; empty: every scope authd grants.
	Scopes []string
	// GrantTypes the client may use; empty: authorization_code and
	// refresh_token (plus client_credentials for a confidential client).
	GrantTypes []string
	// BackchannelLogoutURI receives OpenID Back-Channel Logout tokens;
	// empty: none.
	BackchannelLogoutURI string
	// IDTokenAlg signs the client's ID tokens (id_token_signed_response_alg);
	// empty: RS256.
	IDTokenAlg string
}

// Store persists clients. Every method honours ctx. Slices round-trip in
// order; a nil and an empty slice are the same.
type Store interface {
	// CreateClient stores c. authd.ErrConflict when the ID or the Name is
	// taken.
	CreateClient(ctx context.Context, c *Client) error
	// ClientByID returns authd.ErrNotFound when there is none.
	ClientByID(ctx context.Context, id string) (*Client, error)
	// ListClients returns all clients ordered by Name; empty, not nil.
	ListClients(ctx context.Context) ([]*Client, error)
	// DeleteClient returns authd.ErrNotFound when there is none. It also
	// removes every consent given to the client.
	DeleteClient(ctx context.Context, id string) error
}

// Consent is a user's remembered permission for a client to receive the
// scopes (OAuth consent, OIDC Core §3.1.2.4).
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string // sorted, no duplicates
	GrantedAt time.Time
}

// ConsentStore persists consents. Every method honours ctx. A consent goes
// when its user or its client is deleted. Backends prove it with
// clienttest.RunConsents.
type ConsentStore interface {
	// PutConsent stores c, replacing the user's consent to that client
	// (the caller passes the union it wants kept). authd.ErrNotFound when
	// the user or the client does not exist; concurrent puts for the same
	// user and client all succeed, the last one wins.
	PutConsent(ctx context.Context, c *Consent) error
	// ConsentOf returns authd.ErrNotFound when the user has given the
	// client none.
	ConsentOf(ctx context.Context, userID, clientID string) (*Consent, error)
	// ListConsents returns the user's consents ordered by ClientID;
	// empty, not nil.
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)
	// DeleteConsent withdraws it; authd.ErrNotFound when there is none.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}
