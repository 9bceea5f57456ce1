// Package redact hides credentials in connection strings, and in the
// errors that quote them, before they are printed or logged (ASVS 5.0
// 16.2.5: no credentials in logs).
//
// There is one redaction, URL, for every form authd accepts or a driver
// may echo: postgres:// and postgresql:// URLs, password= and sslpassword=
// query parameters, redis://, rediss://, redis-sentinel:// and
// redis-cluster:// URLs, and libpq keyword=value strings. Passwords are
// often written unescaped, so the rules assume the worst: the userinfo
// ends at the last "@"; what cannot be parsed with certainty is hidden
// rather than shown.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Mask replaces what is hidden.
const Mask = "REDACTED"

// URL returns s with every password hidden:
//
//   - scheme://user:PASSWORD@host… and a lone scheme://SECRET@host…: the
//     userinfo runs to the LAST "@", so a password holding "?", "#", "/",
//     ":" or "@" is hidden whole. A user name is shown only when it is
//     plainly one (letters, digits, ". _ ~ % + -");
//   - query parameters whose name contains "pass" (password=,
//     sslpassword=, pass%77ord=): the value runs to the next "&name=";
//   - keyword=value strings: the values of keywords containing "pass",
//     quoted or not;
//   - anything that does not parse (a host list that is not hosts and
//     numeric ports, a userinfo that is not user:password, a bad scheme,
//     a keyword=value string with a stray word) is hidden from the point
//     where parsing fails: a malformed string is never echoed raw.
//
// sqlite: locations and strings without "=", "@" or "://" hold no
// credentials and are returned unchanged. URL(URL(s)) == URL(s).
func URL(s string) string {
	out, _ := redact(s)
	return out
}

// redact returns URL(s) and the secrets it hid, as written in s.
func redact(s string) (string, []string) {
	if strings.HasPrefix(strings.ToLower(s), "sqlite:") {
		return s, nil
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok && validScheme(scheme) {
		out, secrets := redactURL(rest)
		return scheme + "://" + out, secrets
	}
	switch {
	case strings.Contains(s, "="):
		return redactKeyValue(s)
	case strings.Contains(s, "://"):
		return Mask, []string{s}
	case strings.Contains(s, "@"):
		at := strings.LastIndexByte(s, '@')
		return Mask + s[at:], []string{s[:at]}
	}
	return s, nil
}

// validScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func validScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// passKey finds a password parameter inside a would-be userinfo: then the
// "@" that ends it may be a query password's own.
var passKey = regexp.MustCompile(`(?i)pass[^=]*=`)

// redactURL redacts what follows "scheme://".
func redactURL(rest string) (string, []string) {
	var b strings.Builder
	var secrets []string
	tail := rest
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		info := rest[:at]
		tail = rest[at+1:]
		user, pass, hasPass := strings.Cut(info, ":")
		switch {
		case passKey.MatchString(info),
			!hasPass && strings.ContainsAny(info, "/?#"), // a lone userinfo that is a path or a query
			hasPass && user != "" && !cleanUser(user):
			return Mask, []string{rest}
		case hasPass && user != "":
			b.WriteString(user + ":" + Mask + "@")
			secrets = append(secrets, pass)
		default: // a lone userinfo is a password for Redis; hide it for every scheme
			b.WriteString(Mask + "@")
			secrets = append(secrets, info)
		}
	}
	end := len(tail)
	if i := strings.IndexAny(tail, "/?#"); i >= 0 {
		end = i
	}
	if !validHosts(tail[:end]) {
		// postgres://u:pa/ss: without an "@" the "port" may be a password.
		b.WriteString(Mask)
		return b.String(), append(secrets, tail)
	}
	b.WriteString(tail[:end])
	out, more := redactParams(tail[end:])
	b.WriteString(out)
	return b.String(), append(secrets, more...)
}

// cleanUser reports whether s is plainly a user name.
func cleanUser(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && !strings.ContainsRune("._~%+-", rune(c)) {
			return false
		}
	}
	return s != ""
}

// validHosts reports whether s is a comma-separated list of host[:port]
// and [IPv6][:port], ports numeric; the empty list is valid.
func validHosts(s string) bool {
	for h := range strings.SplitSeq(s, ",") {
		port := ""
		if strings.HasPrefix(h, "[") {
			end := strings.IndexByte(h, ']')
			if end < 0 || !allBytes(h[1:end], func(c byte) bool { return isHex(c) || c == ':' || c == '.' || c == '%' || isLetter(c) || isDigit(c) }) {
				return false
			}
			rest := h[end+1:]
			if rest != "" && !strings.HasPrefix(rest, ":") {
				return false
			}
			port = strings.TrimPrefix(rest, ":")
		} else {
			host, p, hasPort := strings.Cut(h, ":")
			if !allBytes(host, func(c byte) bool { return isLetter(c) || isDigit(c) || c >= 0x80 || strings.IndexByte("._~%-", c) >= 0 }) {
				return false
			}
			if hasPort && p == "" {
				return false
			}
			port = p
		}
		if len(port) > 5 || !allBytes(port, isDigit) {
			return false
		}
	}
	return true
}

// nextParam starts the parameter after a query value: "&name=".
var nextParam = regexp.MustCompile(`&[A-Za-z_][A-Za-z0-9_]*=`)

// redactParams hides the values of password parameters in a URL's path,
// query and fragment. A value runs to the next "&name=", so unescaped "?",
// "#" or "&" inside a password stay hidden.
func redactParams(s string) (string, []string) {
	var b strings.Builder
	var secrets []string
	for i := 0; i < len(s); {
		j := strings.IndexAny(s[i:], "?&#;")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		k := i + j + 1 // start of a would-be key
		b.WriteString(s[i:k])
		i = k
		eq := strings.IndexByte(s[k:], '=')
		if eq < 0 || strings.ContainsAny(s[k:k+eq], "?&#;") || !isPassword(s[k:k+eq]) {
			continue
		}
		v := k + eq + 1
		end := len(s)
		if m := nextParam.FindStringIndex(s[v:]); m != nil {
			end = v + m[0]
		}
		b.WriteString(s[k:v] + Mask)
		secrets = append(secrets, s[v:end])
		i = end
	}
	return b.String(), secrets
}

// isPassword reports whether a parameter or keyword name (percent-encoded
// or not, any case) names a password.
func isPassword(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	return strings.Contains(strings.ToLower(key), "pass")
}

// redactKeyValue redacts a libpq keyword=value string (PostgreSQL docs
// §32.1.1.1): keywords separated by spaces, "=" with optional spaces
// around it, values single-quoted with \' and \\ escapes, or a run of
// non-spaces where "\" escapes the next byte. From the first thing that
// is not keyword=value on, everything is hidden.
func redactKeyValue(s string) (string, []string) {
	var b strings.Builder
	var secrets []string
	i := 0
	for {
		start := i
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		b.WriteString(s[start:i])
		if i == len(s) {
			return b.String(), secrets
		}
		k := i
		for i < len(s) && (isLetter(s[i]) || isDigit(s[i]) || s[i] == '_') {
			i++
		}
		key := s[k:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if key == "" || i == len(s) || s[i] != '=' {
			b.WriteString(Mask)
			return b.String(), append(secrets, s[k:])
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		b.WriteString(s[k:i])
		v := i
		if i < len(s) && s[i] == '\'' {
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i+1, len(s)) // past the closing quote, or the end if unterminated
		} else {
			for ; i < len(s) && !isSpace(s[i]); i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i, len(s))
		}
		if isPassword(key) {
			b.WriteString(Mask)
			secrets = append(secrets, s[v:i], unescapeValue(s[v:i]))
		} else {
			b.WriteString(s[v:i])
		}
	}
}

// unescapeValue returns a keyword=value value as libpq reads it.
func unescapeValue(v string) string {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Err returns err with every credential of the connection string raw
// hidden from its message, for wrapping driver and url.Parse errors, which
// quote the raw string or pieces of it. In the message, raw becomes
// URL(raw); a quoted part ("…" or `…`) that URL(raw) does not show is
// replaced by Mask, so a driver's own best-effort redaction or a quoted
// fragment of a password ("invalid port \":pa\"") cannot leak; every
// secret URL hides is masked wherever else it appears.
//
// The result answers errors.Is like err but does not unwrap: errors.As
// cannot reach the original error and the raw string it may hold.
// Err(nil, raw) is nil.
func Err(err error, raw string) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: Scrub(err.Error(), raw), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// Scrub is Err for a message.
func Scrub(msg, raw string) string {
	shown, secrets := redact(raw)
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, shown)
	}
	msg = scrubQuoted(msg, shown)
	for _, s := range secrets {
		if u, err := url.PathUnescape(s); err == nil && u != s {
			secrets = append(secrets, u)
		}
	}
	// Longest first, so a secret is not half-masked by one it contains.
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, s := range secrets {
		if s != "" && s != Mask {
			msg = strings.ReplaceAll(msg, s, Mask)
			if q := strconv.Quote(s); len(q) > 2 {
				msg = strings.ReplaceAll(msg, q[1:len(q)-1], Mask) // as %q writes it
			}
		}
	}
	return msg
}

// scrubQuoted replaces every quoted part of msg that shown does not
// contain by a quoted Mask. A double-quoted part is read as Go quotes it
// (%q); a backtick-quoted part, and a double-quoted one that is not valid
// Go, runs to the last quote of its kind in msg: the widest reading hides
// the most.
func scrubQuoted(msg, shown string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(msg, "\"`")
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		q := msg[i]
		quoted, content := "", ""
		if p, err := strconv.QuotedPrefix(msg[i:]); err == nil && q == '"' {
			quoted = p
			content, _ = strconv.Unquote(p)
		} else if last := strings.LastIndexByte(msg, q); last > i {
			quoted = msg[i : last+1]
			content = quoted[1 : len(quoted)-1]
		} else { // a lone quote: hide the rest
			b.WriteString(msg[:i] + Mask)
			return b.String()
		}
		b.WriteString(msg[:i])
		if strings.Contains(shown, content) {
			b.WriteString(quoted)
		} else {
			b.WriteString(string(q) + Mask + string(q))
		}
		msg = msg[i+len(quoted):]
	}
}

func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isHex(c byte) bool    { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
