package main

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://authd:s3cret@db:5432/authd?sslmode=require", "postgres://authd:REDACTED@db:5432/authd?sslmode=require"},
		{"postgres://authd@db/authd", "postgres://REDACTED@db/authd"},
		{"redis://s3cret@127.0.0.1:6379/0", "redis://REDACTED@127.0.0.1:6379/0"},
		{"redis://default:s3cret@127.0.0.1:6379", "redis://default:REDACTED@127.0.0.1:6379"},
		{"redis-cluster://:p@ss@a:1,b:2", "redis-cluster://REDACTED@a:1,b:2"},
		{"redis-cluster://a:1,b:2", "redis-cluster://a:1,b:2"},
		{"postgres://db/x?sslmode=disable&password=s3cret", "postgres://db/x?sslmode=disable&password=REDACTED"},
		{"sqlite:/var/lib/authd.db", "sqlite:/var/lib/authd.db"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
