// Package event names what happens to sessions and accounts, and carries
// it from where it happens to everyone who reacts: the access-token
// revocation set, the revocation feed, the session look-up cache of other
// instances — and, as they are built, the audit trail, the outbox behind
// mails and webhooks, metrics and back-channel logout.
//
// A Bus is synchronous: Publish runs every handler in the order they
// subscribed, in the caller's goroutine, so a handler that must not lose an
// event (the revocation set) has it before the operation that caused it
// returns. Handlers must therefore be quick and must not block; one that
// does slow work queues it (the feed drops a follower that cannot keep up,
// which then catches up from its cursor).
//
// The package uses the standard library only, so every domain package can
// publish without importing another.
package event

import (
	"context"
	"sync"
	"time"
)

// Kind names an event.
type Kind string

// The kinds published today.
const (
	// SessionRevoked: a session ended before its time (its cookie, refresh
	// chain and access tokens with it). Cause says why.
	SessionRevoked Kind = "session.revoked"
	// KeyRevoked: a signing key was withdrawn; KeyID names it. Every
	// instance publishes it when it learns of it (the feed needs that);
	// the audit trail records the operator's command instead
	// (KeyRevokedByOperator).
	KeyRevoked Kind = "key.revoked"

	// The security events of the audit trail (package audit) and
	// webhooks. Producers publish them after the change succeeded.
	SignInSucceeded      Kind = "signin.succeeded"
	SignInFailed         Kind = "signin.failed" // Reason: bad_credentials, bad_code, throttled, email_unverified
	PasswordChanged      Kind = "password.changed"
	PasswordReset        Kind = "password.reset"
	EmailChangeRequested Kind = "email.change_requested" // Email: the new address
	EmailChanged         Kind = "email.changed"          // Email: the new address
	EmailVerified        Kind = "email.verified"         // Email: the address
	EmailChangeUndone    Kind = "email.change_undone"    // Email: the address restored
	UserCreated          Kind = "user.created"
	UserDisabled         Kind = "user.disabled"
	UserEnabled          Kind = "user.enabled"
	UserDeleted          Kind = "user.deleted"
	ConsentGiven         Kind = "consent.given"     // ClientID; Reason: the scopes
	ConsentWithdrawn     Kind = "consent.withdrawn" // ClientID
	ClientAdded          Kind = "client.added"      // ClientID; Reason: its name
	ClientDeleted        Kind = "client.deleted"    // ClientID
	KeyRotated           Kind = "key.rotated"       // KeyID: the new key; Reason: its algorithm
	// KeyRevokedByOperator: `authd keys revoke` withdrew KeyID.
	KeyRevokedByOperator Kind = "key.revoked_by_operator"
	// FactorAdded and FactorRemoved: a second factor or passkey was set
	// up or removed. Reason names it: "totp", "recovery_codes" (new
	// codes), "passkey", or "all" (an operator's reset).
	FactorAdded   Kind = "factor.added"
	FactorRemoved Kind = "factor.removed"
)

// Cause says why a session was revoked.
type Cause string

// The causes of SessionRevoked.
const (
	CauseLogout          Cause = "logout"           // the session's own holder signed out
	CauseRevokedByUser   Cause = "revoked_by_user"  // from another of the user's sessions
	CauseSignOutOthers   Cause = "sign_out_others"  // "sign out everywhere else"
	CausePasswordChanged Cause = "password_changed" // ASVS 5.0 7.4.3
	CausePasswordReset   Cause = "password_reset"   // a reset link set a new password
	// CauseEmailChangeUndone: the old address's owner undid an address
	// change; whoever made it may be signed in.
	CauseEmailChangeUndone Cause = "email_change_undone"
	CauseUserDisabled      Cause = "user_disabled"
	CauseUserDeleted       Cause = "user_deleted"
	CauseRefreshReused     Cause = "refresh_reused"    // a used refresh token came back: theft
	CauseTokenRevoked      Cause = "token_revoked"     // RFC 7009 revocation of one of its tokens
	CauseReplaced          Cause = "replaced"          // a new sign-in presented it (session fixation, ASVS 5.0 7.2.4)
	CauseAborted           Cause = "aborted"           // a sign-in that failed half-way; the session was never handed out
	CauseCodeReused        Cause = "code_reused"       // its authorization code was redeemed twice (RFC 6749 §4.1.2)
	CauseEndSession        Cause = "end_session"       // the app signed the user out (OIDC RP-Initiated Logout)
	CauseConsentWithdrawn  Cause = "consent_withdrawn" // the user withdrew the app's consent
	CauseFactorsChanged    Cause = "factors_changed"   // a second factor was turned on or off (the user's other sessions end)
	// CauseElsewhere: revoked by another instance or process; this one
	// learned it from the store. Consumers that record events (audit,
	// webhooks) skip these: the instance that caused it recorded it.
	CauseElsewhere Cause = "elsewhere"
)

// Event is one thing that happened. Fields that do not apply are empty.
type Event struct {
	Kind      Kind
	At        time.Time
	UserID    string
	SessionID string
	// ClientID is the OAuth client the session was opened for
	// (session.Session.ClientID): back-channel logout tells that app.
	// Empty for authd's own sessions, and when the producer could not
	// tell (a session already gone, a failed read, a remote event).
	ClientID string
	Cause    Cause
	KeyID    string
	// IP, UserAgent and SignedInAt describe the session that ended, when
	// the producer had it in hand (one session ended by ID); empty
	// otherwise.
	IP         string
	UserAgent  string
	SignedInAt time.Time
	// Actor says who caused the event: "user" (the account's holder),
	// "session:ID" (another of the user's sessions), "operator" (an
	// admin command), "app:CLIENT" (an OAuth client), "system" (authd
	// itself: theft detected, a sign-in aborted). Empty: the consumer
	// derives it (audit.Actor).
	Actor string
	// Reason and Email detail some kinds (see each kind).
	Reason string
	Email  string
}

// Request describes the HTTP request an event happened in: the server
// puts it in the context, and consumers that record events read it.
type Request struct {
	IP        string
	UserAgent string
	// SessionID is the caller's own session, when it is authenticated.
	SessionID string
}

type requestKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFrom returns the request ctx carries (zero when none).
func RequestFrom(ctx context.Context) Request {
	r, _ := ctx.Value(requestKey{}).(Request)
	return r
}

type actorKey struct{}

// WithActor returns ctx naming the actor of every event published with
// it (the admin commands: "operator").
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor ctx names ("" when none).
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// Remote reports whether the event happened on another instance and was
// only learned here.
func (e Event) Remote() bool { return e.Cause == CauseElsewhere }

// Handler reacts to an event. It must not block.
type Handler func(context.Context, Event)

// Publisher is what a producer of events needs: Bus implements it.
type Publisher interface {
	Publish(ctx context.Context, e Event)
}

// Bus delivers each published event to every subscriber. The zero value
// is ready to use and safe for concurrent use.
type Bus struct {
	mu sync.RWMutex
	hs []Handler
}

// Subscribe adds h; it sees every event published afterwards.
func (b *Bus) Subscribe(h Handler) {
	b.mu.Lock()
	b.hs = append(b.hs, h)
	b.mu.Unlock()
}

// Publish runs every handler on e, in subscription order.
func (b *Bus) Publish(ctx context.Context, e Event) {
	b.mu.RLock()
	hs := b.hs
	b.mu.RUnlock()
	for _, h := range hs {
		h(ctx, e)
	}
}

// Discard is a Publisher that drops every event.
var Discard Publisher = discard{}

type discard struct{}

func (discard) Publish(context.Context, Event) {}
