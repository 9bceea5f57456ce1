package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The device cookie lets a browser or API client that has signed in to an
// account before keep signing in while someone else guesses that
// account's password (OWASP, "Slow down online guessing attacks with
// device cookies"). It holds up to maxDevices entries "<id>.<mac>", one
// per account signed in from this client, joined by "~"; the MAC binds the
// random device ID to the account, so an entry works for no other account
// and cannot be forged. It is not a credential: it only chooses which
// throttle budget a password attempt is counted against. It outlives
// sign-out on purpose.
const (
	deviceCookieName = "__Host-authd_device"
	maxDevices       = 5
	deviceIDLen      = 16 // bytes, before base64url
	deviceMACLen     = 16
	deviceMaxAge     = 365 * 24 * time.Hour
	deviceEntryLen   = 2*22 + 1 // two unpadded base64url fields of 16 bytes and a dot
)

var b64 = base64.RawURLEncoding

// deviceMAC binds id to the account key acct.
func (s *Server) deviceMAC(acct, id string) string {
	m := hmac.New(sha256.New, s.cfg.DeviceKey)
	m.Write([]byte("authd device v1\x00"))
	m.Write([]byte(acct))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return b64.EncodeToString(m.Sum(nil)[:deviceMACLen])
}

// deviceEntries returns the well-formed entries of the request's device
// cookie, at most maxDevices.
func deviceEntries(r *http.Request) []string {
	c, err := r.Cookie(deviceCookieName)
	if err != nil || len(c.Value) > maxDevices*(deviceEntryLen+1) {
		return nil
	}
	var out []string
	for e := range strings.SplitSeq(c.Value, "~") {
		if len(e) == deviceEntryLen && e[22] == '.' && len(out) < maxDevices {
			out = append(out, e)
		}
	}
	return out
}

// knownDevice returns the device ID of the request's device cookie entry
// for the account acct, if it has a genuine one.
func (s *Server) knownDevice(r *http.Request, acct string) (string, bool) {
	for _, e := range deviceEntries(r) {
		id, mac := e[:22], e[23:]
		if hmac.Equal([]byte(mac), []byte(s.deviceMAC(acct, id))) {
			return id, true
		}
	}
	return "", false
}

// rememberDevice records, after a successful sign-in to acct, that this
// client knows the account: the entry for acct (kept, or new) goes first,
// the client's other entries follow, the oldest falls off past maxDevices.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, acct string) {
	entries := deviceEntries(r)
	id, ok := s.knownDevice(r, acct)
	if !ok {
		b := make([]byte, deviceIDLen)
		rand.Read(b)
		id = b64.EncodeToString(b)
	}
	mine := id + "." + s.deviceMAC(acct, id)
	entries = slices.DeleteFunc(entries, func(e string) bool { return e == mine })
	entries = append([]string{mine}, entries...)
	if len(entries) > maxDevices {
		entries = entries[:maxDevices]
	}
	http.SetCookie(w, &http.Cookie{
		Name:     deviceCookieName,
		Value:    strings.Join(entries, "~"),
		Path:     "/",
		MaxAge:   int(deviceMaxAge / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	})
}
