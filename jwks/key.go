// Package jwks manages authd's signing keys: generation (EdDSA by default,
// ES256 and RS256 for interoperability), sealing of private keys under a
// key-encryption key, rotation with publish-before-sign, and the public JWK
// Set that verifiers fetch.
package jwks

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"
)

// Algorithms authd signs with.
const (
	EdDSA = "EdDSA"
	ES256 = "ES256"
	RS256 = "RS256"
)

// Supported reports whether alg is one authd can sign with.
func Supported(alg string) bool { return alg == EdDSA || alg == ES256 || alg == RS256 }

// Key is a usable signing key (or, from a remote JWKS, a public-only key).
type Key struct {
	KID        string
	Alg        string
	Public     crypto.PublicKey
	Private    crypto.Signer // nil for public-only keys
	CreatedAt  time.Time
	ActivateAt time.Time
	RetireAt   time.Time
	// RevokedAt is when the key was withdrawn (`authd keys revoke`): from
	// then on it is neither published nor used to verify. Zero: not revoked.
	RevokedAt time.Time
}

// RetireLeeway is how long after its retirement a retired key still
// verifies newly issued tokens: a token whose iat is RetireLeeway or more
// past the key's RetireAt is refused. authd stops signing with a key at
// RetireAt, so a genuine token has an earlier iat; the 5 s cover another
// instance that signs with the key until its next key reload (within 1 s
// of an immediate rotation by `authd keys revoke`) and clocks that differ
// between instances by a few seconds, the assumption the revocation
// watcher makes too. (RFC 8725 §3.10 leaves time checks to the verifier;
// ASVS 5.0 9.2.1 wants the leeway small.)
const RetireLeeway = 5 * time.Second

// Verifies reports whether k may verify a token issued at iat: never when
// k is revoked, and only for tokens issued before its retirement (plus
// RetireLeeway) when it is retired. Keys from a remote JWKS carry neither
// time and verify every token.
func (k *Key) Verifies(iat time.Time) bool {
	if !k.RevokedAt.IsZero() {
		return false
	}
	return k.RetireAt.IsZero() || iat.Before(k.RetireAt.Add(RetireLeeway))
}

// Generate makes a new key for alg. RS256 keys are 2048-bit (RFC 7518
// §3.3 minimum; NIST SP 800-57 until 2030).
func Generate(alg string, created, activate time.Time) (*Key, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("jwks: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("jwks: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("jwks: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &Key{
		// A short, stable ID derived from the public key.
		KID:        base64.RawURLEncoding.EncodeToString(sum[:12]),
		Alg:        alg,
		Public:     priv.Public(),
		Private:    priv,
		CreatedAt:  created.UTC().Truncate(time.Microsecond),
		ActivateAt: activate.UTC().Truncate(time.Microsecond),
	}, nil
}

// KEK is the 256-bit key-encryption key that seals private keys at rest.
type KEK [32]byte

// ParseKEK decodes a KEK from base64 (standard or URL alphabet, padded or
// not) or 64 hex digits.
func ParseKEK(s string) (KEK, error) {
	var k KEK
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == len(k) {
			copy(k[:], b)
			return k, nil
		}
	}
	// encoding/hex, not big.Int.SetString: that also takes a sign, so
	// "+" or "-" and 63 digits would pass for a 32-byte key.
	if b, err := hex.DecodeString(s); err == nil && len(b) == len(k) {
		copy(k[:], b)
		return k, nil
	}
	return k, errors.New("jwks: key-encryption key must be 32 bytes, base64 or hex encoded")
}

// NewKEK returns a random KEK.
func NewKEK() KEK {
	var k KEK
	rand.Read(k[:])
	return k
}

// Encode returns the KEK as base64, for writing it to its file. It is the
// secret itself: never log it.
func (k KEK) Encode() string { return base64.StdEncoding.EncodeToString(k[:]) }

// String, GoString and LogValue hide the key, so that a KEK (or a struct
// holding one) printed with %v, %#v or slog never shows it.
func (k KEK) String() string       { return "KEK(REDACTED)" }
func (k KEK) GoString() string     { return "jwks.KEK(REDACTED)" }
func (k KEK) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Seal returns the stored form of k, its private key encrypted under kek
// with AES-256-GCM and its KID as additional data (so a sealed blob cannot
// be moved to another key's row).
func (k *Key) Seal(kek KEK) (*StoredKey, error) {
	pub, err := x509.MarshalPKIXPublicKey(k.Public)
	if err != nil {
		return nil, fmt.Errorf("jwks: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("jwks: marshal private key: %w", err)
	}
	aead := gcm(kek)
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(der)+aead.Overhead())
	rand.Read(nonce)
	return &StoredKey{
		KID: k.KID, Alg: k.Alg, Public: pub,
		PrivateSealed: aead.Seal(nonce, nonce, der, []byte(k.KID)),
		CreatedAt:     k.CreatedAt, ActivateAt: k.ActivateAt, RetireAt: k.RetireAt, RevokedAt: k.RevokedAt,
	}, nil
}

// ErrWrongKEK means a sealed key does not open under the configured KEK.
var ErrWrongKEK = errors.New("jwks: signing key cannot be decrypted: wrong key-encryption key")

// Open decrypts a stored key.
func Open(sk *StoredKey, kek KEK) (*Key, error) {
	aead := gcm(kek)
	if len(sk.PrivateSealed) < aead.NonceSize() {
		return nil, fmt.Errorf("jwks: key %s: sealed key too short", sk.KID)
	}
	nonce, ct := sk.PrivateSealed[:aead.NonceSize()], sk.PrivateSealed[aead.NonceSize():]
	der, err := aead.Open(nil, nonce, ct, []byte(sk.KID))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", sk.KID, ErrWrongKEK)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("jwks: key %s: parse private key: %w", sk.KID, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("jwks: key %s: not a signing key", sk.KID)
	}
	if err := checkAlg(sk.Alg, signer.Public()); err != nil {
		return nil, fmt.Errorf("jwks: key %s: %w", sk.KID, err)
	}
	return &Key{KID: sk.KID, Alg: sk.Alg, Public: signer.Public(), Private: signer,
		CreatedAt: sk.CreatedAt, ActivateAt: sk.ActivateAt, RetireAt: sk.RetireAt, RevokedAt: sk.RevokedAt}, nil
}

// checkAlg makes sure a key's type matches its algorithm, so a stored row
// cannot make authd verify an EdDSA token with an RSA key or the reverse.
func checkAlg(alg string, pub crypto.PublicKey) error {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if alg == EdDSA {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 && p.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if alg == RS256 && p.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("key type %T does not fit algorithm %q", pub, alg)
}

func gcm(kek KEK) cipher.AEAD {
	block, err := aes.NewCipher(kek[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// JWK is the public JSON Web Key of a key (RFC 7517, RFC 8037 for OKP).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWK returns the key's public members only.
func (k *Key) JWK() (JWK, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	j := JWK{Kid: k.KID, Alg: k.Alg, Use: "sig"}
	switch p := k.Public.(type) {
	case ed25519.PublicKey:
		j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(p)
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		if err != nil || len(raw) != 65 {
			return JWK{}, fmt.Errorf("jwks: encode EC key: %v", err)
		}
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	default:
		return JWK{}, fmt.Errorf("jwks: unsupported key type %T", k.Public)
	}
	return j, nil
}

// ParseJWK turns a public JWK into a verification Key. It accepts only the
// algorithms authd signs with and refuses private members.
func ParseJWK(j JWK, raw map[string]any) (*Key, error) {
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		if _, ok := raw[private]; ok {
			return nil, fmt.Errorf("jwks: key %q has private member %q", j.Kid, private)
		}
	}
	dec := base64.RawURLEncoding.Strict().DecodeString
	var pub crypto.PublicKey
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && j.Alg == EdDSA:
		x, err := dec(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwks: key %q: bad Ed25519 x", j.Kid)
		}
		pub = ed25519.PublicKey(x)
	case j.Kty == "EC" && j.Crv == "P-256" && j.Alg == ES256:
		x, errx := dec(j.X)
		y, erry := dec(j.Y)
		if errx != nil || erry != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("jwks: key %q: bad P-256 coordinates", j.Kid)
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", j.Kid, err)
		}
		pub = p
	case j.Kty == "RSA" && j.Alg == RS256:
		n, errn := dec(j.N)
		e, erre := dec(j.E)
		if errn != nil || erre != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("jwks: key %q: bad RSA members", j.Kid)
		}
		p := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if p.N.BitLen() < 2048 || p.E < 3 || p.E%2 == 0 {
			return nil, fmt.Errorf("jwks: key %q: weak RSA key", j.Kid)
		}
		pub = p
	default:
		return nil, fmt.Errorf("jwks: key %q: unsupported kty/crv/alg %s/%s/%s", j.Kid, j.Kty, j.Crv, j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("jwks: key %q: use %q is not sig", j.Kid, j.Use)
	}
	return &Key{KID: j.Kid, Alg: j.Alg, Public: pub}, nil
}
