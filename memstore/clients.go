package memstore

import (
	"context"
	"slices"
	"strings"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
)

var (
	_ client.Store        = (*Store)(nil)
	_ client.ConsentStore = (*Store)(nil)
)

func copyClient(c *client.Client) *client.Client {
	cc := *c
	cc.SecretHash = slices.Clone(c.SecretHash)
	cc.RedirectURIs = slices.Clone(c.RedirectURIs)
	cc.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	cc.Scopes = slices.Clone(c.Scopes)
	cc.GrantTypes = slices.Clone(c.GrantTypes)
	return &cc
}

func copyConsent(c *client.Consent) *client.Consent {
	cc := *c
	cc.Scopes = slices.Clone(c.Scopes)
	return &cc
}

// CreateClient implements client.Store.
func (s *Store) CreateClient(ctx context.Context, c *client.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.clients[c.ID]; ok {
		return authd.ErrConflict
	}
	if _, ok := s.clientNames[c.Name]; ok {
		return authd.ErrConflict
	}
	s.clients[c.ID] = copyClient(c)
	s.clientNames[c.Name] = c.ID
	return nil
}

// ClientByID implements client.Store.
func (s *Store) ClientByID(ctx context.Context, id string) (*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return copyClient(c), nil
}

// ListClients implements client.Store: ordered by Name (byte-wise).
func (s *Store) ListClients(ctx context.Context) ([]*client.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*client.Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, copyClient(c))
	}
	slices.SortFunc(out, func(a, b *client.Client) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteClient implements client.Store. The consents given to the client
// go with it (ON DELETE CASCADE in the SQL stores).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return authd.ErrNotFound
	}
	delete(s.clientNames, c.Name)
	delete(s.clients, id)
	for uid, byClient := range s.consents {
		delete(byClient, id)
		if len(byClient) == 0 {
			delete(s.consents, uid)
		}
	}
	return nil
}

// PutConsent implements client.ConsentStore. authd.ErrNotFound when the
// user or the client does not exist (a foreign key in the SQL stores).
func (s *Store) PutConsent(ctx context.Context, c *client.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[c.UserID]; !ok {
		return authd.ErrNotFound
	}
	if _, ok := s.clients[c.ClientID]; !ok {
		return authd.ErrNotFound
	}
	byClient := s.consents[c.UserID]
	if byClient == nil {
		byClient = map[string]*client.Consent{}
		s.consents[c.UserID] = byClient
	}
	byClient[c.ClientID] = copyConsent(c)
	return nil
}

// ConsentOf implements client.ConsentStore.
func (s *Store) ConsentOf(ctx context.Context, userID, clientID string) (*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.consents[userID][clientID]
	if !ok {
		return nil, authd.ErrNotFound
	}
	return copyConsent(c), nil
}

// ListConsents implements client.ConsentStore: ordered by client ID
// (byte-wise).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*client.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*client.Consent, 0, len(s.consents[userID]))
	for _, c := range s.consents[userID] {
		out = append(out, copyConsent(c))
	}
	slices.SortFunc(out, func(a, b *client.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// DeleteConsent implements client.ConsentStore.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byClient := s.consents[userID]
	if _, ok := byClient[clientID]; !ok {
		return authd.ErrNotFound
	}
	delete(byClient, clientID)
	if len(byClient) == 0 {
		delete(s.consents, userID)
	}
	return nil
}
