package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
)

var (
	_ client.Store        = (*Store)(nil)
	_ client.ConsentStore = (*Store)(nil)
)

const clientCols = `id, name, secret_hash, created_at, public, first_party, redirect_uris,
	post_logout_redirect_uris, scopes, grant_types, backchannel_logout_uri, id_token_alg`

// jsonList encodes a list column: a JSON array of strings, "[]" for nil.
// JSON round-trips every string a separator-based encoding would mangle
// (spaces, commas, quotes, brackets); invalid UTF-8, which no validated
// value holds, would come back as U+FFFD.
func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic("sqlitestore: marshal a []string: " + err.Error()) // cannot happen
	}
	return string(b)
}

// parseList decodes a list column; an empty list is nil.
func parseList(col, v string) ([]string, error) {
	var s []string
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("column %s: %w", col, err)
	}
	if len(s) == 0 {
		return nil, nil
	}
	return s, nil
}

func scanClient(sc scanner) (*client.Client, error) {
	var (
		c                                 client.Client
		created                           int64
		redirect, postLogout, scopes, gts string
	)
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &created, &c.Public, &c.FirstParty, &redirect,
		&postLogout, &scopes, &gts, &c.BackchannelLogoutURI, &c.IDTokenAlg); err != nil {
		return nil, err
	}
	c.CreatedAt = fromMicros(created)
	var err error
	if c.RedirectURIs, err = parseList("redirect_uris", redirect); err != nil {
		return nil, err
	}
	if c.PostLogoutRedirectURIs, err = parseList("post_logout_redirect_uris", postLogout); err != nil {
		return nil, err
	}
	if c.Scopes, err = parseList("scopes", scopes); err != nil {
		return nil, err
	}
	if c.GrantTypes, err = parseList("grant_types", gts); err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateClient implements client.Store. The primary key and the UNIQUE
// name both map to authd.ErrConflict. A nil SecretHash (a public client)
// is NULL.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	_, err := s.exec(ctx, "create client", `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash, micros(c.CreatedAt), c.Public, c.FirstParty, jsonList(c.RedirectURIs),
		jsonList(c.PostLogoutRedirectURIs), jsonList(c.Scopes), jsonList(c.GrantTypes), c.BackchannelLogoutURI, c.IDTokenAlg)
	return err
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanClient(s.r.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "client by id", err)
	}
	return c, nil
}

// ListClients implements client.Store: ordered by name (byte-wise, SQLite's
// BINARY collation, as memstore).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY name`)
	if err != nil {
		return nil, fail(ctx, "list clients", err)
	}
	defer rows.Close()
	out := []*client.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fail(ctx, "list clients", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list clients", err)
	}
	return out, nil
}

// DeleteClient implements client.Store. The consents given to the client
// go with it (ON DELETE CASCADE).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete client", `DELETE FROM clients WHERE id = ?`, id)
}

const consentCols = `user_id, client_id, scopes, granted_at`

func scanConsent(sc scanner) (*client.Consent, error) {
	var (
		c       client.Consent
		scopes  string
		granted int64
	)
	if err := sc.Scan(&c.UserID, &c.ClientID, &scopes, &granted); err != nil {
		return nil, err
	}
	c.GrantedAt = fromMicros(granted)
	var err error
	if c.Scopes, err = parseList("scopes", scopes); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutConsent implements client.ConsentStore with one upsert, so
// concurrent puts never conflict. An unknown user or client fails the
// foreign key: authd.ErrNotFound.
func (s *Store) PutConsent(ctx context.Context, c *client.Consent) error {
	_, err := s.exec(ctx, "put consent", `INSERT INTO consents (`+consentCols+`) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, jsonList(c.Scopes), micros(c.GrantedAt))
	return err
}

// ConsentOf implements client.ConsentStore.
func (s *Store) ConsentOf(ctx context.Context, userID, clientID string) (*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := scanConsent(s.r.QueryRowContext(ctx,
		`SELECT `+consentCols+` FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, authd.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "consent of", err)
	}
	return c, nil
}

// ListConsents implements client.ConsentStore: ordered by client ID
// (byte-wise, as memstore).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+consentCols+` FROM consents WHERE user_id = ? ORDER BY client_id`, userID)
	if err != nil {
		return nil, fail(ctx, "list consents", err)
	}
	defer rows.Close()
	out := []*client.Consent{}
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, fail(ctx, "list consents", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list consents", err)
	}
	return out, nil
}

// DeleteConsent implements client.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.execOne(ctx, "delete consent", `DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
}
