// Package pushgatewaytest runs a real Prometheus Pushgateway on 127.0.0.1 for tests:
// the binary named by $KEYROLL_PUSHGATEWAY_BIN, else prometheus-pushgateway or
// pushgateway on PATH (scripts/test.sh installs Debian's prometheus-pushgateway). Without
// one, tests skip, except when CI=true, where they fail: CI must never pass on skipped
// integration tests.
package pushgatewaytest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/syncbuf"
)

// EnvBinary names the variable that points at the Pushgateway binary.
const EnvBinary = "KEYROLL_PUSHGATEWAY_BIN"

// Binary returns the Pushgateway binary's path, or skips t (fails it when CI=true).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Pushgateway (%s unset, none on PATH): CI must run the Pushgateway tests (use scripts/test.sh)", EnvBinary)
	}
	t.Skipf("no Pushgateway: run scripts/test.sh (or make test), which installs it")
	return ""
}

// Server is a running Pushgateway.
type Server struct {
	URL  string
	logs syncbuf.Buffer
}

// Start runs a Pushgateway with an empty, in-memory store until t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	cmd := exec.Command(bin, "--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pushgateway: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushgateway not ready after 20s: %v\n%s", err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Metrics returns the Pushgateway's own /metrics page: every pushed series, with its
// job and grouping labels.
func (s *Server) Metrics(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(fmt.Errorf("pushgateway /metrics: %d %v", resp.StatusCode, err))
	}
	return string(b)
}
