package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
)

// privatePostgres is a PostgreSQL server of the test's own (initdb into a
// temporary directory, its own port), so that a test can really stop and
// start it without disturbing the shared server other packages' tests use.
// The postmaster is the test's child, killed if the test process dies
// (Pdeathsig), so an aborted run leaves no server behind.
type privatePostgres struct {
	t    *testing.T
	bin  string // directory of initdb and postgres
	root string // temporary directory; data/ inside
	port string
	cred *syscall.Credential // run as postgres when the test runs as root
	DSN  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		requireTool(t, "/usr/lib/postgresql/VERSION/bin/initdb", "apt-get install postgresql")
	}
	// The newest major version: /usr/lib/postgresql/<major>/bin/initdb.
	major := func(path string) int { n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path)))); return n }
	slices.SortFunc(bins, func(a, b string) int { return major(a) - major(b) })
	p := &privatePostgres{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	p.port = strings.TrimPrefix(freePort(t), "127.0.0.1:")
	root, err := os.MkdirTemp("", "authd-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.root = root
	t.Cleanup(func() {
		p.kill()
		os.RemoveAll(root)
	})
	// initdb and postgres refuse to run as root: run them as postgres,
	// which then owns the directory.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	initdb := p.command("initdb", "-D", p.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.DSN = "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
	p.Start()
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.root, "data") }

func (p *privatePostgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start starts the server and waits until it accepts connections.
func (p *privatePostgres) Start() {
	p.t.Helper()
	p.cmd = p.command("postgres", "-D", p.data(), "-p", p.port, "-k", p.root,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	log, err := os.Create(filepath.Join(p.root, "server.log"))
	if err != nil {
		p.t.Fatal(err)
	}
	defer log.Close()
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	p.done = done
	go func() { p.cmd.Wait(); close(done) }()
	authdtest.Eventually(p.t, 15*time.Second, func() error {
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(p.root, "server.log"))
			p.t.Fatalf("postgres exited at start:\n%s", b)
		default:
		}
		return exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", p.port).Run()
	})
}

// Stop stops the server the hard way (SIGQUIT: immediate shutdown, no
// checkpoint, every connection cut), as a crash would, and waits for it.
func (p *privatePostgres) Stop() {
	p.t.Helper()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Fatal("postgres did not stop within 15 s of SIGQUIT")
	}
	p.cmd = nil
}

func (p *privatePostgres) kill() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		<-p.done
		p.cmd = nil
	}
}
