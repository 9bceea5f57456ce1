package pgstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/authd/authd/pgstore"
)

// TestOpenHidesPassword: a connection string that does not parse is
// quoted by pgx with a best-effort redaction; Open's error must show no
// part of the password whatever it holds.
func TestOpenHidesPassword(t *testing.T) {
	tests := []struct {
		dsn   string
		leaks []string // parts of the password
	}{
		{"postgres://authd:p:a@ss@db:54x/authd", []string{"p:a@ss", "a@ss", "@ss@"}},
		{"postgres://authd:se?cr#et@db:port/authd", []string{"se?cr#et", "cr#et", "#et"}},
		{"postgresql://authd:sec ret@[::1/authd", []string{"sec ret", "ret@"}},
		{"postgres://authd:pass/word@db/authd?pool_max_conns=x", []string{"pass/word", "word@"}},
		{"host=db password = s3cret port=x", []string{"s3cret"}},
		{"host=db password='s3 cret", []string{"s3 cret", "cret"}},
	}
	for _, tt := range tests {
		_, err := pgstore.Open(context.Background(), tt.dsn, pgstore.Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded, want a parse error", tt.dsn)
			continue
		}
		for _, leak := range tt.leaks {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("Open(%q) = %q, shows %q", tt.dsn, err, leak)
			}
		}
	}
}
