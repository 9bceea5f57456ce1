package pgstore_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/audit/audittest"
	"github.com/authd/authd/internal/storetest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for migrate.Apply

	"github.com/authd/authd"
	"github.com/authd/authd/authcode"
	"github.com/authd/authd/authcode/authcodetest"
	"github.com/authd/authd/client"
	"github.com/authd/authd/client/clienttest"
	"github.com/authd/authd/internal/migrate"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/jwks/jwkstest"
	"github.com/authd/authd/mail"
	"github.com/authd/authd/mail/mailtest"
	"github.com/authd/authd/mfa/mfatest"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/refresh"
	"github.com/authd/authd/refresh/refreshtest"
	"github.com/authd/authd/session"
	"github.com/authd/authd/session/sessiontest"
	"github.com/authd/authd/user"
	"github.com/authd/authd/user/usertest"
	"github.com/authd/authd/webhook/webhooktest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func open(t testing.TB, dsn string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return st
}

// newStore opens a store on a fresh database of its own.
func newStore(t testing.TB) *pgstore.Store {
	return open(t, pgtest.NewDatabase(t), pgstore.Options{})
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
	dsn := pgtest.NewDatabase(t)
	ms, err := pgstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Apply(ctx, db, ms[:3], migrate.Postgres); err != nil {
		t.Fatalf("migrations 1-3: %v", err)
	}
	db.Close()
	secret := "old-secret"
	sum := sha256.Sum256([]byte(secret))
	exec(t, dsn, `INSERT INTO clients (id, name, secret_hash, created_at) VALUES ('c_old', 'notes', $1, $2)`, sum[:], time.Unix(1, 0))
	exec(t, dsn, `INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u1', 'ann@example.com', 'x', now(), now())`)

	st := open(t, dsn, pgstore.Options{})
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
	if err := svc.Delete(ctx, "c_old"); err != nil {
		t.Fatal(err)
	}
	if cs, err := svc.Consents(ctx, "u1"); err != nil || len(cs) != 0 {
		t.Errorf("Consents after deleting the client = %v, %v; want none", cs, err)
	}
}

// exec runs one statement on its own connection to dsn.
func exec(t testing.TB, dsn, query string, args ...any) {
	t.Helper()
	if err := pgtest.Exec(context.Background(), dsn, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func schemaVersions(t testing.TB, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConcurrentMigrations opens several stores at once on one fresh
// database, as instances starting together would: none fails and each
// migration runs once.
func TestConcurrentMigrations(t *testing.T) {
	ms, err := pgstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		dsn := pgtest.NewDatabase(t)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{MaxConns: 2})
				if err != nil {
					t.Errorf("round %d: concurrent Open = %v", round, err)
					return
				}
				if err := st.Ping(context.Background()); err != nil {
					t.Errorf("round %d: Ping = %v", round, err)
				}
				st.Close()
			})
		}
		close(start)
		wg.Wait()
		if n := schemaVersions(t, dsn); n != len(ms) {
			t.Errorf("round %d: schema_migrations has %d rows, want %d", round, n, len(ms))
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := usertest.New("reopen@example.com")
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open(t, dsn, pgstore.Options{}) // migrations: a no-op
	if _, err := st.UserByID(ctx, u.ID); err != nil {
		t.Errorf("UserByID after reopen = %v", err)
	}
}

func TestSkipMigrationsThenMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	st := open(t, dsn, pgstore.Options{SkipMigrations: true})
	if err := st.CreateUser(ctx, usertest.New("early@example.com")); err == nil || errors.Is(err, authd.ErrConflict) {
		t.Errorf("CreateUser before migrating = %v, want a store error", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate = %v", err)
	}
	if err := st.CreateUser(ctx, usertest.New("late@example.com")); err != nil {
		t.Errorf("CreateUser after Migrate = %v", err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	exec(t, dsn, `INSERT INTO schema_migrations (version, name) VALUES (999, 'future')`)
	st, err = pgstore.Open(ctx, dsn, pgstore.Options{})
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("Open(newer schema) = %v, want ErrSchemaTooNew", err)
	}
	// SkipMigrations opens it all the same (a read-only tool may).
	st = open(t, dsn, pgstore.Options{SkipMigrations: true})
	if err := st.Migrate(ctx); !errors.Is(err, migrate.ErrSchemaTooNew) {
		t.Errorf("Migrate(newer schema) = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := pgstore.Open(ctx, "postgres://u:secret@[::1", pgstore.Options{}); err == nil {
		t.Error("Open(bad DSN) = nil error")
	} else if strings.Contains(err.Error(), "secret") {
		t.Errorf("Open(bad DSN) error shows the password: %v", err)
	}
	// Nothing listens on port 1.
	start := time.Now()
	_, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable",
		pgstore.Options{ConnectTimeout: time.Second})
	if !errors.Is(err, authd.ErrUnavailable) {
		t.Errorf("Open(nothing listening) = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open(nothing listening) took %v", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := pgstore.Open(cctx, pgtest.NewDatabase(t), pgstore.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open(cancelled) = %v, want context.Canceled", err)
	}
}

// terminate ends every connection to database name (from an admin
// connection to another database) and waits until they are gone.
func terminate(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid()`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends still there after pg_terminate_backend", n)
		}
	}
}

// TestConnectionLoss: when the server drops the store's connections, the
// next call fails (fail closed, as an ErrUnavailable store error) and the
// one after succeeds by itself, the pool having reconnected. Ping reports
// the same, and reports a database that refuses connections until it
// accepts them again.
func TestConnectionLoss(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	name := dbName(t, dsn)
	st := open(t, dsn, pgstore.Options{})
	s, h := sessiontest.New("user-1", t0)
	if err := st.CreateSession(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	// Several connections in the pool, all of which the server will drop.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := st.SessionByHash(ctx, h, t0); err != nil {
				t.Errorf("SessionByHash = %v", err)
			}
		})
	}
	wg.Wait()

	lookup := func() error { _, err := st.SessionByHash(ctx, h, t0); return err }
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"SessionByHash", lookup},
		{"Ping", func() error { return st.Ping(ctx) }},
		{"RevokeSession", func() error { return st.RevokeSession(ctx, "no-such-id", t0) }},
	} {
		if err := lookup(); err != nil { // a fresh, just-used connection
			t.Fatalf("%s: before the fault: %v", c.name, err)
		}
		terminate(t, name)
		err := c.call()
		if err == nil || errors.Is(err, authd.ErrNotFound) || !errors.Is(err, authd.ErrUnavailable) {
			t.Errorf("%s right after the server dropped the connections = %v, want an ErrUnavailable error", c.name, err)
		}
		if !strings.HasPrefix(fmt.Sprint(err), "pgstore: ") {
			t.Errorf("%s error %q lacks the pgstore: prefix", c.name, err)
		}
		if err := c.call(); err != nil && !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("%s on the next call = %v, want the pool to have reconnected", c.name, err)
		}
	}

	// A database that refuses connections: Ping and calls fail until it
	// accepts them again, then work without any help.
	admin := pgtest.AdminDSN(t)
	exec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	t.Cleanup(func() { exec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`) })
	terminate(t, name)
	for range 3 {
		if err := st.Ping(ctx); !errors.Is(err, authd.ErrUnavailable) {
			t.Errorf("Ping while the database refuses connections = %v, want ErrUnavailable", err)
		}
		if err := lookup(); err == nil || errors.Is(err, authd.ErrNotFound) {
			t.Errorf("SessionByHash while the database refuses connections = %v, want a store error", err)
		}
	}
	exec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping after the database accepts connections again = %v", err)
	}
	if err := lookup(); err != nil {
		t.Errorf("SessionByHash after the database accepts connections again = %v", err)
	}
}

func dbName(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// TestConcurrentStress: every kind of call from 32 goroutines at once, no
// error at all (internal/storetest).
func TestConcurrentStress(t *testing.T) { storetest.Stress(t, newStore(t)) }

// TestTwoStoresOneDatabase: two stores (as two instances) share data.
func TestTwoStoresOneDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	a, b := open(t, dsn, pgstore.Options{}), open(t, dsn, pgstore.Options{})
	s, h := sessiontest.New("user-1", t0)
	if err := a.CreateSession(ctx, s, h); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SessionByHash(ctx, h, t0); err != nil {
		t.Fatalf("other store: SessionByHash = %v", err)
	}
	if err := b.RevokeSession(ctx, s.ID, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SessionByHash(ctx, h, t0); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("revoked by the other store: SessionByHash = %v, want ErrNotFound", err)
	}
	rt := refreshtest.New(s.ID, 0, t0)
	if err := a.CreateRefresh(ctx, rt); err != nil {
		t.Fatal(err)
	}
	// With no grace window, of concurrent redemptions through two pools
	// (two instances) exactly one wins.
	var wins sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[refresh.Outcome]int{}
	for i := range 16 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wins.Go(func() {
			res, err := st.RotateRefresh(ctx, refreshtest.Redeem(rt, t0.Add(time.Duration(i)*time.Second), 0))
			if err != nil {
				t.Errorf("RotateRefresh = %v", err)
				return
			}
			mu.Lock()
			outcomes[res.Outcome]++
			mu.Unlock()
		})
	}
	wins.Wait()
	if outcomes[refresh.Rotated] != 1 || outcomes[refresh.Reused] != 15 {
		t.Errorf("16 concurrent rotations over two stores: %v; want 1 rotated, 15 reused", outcomes)
	}
}

// TestSessionRowSize measures what 10,000 sessions cost on disk; run with
// -v to see it.
func TestSessionRowSize(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	st := open(t, dsn, pgstore.Options{})
	const total, workers = 10000, 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				s, h := sessiontest.New(fmt.Sprintf("user-%d", i%1000), t0)
				if err := st.CreateSession(ctx, s, h); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	report := func(when string) {
		var heap, table, indexes, totalSize int64
		if err := conn.QueryRow(ctx, `SELECT pg_relation_size('sessions'), pg_table_size('sessions'),
			pg_indexes_size('sessions'), pg_total_relation_size('sessions')`).Scan(&heap, &table, &indexes, &totalSize); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d sessions: bytes/row heap %d, table (heap+toast+fsm/vm) %d, indexes %d, total with indexes %d",
			when, total, heap/total, table/total, indexes/total, totalSize/total)
	}
	report("after inserts")
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE sessions`); err != nil {
		t.Fatal(err)
	}
	report("after VACUUM ANALYZE")
	rows, err := conn.Query(ctx, `SELECT indexrelid::regclass::text, pg_relation_size(indexrelid)
		FROM pg_index WHERE indrelid = 'sessions'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			t.Fatal(err)
		}
		t.Logf("index %s: %d bytes/row", name, size/total)
	}
	rows.Close()
	// The hot path is one index lookup.
	var plan string
	if err := conn.QueryRow(ctx, `EXPLAIN (COSTS OFF) SELECT id FROM sessions
		WHERE secret_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2`,
		make([]byte, 32), t0).Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "sessions_secret_hash_key") {
		t.Errorf("SessionByHash plan does not use the secret_hash index: %s", plan)
	}
	t.Logf("SessionByHash plan: %s", plan)
}

func benchSetup(b *testing.B) (*pgstore.Store, []byte, time.Time) {
	st := newStore(b)
	s, h := sessiontest.New("user-1", t0)
	if err := st.CreateSession(context.Background(), s, h); err != nil {
		b.Fatal(err)
	}
	return st, h, t0.Add(time.Second)
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

// BenchmarkRotateRefresh is one rotation's store work: one RotateRefresh
// (one transaction, two round trips).
func BenchmarkRotateRefresh(b *testing.B) { refreshtest.BenchRotation(b, newStore(b)) }

// TestSessionsBeforeClientID: a session stored before the migration that
// added sessions.client_id reads back with an empty ClientID.
func TestSessionsBeforeClientID(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	ms, err := pgstore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(ms, func(m migrate.Migration) bool { return m.Name == "codes" })
	if i < 0 {
		t.Fatal("no codes migration")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := migrate.Apply(ctx, db, ms[:i], migrate.Postgres); err != nil {
		t.Fatal(err)
	}
	s, h := sessiontest.New("user-1", t0)
	exec(t, dsn, `INSERT INTO sessions
		(id, secret_hash, user_id, kind, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, s.ID, h, s.UserID, string(s.Kind), s.CreatedAt,
		s.LastSeenAt, s.IdleExpiresAt, s.ExpiresAt, s.IP, s.UserAgent)
	st := open(t, dsn, pgstore.Options{}) // applies the rest
	for name, read := range map[string]func() (*session.Session, error){
		"SessionByID":   func() (*session.Session, error) { return st.SessionByID(ctx, s.ID, t0) },
		"SessionByHash": func() (*session.Session, error) { return st.SessionByHash(ctx, h, t0) },
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
