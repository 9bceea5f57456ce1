package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestIdleTimeoutBounds: short idle timeouts are honoured (the touch
// interval follows them, see session.Manager), only nonsense is refused.
func TestIdleTimeoutBounds(t *testing.T) {
	tests := []struct {
		args []string
		want string // substring of the error; "" means accepted
	}{
		{[]string{"--session-idle-timeout", "5s"}, "--session-idle-timeout must be at least 10s"},
		{[]string{"--session-idle-timeout", "1ns"}, "--session-idle-timeout must be at least 10s"},
		{[]string{"--refresh-token-idle", "9s"}, "--refresh-token-idle must be at least 10s"},
		{[]string{"--session-idle-timeout", "10s"}, ""},
		{[]string{"--session-idle-timeout", "45s", "--refresh-token-idle", "1m"}, ""},
	}
	for _, tt := range tests {
		args := append([]string{"serve"}, serveArgs(filepath.Join(t.TempDir(), "data"), tt.args...)...)
		if tt.want == "" {
			srv := startServer(t, nil, args[1:]...)
			if err := srv.stop(t); err != nil {
				t.Errorf("serve %q = %v, want a clean start and stop", tt.args, err)
			}
			continue
		}
		_, _, err := runCmd(t, nil, "", args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !isUsage(err) {
			t.Errorf("serve %q = %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}
