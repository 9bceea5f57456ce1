package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/audit"
	"github.com/authd/authd/event"
	"github.com/authd/authd/jwk"
	"github.com/authd/authd/jwks"
	"github.com/authd/authd/user"
	"golang.org/x/term"
)

func userCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"user: want add, list, disable, enable, delete or mfa"}
	}
	sub := args[0]
	if sub == "mfa" {
		return userMFACmd(ctx, args[1:], getenv, stdout, stderr)
	}
	switch sub {
	case "add", "list", "disable", "enable", "delete":
	default:
		// Before any flag parsing or store access: a typo must not
		// create or open a data dir.
		return usageError{fmt.Sprintf("user: unknown subcommand %q (want add, list, disable, enable, delete or mfa)", sub)}
	}
	var importHash string
	var verified bool
	want := 1
	if sub == "list" {
		want = 0
	}
	c, fs, err := adminFlags("user "+sub, args[1:], want, getenv, stderr, func(fs *flag.FlagSet) {
		if sub == "add" {
			fs.StringVar(&importHash, "password-hash", "", "import an existing argon2id (PHC) or bcrypt hash instead of reading a password")
			fs.BoolVar(&verified, "verified", false, "mark the address verified (you know it is the user's)")
		}
	})
	if err != nil {
		return err
	}
	svc, done, err := openAdmin(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()

	switch sub {
	case "add":
		email := fs.Arg(0)
		if importHash != "" {
			u, err := svc.users.Import(ctx, email, importHash)
			if err != nil {
				return describe(err)
			}
			if err := markVerified(ctx, svc, u, verified); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "imported user %s (%s)%s\n", u.Email, u.ID, verifiedNote(verified))
			return nil
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		u, err := svc.users.Register(ctx, email, pw)
		if err != nil {
			return describe(err)
		}
		if err := markVerified(ctx, svc, u, verified); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created user %s (%s)%s\n", u.Email, u.ID, verifiedNote(verified))
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tCREATED\tSTATUS")
		after := ""
		for {
			page, err := svc.users.List(ctx, after, 500)
			if err != nil {
				return err
			}
			for _, u := range page {
				status := "active"
				if u.Disabled {
					status = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.ID, u.Email, u.CreatedAt.Format(time.RFC3339), status)
			}
			if len(page) < 500 {
				break
			}
			after = page[len(page)-1].Email
		}
		return tw.Flush()
	case "disable", "enable", "delete":
		u, err := findUser(ctx, svc.users, fs.Arg(0))
		if err != nil {
			return err
		}
		switch sub {
		case "disable":
			err = svc.users.SetDisabled(ctx, u.ID, true)
		case "enable":
			err = svc.users.SetDisabled(ctx, u.ID, false)
		case "delete":
			err = svc.users.Delete(ctx, u.ID)
		}
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "%sd user %s (%s)\n", sub, u.Email, u.ID) // disabled, enabled, deleted
	}
	return nil
}

// kidArgs keeps a key ID that begins with "-" (a base64url KID may) from
// being read as a flag: such an argument, 16 base64url characters long
// (jwk's KIDs), goes after a "--". `authd keys revoke -- KID` works too.
func kidArgs(args []string) []string {
	out := []string{args[0]}
	var kids []string
	for i, a := range args[1:] {
		if a == "--" { // the rest is positional already
			out = append(out, args[1+i:]...)
			break
		}
		if len(a) == 16 && strings.HasPrefix(a, "-") && strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == "" {
			kids = append(kids, a)
			continue
		}
		out = append(out, a)
	}
	if len(kids) > 0 {
		out = append(append(out, "--"), kids...)
	}
	return out
}

// recordEvent writes one event to the audit trail from a command that
// runs without the services' event bus.
func recordEvent(ctx context.Context, st audit.Store, log *slog.Logger, e event.Event) {
	(&audit.Recorder{Store: st, Logger: log}).Handle(ctx, e)
}

// markVerified marks a new user's address verified when the operator
// said so (user add --verified).
func markVerified(ctx context.Context, svc services, u *user.User, verified bool) error {
	if !verified {
		return nil
	}
	if err := svc.users.MarkVerified(ctx, u.ID); err != nil {
		return fmt.Errorf("user %s was created, but its address was not marked verified: %w", u.Email, err)
	}
	return nil
}

func verifiedNote(verified bool) string {
	if verified {
		return ", address verified"
	}
	return ""
}

// findUser accepts an email or an ID.
func findUser(ctx context.Context, users *user.Service, ref string) (*user.User, error) {
	if strings.Contains(ref, "@") {
		u, err := users.Find(ctx, ref)
		return u, describe(err)
	}
	u, err := users.Get(ctx, ref)
	return u, describe(err)
}

// describe turns domain errors into messages for the terminal.
func describe(err error) error {
	var ve *authd.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		var parts []string
		for _, f := range ve.Fields {
			parts = append(parts, f.Field+": "+f.Detail)
		}
		return errors.New(strings.Join(parts, "; "))
	case errors.Is(err, authd.ErrConflict):
		return errors.New("a user with that email already exists")
	case errors.Is(err, authd.ErrNotFound):
		return errors.New("no such user")
	}
	return err
}

// readPassword reads one line from stdin, without echo on a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin (pipe one in, or run in a terminal)")
	}
	return line, nil
}

// adminFlags parses an admin command's flags (the store flags, plus extra),
// validates them, and checks that exactly nargs arguments remain. The
// admin commands share it so that none skips a check.
func adminFlags(name string, args []string, nargs int, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*config, *flag.FlagSet, error) {
	var c config
	fs := flag.NewFlagSet("authd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &c)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args, getenv); err != nil {
		return nil, nil, err
	}
	if err := c.validate(false); err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if fs.NArg() != nargs {
		return nil, nil, usageError{fmt.Sprintf("%s: want %d argument(s), got %d", name, nargs, fs.NArg())}
	}
	return &c, fs, nil
}

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, _, err := adminFlags("migrate", args, 0, getenv, stderr, nil)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, c, true)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(stdout, "schema of %s is up to date\n", b.Where)
	return nil
}

func keysCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate" && args[0] != "revoke") {
		return usageError{"keys: want list, rotate [--alg ALG] or revoke KID"}
	}
	sub := args[0]
	nargs := 0
	if sub == "revoke" {
		nargs = 1
		args = kidArgs(args)
	}
	var only string
	c, fs, err := adminFlags("keys "+sub, args[1:], nargs, getenv, stderr, func(fs *flag.FlagSet) {
		if sub == "rotate" {
			fs.StringVar(&only, "alg", "", "rotate only this algorithm's key (EdDSA, ES256 or RS256); default: every algorithm the deployment signs with")
		}
	})
	if err != nil {
		return err
	}
	if only != "" && !jwk.Supported(only) {
		return usageError{fmt.Sprintf("keys rotate: --alg %q is not EdDSA, ES256 or RS256", only)}
	}
	log, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	b, err := openBackend(ctx, c, true)
	if err != nil {
		return err
	}
	defer b.Close()
	kek, err := loadKEK(c, b.Memory, log)
	if err != nil {
		return err
	}
	// The algorithms the deployment signs with are those of the store's
	// current keys, not this command's --signing-alg (whose default may
	// not be the serving instances' setting); only a store without keys
	// takes them from --signing-alg, as `authd serve` would.
	algs, err := jwks.AlgsInUse(ctx, b.Keys)
	if err != nil {
		return err
	}
	if len(algs) == 0 {
		if algs, err = c.signingAlgs(); err != nil {
			return usageError{err.Error()}
		}
	}
	ring, err := jwks.NewRing(ctx, jwks.RingConfig{Store: b.Keys, KEK: kek, Algs: algs, Retain: c.keyRetain(), PublishLead: c.KeyPublishLead})
	if err != nil {
		return err
	}
	if sub == "rotate" {
		var made []*jwk.Key
		if only != "" {
			k, err := ring.Rotate(ctx, only)
			if err != nil {
				return err
			}
			made = append(made, k)
		} else if made, err = ring.RotateAll(ctx); err != nil {
			return err
		}
		for _, k := range made {
			recordEvent(ctx, b.Audit, log, event.Event{Kind: event.KeyRotated, At: time.Now().UTC(), KeyID: k.KID, Reason: k.Alg})
			fmt.Fprintf(stdout, "new %s key %s: published now, signs from %s\n", k.Alg, k.KID, k.ActivateAt.Format(time.RFC3339))
		}
		if only != "" && !slices.Contains(algs, only) {
			fmt.Fprintf(stdout, "%s was not among the algorithms the deployment signs with (%s): authd signs with it once --signing-alg lists it\n", only, strings.Join(algs, ", "))
		}
	}
	if sub == "revoke" {
		if err := revokeKey(ctx, ring, fs.Arg(0), stdout); err != nil {
			return err
		}
		recordEvent(ctx, b.Audit, log, event.Event{Kind: event.KeyRevokedByOperator, At: time.Now().UTC(), KeyID: fs.Arg(0)})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSIGNS FROM\tRETIRED\tSTATUS")
	for _, k := range ring.Keys() {
		signer, _ := ring.SignerFor(k.Alg)
		status := "published"
		switch {
		case !k.RevokedAt.IsZero():
			status = "revoked"
		case signer != nil && k.KID == signer.KID:
			status = "signing"
		case time.Now().Before(k.ActivateAt):
			status = "pending"
		case !k.RetireAt.IsZero():
			status = "retired (published until its tokens expire)"
		}
		retired := "-"
		if !k.RetireAt.IsZero() {
			retired = k.RetireAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.CreatedAt.Format(time.RFC3339), k.ActivateAt.Format(time.RFC3339), retired, status)
	}
	return tw.Flush()
}

// revokeKey withdraws a (compromised) signing key at once: see
// docs/security.md, "Key compromise".
func revokeKey(ctx context.Context, ring *jwks.Ring, kid string, stdout io.Writer) error {
	successor, err := ring.Revoke(ctx, kid)
	if successor != nil {
		fmt.Fprintf(stdout, "new %s key %s: signs now, replacing %s\n", successor.Alg, successor.KID, kid)
	}
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return fmt.Errorf("no signing key %q (see authd keys list)", kid)
	case errors.Is(err, jwks.ErrAlreadyRevoked):
		fmt.Fprintf(stdout, "key %s was already revoked\n", kid)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "revoked key %s: out of the JWKS and refused by every instance within a second; "+
		"its access tokens are refused (their sessions go on: clients refresh)\n", kid)
	return nil
}

// openAdmin opens the backend and the services for a one-shot admin
// command; done closes the backend.
func openAdmin(ctx context.Context, c *config, stderr io.Writer) (services, func(), error) {
	log, err := newLogger(c, stderr)
	if err != nil {
		return services{}, nil, err
	}
	if kind, _, _ := c.databaseKind(); kind == "memory" {
		// The command's own memory would take the change and forget it
		// (found by the black-box test: `client add` printed a secret
		// for a client no server knew).
		return services{}, nil, usageError{"--database memory:// lives inside one serve process: an admin command cannot reach it (use the SQLite default or PostgreSQL)"}
	}
	b, err := openBackend(ctx, c, true)
	if err != nil {
		return services{}, nil, err
	}
	return newServices(c, b, log, time.Now, user.EmailConfig{}), func() { b.Close() }, nil
}

// userMFACmd is `authd user mfa reset EMAIL`: an operator helping a user
// who lost their second factor. Every factor goes (authenticator app,
// recovery codes, passkeys) and every session of the user ends; the user
// signs in with the password alone and sets up a factor again. Verify who
// is asking before you run it: it is exactly the attack a second factor
// stops.
func userMFACmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "reset" {
		return usageError{"user mfa: want reset EMAIL"}
	}
	c, fs, err := adminFlags("user mfa reset", args[1:], 1, getenv, stderr, nil)
	if err != nil {
		return err
	}
	svc, done, err := openAdmin(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	u, err := findUser(ctx, svc.users, fs.Arg(0))
	if err != nil {
		return err
	}
	f, err := svc.mfa.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	if err := svc.mfa.DeleteFactors(ctx, u.ID); err != nil {
		return err
	}
	ctx = event.WithActor(ctx, "operator")
	if err := svc.sessions.RevokeUser(ctx, u.ID, "", event.CauseFactorsChanged); err != nil {
		return err
	}
	recordEvent(ctx, svc.audit, slog.New(slog.NewTextHandler(stderr, nil)), event.Event{Kind: event.FactorRemoved, At: time.Now().UTC(),
		UserID: u.ID, Actor: "operator", Reason: "all"})
	fmt.Fprintf(stdout, "reset the second factors of %s (%s): authenticator app %s, %d recovery codes, %d passkeys removed; every session ended\n",
		u.Email, u.ID, map[bool]string{true: "removed", false: "none"}[f.TOTP], f.RecoveryCodes, f.Passkeys)
	return nil
}
