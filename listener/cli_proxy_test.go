package listener_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// TestListenUpstream runs `keyroll listen --upstream` against real Vault in front of a
// receiver: verified deliveries reach it with their role, others never do.
func TestListenUpstream(t *testing.T) {
	srv := testenv.SharedVault(t)
	t.Setenv("VAULT_TOKEN", srv.RootToken)
	t.Setenv("VAULT_ADDR", "")
	path := uniquePath(t, "sidecar")
	kCur, kPen, kOld := mustKey(t), mustKey(t), mustKey(t)
	if _, err := vault.NewStore(srv.Client(t), "secret").Write(context.Background(), path,
		keyset.Document{Current: kCur, Pending: kPen}, 0); err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t)
	config := listenConfig(t, srv.Addr, "{refresh: 100ms, max_staleness: 5s}", "prod-us", path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &syncBuffer{}
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"listen", "--config", config, "--addr", "127.0.0.1:0", "--log-format", "json",
			"--upstream", up.URL + "/in"}, &stdout, stderr)
	}()
	base := "http://" + waitListening(t, stderr, done)
	post := func(key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/hook?id=7", strings.NewReader(`{"event":"certificate_issued"}`))
		req.Header.Set("X-WEBHOOK-KEY", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(kPen); code != http.StatusAccepted || body != "queued /in/hook?id=7" {
		t.Errorf("pending key: %d %q", code, body)
	}
	if r, _ := up.at(0); r.Header.Get("X-Keyroll-Key-Role") != "pending" || r.Header.Get("X-Webhook-Key") != "" {
		t.Errorf("upstream got %v", r.Header)
	}
	if code, _ := post(kOld); code != http.StatusUnauthorized || up.count() != 1 {
		t.Errorf("unknown key: %d, upstream saw %d deliveries", code, up.count())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("keyroll listen did not stop")
	}
	if !strings.Contains(stderr.String(), `"message":"forwarding verified deliveries"`) {
		t.Errorf("logs:\n%s", stderr)
	}
	for _, k := range []string{kCur, kPen, kOld, srv.RootToken} {
		if strings.Contains(stderr.String()+stdout.String(), k) {
			t.Errorf("a key or token (%s) appears in the output", keyset.Fingerprint(k))
		}
	}
}
