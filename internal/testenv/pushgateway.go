package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/syncbuf"
)

// EnvPushgatewayBinary names the variable that points at the Pushgateway binary.
const EnvPushgatewayBinary = "KEYROLL_PUSHGATEWAY_BIN"

// PushgatewayBinary returns the Pushgateway binary's path: $KEYROLL_PUSHGATEWAY_BIN, else
// prometheus-pushgateway or pushgateway on PATH (scripts/test.sh installs Debian's
// prometheus-pushgateway). Without one it skips t (fails it when CI=true).
func PushgatewayBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvPushgatewayBinary); p != "" {
		return p
	}
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Pushgateway (%s unset, none on PATH): CI must run the Pushgateway tests (use scripts/test.sh)", EnvPushgatewayBinary)
	}
	t.Skipf("no Pushgateway: run scripts/test.sh (or make test), which installs it")
	return ""
}

// Pushgateway is a running Prometheus Pushgateway.
type Pushgateway struct {
	URL  string // http://127.0.0.1:PORT
	logs syncbuf.Buffer
}

// StartPushgateway runs a Pushgateway with an empty, in-memory store until t ends.
func StartPushgateway(t testing.TB) *Pushgateway {
	t.Helper()
	bin := PushgatewayBinary(t)
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := &Pushgateway{URL: "http://" + addr}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &s.logs, &s.logs
	p, err := StartProc("pushgateway", cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if err := WaitHTTP(context.Background(), s.URL+"/-/ready", 20*time.Second); err != nil {
		t.Fatalf("pushgateway: %v\n%s", err, s.logs.String())
	}
	return s
}

// Metrics returns the Pushgateway's own /metrics page: every pushed series, with its
// job and grouping labels.
func (s *Pushgateway) Metrics(t testing.TB) string {
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
