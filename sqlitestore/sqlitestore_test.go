package sqlitestore_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/audit/audittest"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/authcode/authcodetest"
	"github.com/authd/authd/client"
	"github.com/authd/authd/client/clienttest"
	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/internal/storetest"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/jwks/jwkstest"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
	"github.com/authd/authd/mfa/mfatest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/sqlitestore"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
	"github.com/authd/authd/webhook/webhooktest"
	"github.com/google/go-cmp/cmp"
)

func open(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return st
}

func newStore(t testing.TB) *sqlitestore.Store {
	return open(t, filepath.Join(t.TempDir(), "authd.db"))
}

func TestSessionConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return newStore(t) })
}

func TestUserConformance(t *testing.T) {
	usertest.Run(t, func(t *testing.T) user.Store { return newStore(t) })
}

func TestRefreshConformance(t *testing.T) {
	refreshtest.Run(t, func(t *testing.T) refresh.Store { return newStore(t) })
}

func TestCodeConformance(t *testing.T) {
	authcodetest.Run(t, func(t *testing.T) authcode.Store { return newStore(t) })
}

func TestOutboxConformance(t *testing.T) {
	mailtest.Run(t, func(t *testing.T) mail.Outbox { return newStore(t) })
}

func TestKeyConformance(t *testing.T) {
	jwkstest.Run(t, func(t *testing.T) jwks.Store { return newStore(t) })
}

func TestClientConformance(t *testing.T) {
	clienttest.Run(t, func(t *testing.T) client.Store { return newStore(t) })
}

func TestConsentConformance(t *testing.T) {
	clienttest.RunConsents(t, func(t *testing.T) clienttest.ConsentBackend { return newStore(t) })
}

// TestUpgradeClients: a database whose clients an older binary registered
// (before migration 4) keeps them, as service clients
// (client_credentials) that still authenticate, and takes consents to
// them.
func TestUpgradeClients(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitestore.MigrateTo(ctx, st, 3); err != nil {
		t.Fatalf("migrations 1-3: %v", err)
	}
	secret := "old-secret"
	sum := sha256.Sum256([]byte(secret))
	for _, q := range []string{
		`INSERT INTO clients (id, name, secret_hash, created_at) VALUES ('c_old', 'notes', X'` + hex.EncodeToString(sum[:]) + `', 1000000)`,
		`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u1', 'ann@example.com', 'x', 1, 1)`,
	} {
		if err := sqlitestore.Exec(ctx, st, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	defer st.Close()
	got, err := st.ClientByID(ctx, "c_old")
	if err != nil {
		t.Fatal(err)
	}
	want := &client.Client{ID: "c_old", Name: "notes", SecretHash: sum[:], CreatedAt: time.Unix(1, 0).UTC(),
		GrantTypes: []string{client.GrantClientCredentials}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upgraded client (-want +got):\n%s", diff)
	}
	svc := client.NewService(st, st, nil)
	if _, err := svc.Authenticate(ctx, "c_old", secret); err != nil {
		t.Errorf("Authenticate(upgraded client) = %v", err)
	}
	if err := svc.GrantConsent(ctx, "u1", "c_old", []string{"openid"}); err != nil {
		t.Fatalf("GrantConsent = %v", err)
	}
	// The foreign key points at the rebuilt table: the cascade works.
	if err := svc.Delete(ctx, "c_old"); err != nil {
		t.Fatal(err)
	}
	if cs, err := svc.Consents(ctx, "u1"); err != nil || len(cs) != 0 {
		t.Errorf("Consents after deleting the client = %v, %v; want none", cs, err)
	}
}

func TestFileModeAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authd.db")
	st := open(t, path)
	if err := st.Ping(context.Background()); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("database file mode = %v, want 0600", m)
	}
	// Write something so the WAL exists, then check it inherited the mode.
	u := usertest.New("mode@example.com")
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file: %v", err)
	} else if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("WAL file mode = %v, want 0600", m)
	}
	mode, err := sqlitestore.JournalMode(context.Background(), st)
	if err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	u := usertest.New("reopen@example.com")
	s, h := sessiontest.New(u.ID, now)
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSession(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := open(t, path) // migrations rerun as a no-op
	if got, err := st2.UserByEmail(ctx, u.Email); err != nil || got.ID != u.ID {
		t.Errorf("after reopen UserByEmail = %+v, %v", got, err)
	}
	if got, err := st2.SessionByHash(ctx, h, now); err != nil || got.ID != s.ID {
		t.Errorf("after reopen SessionByHash = %+v, %v", got, err)
	}
	// SkipMigrations on an up-to-date file works too.
	st3, err := sqlitestore.Open(ctx, path, sqlitestore.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	if _, err := st3.SessionByHash(ctx, h, now); err != nil {
		t.Errorf("SkipMigrations store: SessionByHash = %v", err)
	}
}

func TestSkipMigrationsThenMigrate(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "authd.db"), sqlitestore.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.UserByID(ctx, "x"); err == nil || errors.Is(err, authd.ErrNotFound) {
		t.Errorf("UserByID before migrating = %v, want a store error", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UserByID(ctx, "x"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("UserByID after migrating = %v, want ErrNotFound", err)
	}
	h := make([]byte, 32)
	if _, err := st.SessionByHash(ctx, h, time.Now()); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("SessionByHash after migrating = %v, want ErrNotFound", err)
	}
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:"} {
		if st, err := sqlitestore.Open(context.Background(), p, sqlitestore.Options{}); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

func TestOddPath(t *testing.T) {
	// Characters that mean something in a URI must not break the DSN.
	dir := filepath.Join(t.TempDir(), "a dir?#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "auth d?&mode=ro.db")
	st := open(t, path)
	if err := st.CreateUser(context.Background(), usertest.New("odd@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("WAL not next to %q: %v", path, err)
	}
}

// TestConcurrentStress: every kind of call from 32 goroutines at once, no
// error at all (internal/storetest).
func TestConcurrentStress(t *testing.T) { storetest.Stress(t, newStore(t)) }

// TestTwoStoresOneFile checks that two Stores (as two processes would) on
// one file share data and do not fail with SQLITE_BUSY under light load.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	a, b := open(t, path), open(t, path)
	var wg sync.WaitGroup
	for _, st := range []*sqlitestore.Store{a, b} {
		for range 4 {
			wg.Go(func() {
				for range 20 {
					if err := st.CreateUser(ctx, usertest.New(rand.Text()+"@example.com")); err != nil {
						t.Errorf("CreateUser = %v", err)
					}
				}
			})
		}
	}
	wg.Wait()
	if list, err := a.ListUsers(ctx, "", 0); err != nil || len(list) != 160 {
		t.Errorf("ListUsers = %d, %v; want 160", len(list), err)
	}
}

func benchSetup(b *testing.B) (*sqlitestore.Store, []byte, time.Time) {
	st := newStore(b)
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s, h := sessiontest.New("user-1", now)
	if err := st.CreateSession(context.Background(), s, h); err != nil {
		b.Fatal(err)
	}
	return st, h, now.Add(time.Second)
}

func BenchmarkSessionByHash(b *testing.B) {
	st, h, now := benchSetup(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := st.SessionByHash(ctx, h, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionByHashParallel(b *testing.B) {
	st, h, now := benchSetup(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.SessionByHash(ctx, h, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitestore.Exec(ctx, st, `INSERT INTO schema_migrations (version, name) VALUES (999, 'future')`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
}

// BenchmarkRotateRefresh is one rotation's store work: one RotateRefresh
// (an IMMEDIATE transaction on the writer connection).
func BenchmarkRotateRefresh(b *testing.B) { refreshtest.BenchRotation(b, newStore(b)) }

// TestSessionsBeforeClientID: a session stored before the migration that
// added sessions.client_id reads back with an empty ClientID.
func TestSessionsBeforeClientID(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authd.db")
	ms, err := sqlitestore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migrate.Migration) bool { return m.Name == "codes" })
	if i < 0 {
		t.Fatal("no codes migration")
	}
	st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := migrate.Apply(ctx, db, ms[:i], migrate.SQLite); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s, h := sessiontest.New("user-1", now)
	if _, err := db.ExecContext(ctx, `INSERT INTO sessions
		(id, secret_hash, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, h, s.UserID, string(s.Kind), s.CreatedAt.UnixMicro(),
		s.LastSeenAt.UnixMicro(), s.IdleExpiresAt.UnixMicro(), s.ExpiresAt.UnixMicro(), s.IP, s.UserAgent); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for name, read := range map[string]func() (*session.Session, error){
		"SessionByID":   func() (*session.Session, error) { return st.SessionByID(ctx, s.ID, now) },
		"SessionByHash": func() (*session.Session, error) { return st.SessionByHash(ctx, h, now) },
	} {
		got, err := read()
		if err != nil {
			t.Fatalf("%s = %v", name, err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("%s of a session stored before client_id (-want +got):\n%s", name, diff)
		}
	}
}

func TestUserTokenConformance(t *testing.T) {
	usertest.RunTokens(t, func(t *testing.T) usertest.TokenStore { return newStore(t) })
}

func TestAuditConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Store { return newStore(t) })
}

func TestWebhookConformance(t *testing.T) {
	webhooktest.Run(t, func(t *testing.T) webhooktest.Store { return newStore(t) })
}

func TestMFAConformance(t *testing.T) {
	mfatest.Run(t, func(t *testing.T) mfatest.Store { return newStore(t) })
}
