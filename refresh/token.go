package refresh

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// The refresh-token format, unchanged since tokens were first issued (so
// every token in circulation still parses):
//
//	<session ID>.<generation>.<secret>.<MAC>
//
// session ID: the session's public ID (base64url alphabet); generation:
// decimal, no sign, no leading zero; secret: 32 random bytes as unpadded
// base64url (43 characters); MAC: HMAC-SHA-256 keyed by Config.MACKey over
// "<session ID>.<generation>.<secret>", truncated to 128 bits, unpadded
// base64url (22 characters). The MAC lets authd recognise one of its own
// tokens after its row is gone (rule 1 of the package doc) and refuse a
// forged one without a store call.
const (
	maxTokenLen   = 160
	secretLen     = 43
	macLen        = 22
	maxGeneration = 1 << 30 // far beyond any chain; keeps SQL INTEGER and Lua numbers exact
)

// ErrMalformed: the string is not shaped like a refresh token.
var ErrMalformed = errors.New("malformed refresh token")

// Token is a refresh token that has the right shape. Parse does not check
// its MAC: only a Refresher, which has the key, can.
type Token struct {
	SessionID  string
	Generation int
	Hash       [32]byte // SHA-256 of the whole token: what the store is keyed by
	raw        string   // the token
	secret     string
	mac        string
}

// Parse checks the shape of a presented refresh token. Anything else — an
// access token (three parts), padding, whitespace, a non-canonical
// generation, the wrong part lengths, more than 160 bytes — is
// ErrMalformed, before any hashing.
func Parse(tok string) (Token, error) {
	if len(tok) > maxTokenLen {
		return Token{}, ErrMalformed
	}
	for i := 0; i < len(tok); i++ {
		if !tokenChar[tok[i]] {
			return Token{}, ErrMalformed
		}
	}
	sid, rest, ok1 := strings.Cut(tok, ".")
	genS, rest, ok2 := strings.Cut(rest, ".")
	secret, mac, ok3 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !ok3 || sid == "" || len(secret) != secretLen || len(mac) != macLen || strings.Contains(mac, ".") {
		return Token{}, ErrMalformed
	}
	gen, err := strconv.Atoi(genS)
	if err != nil || gen < 0 || gen > maxGeneration || strconv.Itoa(gen) != genS {
		return Token{}, ErrMalformed
	}
	return Token{SessionID: sid, Generation: gen, Hash: sha256.Sum256([]byte(tok)), raw: tok, secret: secret, mac: mac}, nil
}

// String returns the token.
func (t Token) String() string { return t.raw }

// tokenChar is the base64url alphabet and the dot.
var tokenChar = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		t[c] = true
	}
	return t
}()

// macer computes token MACs under one key, reusing HMAC states (a
// rotation checks one MAC and makes one).
type macer struct{ pool sync.Pool }

func newMacer(key []byte) *macer {
	m := &macer{}
	m.pool.New = func() any { return hmac.New(sha256.New, key) }
	return m
}

// sum writes the MAC of a token's first three parts into dst.
func (m *macer) sum(dst *[macLen]byte, sid string, gen int, secret string) {
	var buf [maxTokenLen]byte
	msg := append(buf[:0], sid...)
	msg = append(msg, '.')
	msg = strconv.AppendInt(msg, int64(gen), 10)
	msg = append(msg, '.')
	msg = append(msg, secret...)
	h := m.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	var full [sha256.Size]byte
	h.Sum(full[:0])
	m.pool.Put(h)
	base64.RawURLEncoding.Encode(dst[:], full[:16])
}

// genuine reports whether t was issued under m's key (its MAC is right).
func (m *macer) genuine(t Token) bool {
	var want [macLen]byte
	m.sum(&want, t.SessionID, t.Generation, t.secret)
	return len(t.mac) == macLen && subtle.ConstantTimeCompare(want[:], []byte(t.mac)) == 1
}

// mint returns a fresh token of a session's generation.
func (m *macer) mint(sid string, gen int) Token {
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go 1.24+)
	var secret [secretLen]byte
	base64.RawURLEncoding.Encode(secret[:], raw[:])
	var mac [macLen]byte
	m.sum(&mac, sid, gen, string(secret[:]))
	genS := strconv.Itoa(gen)
	tok := sid + "." + genS + "." + string(secret[:]) + "." + string(mac[:])
	i := len(sid) + 1 + len(genS) + 1
	return Token{
		SessionID: sid, Generation: gen, Hash: sha256.Sum256([]byte(tok)), raw: tok,
		secret: tok[i : i+secretLen], mac: tok[i+secretLen+1:],
	}
}
