// Package passkeytest is a software WebAuthn authenticator for tests: it
// builds, by hand, the answers a browser would give to
// navigator.credentials.create (attestation "none") and .get, signed with
// an ES256 key, so tests can drive authd's passkey ceremonies — and
// tamper with any part of them — without a browser.
package passkeytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator flags (WebAuthn Level 3 §6.1).
const (
	FlagUP = 0x01 // user present
	FlagUV = 0x04 // user verified
	FlagBE = 0x08 // backup eligible
	FlagBS = 0x10 // backed up
	FlagAT = 0x40 // attested credential data included
)

var b64 = base64.RawURLEncoding

// Credential is one key pair the authenticator holds.
type Credential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	UserHandle []byte
	RPID       string
	mu         sync.Mutex
	Counter    uint32
}

// Authenticator answers ceremonies for one origin.
type Authenticator struct {
	Origin string
	// Flags are added to UP and UV on every answer (e.g. FlagBE|FlagBS
	// for a synced passkey).
	Flags byte
}

// Ceremony overrides parts of one answer, to test refusals.
type Ceremony struct {
	RPID      string // the rpIdHash's RP ID; default the credential's
	Origin    string // clientDataJSON's origin; default the authenticator's
	Type      string // clientDataJSON's type; default webauthn.create / webauthn.get
	Counter   *uint32
	NoUV      bool
	Challenge string // default the options'
}

// Options is what the tests need of the options JSON authd sends.
type Options struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

// ParseOptions reads the publicKey options of a begin response.
func ParseOptions(raw []byte) (Options, error) {
	var o Options
	err := json.Unmarshal(raw, &o)
	return o, err
}

func (a *Authenticator) clientData(typ, challenge string, c Ceremony) []byte {
	origin := a.Origin
	if c.Origin != "" {
		origin = c.Origin
	}
	if c.Type != "" {
		typ = c.Type
	}
	if c.Challenge != "" {
		challenge = c.Challenge
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) flags(c Ceremony) byte {
	f := byte(FlagUP|FlagUV) | a.Flags
	if c.NoUV {
		f &^= FlagUV
	}
	return f
}

func rpHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// Create answers registration options (the JSON of publicKey) with a new
// credential and returns it and the PublicKeyCredential JSON.
func (a *Authenticator) Create(options []byte, c Ceremony) (*Credential, []byte, error) {
	o, err := ParseOptions(options)
	if err != nil {
		return nil, nil, err
	}
	handle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	id := make([]byte, 32)
	rand.Read(id)
	cred := &Credential{ID: id, Key: key, UserHandle: handle, RPID: o.RP.ID}
	rpID := cred.RPID
	if c.RPID != "" {
		rpID = c.RPID
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, nil, err
	}
	raw := pub.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, nil, err
	}
	var ad []byte
	ad = append(ad, rpHash(rpID)...)
	ad = append(ad, a.flags(c)|FlagAT)
	ad = binary.BigEndian.AppendUint32(ad, 0)
	ad = append(ad, make([]byte, 16)...) // AAGUID: none
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(id)))
	ad = append(ad, id...)
	ad = append(ad, cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, nil, err
	}
	resp, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(id), "rawId": b64.EncodeToString(id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.Challenge, c)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        []string{"internal"},
		},
		"clientExtensionResults": map[string]any{},
	})
	return cred, resp, err
}

// Get answers sign-in options (the JSON of publicKey) with cred, counting
// its signature counter up (unless the ceremony sets it).
func (a *Authenticator) Get(options []byte, cred *Credential, c Ceremony) ([]byte, error) {
	o, err := ParseOptions(options)
	if err != nil {
		return nil, err
	}
	rpID := cred.RPID
	if c.RPID != "" {
		rpID = c.RPID
	}
	cred.mu.Lock()
	cred.Counter++
	n := cred.Counter
	cred.mu.Unlock()
	if c.Counter != nil {
		n = *c.Counter
	}
	var ad []byte
	ad = append(ad, rpHash(rpID)...)
	ad = append(ad, a.flags(c))
	ad = binary.BigEndian.AppendUint32(ad, n)
	cd := a.clientData("webauthn.get", o.Challenge, c)
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdh[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": b64.EncodeToString(cred.ID), "rawId": b64.EncodeToString(cred.ID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(cred.UserHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
}
