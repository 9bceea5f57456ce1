package main

import (
	"slices"
	"testing"
)

// A key ID may begin with "-" (base64url): keys revoke must take it as
// the argument, not a flag (TestKeysRevoke failed on such a KID in CI).
func TestKidArgs(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{[]string{"revoke", "-QfulFLIEaNua5uV", "--data-dir", "d"}, []string{"revoke", "--data-dir", "d", "--", "-QfulFLIEaNua5uV"}},
		{[]string{"revoke", "--data-dir", "d", "QfulFLIEaNua5uVx"}, []string{"revoke", "--data-dir", "d", "QfulFLIEaNua5uVx"}},
		{[]string{"revoke", "--data-dir", "d", "--", "-QfulFLIEaNua5uV"}, []string{"revoke", "--data-dir", "d", "--", "-QfulFLIEaNua5uV"}},
		{[]string{"revoke", "-data-dir", "d"}, []string{"revoke", "-data-dir", "d"}},
	} {
		if got := kidArgs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("kidArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The real command with such a KID: refused as unknown, not as a flag.
	dir := t.TempDir()
	mustRun(t, "", "migrate", "--data-dir", dir)
	_, _, err := runCmd(t, nil, "", "keys", "revoke", "-QfulFLIEaNua5uV", "--data-dir", dir)
	if err == nil || isUsage(err) {
		t.Errorf("keys revoke -QfulFLIEaNua5uV = %v, want the no-such-key error", err)
	}
}
