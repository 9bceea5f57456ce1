package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/mfa"
	"github.com/authd/authd/sqlitestore"
)

// TestUserMFAReset: `authd user mfa reset` removes every factor of the
// user, ends their sessions and is in the audit trail as the operator's.
func TestUserMFAReset(t *testing.T) {
	dataDir := t.TempDir()
	mustRun(t, goodPW+"\n", append(append([]string{"user", "add", "--data-dir", dataDir}, cheapArgon2...), "lost@example.com")...)
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(dataDir, "authd.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByEmail(ctx, "lost@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	code := make([]byte, 32)
	if err := st.PutTOTP(ctx, &mfa.TOTP{UserID: u.ID, Secret: []byte("sealed"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.ConfirmTOTP(ctx, u.ID, 1, [][]byte{code}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.AddCredential(ctx, &mfa.Credential{ID: []byte("cred"), UserID: u.ID, PublicKey: []byte("k"), Name: "Phone", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out := mustRun(t, "", "user", "mfa", "reset", "--data-dir", dataDir, "lost@example.com")
	if !strings.Contains(out, "authenticator app removed, 1 recovery codes, 1 passkeys removed") {
		t.Errorf("output %q", out)
	}
	st, err = sqlitestore.Open(ctx, filepath.Join(dataDir, "authd.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if f, err := st.Factors(ctx, u.ID); err != nil || f != (mfa.Factors{}) {
		t.Errorf("factors after reset = %+v, %v", f, err)
	}
	evs := auditLines(t, dataDir, "--type", "factor.removed")
	if len(evs) != 1 || evs[0].Actor != "operator" || evs[0].UserID != u.ID {
		t.Errorf("audit: %+v", evs)
	}
	for _, bad := range [][]string{{"user", "mfa"}, {"user", "mfa", "wipe", "x@example.com"}} {
		if _, _, err := runCmd(t, nil, "", bad...); !isUsage(err) {
			t.Errorf("%q = %v, want a usage error", bad, err)
		}
	}
}
