// Package redisurl reads the Redis URLs authd accepts (redis://,
// rediss://, redis-sentinel://, redis-cluster:// and their TLS forms) into
// rueidis client options. It is internal so that rueidis types stay out of
// redisstore's API; redisstore and its test helpers (redistest) share it.
package redisurl

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/authd/authd/internal/redact"
	"github.com/redis/rueidis"
)

// Parse turns an authd Redis URL (see redisstore.Open for the forms) into
// a rueidis.ClientOption, with client-side caching off. Errors never
// repeat the password.
func Parse(rawURL string) (rueidis.ClientOption, error) {
	var co rueidis.ClientOption
	bad := func(why string) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, fmt.Errorf("redisstore: invalid Redis URL (%s): %s", redact.URL(rawURL), why)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return bad("missing scheme")
	}
	var mode string
	var useTLS bool
	switch strings.ToLower(scheme) {
	case "redis":
		mode = "standalone"
	case "rediss":
		mode, useTLS = "standalone", true
	case "redis-sentinel":
		mode = "sentinel"
	case "rediss-sentinel":
		mode, useTLS = "sentinel", true
	case "redis-cluster":
		mode = "cluster"
	case "rediss-cluster":
		mode, useTLS = "cluster", true
	default:
		return bad("scheme must be redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster")
	}
	if strings.ContainsAny(rest, "?#") {
		return bad("query parameters and fragments are not supported")
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	var user, pass string
	if i := strings.LastIndex(hostPart, "@"); i >= 0 {
		info := hostPart[:i]
		hostPart = hostPart[i+1:]
		u, p, colon := strings.Cut(info, ":")
		var err1, err2 error
		user, err1 = url.PathUnescape(u)
		pass, err2 = url.PathUnescape(p)
		if err1 != nil || err2 != nil {
			return bad("bad escape in user info")
		}
		if !colon { // a lone userinfo is the password: scheme://pass@host
			user, pass = "", user
		}
	}
	defPort := "6379"
	if mode == "sentinel" {
		defPort = "26379"
	}
	var addrs []string
	for _, h := range strings.Split(hostPart, ",") {
		if h == "" {
			return bad("empty host")
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defPort
		}
		if host == "" {
			return bad("empty host")
		}
		// An IP address or a host name: anything else ("]0", "a b") is
		// no address to dial and would only fail later, less clearly.
		if _, err := netip.ParseAddr(host); err != nil && strings.Trim(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
			return bad("bad host")
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return bad("bad port " + strconv.Quote(port))
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	if len(addrs) > 1 && mode == "standalone" {
		return bad("several hosts: use redis-cluster:// or redis-sentinel://")
	}
	segs := []string{}
	if path != "" {
		segs = strings.Split(path, "/")
	}
	parseDB := func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return errors.New("bad database number " + strconv.Quote(s))
		}
		co.SelectDB = n
		return nil
	}
	switch mode {
	case "standalone":
		if len(segs) > 1 {
			return bad("path must be /db")
		}
		if len(segs) == 1 && segs[0] != "" {
			if err := parseDB(segs[0]); err != nil {
				return bad(err.Error())
			}
		}
		co.ForceSingleClient = true
	case "sentinel":
		if len(segs) == 0 || segs[0] == "" || len(segs) > 2 {
			return bad("path must be /mastername[/db]")
		}
		co.Sentinel.MasterSet = segs[0]
		if len(segs) == 2 && segs[1] != "" {
			if err := parseDB(segs[1]); err != nil {
				return bad(err.Error())
			}
		}
		co.Sentinel.Username, co.Sentinel.Password = user, pass
	case "cluster":
		if len(segs) > 1 || (len(segs) == 1 && segs[0] != "" && segs[0] != "0") {
			return bad("Redis Cluster has only database 0")
		}
	}
	co.InitAddress = addrs
	co.ShuffleInit = len(addrs) > 1
	co.Username, co.Password = user, pass
	if useTLS {
		host, _, _ := net.SplitHostPort(addrs[0])
		co.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if mode == "sentinel" {
			co.Sentinel.TLSConfig = co.TLSConfig.Clone()
		}
	}
	co.DisableCache = true // also forced by redisstore.Open; set here so the option is right on its own
	return co, nil
}
