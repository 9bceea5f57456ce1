package main

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDatabaseKind is a --database value through databaseKind, which
// decides the backend. Nothing panics; the answer is memory, sqlite or
// postgres, or an error: a value with "://" whose scheme is not
// memory, sqlite or postgres(ql) is refused, never taken for a file name;
// sqlite gets a non-empty path unless the value is a bare "sqlite:"
// (sqlitestore.Open refuses an empty path: SQLite would open a throwaway
// temporary database); postgres gets the URL as given; a key=value
// connection string is refused without being echoed (it may hold a
// password).
func FuzzDatabaseKind(f *testing.F) {
	for _, s := range []string{
		"", "memory://", "memory:", "sqlite:/var/lib/authd/authd.db", "sqlite://authd.db", "authd.db",
		"postgres://authd:secret@db.example/authd?sslmode=verify-full", "postgresql://db/authd",
		"host=db password=hunter22 dbname=authd", "Postgres://db/authd", "mysql://db/authd", "redis://h",
		"sqlite:", "sqlite://", "memory://x", "file:authd.db?mode=memory", "sqlite:\x00", "\xff://x",
		"sqlite:postgres://db", "%70ostgres://db",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, db string) {
		c := &config{Database: db, DataDir: "/data"}
		kind, loc, err := c.databaseKind()
		if err != nil {
			if kind != "" || loc != "" {
				t.Fatalf("databaseKind(%q) = %q, %q with error %v", db, kind, loc, err)
			}
			if strings.ContainsAny(db, "= \t") && len(db) >= 8 && strings.Contains(err.Error(), db) {
				t.Fatalf("databaseKind(%q): the error repeats the value: %v", db, err)
			}
			return
		}
		scheme, _, hasScheme := strings.Cut(db, "://")
		switch kind {
		case "memory":
			if db != "memory://" && db != "memory:" {
				t.Fatalf("databaseKind(%q) = memory", db)
			}
		case "sqlite":
			if loc == "" && db != "sqlite:" && db != "sqlite://" {
				t.Fatalf("databaseKind(%q) = sqlite with an empty path", db)
			}
			if db == "" && loc != filepath.Join("/data", "authd.db") {
				t.Fatalf("databaseKind(\"\") = sqlite %q, want the data dir's authd.db", loc)
			}
			if hasScheme && !strings.HasPrefix(db, "sqlite:") {
				t.Fatalf("databaseKind(%q) = sqlite %q: unknown scheme %q taken for a file name", db, loc, scheme)
			}
			if !strings.HasPrefix(db, "sqlite:") && strings.ContainsAny(db, "= \t") {
				t.Fatalf("databaseKind(%q) = sqlite %q: a key=value string taken for a file name", db, loc)
			}
		case "postgres":
			if loc != db || (scheme != "postgres" && scheme != "postgresql") {
				t.Fatalf("databaseKind(%q) = postgres %q", db, loc)
			}
		default:
			t.Fatalf("databaseKind(%q) = unknown kind %q", db, kind)
		}
	})
}

// FuzzProxies is a --trusted-proxies value through proxies: nothing
// panics, and every accepted entry is a valid prefix in canonical (masked)
// form.
func FuzzProxies(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8, 192.168.1.1", "::1", "10.0.0.1/8", "fe80::1%eth0", "1.2.3.4/33", ",,", "\x00", "10.0.0.0/8 10.1.0.0/16"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := (&config{TrustedProxies: s}).proxies()
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" {
				t.Fatalf("proxies(%q) gave %v", s, p)
			}
			if _, err := netip.ParsePrefix(p.String()); err != nil {
				t.Fatalf("proxies(%q) gave %v, which does not parse back", s, p)
			}
		}
	})
}
