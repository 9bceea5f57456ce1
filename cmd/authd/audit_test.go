package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/sqlitestore"
)

// auditLines runs `authd audit` with args and decodes its JSON lines.
func auditLines(t *testing.T, dataDir string, args ...string) []audit.Event {
	t.Helper()
	out := mustRun(t, "", append([]string{"audit", "--data-dir", dataDir}, args...)...)
	var evs []audit.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e audit.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		evs = append(evs, e)
	}
	return evs
}

// TestAuditOperator: the admin commands' changes are in the trail as the
// operator's, and `authd audit` filters by user, type and age.
func TestAuditOperator(t *testing.T) {
	dataDir := t.TempDir()
	mustRun(t, goodPW+"\n", append(append([]string{"user", "add", "--data-dir", dataDir}, cheapArgon2...), "ops@example.com")...)
	mustRun(t, "", "user", "disable", "--data-dir", dataDir, "ops@example.com")
	mustRun(t, "", "user", "enable", "--data-dir", dataDir, "ops@example.com")
	out := mustRun(t, "", "client", "add", "--data-dir", dataDir, "billing")
	id := strings.Fields(strings.SplitN(out, "client_id:", 2)[1])[0]
	mustRun(t, "", "client", "delete", "--data-dir", dataDir, id)
	mustRun(t, "", "keys", "rotate", "--data-dir", dataDir, "--alg", "EdDSA")

	evs := auditLines(t, dataDir)
	var got []string
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		e := evs[i]
		got = append(got, e.Type+" by "+e.Actor)
	}
	want := []string{"user.created by operator", "user.disabled by operator", "user.enabled by operator",
		"client.added by operator", "client.deleted by operator", "key.rotated by operator"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if evs := auditLines(t, dataDir, "--type", "client.added,client.deleted"); len(evs) != 2 || evs[0].ClientID != id {
		t.Errorf("--type client.*: %+v", evs)
	}
	if evs := auditLines(t, dataDir, "--user", "ops@example.com"); len(evs) != 3 {
		t.Errorf("--user ops@example.com: %d events, want 3", len(evs))
	}
	if evs := auditLines(t, dataDir, "--since", "1h", "--limit", "2"); len(evs) != 2 {
		t.Errorf("--since 1h --limit 2: %d events", len(evs))
	}
	if _, _, err := runCmd(t, nil, "", "audit", "--data-dir", dataDir, "--type", "signin.fail"); !isUsage(err) {
		t.Errorf("--type with a typo: %v, want a usage error", err)
	}
	if _, _, err := runCmd(t, nil, "", "audit", "--data-dir", dataDir, "--since", "-1h"); !isUsage(err) {
		t.Errorf("--since -1h: %v, want a usage error", err)
	}

	// Deleting the user ends its trail nowhere: the events stay, by ID.
	u := auditLines(t, dataDir, "--user", "ops@example.com")[0].UserID
	mustRun(t, "", "user", "delete", "--data-dir", dataDir, "ops@example.com")
	if evs := auditLines(t, dataDir, "--user", u); len(evs) != 4 || evs[0].Type != "user.deleted" {
		t.Errorf("after delete, --user ID: %+v", evs)
	}
}

// TestAuditRetention: serve's sweep deletes events older than
// --audit-retention.
func TestAuditRetention(t *testing.T) {
	dataDir := t.TempDir()
	mustRun(t, "", "migrate", "--data-dir", dataDir)
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dataDir, "authd.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-100 * 24 * time.Hour)
	recent := time.Now().Add(-80 * 24 * time.Hour)
	for _, at := range []time.Time{old, recent} {
		if err := st.RecordEvent(context.Background(), &audit.Event{ID: audit.NewID(at), At: at, Type: "signin.failed", Actor: "unknown"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	s := startServer(t, nil, serveArgs(dataDir)...) // --audit-retention 90 days by default
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := auditLines(t, dataDir, "--type", "signin.failed")
		if len(evs) == 1 && evs[0].At.Equal(recent.UTC().Truncate(time.Microsecond)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sweep: %+v; want only the 80-day-old event", evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop(t)
}
