package redisstore

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/refresh"
	"github.com/authd/authd/session"
)

// Records are compact strings: a few decimal Unix-microsecond times
// separated by '|', then length-prefixed strings ("<len>:<bytes>"), so any
// byte may appear in a string. The first two fields are the ones Lua
// scripts rewrite in place (a session's LastSeenAt and IdleExpiresAt; a
// token's UsedAt), so the scripts never parse the rest. An empty time field
// is the zero time.
//
//	session: lastSeen|idleExpires|created|expires|<kind><id><userID><ip><userAgent>[<clientID>[<amr>[<authTime>]]]
//	refresh: used|generation|issued|expires|<sessionID><userID><clientID><scope>
//
// A session's clientID came later: records written before it end after
// the userAgent and decode with an empty ClientID; the amr (space-separated
// RFC 8176 values) came after it, and records without it decode with a nil
// AMR. A new field goes after
// the last one the same way, so records of every earlier version decode.

var errCorrupt = errors.New("corrupt record")

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return strconv.AppendInt(b, t.UnixMicro(), 10)
}

func appendStr(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func encodeSession(s *session.Session) string {
	b := make([]byte, 0, 110+len(s.ID)+len(s.UserID)+len(s.IP)+len(s.UserAgent)+len(s.ClientID))
	b = appendTime(b, s.LastSeenAt)
	b = append(b, '|')
	b = appendTime(b, s.IdleExpiresAt)
	b = append(b, '|')
	b = appendTime(b, s.CreatedAt)
	b = append(b, '|')
	b = appendTime(b, s.ExpiresAt)
	b = append(b, '|')
	b = appendStr(b, string(s.Kind))
	b = appendStr(b, s.ID)
	b = appendStr(b, s.UserID)
	b = appendStr(b, s.IP)
	b = appendStr(b, s.UserAgent)
	b = appendStr(b, s.ClientID)
	b = appendStr(b, strings.Join(s.AMR, " "))
	b = appendStr(b, authTime(s.AuthTime))
	return string(b)
}

func encodeRefresh(rt *refresh.Refresh) string {
	b := make([]byte, 0, 80+len(rt.SessionID)+len(rt.UserID)+len(rt.ClientID)+len(rt.Scope))
	b = appendTime(b, rt.UsedAt)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(rt.Generation), 10)
	b = append(b, '|')
	b = appendTime(b, rt.IssuedAt)
	b = append(b, '|')
	b = appendTime(b, rt.ExpiresAt)
	b = append(b, '|')
	b = appendStr(b, rt.SessionID)
	b = appendStr(b, rt.UserID)
	b = appendStr(b, rt.ClientID)
	b = appendStr(b, rt.Scope)
	return string(b)
}

type decoder struct {
	s   string
	err error
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	f, rest, ok := strings.Cut(d.s, "|")
	if !ok {
		d.err = errCorrupt
		return 0
	}
	d.s = rest
	if f == "" {
		return 0
	}
	n, err := strconv.ParseInt(f, 10, 64)
	if err != nil {
		d.err = errCorrupt
	}
	return n
}

func (d *decoder) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	if strings.HasPrefix(d.s, "|") {
		d.s = d.s[1:]
		return time.Time{}
	}
	return time.UnixMicro(d.int()).UTC()
}

func (d *decoder) str() string {
	if d.err != nil {
		return ""
	}
	l, rest, ok := strings.Cut(d.s, ":")
	n, err := strconv.Atoi(l)
	if !ok || err != nil || n < 0 || n > len(rest) {
		d.err = errCorrupt
		return ""
	}
	d.s = rest[n:]
	return rest[:n]
}

// more reports whether fields are left: an optional trailing field is
// there.
func (d *decoder) more() bool { return d.err == nil && d.s != "" }

func (d *decoder) done() error {
	if d.err == nil && d.s != "" {
		d.err = errCorrupt
	}
	return d.err
}

func decodeSession(v string) (*session.Session, error) {
	d := decoder{s: v}
	s := &session.Session{}
	s.LastSeenAt = d.time()
	s.IdleExpiresAt = d.time()
	s.CreatedAt = d.time()
	s.ExpiresAt = d.time()
	s.Kind = session.Kind(d.str())
	s.ID = d.str()
	s.UserID = d.str()
	s.IP = d.str()
	s.UserAgent = d.str()
	if d.more() {
		s.ClientID = d.str()
	}
	if d.more() {
		if amr := d.str(); amr != "" {
			s.AMR = strings.Fields(amr)
		}
	}
	if d.more() {
		if v := d.str(); v != "" {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, errCorrupt
			}
			s.AuthTime = time.UnixMicro(us).UTC()
		}
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeRefresh(v string, hash []byte) (*refresh.Refresh, error) {
	d := decoder{s: v}
	rt := &refresh.Refresh{Hash: append([]byte(nil), hash...)}
	rt.UsedAt = d.time()
	rt.Generation = int(d.int())
	rt.IssuedAt = d.time()
	rt.ExpiresAt = d.time()
	rt.SessionID = d.str()
	rt.UserID = d.str()
	rt.ClientID = d.str()
	rt.Scope = d.str()
	if err := d.done(); err != nil {
		return nil, err
	}
	return rt, nil
}

// authTime is a session's AuthTime as its record field: Unix
// microseconds, or empty for none.
func authTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}
