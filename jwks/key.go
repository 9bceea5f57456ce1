// Package jwks manages authd's signing keys: generation (EdDSA by default,
// ES256 and RS256 for interoperability; a ring signs with one current key
// per configured algorithm, such as EdDSA for access tokens and RS256 for
// ID tokens), sealing of private keys under a key-encryption key,
// rotation with publish-before-sign, revocation, and the public JWK Set
// that verifiers fetch. The public key type and its JWK
// form are package jwk, which resource servers use without this package.
package jwks

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/authd/authd/jwk"
)

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
func Seal(k *jwk.Key, kek KEK) (*StoredKey, error) {
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
func Open(sk *StoredKey, kek KEK) (*jwk.Key, error) {
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
	k := &jwk.Key{KID: sk.KID, Alg: sk.Alg, Public: signer.Public(), Private: signer,
		CreatedAt: sk.CreatedAt, ActivateAt: sk.ActivateAt, RetireAt: sk.RetireAt, RevokedAt: sk.RevokedAt}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("jwks: key %s: %w", sk.KID, err)
	}
	return k, nil
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
