package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSigningAlgFlag: --signing-alg is a comma-separated list of known
// algorithms, none twice; the first is the default.
func TestSigningAlgFlag(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: refused
	}{
		{"EdDSA,RS256", []string{"EdDSA", "RS256"}},
		{"RS256", []string{"RS256"}},
		{"RS256,EdDSA,ES256", []string{"RS256", "EdDSA", "ES256"}},
		{" EdDSA , RS256 ", []string{"EdDSA", "RS256"}},
		{"", nil},
		{",", nil},
		{"EdDSA,", nil},
		{"EdDSA,,RS256", nil},
		{"EdDSA,EdDSA", nil},
		{"RS256,EdDSA,RS256", nil},
		{"HS256", nil},
		{"none", nil},
		{"rs256", nil},
		{"EdDSA RS256", nil},
		{"EdDSA;RS256", nil},
		{"PS256", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := config{SigningAlg: tt.in}
			got, err := c.signingAlgs()
			if tt.want == nil {
				if err == nil {
					t.Fatalf("signingAlgs(%q) = %v; want an error", tt.in, got)
				}
				// The command line refuses it as a usage error, before
				// touching any store.
				dir := t.TempDir()
				out, _, err := runCmd(t, nil, "", "keys", "list", "--data-dir", dir, "--signing-alg", tt.in)
				if !isUsage(err) || !strings.Contains(err.Error(), "--signing-alg") || out != "" {
					t.Errorf("keys list --signing-alg %q = %v (printed %q); want a usage error naming --signing-alg", tt.in, err, out)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("signingAlgs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	// From the environment too.
	_, _, err := runCmd(t, map[string]string{"AUTHD_SIGNING_ALG": "EdDSA,HS256"}, "", "keys", "list", "--data-dir", t.TempDir())
	if !isUsage(err) || !strings.Contains(err.Error(), "HS256") {
		t.Errorf("AUTHD_SIGNING_ALG=EdDSA,HS256: %v; want a usage error", err)
	}
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	serveFlags(fs, &c)
	if err := parse(fs, nil, env(nil)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.signingAlgs(); err != nil || !slices.Equal(got, []string{"EdDSA", "RS256"}) {
		t.Errorf("default --signing-alg = %v, %v; want [EdDSA RS256]", got, err)
	}
}

// TestKeysRotateSigningAlgs: `authd keys rotate` rotates the algorithms
// the deployment signs with (those of the store's current keys), never
// the defaults of its own --signing-alg; `--alg X` rotates X only. The
// running instance signs access tokens with the first algorithm of its
// --signing-alg and publishes the new keys.
func TestKeysRotateSigningAlgs(t *testing.T) {
	tests := []struct {
		name   string
		serve  []string // extra serve flags
		rotate []string // extra keys rotate flags
		// access is the running instance's access-token alg; before and
		// after are the algorithms of the keys in the store before and
		// after the rotation, rotated those of the new keys, in order.
		access         string
		before, after  []string
		rotated        []string
		notInUseNotice bool
	}{
		{
			name: "RS256 deployment, no --signing-alg on keys rotate", serve: []string{"--signing-alg", "RS256"},
			access: "RS256", before: []string{"RS256"}, after: []string{"RS256", "RS256"}, rotated: []string{"RS256"},
		},
		{
			name: "default deployment", access: "EdDSA",
			before: []string{"EdDSA", "RS256"}, after: []string{"EdDSA", "RS256", "EdDSA", "RS256"}, rotated: []string{"EdDSA", "RS256"},
		},
		{
			name: "--alg RS256 on a default deployment", rotate: []string{"--alg", "RS256"}, access: "EdDSA",
			before: []string{"EdDSA", "RS256"}, after: []string{"EdDSA", "RS256", "RS256"}, rotated: []string{"RS256"},
		},
		{
			name: "ES256 deployment, keys rotate with another --signing-alg", serve: []string{"--signing-alg", "ES256"},
			rotate: []string{"--signing-alg", "EdDSA,RS256"}, access: "ES256",
			before: []string{"ES256"}, after: []string{"ES256", "ES256"}, rotated: []string{"ES256"},
		},
		{
			name: "--alg not in use: pre-published", serve: []string{"--signing-alg", "ES256"}, rotate: []string{"--alg", "EdDSA"},
			access: "ES256", before: []string{"ES256"}, after: []string{"ES256", "EdDSA"}, rotated: []string{"EdDSA"}, notInUseNotice: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, nil, serveArgs(dir, append(tt.serve, "--password-grant", "on")...)...)
			algsOf := func(rows [][]string) []string {
				var a []string
				for _, r := range rows {
					a = append(a, r[1])
				}
				return a
			}
			if got := algsOf(keyRows(t, dir)); !slices.Equal(got, tt.before) {
				t.Fatalf("keys before the rotation: %v, want %v", got, tt.before)
			}
			register(t, testClient, s.URL, "alice@example.com", "correct horse battery staple")
			access, _ := krTokens(t, s.URL, url.Values{"grant_type": {"password"}, "username": {"alice@example.com"},
				"password": {"correct horse battery staple"}})
			if got := jwsAlg(t, access); got != tt.access {
				t.Errorf("access token signed with %s, want %s", got, tt.access)
			}

			out := mustRun(t, "", append([]string{"keys", "rotate", "--data-dir", dir}, tt.rotate...)...)
			var rotated []string
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) > 2 && f[0] == "new" && strings.Contains(l, "published now") {
					rotated = append(rotated, f[1])
				}
			}
			if !slices.Equal(rotated, tt.rotated) {
				t.Errorf("keys rotate made %v keys, want %v:\n%s", rotated, tt.rotated, out)
			}
			if got := strings.Contains(out, "not among the algorithms the deployment signs with"); got != tt.notInUseNotice {
				t.Errorf("notice about an algorithm not in use printed: %v, want %v:\n%s", got, tt.notInUseNotice, out)
			}
			rows := keyRows(t, dir)
			if got := algsOf(rows); !slices.Equal(got, tt.after) {
				t.Errorf("keys after the rotation: %v, want %v", got, tt.after)
			}
			// The running instance publishes every new key within its
			// reload interval, and still signs with the same algorithm.
			var newKids []string
			for _, r := range rows[len(tt.before):] {
				newKids = append(newKids, r[0])
			}
			if err := eventually(2*time.Second, func() error {
				kids := krJWKSKids(t, s.URL)
				for _, k := range newKids {
					if !slices.Contains(kids, k) {
						return fmt.Errorf("JWKS %v lacks %s", kids, k)
					}
				}
				return nil
			}); err != nil {
				t.Errorf("the running instance does not publish the new keys %v: %v", newKids, err)
			}
			access, _ = krTokens(t, s.URL, url.Values{"grant_type": {"password"}, "username": {"alice@example.com"},
				"password": {"correct horse battery staple"}})
			if got := jwsAlg(t, access); got != tt.access {
				t.Errorf("after the rotation the access token is signed with %s, want %s", got, tt.access)
			}
		})
	}
}

// jwsAlg returns the alg of a compact JWS's header.
func jwsAlg(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct{ Alg string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return hdr.Alg
}
