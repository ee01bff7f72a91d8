package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRebindingIsRefused: a configuration that points a bound document at another
// CertCentral host exits 3 and writes nothing, to Vault or to DigiCert; --force rebinds
// and the evidence says so.
func TestRebindingIsRefused(t *testing.T) {
	evidenceFile := filepath.Join(t.TempDir(), "evidence.jsonl")
	w := newWorld(t, "evidence: {file: "+evidenceFile+"}\n")
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errs)
	}
	ctx := context.Background()
	before, err := w.store.Read(ctx, w.path)
	if err != nil || before.Meta["webhook_id"] == "" || before.Meta["certcentral_host"] != "127.0.0.1" {
		t.Fatalf("binding not recorded: %v %v", before.Meta, err)
	}
	// The same document, reached through another host name of the simulator.
	cfg, _ := os.ReadFile(w.config)
	other := strings.Replace(string(cfg), w.sim.URL(), strings.Replace(w.sim.URL(), "127.0.0.1", "localhost", 1), 1)
	if err := os.WriteFile(w.config, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	w.sim.ResetLog()
	code, out, errs := w.run("run", "--force=false")
	if code != 3 || !strings.Contains(out+errs, "bound to another webhook") {
		t.Errorf("rebinding: exit %d, want 3 naming the binding\n%s%s", code, out, errs)
	}
	after, _ := w.store.Read(ctx, w.path)
	if after.Version != before.Version || after.Meta["certcentral_host"] != "127.0.0.1" {
		t.Errorf("the refused run wrote to Vault: version %d→%d, metadata %v", before.Version, after.Version, after.Meta)
	}
	for _, r := range w.sim.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("the refused run wrote to DigiCert: %s %s", r.Method, r.Path)
		}
	}
	// --force alone does not rebind: it exits 3 naming --rebind, and writes nothing.
	code, out1, errs1 := w.run("run", "--force")
	if code != 3 || !strings.Contains(out1+errs1, "--rebind") {
		t.Errorf("--force on a document bound elsewhere: exit %d, want 3 naming --rebind\n%s%s", code, out1, errs1)
	}
	if vv, _ := w.store.Read(ctx, w.path); vv.Version != before.Version {
		t.Errorf("--force alone wrote to Vault: version %d→%d", before.Version, vv.Version)
	}
	code, out2, errs2 := w.run("run", "--rebind")
	if code != 0 {
		t.Fatalf("--rebind: exit %d\n%s%s", code, out2, errs2)
	}
	if vv, _ := w.store.Read(ctx, w.path); vv.Meta["certcentral_host"] != "localhost" {
		t.Errorf("--rebind did not rebind: %v", vv.Meta)
	}
	if !strings.Contains(out2, "rebound from webhook") || !strings.Contains(out2, "at 127.0.0.1 to webhook") || !strings.Contains(out2, "at localhost") {
		t.Errorf("--rebind does not print both bindings:\n%s", out2)
	}
	ev, _ := os.ReadFile(evidenceFile)
	if !strings.Contains(string(ev), `"name":"bind"`) || !strings.Contains(string(ev), "rebound from webhook") {
		t.Errorf("the evidence does not record the rebinding:\n%s", ev)
	}
	w.checkNoLeak([]string{out, errs, out1, errs1, out2, errs2, string(ev)})
}

// TestEchoingProxyLeaksNothing puts a proxy that echoes request bodies in its 502s between
// keyroll and the real Vault: the stage write fails, and no key reaches stdout, the logs
// or the evidence file.
func TestEchoingProxyLeaksNothing(t *testing.T) {
	evidenceFile := filepath.Join(t.TempDir(), "evidence.jsonl")
	w := newWorld(t, "evidence: {file: "+evidenceFile+"}\n")
	u, _ := url.Parse(w.vault.Addr)
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	var echoed []string // every key value the proxy echoed
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || !strings.Contains(r.URL.Path, "/data/") {
			rp.ServeHTTP(rw, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body struct {
			Data map[string]any `json:"data"`
		}
		_ = json.Unmarshal(b, &body)
		mu.Lock()
		for _, k := range []string{"current", "pending", "previous"} {
			if s, ok := body.Data[k].(string); ok {
				echoed = append(echoed, s)
			}
		}
		mu.Unlock()
		rw.WriteHeader(http.StatusBadGateway)
		rw.Write(append([]byte("bad gateway; request was: "), b...))
	}))
	defer proxy.Close()
	cfg, _ := os.ReadFile(w.config)
	if err := os.WriteFile(w.config, []byte(strings.Replace(string(cfg), w.vault.Addr, proxy.URL, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := w.run("run")
	if code != 1 || !strings.Contains(errs, "HTTP 502") {
		t.Fatalf("run through the echoing proxy: exit %d, want 1 with the 502\n%s%s", code, out, errs)
	}
	ev, _ := os.ReadFile(evidenceFile)
	if !strings.Contains(string(ev), "HTTP 502") {
		t.Errorf("the evidence does not record the failure:\n%s", ev)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(echoed) < 2 {
		t.Fatalf("the proxy echoed %d values, want the current and the pending key", len(echoed))
	}
	w.checkNoLeak([]string{out, errs, string(ev)}, echoed...)
	if _, err := w.store.Read(context.Background(), w.path); err == nil {
		t.Error("the document was written through a proxy that failed every write")
	}
}

// TestEnvironmentSecretsNeverPrinted fills the configuration from environment variables
// that hold secrets and scans every output of every command for them.
func TestEnvironmentSecretsNeverPrinted(t *testing.T) {
	w := newWorld(t, "")
	secrets := map[string]string{
		"KR_KEY":   w.apiKey,                                         // the API key where a name belongs
		"KR_PATH":  "/not/relative/" + strings.Repeat("S", 40),       // a bad vault_path
		"KR_VADDR": "vault.internal:8200/" + strings.Repeat("V", 40), // not a URL
		"KR_LEN":   "thirty-" + strings.Repeat("L", 40),              // not a number
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	cfg := `vault: {address: "${KR_VADDR}", auth: {method: token}}
certcentral:
  api_key_env: ${KR_KEY}
rotation:
  secret_length: ${KR_LEN}
targets:
  - {name: prod-us, vault_path: "${KR_PATH}"}
`
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, cmd := range [][]string{{"check"}, {"run"}, {"status"}, {"policy"}, {"schedule"}, {"listen", "--addr", "127.0.0.1:0"}} {
		code, out, errs := w.run(cmd...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", cmd[0], code)
		}
		for _, name := range []string{"${KR_KEY}", "${KR_PATH}", "${KR_LEN}"} {
			if !strings.Contains(errs, name) && cmd[0] == "check" {
				t.Errorf("check does not name %s:\n%s", name, errs)
			}
		}
		outputs = append(outputs, out, errs)
	}
	vals := make([]string, 0, len(secrets))
	for _, v := range secrets {
		vals = append(vals, v, v[len(v)-min(len(v), 24):])
	}
	w.checkNoLeak(outputs, vals...)
}
