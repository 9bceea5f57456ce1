package e2e

import (
	"testing"

	"github.com/authd/authd/redisstore/redistest"
)

// redisModes is the second run of the multi-instance test: PostgreSQL for
// users, keys and clients, a 3-master Redis Cluster for sessions, refresh
// chains, revocations and throttling. Each run gets its own key prefix.
func redisModes() []struct {
	name  string
	extra func(t *testing.T) []string
} {
	return []struct {
		name  string
		extra func(t *testing.T) []string
	}{
		{"postgres+redis-cluster", func(t *testing.T) []string {
			return []string{"--redis", redistest.Cluster(t), "--redis-prefix", redistest.Prefix()}
		}},
	}
}
