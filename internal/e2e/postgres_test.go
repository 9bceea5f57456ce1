package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
)

// privatePostgres is a PostgreSQL server of the test's own (initdb into a
// temporary directory, its own port), so that a test can really stop and
// start it without disturbing the shared server other packages' tests use.
type privatePostgres struct {
	t       *testing.T
	bin     string // directory of initdb, pg_ctl
	dir     string
	port    string
	asUser  []string // runuser prefix when running as root
	DSN     string
	running bool
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
	dir, err := os.MkdirTemp("", "authd-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	// initdb and postgres refuse to run as root: run them as postgres,
	// which then owns the directory.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	t.Cleanup(func() {
		if p.running {
			p.run("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop")
		}
		os.RemoveAll(dir)
	})
	p.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	p.dir = filepath.Join(dir, "data")
	p.DSN = "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable"
	p.Start()
	return p
}

func (p *privatePostgres) run(name string, args ...string) {
	p.t.Helper()
	argv := append(append(slices.Clone(p.asUser), filepath.Join(p.bin, name)), args...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (p *privatePostgres) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.dir, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "30",
		"-o", "-p "+p.port+" -k "+p.dir+" -c listen_addresses=127.0.0.1 -c fsync=off", "start")
	p.running = true
	authdtest.Eventually(p.t, 10*time.Second, func() error {
		return exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", p.port).Run()
	})
}

// Stop stops the server the hard way (immediate: no checkpoint, every
// connection cut), as a crash or a kill would.
func (p *privatePostgres) Stop() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.dir, "-m", "immediate", "-w", "stop")
	p.running = false
}
