package main

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authd/authd/pgstore/pgtest"
)

// TestSharedStoreNeedsIssuer: instances on a shared store that each
// defaulted their issuer to their own address would refuse each other's
// tokens (a token from A got 401 on B). authd refuses to start there
// without --issuer, as it does without a shared --key-encryption-key.
func TestSharedStoreNeedsIssuer(t *testing.T) {
	kek := base64.StdEncoding.EncodeToString(make([]byte, 32))
	dsn := pgtest.NewDatabase(t)
	_, stderr, err := runCmd(t, nil, "", append([]string{"serve"},
		serveArgs(filepath.Join(t.TempDir(), "data"), "--database", dsn, "--key-encryption-key", kek)...)...)
	if err == nil || !strings.Contains(stderr+err.Error(), "--issuer") {
		t.Fatalf("serve on PostgreSQL without --issuer: err %v, stderr %q; want a refusal naming --issuer", err, stderr)
	}
	for _, bad := range []string{"yes", "", "ON"} {
		_, stderr, err := runCmd(t, nil, "", append([]string{"serve"},
			serveArgs(filepath.Join(t.TempDir(), "data"), "--password-grant", bad)...)...)
		if err == nil || !strings.Contains(stderr+err.Error(), "--password-grant") {
			t.Errorf("--password-grant %q: err %v", bad, err)
		}
	}
}
