package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/internal/authdtest"
	"github.com/authd/authd/pgstore/pgtest"
)

// redisProcess is a redis-server of the test's own, killed if the test
// process dies (Pdeathsig).
type redisProcess struct {
	Port string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedisProcess runs redis-server on port ("" for a free one) with
// args after the defaults (no persistence), and waits until this process
// (not whatever else may hold the port) accepts connections.
func startRedisProcess(t *testing.T, dir, port string, args ...string) *redisProcess {
	t.Helper()
	if port == "" {
		port = strings.TrimPrefix(freePort(t), "127.0.0.1:")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log")}, args...)
	r := &redisProcess{Port: port, cmd: exec.Command("/usr/bin/redis-server", all...), done: make(chan struct{})}
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.Kill)
	want := "process_id:" + strconv.Itoa(r.cmd.Process.Pid)
	authdtest.Eventually(t, 5*time.Second, func() error {
		select {
		case <-r.done:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server on %s exited at start:\n%s", port, b)
		default:
		}
		out, err := exec.Command("redis-cli", "-p", port, "INFO", "server").Output()
		if err != nil || !strings.Contains(string(out), want) {
			return fmt.Errorf("port %s: not our redis-server yet (%v)", port, err)
		}
		return nil
	})
	return r
}

// Kill ends the process with SIGKILL and waits for it.
func (r *redisProcess) Kill() {
	r.cmd.Process.Kill()
	<-r.done
}

func redisCLI(t *testing.T, port string, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli -p %s %q: %v\n%s", port, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestRedisSentinelFailover: authd reaches Redis through Sentinel
// (redis-sentinel://), and when the master dies Sentinel promotes the
// replica and authd follows it without a restart: sessions made before the
// failover are still valid, revoked ones still refused, new logins work.
// While there is no master, requests fail closed (503), never open.
func TestRedisSentinelFailover(t *testing.T) {
	requireTool(t, "/usr/bin/redis-server", "apt-get install redis-server")
	dir := t.TempDir()
	master := startRedisProcess(t, filepath.Join(dir, "master"), "")
	masterPort := master.Port
	replicaPort := startRedisProcess(t, filepath.Join(dir, "replica"), "", "--replicaof", "127.0.0.1", masterPort).Port

	// One sentinel (quorum 1) that declares the master down after 500 ms.
	sentinelPort := strings.TrimPrefix(freePort(t), "127.0.0.1:")
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`port %s
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor authd 127.0.0.1 %s 1
sentinel down-after-milliseconds authd 500
sentinel failover-timeout authd 3000
`, sentinelPort, dir, filepath.Join(dir, "sentinel.log"), masterPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	sentinel := exec.Command("/usr/bin/redis-server", conf, "--sentinel")
	sentinel.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := sentinel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sentinel.Process.Kill()
		sentinel.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "sentinel.log")); err == nil {
				t.Logf("sentinel log:\n%s", b)
			}
		}
	})
	authdtest.Eventually(t, 10*time.Second, func() error {
		out, err := exec.Command("redis-cli", "-p", sentinelPort, "sentinel", "replicas", "authd").CombinedOutput()
		if err != nil || !strings.Contains(string(out), replicaPort) {
			return fmt.Errorf("sentinel does not know the replica yet: %s %v", out, err)
		}
		return nil
	})

	kek := make([]byte, 32)
	rand.Read(kek)
	node := authdtest.Start(t, "--database", pgtest.NewDatabase(t),
		"--redis", "redis-sentinel://127.0.0.1:"+sentinelPort+"/authd",
		"--data-dir", t.TempDir(), "--key-encryption-key", base64.StdEncoding.EncodeToString(kek),
		"--session-cache-ttl", "0")
	api := authdtest.NewClient(node.URL)
	api.Register(t, "alice@example.com", pw)
	live := api.Login(t, "alice@example.com", pw)
	revoked := api.Login(t, "alice@example.com", pw)
	if st := status(t, api, "DELETE", "/v1/session", revoked, ""); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	// Replication is asynchronous: wait until the replica has everything,
	// as a failover test must (what a master acknowledged but never
	// replicated is lost in any Redis failover).
	if got := redisCLI(t, masterPort, "WAIT", "1", "5000"); got != "1" {
		t.Fatalf("WAIT 1 = %s, want 1 replica in sync", got)
	}

	master.Kill()
	var sawUnavailable bool
	took := authdtest.Eventually(t, 30*time.Second, func() error {
		st := status(t, api, "GET", "/v1/session", live, "")
		switch st {
		case 200:
			return nil
		case 503:
			sawUnavailable = true
		case 401:
			t.Fatalf("a live session was refused as unauthenticated during the failover")
		}
		return fmt.Errorf("live session: %d", st)
	})
	t.Logf("failover: the live session was served again after %s (503 in between: %v)", took, sawUnavailable)
	if got := redisCLI(t, sentinelPort, "sentinel", "get-master-addr-by-name", "authd"); !strings.Contains(got, replicaPort) {
		t.Errorf("sentinel's master is %q, want the old replica on %s", got, replicaPort)
	}
	if st := status(t, api, "GET", "/v1/session", revoked, ""); st != 401 {
		t.Errorf("revoked session after the failover: %d, want 401", st)
	}
	fresh := api.Login(t, "alice@example.com", pw)
	if st := status(t, api, "GET", "/v1/session", fresh, ""); st != 200 {
		t.Errorf("a login after the failover: %d", st)
	}
	if st := status(t, api, "DELETE", "/v1/session", fresh, ""); st != 204 {
		t.Errorf("a logout after the failover: %d", st)
	}
}
