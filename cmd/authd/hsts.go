package main

import "net/http"

// hstsValue is the Strict-Transport-Security policy of an authd that
// serves HTTPS itself: two years, subdomains included (ASVS 5.0 3.4.1).
const hstsValue = "max-age=63072000; includeSubDomains"

// hsts adds Strict-Transport-Security to every response sent over TLS, so
// a browser that has once reached authd over HTTPS never again tries plain
// HTTP, where a network attacker could strip TLS before the Secure cookie
// is set. Never on a plain-HTTP response: there it would be a policy an
// attacker can forge, and browsers ignore it (RFC 6797 §7.2, §8.1).
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsValue)
		}
		next.ServeHTTP(w, r)
	})
}
