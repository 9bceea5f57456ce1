package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The data set is derived from the row number, so every size contains the
// smaller ones and the measurements can name any row without remembering
// it: user i has one session, session i; odd sessions are token sessions
// with a first refresh token. IDs and hashes are pseudo-random (derived
// through SHA-256), so rows land all over the B-trees as real ones do.

var idEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

func derive(kind string, i int) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return sha256.Sum256(append([]byte(kind), b[:]...))
}

func userID(i int) string    { d := derive("uid", i); return idEnc.EncodeToString(d[:16])[:26] }
func sessionID(i int) string { d := derive("sid", i); return idEnc.EncodeToString(d[:16])[:26] }
func email(i int) string     { return "user" + strconv.Itoa(i) + "@scale.example" }

// secret is session i's cookie value; the store keeps SHA-256 of it.
func secret(i int) string {
	d := derive("secret", i)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

func secretHash(i int) []byte { h := sha256.Sum256([]byte(secret(i))); return h[:] }

func refreshHash(i int) []byte { d := derive("refresh", i); return d[:] }

// A valid Argon2id PHC string; the store part of a login never checks it.
const fixedHash = "$argon2id$v=19$m=19456,t=2,p=1$c2NhbGVzY2FsZXNjYWxlMQ$0n3uJ6TzGcbZzQd6c9W7r2yWm5Ykq7rQZlJmTjS0H5A"

// row is everything the fill writes for row number i.
type row struct {
	i                                   int
	uid, email, sid                     string
	secretHash                          []byte
	kind                                string
	created, seen, idle, expires, issue time.Time
	token                               bool
}

func makeRow(i int, now time.Time) row {
	r := row{i: i, uid: userID(i), email: email(i), sid: sessionID(i), secretHash: secretHash(i), kind: "cookie"}
	r.created = now.Add(-time.Duration(i%3600) * time.Second)
	// Seen "now" and far from any expiry, so no check of the run touches
	// a session and none expires during it (a run of 1M lasts minutes).
	r.seen = now
	r.idle = now.Add(12 * time.Hour)
	r.expires = now.Add(24 * time.Hour)
	r.issue = r.created
	if i%2 == 1 {
		r.kind, r.token = "token", true
	}
	return r
}

func us(t time.Time) int64 { return t.UnixMicro() }

// fillSQLite adds rows [from, to) through its own connection to the
// store's file: multi-row INSERTs in large transactions.
func fillSQLite(ctx context.Context, path string, from, to int, now time.Time) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	const per = 100 // rows per statement (SQLite allows 32766 parameters)
	type table struct {
		name string
		cols []string
		vals func(r row) []any
		keep func(r row) bool
	}
	tables := []table{
		{"users", []string{"id", "email", "password_hash", "created_at", "updated_at", "disabled"},
			func(r row) []any { return []any{r.uid, r.email, fixedHash, us(r.created), us(r.created), 0} }, nil},
		{"sessions", []string{"id", "secret_hash", "user_id", "kind", "created_at", "last_seen_at", "idle_expires_at", "expires_at", "ip", "user_agent"},
			func(r row) []any {
				return []any{r.sid, r.secretHash, r.uid, r.kind, us(r.created), us(r.seen), us(r.idle), us(r.expires), "192.0.2.1", "scale/1.0"}
			}, nil},
		{"refresh_tokens", []string{"hash", "session_id", "user_id", "client_id", "scope", "generation", "issued_at", "expires_at"},
			func(r row) []any {
				return []any{refreshHash(r.i), r.sid, r.uid, "authd", "read write", 0, us(r.issue), us(r.expires)}
			}, func(r row) bool { return r.token }},
	}
	for _, t := range tables {
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",") + ")"
		full := `INSERT INTO ` + t.name + ` (` + strings.Join(t.cols, ",") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+",", per), ",")
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, full)
		if err != nil {
			tx.Rollback()
			return err
		}
		args := make([]any, 0, per*len(t.cols))
		flush := func(n int) error {
			if n == per {
				_, err := st.ExecContext(ctx, args...)
				return err
			}
			q := `INSERT INTO ` + t.name + ` (` + strings.Join(t.cols, ",") + `) VALUES ` + strings.TrimSuffix(strings.Repeat(one+",", n), ",")
			_, err := tx.ExecContext(ctx, q, args...)
			return err
		}
		n := 0
		for i := from; i < to; i++ {
			r := makeRow(i, now)
			if t.keep != nil && !t.keep(r) {
				continue
			}
			args = append(args, t.vals(r)...)
			if n++; n == per {
				if err := flush(n); err != nil {
					tx.Rollback()
					return fmt.Errorf("fill %s: %w", t.name, err)
				}
				args, n = args[:0], 0
			}
		}
		if n > 0 {
			if err := flush(n); err != nil {
				tx.Rollback()
				return fmt.Errorf("fill %s: %w", t.name, err)
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	_, err = db.ExecContext(ctx, `ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// fillPostgres adds rows [from, to) with COPY, then ANALYZE.
func fillPostgres(ctx context.Context, dsn string, from, to int, now time.Time) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows := func(keep func(r row) bool, vals func(r row) []any) pgx.CopyFromSource {
		i := from - 1
		var cur row
		return pgx.CopyFromFunc(func() ([]any, error) {
			for {
				i++
				if i >= to {
					return nil, nil
				}
				cur = makeRow(i, now)
				if keep == nil || keep(cur) {
					return vals(cur), nil
				}
			}
		})
	}
	utc := func(t time.Time) time.Time { return t.UTC() }
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"id", "email", "password_hash", "created_at", "updated_at", "disabled"},
		rows(nil, func(r row) []any { return []any{r.uid, r.email, fixedHash, utc(r.created), utc(r.created), false} })); err != nil {
		return fmt.Errorf("fill users: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"id", "secret_hash", "user_id", "kind", "created_at", "last_seen_at", "idle_expires_at", "expires_at", "ip", "user_agent"},
		rows(nil, func(r row) []any {
			return []any{r.sid, r.secretHash, r.uid, r.kind, utc(r.created), utc(r.seen), utc(r.idle), utc(r.expires), "192.0.2.1", "scale/1.0"}
		})); err != nil {
		return fmt.Errorf("fill sessions: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"refresh_tokens"}, []string{"hash", "session_id", "user_id", "client_id", "scope", "generation", "issued_at", "expires_at"},
		rows(func(r row) bool { return r.token }, func(r row) []any {
			return []any{refreshHash(r.i), r.sid, r.uid, "authd", "read write", int32(0), utc(r.issue), utc(r.expires)}
		})); err != nil {
		return fmt.Errorf("fill refresh_tokens: %w", err)
	}
	_, err = conn.Exec(ctx, `ANALYZE users, sessions, refresh_tokens`)
	return err
}
