package e2e

import "testing"

// redisModes adds the PostgreSQL + Redis Cluster run once the Redis
// backend is wired.
func redisModes() []struct {
	name  string
	extra func(t *testing.T) []string
} {
	return nil
}
