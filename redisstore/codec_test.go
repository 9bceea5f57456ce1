package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/session"
	"github.com/google/go-cmp/cmp"
)

// TestDecodeSessionFormats: session records of every format decode — the
// one before ClientID (no trailing field) with an empty ClientID, the one
// before AMR with a nil AMR — and
// anything after the last field is corrupt.
func TestDecodeSessionFormats(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC) // 1893553445123456 µs
	base := session.Session{
		ID: "sid-1", UserID: "user-1", Kind: session.KindCookie,
		CreatedAt: t0, LastSeenAt: t0.Add(time.Minute), IdleExpiresAt: t0.Add(31 * time.Minute), ExpiresAt: t0.Add(24 * time.Hour),
		IP: "192.0.2.1", UserAgent: "UA|1:2",
	}
	withClient := base
	withClient.ClientID = "app:1|x"
	withAMR := withClient
	withAMR.AMR = []string{"pwd", "otp", "mfa"}
	withAuth := withAMR
	withAuth.AuthTime = t0
	const times = "1893553505123456|1893555305123456|1893553445123456|1893639845123456|"
	const fields = "6:cookie5:sid-16:user-19:192.0.2.16:UA|1:2"
	tests := []struct {
		name   string
		record string
		want   *session.Session // nil: corrupt
	}{
		{"before ClientID", times + fields, &base},
		{"empty ClientID", times + fields + "0:", &base},
		{"ClientID", times + fields + "7:app:1|x", &withClient},
		{"trailing garbage", times + fields + "7:app:1|xy", nil},
		{"empty AMR", times + fields + "7:app:1|x0:", &withClient},
		{"AMR", times + fields + "7:app:1|x11:pwd otp mfa", &withAMR},
		{"empty auth time", times + fields + "7:app:1|x11:pwd otp mfa0:", &withAMR},
		{"auth time", times + fields + "7:app:1|x11:pwd otp mfa16:1893553445123456", &withAuth},
		{"bad auth time", times + fields + "7:app:1|x11:pwd otp mfa3:abc", nil},
		{"a field too many", times + fields + "7:app:1|x0:0:0:", nil},
		{"cut ClientID", times + fields + "8:app:1|x", nil},
		{"cut before the UA", times + "6:cookie5:sid-16:user-19:192.0.2.1", nil},
	}
	for _, tt := range tests {
		got, err := decodeSession(tt.record)
		if tt.want == nil {
			if !errors.Is(err, errCorrupt) {
				t.Errorf("%s: decodeSession = %+v, %v; want errCorrupt", tt.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: decodeSession = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: decodeSession (-want +got):\n%s", tt.name, diff)
		}
		// What encodeSession writes now decodes to the same session.
		again, err := decodeSession(encodeSession(got))
		if err != nil || !cmp.Equal(got, again) {
			t.Errorf("%s: re-encoded: %+v, %v; want %+v", tt.name, again, err, got)
		}
	}
}
