package redact

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

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
		{"sqlite:/var/lib/authd/authd.db", "sqlite:/var/lib/authd/authd.db"},
		{"postgres://authd:s3cret@db:5432/authd?sslmode=require", "postgres://authd:REDACTED@db:5432/authd?sslmode=require"},
		{"redis://s3cret@127.0.0.1:6379/0", "redis://REDACTED@127.0.0.1:6379/0"},
		{"redis://default:s3cret@127.0.0.1:6379", "redis://default:REDACTED@127.0.0.1:6379"},
		{"redis-cluster://:p@ss@a:1,b:2", "redis-cluster://REDACTED@a:1,b:2"},
		{"redis-cluster://a:1,b:2", "redis-cluster://a:1,b:2"},
		{"postgres://db/x?sslmode=disable&password=s3cret", "postgres://db/x?sslmode=disable&password=REDACTED"},
		{"memory://", "memory://"},
		{"postgres://[::1]:5432/authd", "postgres://[::1]:5432/authd"},
		{"postgres:///authd?host=/run/postgresql", "postgres:///authd?host=/run/postgresql"},

		// Hostile passwords, written without escaping: the userinfo ends at
		// the last "@", whatever comes before it.
		{"postgres://u:pa?ss@db/authd", "postgres://u:REDACTED@db/authd"},
		{"postgres://u:pa#ss@db/authd", "postgres://u:REDACTED@db/authd"},
		{"postgresql://u:a?b#c/d@e@db:5432/authd?sslmode=require", "postgresql://u:REDACTED@db:5432/authd?sslmode=require"},
		{"postgres://u:p:a@ss@h:54x/db", "postgres://u:REDACTED@REDACTED"}, // the port is no port: hide it too
		{"postgres://u:SEC RET@[::1/db", "postgres://u:REDACTED@REDACTED"},
		{"postgres://u:%3Fs%23e%40@db/authd", "postgres://u:REDACTED@db/authd"},
		{"rediss://default:x?y#z@cache:6380", "rediss://default:REDACTED@cache:6380"},
		{"redis-sentinel://:x#y@h1:26379,h2:26379/mymaster", "redis-sentinel://REDACTED@h1:26379,h2:26379/mymaster"},
		{"redis-cluster://u:p/q?r@a:1,b:2", "redis-cluster://u:REDACTED@a:1,b:2"},
		// A user name that is not plainly one may be a password: hide it.
		{"postgres://db/x?password=abc:def@h", "postgres://REDACTED"},
		{"postgres://db/authd?x=a@b", "postgres://REDACTED"}, // an "@" anywhere may end a userinfo
		{"redis://ab/cd@host", "redis://REDACTED"},
		{"postgres://u:p@h/db?password=x@y", "postgres://REDACTED"}, // a query password before the last "@"
		// Query passwords: the value runs to the next "&name=", and hostile
		// bytes inside it stay hidden.
		{"postgres://db/x?password=a#b?c&sslmode=require", "postgres://db/x?password=REDACTED&sslmode=require"},
		{"postgres://db/x?password=a&b&sslmode=require", "postgres://db/x?password=REDACTED&sslmode=require"},
		{"postgres://db/x?PassWord=abc", "postgres://db/x?PassWord=REDACTED"},
		{"postgres://db/x?pass%77ord=abc", "postgres://db/x?pass%77ord=REDACTED"},
		{"postgres://db/x#password=abc", "postgres://db/x#password=REDACTED"},
		// Malformed: never echoed raw.
		{"postgres://u:pa/ss", "postgres://REDACTED"}, // no "@": the "port" may be a password
		{"post gres://u:pw@h", "REDACTED"},
		{"postgres:u:secret@h/db", "REDACTED@h/db"},
		// Keyword/value connection strings (libpq).
		{"host=db user=u password=secret dbname=authd", "host=db user=u password=REDACTED dbname=authd"},
		{"host=db password='se cr\\'et' sslmode=require", "host=db password=REDACTED sslmode=require"},
		{"host=db password = secret port=5432", "host=db password = REDACTED port=5432"},
		{"host=db password=se\\ cret port=5432", "host=db password=REDACTED port=5432"},
		{"host=db sslpassword=secret", "host=db sslpassword=REDACTED"},
		{"host=db password='unterminated secret", "host=db password=REDACTED"},
		{"host=db garbage secret", "host=db REDACTED"},
		{"host=db user=authd@server password=x", "host=db user=authd@server password=REDACTED"},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := URL(URL(tt.in)); got != tt.want {
			t.Errorf("URL(URL(%q)) = %q, want %q (redacting twice changes nothing)", tt.in, got, tt.want)
		}
	}
}

// hostile are passwords made of every character that ends a URL part.
var hostile = []string{
	"s3cret", "pa?ss", "pa#ss", "pa/ss", "p@ss", "p:a@ss", "a?b#c/d@e:f", "%zz", "%3F", "sp ace",
	"quo'te", `back\slash`, "amp&er=sand", "ünï😀", "`tick`", `"dq"`, "a\x00b", "x\ny",
}

// templates build connection strings around a password; a %s is replaced
// by the password as the template's writer would put it in.
var templates = []struct {
	name   string
	format string
	escape func(string) string
	// ambiguous, if set, tells passwords the template cannot carry: the
	// string written means something else to every parser.
	ambiguous string
}{
	{"postgres", "postgres://authd:%s@db.internal:5432/authd?sslmode=require", raw, ""},
	{"postgresql", "postgresql://authd:%s@db.internal/authd", raw, ""},
	{"postgres escaped", "postgres://authd:%s@db.internal/authd", url.PathEscape, ""},
	{"postgres query", "postgres://db.internal/authd?user=authd&password=%s&sslmode=require", url.QueryEscape, ""},
	{"postgres sslpassword", "postgres://authd@db.internal/authd?sslpassword=%s", url.QueryEscape, ""},
	{"postgres raw query", "postgres://db.internal/authd?password=%s", raw, "&"}, // "&name=" ends the value
	{"redis", "redis://default:%s@cache.internal:6379/0", raw, ""},
	{"redis lone", "redis://%s@cache.internal:6379", raw, ":"}, // "a:b@" is user a, password b
	{"rediss", "rediss://default:%s@cache.internal:6380", raw, ""},
	{"sentinel", "redis-sentinel://:%s@s1:26379,s2:26379/mymaster", raw, ""},
	{"cluster", "redis-cluster://u:%s@c1:7101,c2:7102", raw, ""},
	{"dsn", "host=db.internal user=authd password=%s dbname=authd", dsnQuote, ""},
	{"dsn spaced", "host=db.internal password = %s", dsnQuote, ""},
}

func raw(s string) string { return s }

// dsnQuote writes s as a libpq value: single-quoted, with \ and ' escaped.
func dsnQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func TestURLHostilePasswords(t *testing.T) {
	for _, tpl := range templates {
		for _, pw := range hostile {
			if tpl.ambiguous == "" || !strings.ContainsAny(pw, tpl.ambiguous) {
				checkNoLeak(t, tpl.format, tpl.escape, pw)
			}
		}
	}
}

// checkNoLeak fails if the redaction of a connection string holding pw
// shows pw, as written or decoded. A password that the redaction of the
// same string with a harmless password shows too ("db", "authd") is not
// a leak.
func checkNoLeak(t *testing.T, format string, escape func(string) string, pw string) {
	t.Helper()
	in := fmt.Sprintf(format, escape(pw))
	got := URL(in)
	neutral := URL(fmt.Sprintf(format, "N"))
	for _, form := range []string{pw, escape(pw)} {
		if form != "" && strings.Contains(got, form) && !strings.Contains(neutral, form) && !strings.Contains("REDACTED", form) {
			t.Errorf("URL(%q) = %q: shows the password %q", in, got, form)
		}
	}
}

func TestErr(t *testing.T) {
	const rawURL = "postgres://u:pa#ss@h:54x/db"
	_, perr := url.Parse(rawURL) // invalid port ":pa" after host
	if perr == nil {
		t.Fatalf("url.Parse(%q) succeeded", rawURL)
	}
	tests := []struct {
		name string
		err  error
	}{
		{"url.Parse", perr},
		{"raw in text", fmt.Errorf("cannot open %s: refused", rawURL)},
		{"best-effort redaction", errors.New("cannot parse `postgres://u:xxxxx#ss@h:54x/db`: invalid port")},
		{"fragment quoted", errors.New(`invalid port ":pa" after host`)},
		{"password alone", errors.New("auth failed for pa#ss")},
		{"backtick in the string", errors.New("cannot parse `postgres://u:xx`x#ss@h`: bad")},
	}
	for _, tt := range tests {
		got := Err(tt.err, rawURL).Error()
		for _, leak := range []string{"pa#ss", "#ss", ":pa", "ss@"} {
			if strings.Contains(got, leak) {
				t.Errorf("%s: Err(%q) = %q, shows %q", tt.name, tt.err, got, leak)
			}
		}
	}
	if got := Err(errors.New("dial tcp 10.0.0.1:5432: connect: connection refused"), rawURL).Error(); got != "dial tcp 10.0.0.1:5432: connect: connection refused" {
		t.Errorf("Err changed a message without secrets: %q", got)
	}
	wrapped := Err(fmt.Errorf("ping %s: %w", rawURL, context.DeadlineExceeded), rawURL)
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Errorf("errors.Is(Err(…DeadlineExceeded), DeadlineExceeded) = false, want true")
	}
	var ue *url.Error
	if errors.As(Err(perr, rawURL), &ue) {
		t.Errorf("errors.As reaches the *url.Error holding the raw URL through Err")
	}
	if Err(nil, rawURL) != nil {
		t.Errorf("Err(nil) != nil")
	}
}

func FuzzRedact(f *testing.F) {
	for _, pw := range hostile {
		f.Add(pw)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		for _, tpl := range templates {
			if tpl.ambiguous != "" && strings.ContainsAny(pw, tpl.ambiguous) {
				continue
			}
			checkNoLeak(t, tpl.format, tpl.escape, pw)
		}
		// Whatever the input, redacting twice is redacting once.
		if got := URL(URL(pw)); got != URL(pw) {
			t.Errorf("URL(URL(%q)) = %q, want %q", pw, got, URL(pw))
		}
	})
}
