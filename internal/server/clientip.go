package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP returns the address of the client. X-Forwarded-For is believed
// only when the direct peer is a trusted proxy, and then only as far back
// as the chain stays within trusted proxies: the right-most address that
// is not a trusted proxy is the client (anything left of it could have been
// written by the client itself).
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	// Zones name an interface of some host on the path, not the client:
	// dropped, so a header cannot append arbitrary text to the address
	// (a session's IP, a throttle key), and a link-local proxy can be
	// trusted (a Prefix never contains a zoned address).
	peer = peer.Unmap().WithZone("")
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return peer.String() // a garbled chain: trust only what we saw
			}
			a = a.Unmap().WithZone("")
			if !isTrusted(a, trusted) {
				return a.String()
			}
			peer = a
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
