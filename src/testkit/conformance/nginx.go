package conformance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/comet-lab/comet-lab/src/testkit/workertest"
)

// NchanModule is where Debian's libnginx-mod-nchan installs the module.
const NchanModule = "/usr/lib/nginx/modules/ngx_nchan_module.so"

// nchanTimeout is how long nchan holds a subscriber before its timeout answer (the "served" answer for nginx).
const nchanTimeout = time.Second

// nginxConf is the smallest nginx + nchan the suite needs: one worker on a loopback port, a long-poll subscriber
// location for /sub (channel = ?id=) and a publisher location, every path inside the temporary prefix.
const nginxConf = `load_module %[1]s;
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 512; }
http {
  access_log %[2]s/access.log;
  client_body_temp_path %[2]s/body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
  nchan_shared_memory_size 8m;
  server {
    listen 127.0.0.1:%[3]d;
    location = /sub {
      nchan_subscriber longpoll;
      nchan_channel_id $arg_id;
      nchan_subscriber_timeout %[4]ds;
    }
    location = /pub {
      nchan_publisher;
      nchan_channel_id $arg_id;
    }
  }
}
`

// nginxMissing names what the suite needs and this machine lacks (empty when nginx and nchan are installed).
func nginxMissing() string {
	var missing []string
	if _, err := exec.LookPath("nginx"); err != nil {
		missing = append(missing, "nginx (Debian package nginx)")
	}
	if _, err := os.Stat(NchanModule); err != nil {
		missing = append(missing, "the nchan module "+NchanModule+" (Debian package libnginx-mod-nchan)")
	}
	return strings.Join(missing, " and ")
}

// startNginx runs nginx + nchan on a free loopback port from a temporary prefix and stops it (SIGTERM to its
// master by PID, then SIGKILL to its process group) when the test ends. A missing nginx or module fails the test:
// never a skip.
func startNginx(t *testing.T) string {
	t.Helper()
	if m := nginxMissing(); m != "" {
		t.Fatalf("conformance: missing %s; scripts/deps.sh installs them", m)
	}
	bin, _ := exec.LookPath("nginx")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr, err := runNginx(t, bin)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return ""
}

func runNginx(t *testing.T, bin string) (string, error) {
	dir := t.TempDir()
	port := workertest.FreePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	text := fmt.Sprintf(nginxConf, NchanModule, dir, port, int(nchanTimeout/time.Second))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return "", err
	}
	errLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", errLog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // master and workers in a group of their own
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM) // fast shutdown: the master stops its workers and exits
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			// Workers outlive a killed master: kill the group this test started, by its id.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			log, _ := os.ReadFile(errLog)
			return "", fmt.Errorf("nginx exited during start-up (%v): %s%s", err, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("nginx not accepting on %s within 10s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			log, _ := os.ReadFile(errLog)
			t.Logf("nginx error log:\n%s", log)
		}
	})
	return addr, nil
}
