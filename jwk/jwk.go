// Package jwk is the public side of authd's signing keys: the algorithms,
// the Key type, its JSON Web Key form (RFC 7517; RFC 8037 for Ed25519) and
// the parsing of a published key. Resource servers (package guard) and the
// token verifier need only this; the sealed private-key ring is package
// jwks, which they never import.
package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math/big"
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
		return nil, fmt.Errorf("jwk: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("jwk: generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("jwk: marshal public key: %w", err)
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

// Validate makes sure the key's type matches its algorithm, so a stored
// row cannot make authd verify an EdDSA token with an RSA key or the
// reverse.
func (k *Key) Validate() error {
	switch p := k.Public.(type) {
	case ed25519.PublicKey:
		if k.Alg == EdDSA {
			return nil
		}
	case *ecdsa.PublicKey:
		if k.Alg == ES256 && p.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if k.Alg == RS256 && p.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("key type %T does not fit algorithm %q", k.Public, k.Alg)
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
			return JWK{}, fmt.Errorf("jwk: encode EC key: %v", err)
		}
		j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
	case *rsa.PublicKey:
		j.Kty, j.N, j.E = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
	default:
		return JWK{}, fmt.Errorf("jwk: unsupported key type %T", k.Public)
	}
	return j, nil
}

// ParseJWK turns a public JWK into a verification Key. It accepts only the
// algorithms authd signs with and refuses private members.
func ParseJWK(j JWK, raw map[string]any) (*Key, error) {
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		if _, ok := raw[private]; ok {
			return nil, fmt.Errorf("jwk: key %q has private member %q", j.Kid, private)
		}
	}
	dec := base64.RawURLEncoding.Strict().DecodeString
	var pub crypto.PublicKey
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519" && j.Alg == EdDSA:
		x, err := dec(j.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwk: key %q: bad Ed25519 x", j.Kid)
		}
		pub = ed25519.PublicKey(x)
	case j.Kty == "EC" && j.Crv == "P-256" && j.Alg == ES256:
		x, errx := dec(j.X)
		y, erry := dec(j.Y)
		if errx != nil || erry != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("jwk: key %q: bad P-256 coordinates", j.Kid)
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("jwk: key %q: %w", j.Kid, err)
		}
		pub = p
	case j.Kty == "RSA" && j.Alg == RS256:
		n, errn := dec(j.N)
		e, erre := dec(j.E)
		if errn != nil || erre != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("jwk: key %q: bad RSA members", j.Kid)
		}
		p := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if p.N.BitLen() < 2048 || p.E < 3 || p.E%2 == 0 {
			return nil, fmt.Errorf("jwk: key %q: weak RSA key", j.Kid)
		}
		pub = p
	default:
		return nil, fmt.Errorf("jwk: key %q: unsupported kty/crv/alg %s/%s/%s", j.Kid, j.Kty, j.Crv, j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("jwk: key %q: use %q is not sig", j.Kid, j.Use)
	}
	return &Key{KID: j.Kid, Alg: j.Alg, Public: pub}, nil
}
