package client

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/authd/authd"
)

// Service creates and authenticates clients.
type Service struct {
	store Store
	now   func() time.Time
	dummy [32]byte
}

// NewService returns a Service. now may be nil.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// Create registers a confidential client and returns it with its secret,
// which is shown this once and stored only as a hash.
func (s *Service) Create(ctx context.Context, name string) (*Client, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		return nil, "", authd.Invalid("name", "invalid", "client name must be 1 to 100 printable characters")
	}
	var raw [32]byte
	rand.Read(raw[:])
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(secret))
	c := &Client{ID: "c_" + strings.ToLower(rand.Text()), Name: name, SecretHash: sum[:],
		CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if err := s.store.CreateClient(ctx, c); err != nil {
		return nil, "", fmt.Errorf("create client: %w", err)
	}
	return c, secret, nil
}

// Authenticate checks a client's credentials in constant time. Unknown
// IDs and wrong secrets both return authd.ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, id, secret string) (*Client, error) {
	if len(id) > 128 || len(secret) > 256 || !printable(id) {
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

// Delete removes a client.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("delete client: %w", err)
	}
	return nil
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
