package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopSharedVault()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// world is a real Vault, the simulator with one account, and a TLS listener that reads
// the accept set from Vault on every delivery.
type world struct {
	t        *testing.T
	vault    *testenv.VaultServer
	store    *vault.Store
	sim      *certcentraltest.Server
	acct     *certcentraltest.Account
	apiKey   string
	path     string
	config   string
	endpoint string
	rejected int
	mu       sync.Mutex
}

var worldSeq int

func newWorld(t *testing.T, extraYAML string) *world {
	t.Helper()
	return newWorldWith(t, extraYAML)
}

// newWorldWith is newWorld with a simulator that has more options (an assumption about
// DigiCert played the other way, say).
func newWorldWith(t *testing.T, extraYAML string, simOpts ...certcentraltest.Option) *world {
	t.Helper()
	worldSeq++
	w := &world{t: t, vault: testenv.SharedVault(t), apiKey: "KEY" + strings.Repeat("x", 29) + fmt.Sprint(worldSeq)}
	w.store = vault.NewStore(w.vault.Client(t), "secret")
	w.path = fmt.Sprintf("keyroll/cli-test/%d-%s", worldSeq, keyset.Fingerprint(t.Name())[7:])
	lis := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		vv, err := w.store.Read(r.Context(), w.path)
		if err == nil {
			if _, ok := vv.Doc.Accepts(r.Header.Get("X-WEBHOOK-KEY"), time.Now()); ok {
				rw.WriteHeader(http.StatusOK)
				return
			}
		}
		w.mu.Lock()
		w.rejected++
		w.mu.Unlock()
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(lis.Close)
	w.sim = certcentraltest.NewServer(append([]certcentraltest.Option{certcentraltest.WithDeliveryClient(lis.Client())}, simOpts...)...)
	t.Cleanup(w.sim.Close)
	w.acct = w.sim.AddAccount(w.apiKey)
	initial, _ := keyset.Generate(40)
	w.endpoint = lis.URL + "/hook?x=1&y=2"
	w.acct.SetWebhook(certcentraltest.Webhook{Endpoint: w.endpoint, Secret: initial, Events: []string{"certificate_issued"},
		Status: certcentraltest.StatusActive})

	cfg := fmt.Sprintf(`
vault: {address: %q, kv_mount: secret, auth: {method: token}}
certcentral: {url: %q, api_key_env: KEYROLL_TEST_API_KEY, timeout: 5s}
rotation: {propagation_delay: 0s, min_interval: 1h, overlap: 1h}
listener: {refresh: 0s}
targets:
  - {name: prod-us, vault_path: %q}
%s`, w.vault.Addr, w.sim.URL(), w.path, extraYAML)
	w.config = filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_TOKEN", w.vault.RootToken)
	t.Setenv("KEYROLL_TEST_API_KEY", w.apiKey)
	t.Setenv("VAULT_ADDR", "")
	return w
}

// run runs keyroll in-process and returns its exit code and output.
func (w *world) run(args ...string) (int, string, string) {
	w.t.Helper()
	var out, errb bytes.Buffer
	if args[0] != "evidence" {
		args = append(args[:1:1], append([]string{"--config", w.config}, args[1:]...)...)
	}
	err := cli.Run(context.Background(), args, &out, &errb)
	if err != nil {
		fmt.Fprintln(&errb, "keyroll:", err)
	}
	return cli.ExitCode(err), out.String(), errb.String()
}

// secrets returns every key the world has seen, for leak checks.
func (w *world) secrets() []string {
	s := []string{w.apiKey, w.acct.Webhook().Secret, w.vault.RootToken}
	if vv, err := w.store.Read(context.Background(), w.path); err == nil {
		s = append(s, vv.Doc.Current, vv.Doc.Pending, vv.Doc.Previous)
	}
	for _, r := range w.sim.Requests() {
		if i := bytes.Index(r.Body, []byte(`"secret":"`)); i >= 0 {
			rest := r.Body[i+10:]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				s = append(s, string(rest[:j]))
			}
		}
	}
	return s
}

func (w *world) checkNoLeak(outputs []string, extraSecrets ...string) {
	w.t.Helper()
	all := strings.Join(outputs, "\n")
	for _, s := range append(w.secrets(), extraSecrets...) {
		if s != "" && strings.Contains(all, s) {
			i := strings.Index(all, s)
			ctx := strings.ReplaceAll(all[max(0, i-300):i], s, "<SECRET>")
			w.t.Errorf("a secret (%s) appears in keyroll's output after: %s", keyset.Fingerprint(s), ctx)
		}
	}
}

func TestRunEndToEnd(t *testing.T) {
	w := newWorld(t, "")
	old := w.acct.Webhook().Secret
	code, out, errs := w.run("run")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	vv, err := w.store.Read(context.Background(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	if vv.Doc.Current != w.acct.Webhook().Secret || vv.Doc.Previous != old {
		t.Error("the document does not hold the new key as current and the old one as previous")
	}
	if !strings.Contains(out, "prod-us") || !strings.Contains(out, "rotated") || !strings.Contains(out, keyset.Fingerprint(vv.Doc.Current)) {
		t.Errorf("summary table missing:\n%s", out)
	}
	if !strings.Contains(errs, `"evidence":true`) {
		t.Errorf("no evidence log line:\n%s", errs)
	}
	// A second run is not due.
	code, out2, errs2 := w.run("run")
	if code != 0 || !strings.Contains(out2, "skipped") {
		t.Errorf("second run: exit %d\n%s", code, out2)
	}
	// A dry run writes nothing.
	code, out3, errs3 := w.run("run", "--dry-run", "--force")
	after, _ := w.store.Read(context.Background(), w.path)
	if code != 0 || !strings.Contains(out3, "dry run") || after.Version != vv.Version {
		t.Errorf("dry run: exit %d, version %d→%d\n%s", code, vv.Version, after.Version, out3)
	}
	if w.rejected != 0 {
		t.Errorf("listener rejected %d deliveries", w.rejected)
	}
	w.checkNoLeak([]string{out, errs, out2, errs2, out3, errs3})
}

func TestExitCodes(t *testing.T) {
	t.Run("bad config is exit 2 and writes nothing", func(t *testing.T) {
		w := newWorld(t, "evidence: {file: 7}\n")
		if err := os.WriteFile(w.config, []byte("rotation: {secret_length: 8, overlap: soon}\ntargets: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errs := w.run("run")
		if code != 2 || !strings.Contains(errs, "overlap") {
			t.Errorf("exit %d, want 2 naming the key\n%s%s", code, out, errs)
		}
	})
	t.Run("validation lists every problem", func(t *testing.T) {
		w := newWorld(t, "")
		if err := os.WriteFile(w.config, []byte("rotation: {secret_length: 8, propagation_delay: 1s}\ntargets: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, errs := w.run("run")
		for _, want := range []string{"rotation.secret_length", "rotation.propagation_delay", "targets"} {
			if !strings.Contains(errs, want) {
				t.Errorf("error does not name %s: %s", want, errs)
			}
		}
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
	t.Run("missing API key is exit 2 and writes nothing", func(t *testing.T) {
		w := newWorld(t, "")
		t.Setenv("KEYROLL_TEST_API_KEY", "")
		code, _, errs := w.run("run")
		if code != 2 || !strings.Contains(errs, "KEYROLL_TEST_API_KEY") {
			t.Errorf("exit %d, want 2 naming the variable: %s", code, errs)
		}
		if _, err := w.store.Read(context.Background(), w.path); err == nil {
			t.Error("a configuration error must not write")
		}
	})
	t.Run("unknown flag and target are exit 2", func(t *testing.T) {
		w := newWorld(t, "")
		if code, _, _ := w.run("run", "--frobnicate"); code != 2 {
			t.Errorf("unknown flag: exit %d", code)
		}
		if code, _, _ := w.run("run", "--target", "nope"); code != 2 {
			t.Errorf("unknown target: exit %d", code)
		}
		if code, _, _ := w.run("run", "--overlap", "soon"); code != 2 {
			t.Errorf("bad --overlap: exit %d", code)
		}
	})
	t.Run("drift is exit 3, --adopt-drift adopts, --force alone names it", func(t *testing.T) {
		w := newWorld(t, "")
		if code, out, errs := w.run("run"); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		rogue, _ := keyset.Generate(40)
		_ = w.acct.SetSecret(rogue)
		code, out1, errs1 := w.run("run", "--force")
		if code != 3 || !strings.Contains(out1+errs1, "--adopt-drift") {
			t.Errorf("--force over drift: exit %d, want 3 naming --adopt-drift\n%s", code, errs1)
		}
		code, out, errs := w.run("run", "--adopt-drift")
		if code != 0 {
			t.Fatalf("--adopt-drift over drift: exit %d\n%s", code, errs)
		}
		_ = w.acct.SetSecret(rogue + "x")
		code, out2, errs2 := w.run("run", "--force=false")
		if code != 3 {
			t.Errorf("drift: exit %d, want 3", code)
		}
		w.checkNoLeak([]string{out1, errs1, out, errs, out2, errs2}, rogue, rogue+"x")
	})
	t.Run("inactive webhook is exit 3", func(t *testing.T) {
		w := newWorld(t, "")
		_ = w.acct.SetStatus(certcentraltest.StatusInactive)
		if code, _, _ := w.run("run"); code != 3 {
			t.Errorf("exit %d, want 3", code)
		}
	})
	t.Run("rejected API key is exit 3", func(t *testing.T) {
		w := newWorld(t, "")
		t.Setenv("KEYROLL_TEST_API_KEY", "wrong-key-wrong-key-wrong-key-00")
		code, out, errs := w.run("run")
		if code != 3 {
			t.Errorf("exit %d, want 3", code)
		}
		w.checkNoLeak([]string{out, errs}, "wrong-key-wrong-key-wrong-key-00")
	})
	t.Run("Vault permission denied is exit 3", func(t *testing.T) {
		w := newWorld(t, "")
		w.vault.Policy(t, "nothing", `path "secret/data/elsewhere" { capabilities = ["read"] }`)
		t.Setenv("VAULT_TOKEN", w.vault.Token(t, time.Hour, "nothing"))
		if code, _, errs := w.run("run"); code != 3 {
			t.Errorf("exit %d, want 3: %s", code, errs)
		}
	})
	t.Run("malformed DigiCert answer is a clear exit 1 and writes nothing", func(t *testing.T) {
		w := newWorld(t, "")
		w.sim.Inject(certcentraltest.Fault{Method: http.MethodGet, Path: "/webhook", Status: 200, RawBody: true,
			Body: "<html>proxy login</html>", ContentType: "text/html", Count: 100})
		code, _, errs := w.run("run")
		if code != 1 || !strings.Contains(errs, "GET /webhook") {
			t.Errorf("exit %d, want 1 naming the call: %s", code, errs)
		}
		if _, err := w.store.Read(context.Background(), w.path); err == nil {
			t.Error("a malformed answer must not lead to a write")
		}
	})
	t.Run("malformed Vault document is exit 3 and is left alone", func(t *testing.T) {
		w := newWorld(t, "")
		if _, err := w.vault.Client(t).Logical().Write("secret/data/"+w.path, map[string]any{
			"data": map[string]any{"current": 42, "pending_since": "yesterday"}}); err != nil {
			t.Fatal(err)
		}
		code, _, errs := w.run("run")
		if code != 3 || !strings.Contains(errs, `field "current"`) {
			t.Errorf("exit %d, want 3 naming the field: %s", code, errs)
		}
		sec, _ := w.vault.Client(t).Logical().Read("secret/metadata/" + w.path)
		if v := sec.Data["current_version"]; fmt.Sprint(v) != "1" {
			t.Errorf("document rewritten: current_version %v", v)
		}
	})
	t.Run("DigiCert down is exit 1", func(t *testing.T) {
		w := newWorld(t, "")
		w.sim.Inject(certcentraltest.Fault{Method: http.MethodGet, Path: "/webhook", Status: 503, Count: 100})
		if code, _, _ := w.run("run"); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

func TestCheck(t *testing.T) {
	w := newWorld(t, "")
	code, out, errs := w.run("check")
	if code != 0 || !strings.Contains(out, "does not exist yet") || !strings.Contains(out, "digicert webhook") ||
		!strings.Contains(out, "policy allows rotating") {
		t.Errorf("check: exit %d\n%s%s", code, out, errs)
	}
	if _, err := w.store.Read(context.Background(), w.path); err == nil {
		t.Error("check must not write")
	}
	w.vault.Policy(t, "nothing", `path "secret/data/elsewhere" { capabilities = ["read"] }`)
	t.Setenv("VAULT_TOKEN", w.vault.Token(t, time.Hour, "nothing"))
	code, out, _ = w.run("check")
	if code != 3 || !strings.Contains(out, "permission denied") {
		t.Errorf("check with a forbidden path: exit %d\n%s", code, out)
	}
	// A read-only policy (a listener's) can read but not rotate: check says what is missing.
	w.vault.Policy(t, "read-only", fmt.Sprintf(`path "secret/data/%s" { capabilities = ["read"] }`, w.path))
	t.Setenv("VAULT_TOKEN", w.vault.Token(t, time.Hour, "read-only"))
	code, out, errs = w.run("check")
	if code != 3 || !strings.Contains(out, "policy lacks create on secret/data/") || !strings.Contains(out, "update on secret/metadata/") {
		t.Errorf("check with a read-only policy: exit %d\n%s%s", code, out, errs)
	}
	w.checkNoLeak([]string{out, errs})
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// keyrollBinary builds keyroll once per test binary.
func keyrollBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyroll-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "keyroll")
		if out, err := exec.Command("go", "build", "-o", binPath, "../..").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestSIGTERMDuringWait stops a `keyroll run` process with SIGTERM while it waits for
// listeners to learn the staged key, as Kubernetes does when it ends a Job's pod: the
// process exits 1 promptly, the staged key stays in Vault, and the next run resumes it.
func TestSIGTERMDuringWait(t *testing.T) {
	w := newWorld(t, "")
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("propagation_delay: 0s"), []byte("propagation_delay: 1m"), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(keyrollBinary(t), "run", "--config", w.config)
	errb := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = errb, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "waiting for listeners") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("after SIGTERM: %v after %s, want exit 1 promptly\n%s", err, time.Since(start), errb.String())
	}
	vv, err := w.store.Read(context.Background(), w.path)
	if err != nil || vv.Doc.Pending == "" {
		t.Fatalf("the staged key must stay in Vault: %v", err)
	}
	if _, ok := vv.Doc.Accepts(w.acct.Webhook().Secret, time.Now()); !ok {
		t.Error("DigiCert's live secret left the accept set")
	}
	staged := vv.Doc.Pending

	cfg = bytes.Replace(cfg, []byte("propagation_delay: 1m"), []byte("propagation_delay: 0s"), 1)
	_ = os.WriteFile(w.config, cfg, 0o600)
	code, out, errs := w.run("run")
	after, _ := w.store.Read(context.Background(), w.path)
	if code != 0 || !strings.Contains(out, "resumed") || after.Doc.Current != staged || w.acct.Webhook().Secret != staged {
		t.Errorf("the next run did not resume with the staged key: exit %d\n%s%s", code, out, errs)
	}
	w.checkNoLeak([]string{errb.String(), out, errs})
}

// TestConcurrentProcesses runs four keyroll processes on the same target at once.
func TestConcurrentProcesses(t *testing.T) {
	w := newWorld(t, "")
	bin := keyrollBinary(t)
	var wg sync.WaitGroup
	codes := make([]int, 4)
	outs := make([]string, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "run", "--config", w.config)
			var b bytes.Buffer
			cmd.Stdout, cmd.Stderr = &b, &b
			err := cmd.Run()
			outs[i] = b.String()
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("process %d: exit %d\n%s", i, c, outs[i])
		}
	}
	pushed := map[string]bool{}
	for _, r := range w.sim.RequestsTo(http.MethodPut, fmt.Sprintf("/webhook/%d", w.acct.Webhook().ID)) {
		pushed[string(r.Body)] = true
	}
	if len(pushed) != 1 {
		t.Errorf("PUT bodies: %d distinct, want 1 (one key)", len(pushed))
	}
	vv, _ := w.store.Read(context.Background(), w.path)
	if vv.Doc.Pending != "" || vv.Doc.Current != w.acct.Webhook().Secret {
		t.Error("final document inconsistent")
	}
	w.checkNoLeak(outs)
}

func TestStatus(t *testing.T) {
	w := newWorld(t, "")
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := w.run("status")
	vv, _ := w.store.Read(context.Background(), w.path)
	if code != 0 || !strings.Contains(out, "idle") || !strings.Contains(out, keyset.Fingerprint(vv.Doc.Current)) ||
		!strings.Contains(out, keyset.Fingerprint(vv.Doc.Previous)) || !strings.Contains(out, "current") {
		t.Errorf("status: exit %d\n%s%s", code, out, errs)
	}
	t.Log("\n" + out)
	code, out, _ = w.run("status", "--json")
	var rows []cli.TargetStatus
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 1 || rows[0].State != "idle" ||
		rows[0].LiveMatches != "current" || rows[0].NextDue == nil || rows[0].OverlapUntil == nil {
		t.Errorf("status --json: exit %d, %v\n%s", code, err, out)
	}
	w.checkNoLeak([]string{out, errs})

	// A staged document older than stuck_after is an alert (exit 1).
	doc := vv.Doc
	doc.Pending, doc.PendingSince = strings.Repeat("P", 48), time.Now().Add(-2*time.Hour)
	if _, err := w.store.Write(context.Background(), w.path, doc, vv.Version); err != nil {
		t.Fatal(err)
	}
	code, out, _ = w.run("status")
	if code != 1 || !strings.Contains(out, "STUCK") || strings.Contains(out, doc.Pending) {
		t.Errorf("stuck target: exit %d\n%s", code, out)
	}
}

func TestStatusOverdue(t *testing.T) {
	w := newWorld(t, "")
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("min_interval: 1h,"), []byte("min_interval: 1h, max_age: 1ns,"), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ := w.run("status")
	if code != 1 || !strings.Contains(out, "OVERDUE") {
		t.Errorf("overdue target: exit %d\n%s", code, out)
	}
}

func TestEvidenceFileAndVerify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "evidence.jsonl")
	w := newWorld(t, fmt.Sprintf("evidence: {file: %q}\n", file))
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := w.run("run"); code != 0 { // skipped: a second record
		t.Fatal("second run failed")
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("evidence file mode: %v %v", st, err)
	}
	code, out, _ := w.run("evidence", "verify", file)
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "2 records") {
		t.Errorf("verify intact: exit %d %s", code, out)
	}
	b, _ := os.ReadFile(file)
	w.checkNoLeak([]string{string(b)})
	tampered := bytes.Replace(b, []byte(`"outcome":"skipped"`), []byte(`"outcome":"rotated"`), 1)
	if err := os.WriteFile(file, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = w.run("evidence", "verify", file)
	if code != 1 || !strings.Contains(out, "line 2") {
		t.Errorf("verify tampered: exit %d %s", code, out)
	}
	if code, _, _ := w.run("evidence", "check", file); code != 2 {
		t.Errorf("bad subcommand: exit %d, want 2", code)
	}
	// An evidence file others may read stops the run before anything changes (exit 3).
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := w.store.Read(context.Background(), w.path)
	code, _, errs := w.run("run", "--force")
	after, _ := w.store.Read(context.Background(), w.path)
	if code != 3 || !strings.Contains(errs, "chmod 600") || after.Version != before.Version {
		t.Errorf("loose evidence file: exit %d, version %d→%d: %s", code, before.Version, after.Version, errs)
	}
}
