package redisstore_test

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/authd/authd/redisstore"
)

// redisSchemes maps every scheme ParseURL takes to its mode.
var redisSchemes = map[string]string{
	"redis": "standalone", "rediss": "standalone",
	"redis-sentinel": "sentinel", "rediss-sentinel": "sentinel",
	"redis-cluster": "cluster", "rediss-cluster": "cluster",
}

// FuzzParseURL is a --redis value through ParseURL. Nothing panics; an
// unknown scheme is refused; an accepted URL gives at least one address,
// each an IP address or a host name with a port in 1–65535, one address only for a
// standalone server, a database number that is not negative (0 for a
// Cluster), a master name for Sentinel, TLS exactly for the rediss
// schemes, and the credentials the URL spelt. A refusal never repeats the
// password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"redis://127.0.0.1:6379/0",
		"rediss://user:p%40ss@cache.example:6380/2",
		"redis-sentinel://secret@10.0.0.1:26379,10.0.0.2/mymaster/1",
		"redis-cluster://h1:7000,h2:7001",
		"redis://[::1]:6379",
		"redis://[::1",
		"redis://a:b:c",
		"redis://h:0",
		"redis://h:65536",
		"redis://h:-1",
		"redis://h/-1",
		"redis://h/99999999999999999999",
		"redis://h1,h2",
		"redis://u:pa%zzss@h",
		"redis://user:hunter2@h:1/x",
		"redis://:@h",
		"redis://h?db=1",
		"REDIS://H",
		"memcache://h",
		"redis:/h",
		"redis://\x00",
		"redis://h\xff",
		"redis://" + strings.Repeat("h,", 500) + "h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		co, err := redisstore.ParseURL(raw)
		scheme, rest, _ := strings.Cut(raw, "://")
		mode, known := redisSchemes[strings.ToLower(scheme)]
		if err != nil {
			if pass := rawPassword(rest); len(pass) >= 6 && strings.Count(raw, pass) == 1 && strings.Contains(err.Error(), pass) {
				t.Fatalf("ParseURL(%q) = %v: the error repeats the password", raw, err)
			}
			return
		}
		if !known || !strings.Contains(raw, "://") {
			t.Fatalf("ParseURL(%q) accepted an unknown scheme", raw)
		}
		if len(co.InitAddress) == 0 || (mode == "standalone" && len(co.InitAddress) != 1) {
			t.Fatalf("ParseURL(%q): addresses %q for %s", raw, co.InitAddress, mode)
		}
		for _, a := range co.InitAddress {
			host, port, err := net.SplitHostPort(a)
			n, perr := strconv.Atoi(port)
			_, iperr := netip.ParseAddr(host)
			name := strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == ""
			if err != nil || host == "" || (iperr != nil && !name) || perr != nil || n < 1 || n > 65535 {
				t.Fatalf("ParseURL(%q): address %q", raw, a)
			}
		}
		switch {
		case co.SelectDB < 0, mode == "cluster" && co.SelectDB != 0:
			t.Fatalf("ParseURL(%q): database %d for %s", raw, co.SelectDB, mode)
		case mode == "sentinel" && co.Sentinel.MasterSet == "":
			t.Fatalf("ParseURL(%q): Sentinel without a master name", raw)
		case (co.TLSConfig != nil) != strings.HasPrefix(strings.ToLower(scheme), "rediss"):
			t.Fatalf("ParseURL(%q): TLS %v", raw, co.TLSConfig != nil)
		}
		if pass := rawPassword(rest); pass != "" {
			want, err := url.PathUnescape(pass)
			if err != nil || co.Password != want {
				t.Fatalf("ParseURL(%q): password %q, the URL says %q", raw, co.Password, pass)
			}
		}
	})
}

// rawPassword is the password as written in the authority of a URL's
// rest (after "scheme://"): after the first ':' of the userinfo, or the
// whole userinfo when it has no ':'.
func rawPassword(rest string) string {
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return ""
	}
	info := authority[:at]
	if _, p, ok := strings.Cut(info, ":"); ok {
		return p
	}
	return info
}
