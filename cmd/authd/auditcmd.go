package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/authd/authd/audit"
	"github.com/authd/authd/webhook"
)

// auditCmd is `authd audit`: the audit trail as JSON lines, newest
// first, filtered by user, age and type.
func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var userRef, types string
	var since time.Duration
	var limit int
	c, _, err := adminFlags("audit", args, 0, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&userRef, "user", "", "only this user's events (email or ID)")
		fs.DurationVar(&since, "since", 0, "only events this recent (e.g. 24h); 0: all kept")
		fs.StringVar(&types, "type", "", "only these types, comma-separated (e.g. signin.failed,session.revoked)")
		fs.IntVar(&limit, "limit", 1000, "at most this many events (newest first; 0: all)")
	})
	if err != nil {
		return err
	}
	if since < 0 || limit < 0 {
		return usageError{"--since and --limit must not be negative"}
	}
	svc, done, err := openAdmin(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer done()
	f := audit.Filter{Limit: audit.MaxLimit}
	if userRef != "" {
		u, err := findUser(ctx, svc.users, userRef)
		if err != nil {
			// A deleted user's events stay: accept an ID that no longer
			// names a user.
			if strings.Contains(userRef, "@") {
				return err
			}
			f.UserID = userRef
		} else {
			f.UserID = u.ID
		}
	}
	if since > 0 {
		f.Since = time.Now().Add(-since)
	}
	for _, t := range strings.Split(types, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(f.Types, t) {
			if !slices.Contains(webhook.EventTypes, t) {
				// A typo must not read as "no such events".
				return usageError{fmt.Sprintf("--type: unknown event type %q (known: %s)", t, strings.Join(webhook.EventTypes, ", "))}
			}
			f.Types = append(f.Types, t)
		}
	}
	enc := json.NewEncoder(stdout)
	n := 0
	for {
		page, err := svc.audit.Events(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range page {
			if limit > 0 && n >= limit {
				return nil
			}
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			n++
		}
		if len(page) < f.Lim() {
			return nil
		}
		f.Before = page[len(page)-1]
	}
}
