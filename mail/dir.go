package mail

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir is a Transport that writes each message to a file in a directory
// instead of sending it, for development and for tests without a mail
// server. Create it with NewDir.
type Dir struct {
	dir string
}

var _ Transport = (*Dir)(nil)

// NewDir returns a Dir transport writing to dir, which it creates with
// mode 0700 if absent.
func NewDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, fmt.Errorf("mail: directory transport: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: directory transport: %w", err)
	}
	return &Dir{dir: dir}, nil
}

// Path returns the file Send writes r to: DIR/CREATED-ID.eml, where
// CREATED is r.Date in UTC (20060102T150405.000000Z), so the files sort
// oldest first and a resend of the same message overwrites its file.
func (d *Dir) Path(r *Rendered) string {
	return filepath.Join(d.dir, r.Date.UTC().Format("20060102T150405.000000Z")+"-"+r.ID+".eml")
}

// Send implements Transport: it writes r as an RFC 5322 message (as SMTP
// would send it) to Path(r), mode 0600, through a temporary file renamed
// into place, so a reader never sees half a message.
func (d *Dir) Send(ctx context.Context, r *Rendered) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if strings.ContainsAny(r.ID, `/\`) || r.ID == "." || r.ID == ".." {
		return fmt.Errorf("mail: message %q: %w: ID not fit for a file name", r.ID, ErrPermanent)
	}
	if r.Date.IsZero() {
		r2 := *r
		r2.Date = time.Now()
		r = &r2
	}
	msg, err := buildMsg(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.dir, ".tmp-*.eml") // mode 0600
	if err != nil {
		return fmt.Errorf("mail: directory transport: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing to remove
	w := bufio.NewWriter(tmp)
	if _, err := msg.WriteTo(w); err != nil {
		tmp.Close()
		return fmt.Errorf("mail: directory transport: write %s: %w", r.ID, err)
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("mail: directory transport: write %s: %w", r.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("mail: directory transport: sync %s: %w", r.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mail: directory transport: close %s: %w", r.ID, err)
	}
	if err := os.Rename(tmp.Name(), d.Path(r)); err != nil {
		return fmt.Errorf("mail: directory transport: %w", err)
	}
	return nil
}
