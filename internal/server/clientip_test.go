package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct, no header", "203.0.113.9:5000", nil, "203.0.113.9"},
		{"untrusted peer's header ignored", "203.0.113.9:5000", []string{"1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy", "10.1.1.1:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client-supplied prefix ignored", "10.1.1.1:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.1.1:80", []string{"198.51.100.7, 10.2.2.2"}, "198.51.100.7"},
		{"several header lines", "10.1.1.1:80", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"garbage in chain", "10.1.1.1:80", []string{"<script>"}, "10.1.1.1"},
		{"only trusted addresses", "10.1.1.1:80", []string{"10.3.3.3"}, "10.3.3.3"},
		{"ipv6 trusted peer", "[::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"v4-mapped", "[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, trusted); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}
