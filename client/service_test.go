package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/memstore"
	"github.com/authd/authd/pgstore"
	"github.com/authd/authd/pgstore/pgtest"
	"github.com/authd/authd/user"
	"github.com/google/go-cmp/cmp"
)

var service = []string{client.GrantClientCredentials}

// TestAuthenticateHostileID: a client ID no client can have (NUL, control
// characters, invalid UTF-8, over-long) is refused as unauthenticated
// before the store. PostgreSQL cannot hold NUL in text: before, such an ID
// sent in HTTP Basic answered 503 (found by the black-box test). Get and
// Delete answer such IDs with ErrNotFound.
func TestAuthenticateHostileID(t *testing.T) {
	st, err := pgstore.Open(context.Background(), pgtest.NewDatabase(t), pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	svc := client.NewService(st, nil, nil)
	c, secret, err := svc.Create(ctx, client.Registration{Name: "svc", GrantTypes: service})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); err != nil {
		t.Fatalf("the real client: %v", err)
	}
	for _, id := range hostileIDs(c.ID) {
		if _, err := svc.Authenticate(ctx, id, secret); !errors.Is(err, authd.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", id, err)
		}
		if _, err := svc.Get(ctx, id); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if err := svc.Delete(ctx, id); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if got, err := svc.Get(ctx, c.ID); err != nil || got.ID != c.ID {
		t.Errorf("Get(real) = %v, %v", got, err)
	}
}

func hostileIDs(real string) []string {
	return []string{"a\x00b", real + "\x00", "\xff\xfe", "tab\there", string(make([]byte, 129)), strings.Repeat("é", 65), ""}
}

// TestConsentHostileID: the consent methods refuse IDs no user or client
// can have without asking the store.
func TestConsentHostileID(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	for _, id := range hostileIDs("c_x") {
		if ok, err := svc.ConsentCovers(ctx, id, "c_x", nil); ok || err != nil {
			t.Errorf("ConsentCovers(user %q) = %v, %v; want false, nil", id, ok, err)
		}
		if err := svc.GrantConsent(ctx, "u", id, nil); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("GrantConsent(client %q) = %v, want ErrNotFound", id, err)
		}
		if err := svc.WithdrawConsent(ctx, id, "c_x"); !errors.Is(err, authd.ErrNotFound) {
			t.Errorf("WithdrawConsent(user %q) = %v, want ErrNotFound", id, err)
		}
		if cs, err := svc.Consents(ctx, id); err != nil || cs == nil || len(cs) != 0 {
			t.Errorf("Consents(%q) = %v, %v; want none", id, cs, err)
		}
	}
}

func newService(t *testing.T) (*client.Service, *memstore.Store) {
	st := memstore.New()
	now := func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 678912345, time.FixedZone("X", 3600)) }
	return client.NewService(st, st, now), st
}

func TestCreate(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t)

	conf, secret, err := svc.Create(ctx, client.Registration{
		Name:         "  Web app ",
		FirstParty:   true,
		RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		Scopes:       []string{"openid", "email"},
		IDTokenAlg:   "ES256",
	})
	if err != nil {
		t.Fatalf("Create(confidential) = %v", err)
	}
	sum := sha256.Sum256([]byte(secret))
	want := &client.Client{ID: conf.ID, Name: "Web app", SecretHash: sum[:],
		CreatedAt:  time.Date(2030, 1, 2, 2, 4, 5, 678912000, time.UTC),
		FirstParty: true, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		Scopes: []string{"openid", "email"}, IDTokenAlg: "ES256"}
	if diff := cmp.Diff(want, conf); diff != "" {
		t.Errorf("Create (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(conf.ID, "c_") || len(secret) != 43 {
		t.Errorf("ID %q, secret %q: want c_…, 43 characters of base64url", conf.ID, secret)
	}
	stored, err := st.ClientByID(ctx, conf.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	if got, err := svc.Authenticate(ctx, conf.ID, secret); err != nil || got.ID != conf.ID {
		t.Errorf("Authenticate(confidential) = %v, %v", got, err)
	}
	if _, err := svc.Authenticate(ctx, conf.ID, secret+"x"); !errors.Is(err, authd.ErrUnauthenticated) {
		t.Errorf("Authenticate(wrong secret) = %v, want ErrUnauthenticated", err)
	}

	pub, secret, err := svc.Create(ctx, client.Registration{Name: "SPA", Public: true,
		RedirectURIs: []string{"https://spa.example/cb"}, PostLogoutRedirectURIs: []string{}})
	if err != nil {
		t.Fatalf("Create(public) = %v", err)
	}
	if secret != "" || pub.SecretHash != nil || !pub.Public || pub.PostLogoutRedirectURIs != nil {
		t.Errorf("public client: secret %q, %+v; want no secret, no hash, empty lists nil", secret, pub)
	}
	// A public client has no secret to present: neither the empty one
	// nor any other authenticates it.
	for _, s := range []string{"", "x", strings.Repeat("A", 43)} {
		if _, err := svc.Authenticate(ctx, pub.ID, s); !errors.Is(err, authd.ErrUnauthenticated) {
			t.Errorf("Authenticate(public, %q) = %v, want ErrUnauthenticated", s, err)
		}
	}
	if got, err := svc.Get(ctx, pub.ID); err != nil || !got.Public {
		t.Errorf("Get(public) = %+v, %v", got, err)
	}
	if _, err := svc.Get(ctx, "c_nope"); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}

	if _, _, err := svc.Create(ctx, client.Registration{Name: "Web app", GrantTypes: service}); !errors.Is(err, authd.ErrConflict) {
		t.Errorf("Create(same name) = %v, want ErrConflict", err)
	}
}

func TestCreateValidation(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		var out []string
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	uri := func(i int) string { return "https://app.example/cb" + strings.Repeat("x", i) }
	cb := []string{"https://app.example/cb"}
	tests := []struct {
		name  string
		reg   client.Registration
		field string // "": valid
	}{
		{"service", client.Registration{Name: "svc", GrantTypes: service}, ""},
		{"empty name", client.Registration{Name: "  ", GrantTypes: service}, "name"},
		{"long name", client.Registration{Name: strings.Repeat("n", 101), GrantTypes: service}, "name"},
		{"control in name", client.Registration{Name: "a\nb", GrantTypes: service}, "name"},
		{"defaults need a redirect URI", client.Registration{Name: "app"}, "redirect_uris"},
		{"authorization_code needs a redirect URI", client.Registration{Name: "app", GrantTypes: []string{"authorization_code"}}, "redirect_uris"},
		{"defaults with a redirect URI", client.Registration{Name: "app", RedirectURIs: cb}, ""},

		// Redirect URIs.
		{"https", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example:8443/cb?x=1&y=%20"}}, ""},
		{"loopback v4", client.Registration{Name: "a", RedirectURIs: []string{"http://127.0.0.1/cb", "http://127.0.0.1:8080/cb"}}, ""},
		{"loopback v6", client.Registration{Name: "a", RedirectURIs: []string{"http://[::1]/cb", "http://[::1]:8080"}}, ""},
		{"private-use scheme", client.Registration{Name: "a", Public: true, RedirectURIs: []string{"com.example.app:/oauth2redirect"}}, ""},
		{"20 URIs", client.Registration{Name: "a", RedirectURIs: many(20, uri)}, ""},
		{"21 URIs", client.Registration{Name: "a", RedirectURIs: many(21, uri)}, "redirect_uris"},
		{"2000 bytes", client.Registration{Name: "a", RedirectURIs: []string{"https://a.example/" + strings.Repeat("x", 2000-18)}}, ""},
		{"2001 bytes", client.Registration{Name: "a", RedirectURIs: []string{"https://a.example/" + strings.Repeat("x", 2001-18)}}, "redirect_uris"},
		{"empty URI", client.Registration{Name: "a", RedirectURIs: []string{""}}, "redirect_uris"},
		{"duplicate", client.Registration{Name: "a", RedirectURIs: []string{cb[0], cb[0]}}, "redirect_uris"},
		{"relative", client.Registration{Name: "a", RedirectURIs: []string{"/cb"}}, "redirect_uris"},
		{"scheme-relative", client.Registration{Name: "a", RedirectURIs: []string{"//app.example/cb"}}, "redirect_uris"},
		{"fragment", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/cb#x"}}, "redirect_uris"},
		{"empty fragment", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/cb#"}}, "redirect_uris"},
		{"userinfo", client.Registration{Name: "a", RedirectURIs: []string{"https://good.example@evil.example/"}}, "redirect_uris"},
		{"userinfo with password", client.Registration{Name: "a", RedirectURIs: []string{"https://u:p@app.example/"}}, "redirect_uris"},
		{"wildcard host", client.Registration{Name: "a", RedirectURIs: []string{"https://*.example/cb"}}, "redirect_uris"},
		{"wildcard path", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/*"}}, "redirect_uris"},
		{"http", client.Registration{Name: "a", RedirectURIs: []string{"http://app.example/cb"}}, "redirect_uris"},
		{"localhost", client.Registration{Name: "a", RedirectURIs: []string{"http://localhost:8080/cb"}}, "redirect_uris"},
		{"loopback look-alike", client.Registration{Name: "a", RedirectURIs: []string{"http://127.0.0.1.evil.example/cb"}}, "redirect_uris"},
		{"other loopback address", client.Registration{Name: "a", RedirectURIs: []string{"http://127.0.0.2/cb"}}, "redirect_uris"},
		{"IPv6 zone", client.Registration{Name: "a", RedirectURIs: []string{"http://[::1%25lo]/cb"}}, "redirect_uris"},
		{"empty port", client.Registration{Name: "a", RedirectURIs: []string{"http://127.0.0.1:/cb"}}, "redirect_uris"},
		{"port out of range", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example:65536/cb"}}, "redirect_uris"},
		{"port zero", client.Registration{Name: "a", RedirectURIs: []string{"http://127.0.0.1:0/cb"}}, "redirect_uris"},
		{"upper-case scheme", client.Registration{Name: "a", RedirectURIs: []string{"HTTPS://app.example/cb"}}, "redirect_uris"},
		{"https without host", client.Registration{Name: "a", RedirectURIs: []string{"https:/cb"}}, "redirect_uris"},
		{"private scheme without dot", client.Registration{Name: "a", RedirectURIs: []string{"myapp:/cb"}}, "redirect_uris"},
		{"javascript", client.Registration{Name: "a", RedirectURIs: []string{"javascript:alert(1)"}}, "redirect_uris"},
		{"data", client.Registration{Name: "a", RedirectURIs: []string{"data:text/html,x"}}, "redirect_uris"},
		{"space", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/c b"}}, "redirect_uris"},
		{"backslash", client.Registration{Name: "a", RedirectURIs: []string{`https://good.example\@evil.example/`}}, "redirect_uris"},
		{"non-ASCII", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/é"}}, "redirect_uris"},
		{"NUL", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/\x00"}}, "redirect_uris"},
		{"bad escape", client.Registration{Name: "a", RedirectURIs: []string{"https://app.example/%zz"}}, "redirect_uris"},

		// Post-logout redirect URIs: the same rules, none required.
		{"post-logout", client.Registration{Name: "a", RedirectURIs: cb, PostLogoutRedirectURIs: []string{"https://app.example/bye", "http://[::1]/bye", "com.example.app:/bye"}}, ""},
		{"post-logout fragment", client.Registration{Name: "a", RedirectURIs: cb, PostLogoutRedirectURIs: []string{"https://app.example/#bye"}}, "post_logout_redirect_uris"},
		{"post-logout http", client.Registration{Name: "a", RedirectURIs: cb, PostLogoutRedirectURIs: []string{"http://app.example/"}}, "post_logout_redirect_uris"},
		{"post-logout 21", client.Registration{Name: "a", RedirectURIs: cb, PostLogoutRedirectURIs: many(21, uri)}, "post_logout_redirect_uris"},

		// Back-channel logout URI.
		{"backchannel https", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "https://app.example/bcl?x=1"}, ""},
		{"backchannel loopback", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "http://127.0.0.1:9000/bcl"}, ""},
		{"backchannel http", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "http://app.example/bcl"}, "backchannel_logout_uri"},
		{"backchannel fragment", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "https://app.example/bcl#x"}, "backchannel_logout_uri"},
		{"backchannel private scheme", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "com.example.app:/bcl"}, "backchannel_logout_uri"},
		{"backchannel relative", client.Registration{Name: "a", RedirectURIs: cb, BackchannelLogoutURI: "/bcl"}, "backchannel_logout_uri"},

		// Grant types.
		{"all grants", client.Registration{Name: "a", RedirectURIs: cb, GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials", "password"}}, ""},
		{"unknown grant", client.Registration{Name: "a", GrantTypes: []string{"implicit"}}, "grant_types"},
		{"duplicate grant", client.Registration{Name: "a", GrantTypes: []string{"client_credentials", "client_credentials"}}, "grant_types"},
		{"public client_credentials", client.Registration{Name: "a", Public: true, GrantTypes: service}, "grant_types"},
		{"public defaults", client.Registration{Name: "a", Public: true, RedirectURIs: cb}, ""},
		{"refresh only", client.Registration{Name: "a", GrantTypes: []string{"refresh_token"}}, ""},

		// Scopes (RFC 6749 §3.3).
		{"scopes", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{"openid", "read:all", "https://api.example/x", "!#$%&'()*+,-./[]^_`{|}~"}}, ""},
		{"32 scopes", client.Registration{Name: "a", GrantTypes: service, Scopes: many(32, func(i int) string { return "s" + strings.Repeat("x", i) })}, ""},
		{"33 scopes", client.Registration{Name: "a", GrantTypes: service, Scopes: many(33, func(i int) string { return "s" + strings.Repeat("x", i) })}, "scope"},
		{"scope with space", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{"a b"}}, "scope"},
		{"scope with quote", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{`a"b`}}, "scope"},
		{"scope with backslash", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{`a\b`}}, "scope"},
		{"non-ASCII scope", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{"é"}}, "scope"},
		{"empty scope", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{""}}, "scope"},
		{"duplicate scope", client.Registration{Name: "a", GrantTypes: service, Scopes: []string{"openid", "openid"}}, "scope"},

		// ID token algorithm.
		{"RS256", client.Registration{Name: "a", GrantTypes: service, IDTokenAlg: "RS256"}, ""},
		{"EdDSA", client.Registration{Name: "a", GrantTypes: service, IDTokenAlg: "EdDSA"}, ""},
		{"none alg", client.Registration{Name: "a", GrantTypes: service, IDTokenAlg: "none"}, "id_token_signed_response_alg"},
		{"HS256", client.Registration{Name: "a", GrantTypes: service, IDTokenAlg: "HS256"}, "id_token_signed_response_alg"},
		{"lower-case alg", client.Registration{Name: "a", GrantTypes: service, IDTokenAlg: "rs256"}, "id_token_signed_response_alg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, st := newService(t)
			c, _, err := svc.Create(context.Background(), tt.reg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Create = %v, want nil", err)
				}
				return
			}
			var ve *authd.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != tt.field || ve.Fields[0].Detail == "" {
				t.Fatalf("Create = %v, %v; want a ValidationError on %s", c, err, tt.field)
			}
			t.Logf("%s: %s", ve.Fields[0].Reason, ve.Fields[0].Detail)
			if list, _ := st.ListClients(context.Background()); len(list) != 0 {
				t.Errorf("a refused registration was stored")
			}
		})
	}
}

// TestRedirectAllowed: exact matching, with the RFC 9700 §4.1 attacks, and
// the loopback port exception of RFC 8252 §7.3.
func TestRedirectAllowed(t *testing.T) {
	c := &client.Client{RedirectURIs: []string{
		"https://app.example/cb",
		"https://app.example:8443/other?x=1",
		"http://127.0.0.1/native",
		"http://127.0.0.1:5000/fixed",
		"http://[::1]/v6",
		"com.example.app:/oauth2redirect",
	}}
	tests := []struct {
		uri  string
		want bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example:8443/other?x=1", true},
		{"com.example.app:/oauth2redirect", true},
		{"", false},

		// Prefix, suffix and path tricks.
		{"https://app.example/c", false},
		{"https://app.example/cb/", false},
		{"https://app.example/cbx", false},
		{"https://app.example/cb/../x", false},
		{"https://app.example/cb/..%2Fx", false},
		{"https://app.example/x/../cb", false},
		{"https://app.example.evil.example/cb", false},
		{"https://evil.example/https://app.example/cb", false},
		{"https://app.example/cb.evil.example", false},
		// Port, host, userinfo.
		{"https://app.example:443/cb", false},
		{"https://app.example:8444/other?x=1", false},
		{"https://app.example@evil.example/cb", false},
		{"https://evil.example@app.example/cb", false},
		{"https://good.example@evil.example/", false},
		// Case, encoding, query, fragment.
		{"https://APP.example/cb", false},
		{"HTTPS://app.example/cb", false},
		{"https://app.example/CB", false},
		{"https://app.example/%63b", false},
		{"https://app.example/cb#x", false},
		{"https://app.example/cb#", false},
		{"https://app.example/cb?x=1", false},
		{"https://app.example/cb?", false},
		{"https://app.example:8443/other?x=1&y=2", false},
		{"https://app.example:8443/other", false},
		{"http://app.example/cb", false},
		{"com.example.app:/oauth2redirect/x", false},
		{"com.example.evil:/oauth2redirect", false},

		// Loopback: any port (RFC 8252 §7.3), nothing else loosened.
		{"http://127.0.0.1/native", true},
		{"http://127.0.0.1:1/native", true},
		{"http://127.0.0.1:51004/native", true},
		{"http://127.0.0.1:65535/native", true},
		{"http://127.0.0.1:5000/fixed", true},
		{"http://127.0.0.1:5001/fixed", true},
		{"http://127.0.0.1/fixed", true},
		{"http://127.0.0.1:65536/native", false},
		{"http://127.0.0.1:0/native", false},
		{"http://127.0.0.1:08080/native", false},
		{"http://127.0.0.1:/native", false},
		{"http://127.0.0.1:x/native", false},
		{"http://127.0.0.1:80800/native", false},
		{"http://127.0.0.1:51004/native/", false},
		{"http://127.0.0.1:51004/native?x=1", false},
		{"http://127.0.0.1:51004/native#x", false},
		{"http://127.0.0.1:51004/NATIVE", false},
		{"http://127.0.0.1:51004/native/../native", false},
		{"http://localhost:51004/native", false},
		{"http://localhost/native", false},
		{"http://127.0.0.1.evil.example/native", false},
		{"http://127.0.0.1@evil.example/native", false},
		{"http://127.0.0.1:51004@evil.example/native", false},
		{"http://127.0.0.2:51004/native", false},
		{"https://127.0.0.1:51004/native", false},
		{"http://[::1]:51004/native", false}, // v4 registered, v6 presented
		{"http://[::1]/v6", true},
		{"http://[::1]:8080/v6", true},
		{"http://127.0.0.1:8080/v6", false},
		{"http://[::1%25lo]:8080/v6", false},
		{"http://[0:0:0:0:0:0:0:1]:8080/v6", false},
	}
	for _, tt := range tests {
		if got := c.RedirectAllowed(tt.uri); got != tt.want {
			t.Errorf("RedirectAllowed(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
	if (&client.Client{}).RedirectAllowed("http://127.0.0.1/native") {
		t.Error("a client without redirect URIs allowed one")
	}
}

func TestPostLogoutAllowed(t *testing.T) {
	c := &client.Client{
		RedirectURIs:           []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		PostLogoutRedirectURIs: []string{"https://app.example/bye", "http://127.0.0.1/bye"},
	}
	for uri, want := range map[string]bool{
		"https://app.example/bye":      true,
		"http://127.0.0.1/bye":         true,
		"http://127.0.0.1:8080/bye":    false, // exact match only
		"https://app.example/bye/":     false,
		"https://app.example/bye?x=1":  false,
		"https://app.example/cb":       false, // a redirect URI is not a post-logout one
		"https://app.example/bye#x":    false,
		"https://APP.example/bye":      false,
		"https://evil.example/bye":     false,
		"https://app.example@evil/bye": false,
		"":                             false,
	} {
		if got := c.PostLogoutAllowed(uri); got != want {
			t.Errorf("PostLogoutAllowed(%q) = %v, want %v", uri, got, want)
		}
	}
}

func TestAllowsGrant(t *testing.T) {
	all := []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials, client.GrantPassword, "implicit", ""}
	tests := []struct {
		name string
		c    client.Client
		want []string
	}{
		{"confidential defaults", client.Client{}, []string{"authorization_code", "refresh_token", "client_credentials"}},
		{"public defaults", client.Client{Public: true}, []string{"authorization_code", "refresh_token"}},
		{"listed", client.Client{GrantTypes: []string{"client_credentials"}}, []string{"client_credentials"}},
		{"public never client_credentials", client.Client{Public: true, GrantTypes: []string{"client_credentials", "authorization_code"}}, []string{"authorization_code"}},
		{"password when listed", client.Client{GrantTypes: []string{"password"}}, []string{"password"}},
	}
	for _, tt := range tests {
		var got []string
		for _, gt := range all {
			if tt.c.AllowsGrant(gt) {
				got = append(got, gt)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: allowed grants (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestAllowsScopes(t *testing.T) {
	any := &client.Client{}
	some := &client.Client{Scopes: []string{"openid", "email"}}
	tests := []struct {
		c      *client.Client
		scopes []string
		want   bool
	}{
		{any, nil, true},
		{any, []string{"anything", "at:all"}, true},
		{some, nil, true},
		{some, []string{"openid"}, true},
		{some, []string{"email", "openid"}, true},
		{some, []string{"openid", "profile"}, false},
		{some, []string{"OPENID"}, false},
		{some, []string{""}, false},
	}
	for _, tt := range tests {
		if got := tt.c.AllowsScopes(tt.scopes); got != tt.want {
			t.Errorf("%v.AllowsScopes(%q) = %v, want %v", tt.c.Scopes, tt.scopes, got, tt.want)
		}
	}
}

func TestConsent(t *testing.T) {
	ctx := context.Background()
	svc, st := newService(t)
	u := &user.User{ID: "u1", Email: "ann@example.com", PasswordHash: "x"}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	app, _, err := svc.Create(ctx, client.Registration{Name: "app", RedirectURIs: []string{"https://app.example/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	covers := func(scopes ...string) bool {
		t.Helper()
		ok, err := svc.ConsentCovers(ctx, u.ID, app.ID, scopes)
		if err != nil {
			t.Fatalf("ConsentCovers(%q) = %v", scopes, err)
		}
		return ok
	}
	if covers() || covers("openid") {
		t.Error("covered before any consent")
	}
	if err := svc.GrantConsent(ctx, u.ID, app.ID, []string{"profile", "openid", "openid"}); err != nil {
		t.Fatalf("GrantConsent = %v", err)
	}
	if err := svc.GrantConsent(ctx, u.ID, app.ID, []string{"email", "openid"}); err != nil {
		t.Fatalf("second GrantConsent = %v", err)
	}
	cs, err := svc.Consents(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []*client.Consent{{UserID: u.ID, ClientID: app.ID, Scopes: []string{"email", "openid", "profile"},
		GrantedAt: time.Date(2030, 1, 2, 2, 4, 5, 678912000, time.UTC)}}
	if diff := cmp.Diff(want, cs); diff != "" {
		t.Errorf("Consents (-want +got):\n%s", diff)
	}
	for scopes, want := range map[string]bool{"": true, "openid": true, "email openid profile": true, "openid address": false, "Email": false} {
		if got := covers(strings.Fields(scopes)...); got != want {
			t.Errorf("ConsentCovers(%q) = %v, want %v", scopes, got, want)
		}
	}
	var ve *authd.ValidationError
	if err := svc.GrantConsent(ctx, u.ID, app.ID, []string{"a b"}); !errors.As(err, &ve) {
		t.Errorf("GrantConsent(bad scope) = %v, want a ValidationError", err)
	}
	if err := svc.GrantConsent(ctx, u.ID, "c_nope", []string{"openid"}); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("GrantConsent(unknown client) = %v, want ErrNotFound", err)
	}
	if err := svc.WithdrawConsent(ctx, u.ID, app.ID); err != nil {
		t.Fatalf("WithdrawConsent = %v", err)
	}
	if covers() {
		t.Error("covered after withdrawal")
	}
	if err := svc.WithdrawConsent(ctx, u.ID, app.ID); !errors.Is(err, authd.ErrNotFound) {
		t.Errorf("second WithdrawConsent = %v, want ErrNotFound", err)
	}
	// Deleting the client withdraws consents too.
	if err := svc.GrantConsent(ctx, u.ID, app.ID, []string{"openid"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, app.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err := svc.Consents(ctx, u.ID); err != nil || len(cs) != 0 {
		t.Errorf("Consents after deleting the client = %v, %v; want none", cs, err)
	}
}

func TestNoConsentStore(t *testing.T) {
	ctx := context.Background()
	svc := client.NewService(memstore.New(), nil, nil)
	if err := svc.GrantConsent(ctx, "u", "c", nil); err == nil {
		t.Error("GrantConsent without a consent store succeeded")
	}
	if ok, err := svc.ConsentCovers(ctx, "u", "c", nil); ok || err == nil {
		t.Errorf("ConsentCovers without a consent store = %v, %v; want false, an error", ok, err)
	}
	if _, err := svc.Consents(ctx, "u"); err == nil {
		t.Error("Consents without a consent store succeeded")
	}
	if err := svc.WithdrawConsent(ctx, "u", "c"); err == nil {
		t.Error("WithdrawConsent without a consent store succeeded")
	}
}
