package pgstore

import (
	"context"

	"github.com/authd/authd/client"
)

var (
	_ client.Store        = (*Store)(nil)
	_ client.ConsentStore = (*Store)(nil)
)

const clientCols = `id, name, secret_hash, created_at, public, first_party, redirect_uris,
	post_logout_redirect_uris, scopes, grant_types, backchannel_logout_uri, id_token_alg`

// list is a value for a NOT NULL TEXT[] column: pgx sends a nil slice as
// NULL.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// nilIfEmpty returns an empty list column as nil, as memstore and
// sqlitestore do.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func scanClient(sc scanner) (*client.Client, error) {
	var c client.Client
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &c.CreatedAt, &c.Public, &c.FirstParty, &c.RedirectURIs,
		&c.PostLogoutRedirectURIs, &c.Scopes, &c.GrantTypes, &c.BackchannelLogoutURI, &c.IDTokenAlg); err != nil {
		return nil, err
	}
	c.CreatedAt = utc(c.CreatedAt)
	c.RedirectURIs = nilIfEmpty(c.RedirectURIs)
	c.PostLogoutRedirectURIs = nilIfEmpty(c.PostLogoutRedirectURIs)
	c.Scopes = nilIfEmpty(c.Scopes)
	c.GrantTypes = nilIfEmpty(c.GrantTypes)
	return &c, nil
}

// CreateClient implements client.Store. The primary key and the UNIQUE
// name both map to authd.ErrConflict. A nil SecretHash (a public client)
// is NULL.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	_, err := s.exec(ctx, "create client", `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.ID, c.Name, c.SecretHash, c.CreatedAt, c.Public, c.FirstParty, list(c.RedirectURIs),
		list(c.PostLogoutRedirectURIs), list(c.Scopes), list(c.GrantTypes), c.BackchannelLogoutURI, c.IDTokenAlg)
	return err
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "client by id",
		s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id), scanClient)
}

// ListClients implements client.Store: ordered by name byte-wise (the
// column's "C" collation, as SQLite's BINARY and memstore).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
	return collect(ctx, s, "list clients", rows, err, scanClient)
}

// DeleteClient implements client.Store. The consents given to the client
// go with it (ON DELETE CASCADE).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete client", `DELETE FROM clients WHERE id = $1`, id)
}

const consentCols = `user_id, client_id, scopes, granted_at`

func scanConsent(sc scanner) (*client.Consent, error) {
	var c client.Consent
	if err := sc.Scan(&c.UserID, &c.ClientID, &c.Scopes, &c.GrantedAt); err != nil {
		return nil, err
	}
	c.GrantedAt = utc(c.GrantedAt)
	c.Scopes = nilIfEmpty(c.Scopes)
	return &c, nil
}

// PutConsent implements client.ConsentStore with one upsert: concurrent
// puts for the same user and client never raise a unique violation
// (INSERT … ON CONFLICT DO UPDATE is atomic). An unknown user or client
// fails the foreign key: authd.ErrNotFound.
func (s *Store) PutConsent(ctx context.Context, c *client.Consent) error {
	_, err := s.exec(ctx, "put consent", `INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at`,
		c.UserID, c.ClientID, list(c.Scopes), c.GrantedAt)
	return err
}

// ConsentOf implements client.ConsentStore.
func (s *Store) ConsentOf(ctx context.Context, userID, clientID string) (*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return one(ctx, s, "consent of", s.pool.QueryRow(ctx,
		`SELECT `+consentCols+` FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID), scanConsent)
}

// ListConsents implements client.ConsentStore: ordered by client ID
// byte-wise (the "C" collation).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+consentCols+` FROM consents WHERE user_id = $1 ORDER BY client_id`, userID)
	return collect(ctx, s, "list consents", rows, err, scanConsent)
}

// DeleteConsent implements client.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.execOne(ctx, "delete consent", `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
}
