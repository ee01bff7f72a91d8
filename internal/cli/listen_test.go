package cli_test

// End-to-end tests of `keyroll listen` (listen.go), the reference listener built on the
// listener package, run in-process against the real Vault dev server.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer = syncbuf.Buffer

// uniquePath is a fresh document path in the shared Vault.
func uniquePath(t *testing.T, name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "keyroll/listener-test/" + name + "-" + hex.EncodeToString(b)
}

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := keyset.Generate(keyset.DefaultLength)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// noKeysIn fails t if out contains one of keys.
func noKeysIn(t *testing.T, what, out string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if strings.Contains(out, k) {
			t.Errorf("%s contains a key (%s)", what, keyset.Fingerprint(k))
		}
	}
}

// upstream records what reaches the receiver behind `keyroll listen --upstream`.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, r)
		u.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "queued "+r.URL.Path+"?"+r.URL.RawQuery)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) at(i int) (*http.Request, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reqs[i], ""
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// listenConfig writes a config.yaml whose targets are the given name → vault_path pairs.
func listenConfig(t *testing.T, vaultAddr, listenerYAML string, targets ...string) string {
	t.Helper()
	var ts strings.Builder
	for i := 0; i+1 < len(targets); i += 2 {
		fmt.Fprintf(&ts, "  - {name: %s, vault_path: %q}\n", targets[i], targets[i+1])
	}
	cfg := fmt.Sprintf(`
vault: {address: %q, kv_mount: secret, auth: {method: token}}
certcentral: {url: "https://certcentral.invalid/services/v2", api_key_env: KEYROLL_TEST_API_KEY, timeout: 5s}
rotation: {propagation_delay: 2m, min_interval: 1h, overlap: 1h}
listener: %s
targets:
%s`, vaultAddr, listenerYAML, ts.String())
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// waitListening returns the address from the "listening" log line of a running keyroll.
func waitListening(t *testing.T, stderr *syncBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var l struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Message == "listening" && l.Addr != "" {
				return l.Addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("keyroll listen exited: %v\n%s", err, stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("keyroll listen did not log \"listening\":\n%s", stderr)
	return ""
}

// adminAddr returns the address from the "serving /healthz and /metrics" log line.
func adminAddr(t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	for _, line := range strings.Split(stderr.String(), "\n") {
		var l struct {
			AdminAddr string `json:"admin_addr"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.AdminAddr != "" {
			return l.AdminAddr
		}
	}
	t.Fatalf("no admin address logged:\n%s", stderr)
	return ""
}

func TestListenCommand(t *testing.T) {
	srv := testenv.SharedVault(t)
	t.Setenv("VAULT_TOKEN", srv.RootToken)
	t.Setenv("VAULT_ADDR", "")
	path := uniquePath(t, "cli")
	kCur, kPen, kPrev, kOld := mustKey(t), mustKey(t), mustKey(t), mustKey(t)
	doc := keyset.Document{Current: kCur, Pending: kPen, Previous: kPrev, PreviousUntil: time.Now().Add(time.Hour)}
	if _, err := vault.NewStore(srv.Client(t), "secret").Write(context.Background(), path, doc, 0); err != nil {
		t.Fatal(err)
	}
	config := listenConfig(t, srv.Addr, "{refresh: 100ms, max_staleness: 5s}", "prod-us", path)
	certFile, keyFile, pool := testenv.SelfSigned(t)

	for _, mode := range []string{"https", "http on loopback"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"listen", "--config", config, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json"}
			client := &http.Client{Timeout: 5 * time.Second}
			scheme := "http"
			if mode == "https" {
				args = append(args, "--tls-cert", certFile, "--tls-key", keyFile)
				client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
				scheme = "https"
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &syncBuffer{}
			var stdout bytes.Buffer
			done := make(chan error, 1)
			go func() { done <- cli.Run(ctx, args, &stdout, stderr) }()
			base := scheme + "://" + waitListening(t, stderr, done)

			post := func(key, body string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodPost, base+"/hooks/digicert", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if key != "" {
					req.Header.Set("X-WEBHOOK-KEY", key)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				noKeysIn(t, "response", string(b), kCur, kPen, kPrev, kOld)
				return resp.StatusCode
			}
			admin := "http://" + adminAddr(t, stderr)
			get := func(p string) (int, string) {
				t.Helper()
				resp, err := client.Get(admin + p)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}

			if code, body := get("/healthz"); code != 200 || body != "ok\n" {
				t.Errorf("/healthz = %d %q", code, body)
			}
			deliveries := []struct {
				key, body string
				want      int
			}{
				{kPen, `{"event":"test_webhook_endpoint"}`, 200},
				{kCur, `{"event":"challenge_webhook_endpoint","data":{"token":"chal-tok","webhook_id":1001}}`, 200},
				{kPrev, `{"event":"certificate_issued","data":{"order_id":12345,"certificate_id":23456}}`, 200},
				{kOld, `{"event":"certificate_issued","data":{"order_id":1}}`, 401},
				{"", `{"event":"certificate_issued"}`, 401},
				{kCur, `not json`, 400},
				{kCur, `{"event":"certificate_issued","data":{"pad":"` + strings.Repeat("a", 1<<20) + `"}}`, 413},
			}
			for i, d := range deliveries {
				if got := post(d.key, d.body); got != d.want {
					t.Errorf("delivery %d: %d, want %d", i, got, d.want)
				}
			}
			code, metrics := get("/metrics")
			if code != 200 {
				t.Errorf("/metrics = %d", code)
			}
			for _, want := range []string{
				`keyroll_listener_accepted_total{role="current",target="prod-us"} 3`, // the challenge, the bad body, the large body
				`keyroll_listener_accepted_total{role="pending",target="prod-us"} 1`,
				`keyroll_listener_accepted_total{role="previous",target="prod-us"} 1`,
				`keyroll_listener_rejected_total{reason="wrong_key",target="prod-us"} 1`,
				`keyroll_listener_rejected_total{reason="missing_key",target="prod-us"} 1`,
				`keyroll_listener_keyset_fresh{target="prod-us"} 1`,
				`keyroll_listener_last_refresh_timestamp_seconds{target="prod-us"} `,
				`keyroll_listener_keyset_staleness_seconds{target="prod-us"} `,
				`keyroll_build_info{goversion="`,
				`process_resident_memory_bytes `,
			} {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s:\n%s", want, metrics)
				}
			}
			noKeysIn(t, "metrics", metrics, kCur, kPen, kPrev, kOld)

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("keyroll listen returned %v after cancel", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("keyroll listen did not stop after cancel")
			}
			logs := stderr.String()
			for _, want := range []string{
				`"message":"webhook event"`, `"event":"test_webhook_endpoint"`, `"key_role":"pending"`,
				`"event":"challenge_webhook_endpoint"`, `"challenge_token":"chal-tok"`,
				`"order_id":"12345"`, `"certificate_id":"23456"`, `"key_role":"previous"`,
				`"message":"webhook delivery rejected"`, `"reason":"wrong_key"`, `"reason":"missing_key"`, `"remote_addr":"127.0.0.1:`,
				`"message":"shutting down"`, `"message":"stopped"`,
			} {
				if !strings.Contains(logs, want) {
					t.Errorf("logs lack %s", want)
				}
			}
			for _, k := range []string{kCur, kPen, kPrev, kOld, srv.RootToken} {
				if strings.Contains(logs, k) || strings.Contains(stdout.String(), k) {
					t.Errorf("a key or token (%s) appears in the output", keyset.Fingerprint(k))
				}
			}
		})
	}
}

func TestListenUsageErrors(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "unused")
	t.Setenv("VAULT_ADDR", "")
	vaultAddr := "http://127.0.0.1:1" // never reached: every case fails before logging in
	one := listenConfig(t, vaultAddr, "{refresh: 30s, max_staleness: 10m}", "prod-us", "keyroll/a")
	two := listenConfig(t, vaultAddr, "{refresh: 30s, max_staleness: 10m}", "prod-us", "keyroll/a", "prod-eu", "keyroll/b")
	equal := listenConfig(t, vaultAddr, "{refresh: 30s, max_staleness: 30s}", "prod-us", "keyroll/a")
	certFile, keyFile, _ := testenv.SelfSigned(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no addr", []string{"--config", one}, "--addr is required"},
		{"bad addr", []string{"--config", one, "--addr", "8443"}, "--addr"},
		{"plain HTTP on every interface", []string{"--config", one, "--addr", ":8080"}, "refusing plain HTTP"},
		{"plain HTTP on a public address", []string{"--config", one, "--addr", "0.0.0.0:8080"}, "refusing plain HTTP"},
		{"plain HTTP on a host name", []string{"--config", one, "--addr", "example.com:8080"}, "refusing plain HTTP"},
		{"cert without key", []string{"--config", one, "--addr", ":8443", "--tls-cert", certFile}, "go together"},
		{"unreadable cert", []string{"--config", one, "--addr", ":8443", "--tls-cert", certFile + ".missing", "--tls-key", keyFile}, "TLS file"},
		{"key for the cert swapped", []string{"--config", one, "--addr", ":8443", "--tls-cert", keyFile, "--tls-key", certFile}, "TLS certificate"},
		{"two targets, none chosen", []string{"--config", two, "--addr", "127.0.0.1:0"}, "choose one with --target"},
		{"unknown target", []string{"--config", two, "--addr", "127.0.0.1:0", "--target", "nope"}, "not in the configuration"},
		{"max_staleness equal to refresh", []string{"--config", equal, "--addr", "127.0.0.1:0"}, "listener.max_staleness"},
		{"extra argument", []string{"--config", one, "--addr", "127.0.0.1:0", "extra"}, "unexpected argument"},
		{"upstream not a URL", []string{"--config", one, "--addr", "127.0.0.1:0", "--upstream", "127.0.0.1:8080"}, "--upstream"},
		{"upstream not http", []string{"--config", one, "--addr", "127.0.0.1:0", "--upstream", "ftp://127.0.0.1/"}, "--upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := cli.Run(context.Background(), append([]string{"listen"}, tt.args...), &out, &errb)
			if code := cli.ExitCode(err); code != cli.ExitUsage || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, %v; want %d mentioning %q", code, err, cli.ExitUsage, tt.want)
			}
		})
	}
}

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

// TestListenAdminAddrAndAllowFrom runs `keyroll listen` with --admin-addr and --allow-from:
// health and metrics answer on the admin port only, and connections from a source outside
// the allowed prefixes are closed at accept, before a byte is read.
func TestListenAdminAddrAndAllowFrom(t *testing.T) {
	srv := testenv.SharedVault(t)
	t.Setenv("VAULT_TOKEN", srv.RootToken)
	t.Setenv("VAULT_ADDR", "")
	path := uniquePath(t, "admin")
	kCur := mustKey(t)
	if _, err := vault.NewStore(srv.Client(t), "secret").Write(context.Background(), path, keyset.Document{Current: kCur}, 0); err != nil {
		t.Fatal(err)
	}
	config := listenConfig(t, srv.Addr, "{refresh: 0s}", "prod-us", path)
	for _, tt := range []struct {
		allow string
		want  int
	}{{"10.0.0.0/8", 0}, {"10.0.0.0/8,127.0.0.1", http.StatusOK}} { // 0: connection closed at accept
		t.Run(tt.allow, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &syncBuffer{}
			done := make(chan error, 1)
			args := []string{"listen", "--config", config, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
				"--allow-from", tt.allow, "--max-conns", "8", "--log-format", "json"}
			go func() { done <- cli.Run(ctx, args, io.Discard, stderr) }()
			base := "http://" + waitListening(t, stderr, done)
			var admin string
			for _, line := range strings.Split(stderr.String(), "\n") {
				var l struct {
					AdminAddr string `json:"admin_addr"`
				}
				if json.Unmarshal([]byte(line), &l) == nil && l.AdminAddr != "" {
					admin = "http://" + l.AdminAddr
				}
			}
			if admin == "" {
				t.Fatalf("no admin address logged:\n%s", stderr)
			}
			status := func(method, url, key string) int {
				t.Helper()
				req, _ := http.NewRequest(method, url, strings.NewReader(`{"event":"test_webhook_endpoint"}`))
				req.Header.Set("X-WEBHOOK-KEY", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0 // refused at accept
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := status(http.MethodGet, admin+"/healthz", ""); got != http.StatusOK {
				t.Errorf("admin /healthz = %d", got)
			}
			if got := status(http.MethodGet, admin+"/metrics", ""); got != http.StatusOK {
				t.Errorf("admin /metrics = %d", got)
			}
			if got := status(http.MethodGet, base+"/healthz", ""); got == http.StatusOK {
				t.Errorf("/healthz still answers on the webhook port")
			}
			if got := status(http.MethodPost, base+"/hooks/digicert", kCur); got != tt.want {
				t.Errorf("delivery with the current key from 127.0.0.1: %d, want %d", got, tt.want)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("listen: %v", err)
			}
		})
	}
}
