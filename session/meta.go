package session

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Meta is what the client told us at login. Create stores it cleaned (see
// Clean): every backend receives valid UTF-8 without control characters,
// within the limits below, whatever the client sent.
type Meta struct {
	IP        string
	UserAgent string
	// ClientID is stored as Session.ClientID, unchanged by Clean (client
	// IDs are validated where they are registered).
	ClientID string
	// AMR is stored as Session.AMR (how the user authenticated); nil is
	// a password sign-in.
	AMR []string
	// AuthTime is stored as Session.AuthTime; zero: the session's
	// creation (a sign-in now).
	AuthTime time.Time
}

// Limits of what is kept of each Meta field, in bytes.
const (
	maxUserAgent = 512
	maxIP        = 64 // an IPv6 address with a zone, with room to spare
)

// Clean returns m as it is stored: each field valid UTF-8 (a run of bytes
// that are not is replaced by one U+FFFD), without control characters
// (NUL, CR, LF, ESC, DEL, C1) or bidirectional controls (U+202E and the
// like, which would make the device list show a name reversed), and cut at
// its limit on a character boundary. The client controls these bytes: a
// header that is not UTF-8 must not make a store refuse the session (a 503
// for a harmless request: PostgreSQL rejects invalid UTF-8 and NUL in
// text), nor log lines or pages show what it was not.
func (m Meta) Clean() Meta {
	return Meta{IP: clean(m.IP, maxIP), UserAgent: clean(m.UserAgent, maxUserAgent), ClientID: m.ClientID, AMR: m.AMR, AuthTime: m.AuthTime}
}

// clean implements Meta.Clean for one field of at most max bytes.
func clean(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) && strings.IndexFunc(s, unwanted) < 0 {
		return s
	}
	var b strings.Builder
	bad := false // in a run of invalid bytes
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			if bad {
				continue
			}
			bad = true
		} else {
			bad = false
			if unwanted(r) {
				continue
			}
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unwanted reports whether r is dropped from client metadata.
func unwanted(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
