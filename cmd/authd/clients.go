package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authd/authd"
	"github.com/authd/authd/client"
	"github.com/authd/authd/event"
)

// listFlag is a repeatable flag (--redirect-uri A --redirect-uri B).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
func (*listFlag) cliOnly()             {}

// splitFlag is a list given in one value, split by sep ("" splits on
// white space: --scopes "openid email").
type splitFlag struct {
	list *[]string
	sep  string
}

func (f splitFlag) String() string {
	if f.list == nil {
		return ""
	}
	return strings.Join(*f.list, f.sep)
}

func (f splitFlag) Set(v string) error {
	var parts []string
	if f.sep == "" {
		parts = strings.Fields(v)
	} else {
		for _, p := range strings.Split(v, f.sep) {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	*f.list = append(*f.list, parts...)
	return nil
}

func (splitFlag) cliOnly() {}

type stringFlag struct{ s *string }

func (f stringFlag) String() string {
	if f.s == nil {
		return ""
	}
	return *f.s
}
func (f stringFlag) Set(v string) error { *f.s = v; return nil }
func (stringFlag) cliOnly()             {}

type boolFlag struct{ b *bool }

func (f boolFlag) String() string {
	if f.b == nil {
		return "false"
	}
	return strconv.FormatBool(*f.b)
}

func (f boolFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*f.b = b
	return nil
}
func (boolFlag) IsBoolFlag() bool { return true }
func (boolFlag) cliOnly()         {}

// registrationFlags adds client add's flags to fs. None is read from the
// environment (cliOnly).
func registrationFlags(fs *flag.FlagSet, r *client.Registration) {
	fs.Var((*listFlag)(&r.RedirectURIs), "redirect-uri",
		"a redirect `URI` (repeatable): https, http://127.0.0.1 or http://[::1] (any port), or com.example.app:/path")
	fs.Var(boolFlag{&r.Public}, "public", "a public client (browser or native app): no secret, PKCE only")
	fs.Var(boolFlag{&r.FirstParty}, "first-party", "one of this deployment's own apps: users see no consent page")
	fs.Var((*listFlag)(&r.PostLogoutRedirectURIs), "post-logout-redirect-uri", "a `URI` logout may return to (repeatable)")
	fs.Var(splitFlag{&r.Scopes, ""}, "scopes", "the `scopes` it may ask for, space-separated (\"openid email\"); default: any")
	fs.Var(splitFlag{&r.GrantTypes, ","}, "grant-types",
		"a comma-separated `list` of grant types: authorization_code, refresh_token, client_credentials, password; default: "+
			"authorization_code,refresh_token (+client_credentials if confidential) with --redirect-uri, else client_credentials")
	fs.Var(stringFlag{&r.BackchannelLogoutURI}, "backchannel-logout-uri", "the `URI` authd POSTs OpenID back-channel logout tokens to")
	fs.Var(stringFlag{&r.IDTokenAlg}, "id-token-alg", "the ID tokens' signing `algorithm`: RS256 (default), ES256 or EdDSA")
}

func clientCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"client: want add, list or delete"}
	}
	sub := args[0]
	want := map[string]int{"add": 1, "list": 0, "delete": 1}
	n, ok := want[sub]
	if !ok {
		return usageError{fmt.Sprintf("client: unknown subcommand %q (want add, list or delete)", sub)}
	}
	var reg client.Registration
	c, fs, err := adminFlags("client "+sub, args[1:], n, getenv, stderr, func(fs *flag.FlagSet) {
		if sub == "add" {
			registrationFlags(fs, &reg)
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
		reg.Name = fs.Arg(0)
		if len(reg.GrantTypes) == 0 && len(reg.RedirectURIs) == 0 && !reg.Public {
			// `authd client add NAME` as before: a service that
			// authenticates to introspection and the revocation feed.
			reg.GrantTypes = []string{client.GrantClientCredentials}
		}
		cl, secret, err := svc.clients.Create(ctx, reg)
		if err == nil {
			svc.events.Publish(ctx, event.Event{Kind: event.ClientAdded, At: time.Now().UTC(), ClientID: cl.ID, Reason: cl.Name})
		}
		if err != nil {
			return describeClient(err)
		}
		fmt.Fprintf(stdout, "client_id:     %s\n", cl.ID)
		if !cl.Public {
			fmt.Fprintf(stdout, "client_secret: %s\n\nThe secret is shown once; authd keeps only its hash.\n", secret)
		}
		fmt.Fprintln(stdout)
		printRegistration(stdout, cl)
	case "list":
		cs, err := svc.clients.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tFIRST_PARTY\tCREATED\tREDIRECT_URIS")
		for _, cl := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Name, clientType(cl), yesNo(cl.FirstParty),
				cl.CreatedAt.Format(time.RFC3339), orDash(strings.Join(cl.RedirectURIs, " ")))
		}
		return tw.Flush()
	case "delete":
		if err := svc.clients.Delete(ctx, fs.Arg(0)); err != nil {
			return describeClient(err)
		}
		svc.events.Publish(ctx, event.Event{Kind: event.ClientDeleted, At: time.Now().UTC(), ClientID: fs.Arg(0)})
		fmt.Fprintf(stdout, "deleted client %s\n", fs.Arg(0))
	}
	return nil
}

// printRegistration shows what was registered, one field a line.
func printRegistration(w io.Writer, cl *client.Client) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	line("name", cl.Name)
	kind := clientType(cl)
	if cl.FirstParty {
		kind += ", first-party (no consent page)"
	}
	line("type", kind)
	line("grant types", strings.Join(cl.Grants(), " "))
	lines := func(k string, vs []string) {
		for i, v := range vs {
			if i == 0 {
				line(k, v)
			} else {
				fmt.Fprintf(tw, "\t%s\n", v)
			}
		}
	}
	lines("redirect URIs", cl.RedirectURIs)
	lines("post-logout URIs", cl.PostLogoutRedirectURIs)
	scopes := strings.Join(cl.Scopes, " ")
	if scopes == "" {
		scopes = "any"
	}
	line("scopes", scopes)
	if cl.BackchannelLogoutURI != "" {
		line("back-channel logout", cl.BackchannelLogoutURI)
	}
	if cl.IDTokenAlg != "" {
		line("ID token alg", cl.IDTokenAlg)
	}
	tw.Flush()
}

func clientType(cl *client.Client) string {
	if cl.Public {
		return "public"
	}
	return "confidential"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeClient is describe for the client commands.
func describeClient(err error) error {
	switch {
	case errors.Is(err, authd.ErrConflict):
		return errors.New("a client with that name already exists")
	case errors.Is(err, authd.ErrNotFound):
		return errors.New("no such client")
	}
	return describe(err)
}
