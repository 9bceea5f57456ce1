// Command authd is an authentication server: email and password login,
// server-side sessions in a hardened cookie, one session model.
//
//	authd serve                 run the server (SQLite in ./authd-data)
//	authd user add EMAIL        create a user (password read from stdin)
//	authd user list|disable|enable|delete
//	authd keys list|rotate      signing keys
//	authd client add|list|delete confidential OAuth clients
//	authd webhook add|list|delete event subscriptions (Standard Webhooks)
//	authd migrate               apply the store's schema migrations
//	authd backup FILE           copy the SQLite store, also while serve runs
//	authd restore FILE          put a backup in place (authd stopped)
//	authd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/authd/authd/event"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal starts a graceful shutdown, a second one ends
	// the process at once (Go's default handling, restored by stop).
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authd:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: authd <command> [flags]

commands:
  serve                   run the server
  user add EMAIL          create a user; the password is read from stdin
                          (or --password-hash imports an argon2id/bcrypt hash)
  user list               list users
  user disable EMAIL|ID   disable a user and end all their sessions
  user enable EMAIL|ID    re-enable a user
  user delete EMAIL|ID    delete a user and end all their sessions
  keys list               list signing keys
  keys rotate             add a signing key (published now, signs after a
                          minute); the current one retires
  keys revoke KID         withdraw a (compromised) key at once: out of the
                          JWKS and refused by every verifier within a second
  client add NAME         register an OAuth client: with --redirect-uri an
                          app signing users in (--public: no secret, PKCE
                          only); without, a service (client_credentials,
                          introspection); a secret is printed once
  client list             list clients
  client delete ID        delete a client and the consents given to it
  audit                   print the audit trail as JSON lines, newest first
                          (--user EMAIL|ID, --since 24h, --type T1,T2)
  webhook add URL --events TYPES
                          deliver audit events of these types (comma-
                          separated, or *) to URL, signed (Standard
                          Webhooks); https, or http on loopback; the
                          secret is printed once
  webhook list            list webhook subscriptions
  webhook delete ID       delete a subscription and its pending deliveries
  migrate                 apply schema migrations and exit
  backup FILE             write a consistent copy of the SQLite store to
                          FILE (new), also while authd serves
  restore FILE            check FILE and make it the SQLite store; authd
                          must be stopped; the old database is kept aside
  version                 print the version

Flags come after the command ("authd keys list --data-dir X"). Run
"authd <command> -h" for its flags. Every flag but a client's
registration can also be set by an AUTHD_* environment variable
(--data-dir ← AUTHD_DATA_DIR); flags win.
`

// run is main without the process: testable end to end.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command"}
	}
	if args[0] != "serve" {
		// Every change an admin command makes is the operator's (audit).
		ctx = event.WithActor(ctx, "operator")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return userCmd(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "keys":
		return keysCmd(ctx, args[1:], getenv, stdout, stderr)
	case "client":
		return clientCmd(ctx, args[1:], getenv, stdout, stderr)
	case "webhook":
		return webhookCmd(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], getenv, stdout, stderr)
	case "restore":
		return restoreCmd(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "authd", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

func newLogger(c *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format must be text or json, not %q", c.LogFormat)}
}
