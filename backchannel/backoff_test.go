package backchannel

import (
	"testing"
	"time"
)

// TestBackoff: 1 s doubling to 5 min, each wait shortened by up to a
// quarter by the jitter.
func TestBackoff(t *testing.T) {
	r := Retry{First: time.Second, Max: 5 * time.Minute, GiveUpAfter: 24 * time.Hour}
	tests := []struct {
		attempts int
		jitter   float64
		want     time.Duration
	}{
		{1, 0, time.Second},
		{1, 0.5, 875 * time.Millisecond},
		{1, 0.999999, 750*time.Millisecond + 250*time.Nanosecond},
		{2, 0, 2 * time.Second},
		{3, 0, 4 * time.Second},
		{9, 0, 256 * time.Second},
		{10, 0, 5 * time.Minute},
		{10, 0.5, 262500 * time.Millisecond},
		{1000, 0, 5 * time.Minute},
		{1 << 30, 0, 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := backoff(r, tt.attempts, tt.jitter); got != tt.want {
			t.Errorf("backoff(attempt %d, jitter %v) = %v; want %v", tt.attempts, tt.jitter, got, tt.want)
		}
	}
}

// TestAlg: a logout token is signed like the client's ID tokens.
func TestAlg(t *testing.T) {
	tests := []struct {
		algs         []string
		client, want string
	}{
		{nil, "", ""},
		{nil, "ES256", "ES256"},
		{[]string{"EdDSA", "RS256"}, "", "RS256"},
		{[]string{"EdDSA", "RS256"}, "EdDSA", "EdDSA"},
		{[]string{"EdDSA", "RS256"}, "ES256", "RS256"},
		{[]string{"EdDSA", "ES256"}, "", "EdDSA"},
		{[]string{"EdDSA", "ES256"}, "ES256", "ES256"},
	}
	for _, tt := range tests {
		n := New(Config{Algs: tt.algs})
		if got := n.alg(tt.client); got != tt.want {
			t.Errorf("algs %v, client %q: alg %q; want %q", tt.algs, tt.client, got, tt.want)
		}
	}
}
