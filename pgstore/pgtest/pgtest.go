// Package pgtest gives tests a fresh, empty PostgreSQL database of their own.
//
// The server comes from the environment variable AUTHD_TEST_POSTGRES, a DSN
// of a role allowed to create databases, for example
//
//	AUTHD_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
//
// When it is unset the calling test is skipped, except under CI=true, where
// it fails: CI must not pass by skipping the PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/redact"
)

// EnvDSN is the environment variable holding the administrative DSN.
const EnvDSN = "AUTHD_TEST_POSTGRES"

// AdminDSN returns the DSN in AUTHD_TEST_POSTGRES, skipping t (failing it
// under CI=true) when the variable is empty.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set; CI must run the PostgreSQL tests", EnvDSN)
		}
		t.Skip("set AUTHD_TEST_POSTGRES=postgres://… to run the PostgreSQL tests (bash .ci/run does)")
	}
	return dsn
}

// NewDatabase creates an empty database named authd_test_<random> on the
// server of AUTHD_TEST_POSTGRES and returns a DSN for it (the admin DSN with
// the database name replaced). The database is dropped, with any connection
// still open to it, when t and its cleanups finish: register the Close of
// a store opened on it after calling NewDatabase, so it runs first.
func NewDatabase(t testing.TB) (dsn string) {
	t.Helper()
	admin := AdminDSN(t)
	var b [8]byte
	rand.Read(b[:])
	name := "authd_test_" + hex.EncodeToString(b[:])
	if err := adminExec(admin, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := adminExec(admin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	dsn, err := WithDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// WithDatabase returns dsn (a postgres:// URL or keyword=value pairs) with
// its database name replaced by name.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDSN, redact.Err(err, dsn)) // url.Error quotes the raw URL
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	// keyword=value: a later dbname overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

// Exec runs one statement on a new connection to dsn and closes it.
func Exec(ctx context.Context, dsn, query string, args ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, query, args...)
	return err
}

func adminExec(admin, query string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return Exec(ctx, admin, query)
}
