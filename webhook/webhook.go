// Package webhook delivers authd's audit events (package audit) to
// operators' HTTP endpoints, following the Standard Webhooks
// specification (standardwebhooks.com): each delivery is a JSON POST
// signed with HMAC-SHA256 under its subscription's secret, with the
// headers webhook-id, webhook-timestamp and webhook-signature.
//
// Deliveries go through an outbox in the store: the store queues an
// event's deliveries in the transaction that records the event
// (audit.Store.RecordEvent), and a Sender delivers them afterwards, at
// least once, with exponential backoff, the same webhook-id on every
// attempt; a restart resends what was not yet acknowledged, and the
// request that caused the event never waits for a receiver.
//
// A subscription's signing secret is stored sealed under the
// key-encryption key (SealSecret), like the signing keys (package jwks):
// a copy of the database alone cannot forge deliveries.
package webhook

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwks"
)

// Subscription is one receiver of events.
type Subscription struct {
	// ID identifies the subscription ("wh_" and random characters).
	ID string
	// URL receives the deliveries: https://, or http:// on a loopback
	// host (CheckURL).
	URL string
	// Events lists the audit event types delivered (audit.Event.Type), or
	// is ["*"]: every type.
	Events []string
	// Secret is the signing secret as stored: sealed under the KEK
	// (SealSecret). The store keeps it as given. The operator sees the
	// raw secret once, as "whsec_" and its standard base64 (NewSubscription).
	Secret []byte
	// CreatedAt is when the subscription was added.
	CreatedAt time.Time
}

// Delivery is one event on its way to one subscription.
type Delivery struct {
	// ID is the delivery's webhook-id ("msg_" and random characters), the
	// same on every attempt: receivers deduplicate by it.
	ID             string
	SubscriptionID string
	// EventType is the event's audit type.
	EventType string
	// Payload is the request body (Envelope as JSON), fixed when the
	// event was recorded, so every attempt signs the same bytes.
	Payload []byte
	// CreatedAt is when the event was recorded; a delivery not
	// acknowledged within the sender's give-up time (24 h) is dropped.
	CreatedAt time.Time
	// Attempts counts the claims so far (set by the store).
	Attempts int
	// NextAt is when the delivery may be claimed (set by the store).
	NextAt time.Time
}

// Claimed is a delivery claimed for sending, with where it goes.
type Claimed struct {
	Delivery
	// URL and Secret are the subscription's (Secret sealed).
	URL    string
	Secret []byte
}

// Store keeps subscriptions and the delivery outbox. The SQL stores and
// memstore implement it; webhooktest proves them. Each also queues an
// event's deliveries (Deliveries) in the transaction of
// audit.Store.RecordEvent. Every method honours ctx; errors other than the
// documented sentinels are store failures.
//
// The outbox methods carry "Deliver" in their names because the stores
// also implement mail.Outbox, whose Claim, Retry and Drop they would
// collide with.
type Store interface {
	// AddSubscription stores s. A duplicate ID is authd.ErrConflict.
	AddSubscription(ctx context.Context, s *Subscription) error
	// Subscriptions returns every subscription, oldest first.
	Subscriptions(ctx context.Context) ([]*Subscription, error)
	// DeleteSubscription deletes the subscription and its pending
	// deliveries. authd.ErrNotFound when there is none.
	DeleteSubscription(ctx context.Context, id string) error
	// ClaimDeliveries leases up to n deliveries due at now (NextAt <=
	// now), oldest first: each one's NextAt moves to now+lease and its
	// Attempts grows by one, in one atomic step, so two senders never
	// claim the same delivery while the lease runs.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int) ([]*Claimed, error)
	// Delivered deletes the delivery: the receiver acknowledged it.
	// authd.ErrNotFound when there is none.
	Delivered(ctx context.Context, id string) error
	// RetryDelivery makes the delivery due again at next and records why
	// the last attempt failed. authd.ErrNotFound when there is none.
	RetryDelivery(ctx context.Context, id string, next time.Time, reason string) error
	// DropDelivery deletes a delivery that will not be made.
	// authd.ErrNotFound when there is none.
	DropDelivery(ctx context.Context, id string) error
}

// All subscribes to every event type.
const All = "*"

// EventTypes are the audit event types a subscription may name: the
// recorded event kinds (event.Kind, but key.revoked, the revocation
// feed's announcement) and the two session ends the record names apart
// ("signout", "refresh.replayed"; audit.FromEvent).
var EventTypes = []string{
	string(event.SignInSucceeded), string(event.SignInFailed),
	string(event.SessionRevoked), "signout", "refresh.replayed",
	string(event.PasswordChanged), string(event.PasswordReset),
	string(event.EmailChangeRequested), string(event.EmailChanged), string(event.EmailVerified), string(event.EmailChangeUndone),
	string(event.UserCreated), string(event.UserDisabled), string(event.UserEnabled), string(event.UserDeleted),
	string(event.ConsentGiven), string(event.ConsentWithdrawn),
	string(event.ClientAdded), string(event.ClientDeleted),
	string(event.KeyRotated), string(event.KeyRevokedByOperator),
	string(event.FactorAdded), string(event.FactorRemoved),
}

// ErrBadURL means a receiver URL is not acceptable (CheckURL).
var ErrBadURL = errors.New("webhook: URL must be https://, or http:// on a loopback host")

// CheckURL accepts an absolute https:// URL, or an http:// one whose host
// is localhost or a loopback IP (for development); no user info, no
// fragment.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%w: %q", ErrBadURL, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrBadURL, raw)
}

// IsLoopback reports whether host is "localhost" or a loopback IP.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckEvents accepts ["*"] or a non-empty list of EventTypes without
// duplicates.
func CheckEvents(events []string) error {
	if len(events) == 0 {
		return errors.New("webhook: no event types (name some, or *)")
	}
	if slices.Contains(events, All) {
		if len(events) > 1 {
			return errors.New("webhook: * already means every event type")
		}
		return nil
	}
	for i, e := range events {
		if !slices.Contains(EventTypes, e) {
			return fmt.Errorf("webhook: unknown event type %q (known: %s)", e, strings.Join(EventTypes, ", "))
		}
		if slices.Contains(events[:i], e) {
			return fmt.Errorf("webhook: event type %q named twice", e)
		}
	}
	return nil
}

// Matches reports whether a subscription to events receives an event of
// type typ.
func Matches(events []string, typ string) bool {
	return slices.Contains(events, All) || slices.Contains(events, typ)
}

// Envelope is a delivery's body, as Standard Webhooks recommends: the
// type, the time of the event and its data, the audit record.
type Envelope struct {
	Type      string       `json:"type"`
	Timestamp string       `json:"timestamp"` // RFC 3339, UTC
	Data      *audit.Event `json:"data"`
}

// Deliveries returns e's deliveries to those of subs that want its type:
// the stores call it in RecordEvent's transaction.
func Deliveries(subs []*Subscription, e *audit.Event) ([]*Delivery, error) {
	var out []*Delivery
	var body []byte
	for _, s := range subs {
		if !Matches(s.Events, e.Type) {
			continue
		}
		if body == nil {
			b, err := json.Marshal(Envelope{Type: e.Type, Timestamp: e.At.UTC().Format(time.RFC3339Nano), Data: e})
			if err != nil {
				return nil, fmt.Errorf("webhook: encode event %s: %w", e.ID, err)
			}
			body = b
		}
		at := e.At.UTC()
		out = append(out, &Delivery{
			ID: NewDeliveryID(), SubscriptionID: s.ID, EventType: e.Type, Payload: body, CreatedAt: at, NextAt: at,
		})
	}
	return out, nil
}

// NewDeliveryID returns a fresh webhook-id.
func NewDeliveryID() string { return "msg_" + rand.Text() }

// SecretPrefix starts a secret as shown to operators.
const SecretPrefix = "whsec_"

// NewSubscription makes a subscription of url to events, with a fresh
// 32-byte secret sealed under kek, and returns it with the secret as the
// operator must see it once: "whsec_" and its standard base64, the form
// the Standard Webhooks libraries take.
func NewSubscription(rawURL string, events []string, kek jwks.KEK, now time.Time) (*Subscription, string, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, "", err
	}
	if err := CheckEvents(events); err != nil {
		return nil, "", err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	id := "wh_" + rand.Text()
	s := &Subscription{ID: id, URL: rawURL, Events: slices.Clone(events), Secret: SealSecret(kek, id, secret), CreatedAt: now.UTC()}
	return s, SecretPrefix + base64.StdEncoding.EncodeToString(secret), nil
}

// SealSecret encrypts a subscription's secret under kek with AES-256-GCM,
// the subscription's ID as additional data (a sealed secret cannot be
// moved to another subscription's row).
func SealSecret(kek jwks.KEK, subID string, secret []byte) []byte {
	aead := gcm(kek)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(secret)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, secret, aad(subID))
}

// ErrWrongKEK means a sealed secret does not open under the KEK.
var ErrWrongKEK = errors.New("webhook: secret cannot be decrypted: wrong key-encryption key")

// OpenSecret decrypts a secret sealed by SealSecret.
func OpenSecret(kek jwks.KEK, subID string, sealed []byte) ([]byte, error) {
	aead := gcm(kek)
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("subscription %s: %w", subID, ErrWrongKEK)
	}
	secret, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], aad(subID))
	if err != nil {
		return nil, fmt.Errorf("subscription %s: %w", subID, ErrWrongKEK)
	}
	return secret, nil
}

func aad(subID string) []byte { return []byte("authd webhook secret v1 " + subID) }

func gcm(kek jwks.KEK) cipher.AEAD {
	block, err := aes.NewCipher(kek[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}
