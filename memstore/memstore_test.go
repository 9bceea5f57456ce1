package memstore_test

import (
	"testing"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/audit/audittest"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/authcode/authcodetest"
	"github.com/authd/authd/client"
	"github.com/authd/authd/client/clienttest"
	"github.com/authd/authd/internal/storetest"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/jwks/jwkstest"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/mfa/mfatest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
	"github.com/authd/authd/webhook/webhooktest"
)

func TestSessionConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return memstore.New() })
}

func TestUserConformance(t *testing.T) {
	usertest.Run(t, func(t *testing.T) user.Store { return memstore.New() })
}

func TestRefreshConformance(t *testing.T) {
	refreshtest.Run(t, func(t *testing.T) refresh.Store { return memstore.New() })
}

func TestCodeConformance(t *testing.T) {
	authcodetest.Run(t, func(t *testing.T) authcode.Store { return memstore.New() })
}

func TestOutboxConformance(t *testing.T) {
	mailtest.Run(t, func(t *testing.T) mail.Outbox { return memstore.New() })
}

func TestKeyConformance(t *testing.T) {
	jwkstest.Run(t, func(t *testing.T) jwks.Store { return memstore.New() })
}

func TestClientConformance(t *testing.T) {
	clienttest.Run(t, func(t *testing.T) client.Store { return memstore.New() })
}

func TestConsentConformance(t *testing.T) {
	clienttest.RunConsents(t, func(t *testing.T) clienttest.ConsentBackend { return memstore.New() })
}

func TestConcurrentStress(t *testing.T) { storetest.Stress(t, memstore.New()) }

func TestUserTokenConformance(t *testing.T) {
	usertest.RunTokens(t, func(t *testing.T) usertest.TokenStore { return memstore.New() })
}

func TestAuditConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store { return memstore.New() })
}

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return memstore.New() })
}

func TestMFAConformance(t *testing.T) {
	mfatest.Run(t, func(t *testing.T) mfatest.Store { return memstore.New() })
}
