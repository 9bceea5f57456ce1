package redact

import "testing"

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:secret@db:5432/authd?sslmode=disable", "postgres://u:REDACTED@db:5432/authd?sslmode=disable"},
		{"postgres://u:s3cr/etPW@db/authd", "postgres://u:REDACTED@db/authd"}, // "/" in the password
		{"redis://:ab/cd+ef==@host:6379", "redis://REDACTED@host:6379"},
		{"redis://secret@host:6379/0", "redis://REDACTED@host:6379/0"},
		{"redis-sentinel://:pw@h1:26379,h2:26379/master", "redis-sentinel://REDACTED@h1:26379,h2:26379/master"},
		{"postgres://db/authd?user=u&password=secret&sslmode=require", "postgres://db/authd?user=u&password=REDACTED&sslmode=require"},
		{"postgres://db/authd?sslpassword=secret", "postgres://db/authd?sslpassword=REDACTED"},
		{"postgres://u@db/authd", "postgres://REDACTED@db/authd"},
		{"postgres://db/authd", "postgres://db/authd"},
		{"postgres://db/authd?x=a@b", "postgres://db/authd?x=a@b"}, // an "@" in the query is not userinfo
		{"sqlite:/var/lib/authd/authd.db", "sqlite:/var/lib/authd/authd.db"},
		// The cases cmd/authd tested before the helper moved here.
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
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
