package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"

	"github.com/authd/authd/internal/migrate"
)

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func fsOf(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, body := range files {
		m["m/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}

var good = map[string]string{
	"0001_init.sql":   "CREATE TABLE a (x INTEGER);\nCREATE TABLE b (y TEXT);",
	"0002_more.sql":   "ALTER TABLE a ADD COLUMN z TEXT;",
	"0003_index.sql":  "CREATE INDEX a_z ON a (z);",
	"README.md":       "ignored",
	"notes.txt":       "ignored",
	"0004_x.sql.orig": "ignored",
}

func TestLoad(t *testing.T) {
	ms, err := migrate.Load(fsOf(good), "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("Load = %d migrations, want 3", len(ms))
	}
	for i, want := range []string{"init", "more", "index"} {
		if ms[i].Version != i+1 || ms[i].Name != want || ms[i].SQL == "" {
			t.Errorf("ms[%d] = %+v, want version %d name %s", i, ms[i], i+1, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := map[string]map[string]string{
		"gap":               {"0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"},
		"not from 1":        {"0002_b.sql": "SELECT 1;"},
		"duplicate":         {"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;", "0002_c.sql": "SELECT 1;"},
		"dup leading zeros": {"0001_a.sql": "SELECT 1;", "01_a.sql": "SELECT 1;"},
		"bad name":          {"0001_a.sql": "SELECT 1;", "init.sql": "SELECT 1;"},
		"zero":              {"0000_a.sql": "SELECT 1;"},
		"empty":             {"0001_a.sql": "  \n"},
	}
	for name, files := range tests {
		if ms, err := migrate.Load(fsOf(files), "m"); err == nil {
			t.Errorf("%s: Load = %+v, want an error", name, ms)
		}
	}
	if _, err := migrate.Load(fsOf(good), "nope"); err == nil {
		t.Error("Load(missing dir) succeeded")
	}
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	ms, err := migrate.Load(fsOf(good), "m")
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t, filepath.Join(t.TempDir(), "db"))

	n, err := migrate.Apply(ctx, db, ms[:1], migrate.SQLite)
	if err != nil || n != 1 {
		t.Fatalf("Apply(first) = %d, %v; want 1", n, err)
	}
	n, err = migrate.Apply(ctx, db, ms, migrate.SQLite)
	if err != nil || n != 2 {
		t.Fatalf("Apply(all) = %d, %v; want 2", n, err)
	}
	n, err = migrate.Apply(ctx, db, ms, migrate.SQLite)
	if err != nil || n != 0 {
		t.Fatalf("Apply(again) = %d, %v; want 0", n, err)
	}
	if _, err := db.Exec(`INSERT INTO a (x, z) VALUES (1, 'z')`); err != nil {
		t.Errorf("schema not applied: %v", err)
	}
	rows, err := db.Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var v int
		var name, at string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		if at == "" {
			t.Errorf("version %d: empty applied_at", v)
		}
		got = append(got, name)
	}
	if strings.Join(got, ",") != "init,more,index" {
		t.Errorf("schema_migrations = %v", got)
	}

	// An older binary refuses a newer schema.
	_, err = migrate.Apply(ctx, db, ms[:2], migrate.SQLite)
	if !errors.Is(err, migrate.ErrSchemaTooNew) {
		t.Errorf("Apply(older binary) = %v, want ErrSchemaTooNew", err)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	ms := []migrate.Migration{
		{Version: 1, Name: "ok", SQL: "CREATE TABLE a (x INTEGER);"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE b (y INTEGER); THIS IS NOT SQL;"},
	}
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	n, err := migrate.Apply(ctx, db, ms, migrate.SQLite)
	if err == nil || n != 1 || !strings.Contains(err.Error(), "0002_bad") {
		t.Fatalf("Apply = %d, %v; want 1 and an error naming 0002_bad", n, err)
	}
	var count int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&count); err != nil || count != 0 {
		t.Errorf("failed migration left table b behind (count %d, %v)", count, err)
	}
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Errorf("version = %d, %v; want 1", v, err)
	}
}

func TestApplyRejectsUnsorted(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	ms := []migrate.Migration{{Version: 2, Name: "x", SQL: "SELECT 1"}}
	if _, err := migrate.Apply(context.Background(), db, ms, migrate.SQLite); err == nil {
		t.Error("Apply(starting at 2) succeeded")
	}
	if _, err := migrate.Apply(context.Background(), db, nil, migrate.Dialect(0)); err == nil {
		t.Error("Apply(unknown dialect) succeeded")
	}
}

// TestApplyConcurrent runs several migrators (as several processes starting
// at once would) against one file: each migration runs exactly once.
func TestApplyConcurrent(t *testing.T) {
	ctx := context.Background()
	ms, err := migrate.Load(fsOf(good), "m")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "db")
	openDB(t, path).Exec(`SELECT 1`) // create the file in WAL mode first
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 4 {
		db := openDB(t, path)
		wg.Go(func() {
			n, err := migrate.Apply(ctx, db, ms, migrate.SQLite)
			if err != nil {
				t.Errorf("Apply = %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if total != len(ms) {
		t.Errorf("migrations applied %d times in total, want %d", total, len(ms))
	}
}
