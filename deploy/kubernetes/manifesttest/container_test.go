package manifesttest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"sigs.k8s.io/yaml"

	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
)

// The CA bundle of Vault's private CA reaches the containers as the chart's extraVolumes
// would put it: a read-only volume and VAULT_CACERT naming the file in it.
const (
	vaultCAMount = "/etc/keyroll-vault-ca"
	vaultCAFile  = vaultCAMount + "/ca.crt"
)

// containerWorld is a TLS Vault (-dev-tls), the CertCentral simulator and the chart's
// listener sidecar (both in the image), and the receiver the sidecar forwards to, all on
// loopback (containers use --network host).
type containerWorld struct {
	img, apiKey, vaultAddr, token string
	vault                         *testenv.VaultServer
	caDir, tlsDir                 string
	simAddr, sidecarPort, upPort  string
	forwarded                     atomic.Int64 // deliveries the receiver got from the sidecar
	tlsPool                       *x509.CertPool
	evidence                      map[string]string // the rotation pod's volumes (stand-ins), kept across runs
	rotated                       bool              // the first rotation passed
}

// TestContainer runs the image `make image` built the way Kubernetes runs the chart's pods:
// the podman flags come from `helm template` (security context, environment, mounts), the
// config from the chart's ConfigMap. Two overlays stand in for what the chart cannot do
// here: the Vault login is token auth from the projected token's path (Kubernetes login is
// TestCluster's), and evidence signing and anchoring are switched on.
func TestContainer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	img := keyrollImage(t)
	w := newContainerWorld(t, img)
	pods := w.render(t)
	w.evidence = w.volumes(t, pods, "rotation") // the pod's volumes live as long as the test
	t.Run("check and run as the CronJob", func(t *testing.T) { w.testCheckAndRun(t, pods) })
	t.Run("listener sidecar", func(t *testing.T) { w.testSidecar(t, pods) })
	t.Run("SIGTERM in the propagation wait", func(t *testing.T) { w.testSIGTERM(t, pods) })
	t.Run("schedule with CRON_TZ", w.testSchedule)
	t.Run("unwritable evidence volume", func(t *testing.T) { w.testUnwritableEvidence(t, pods) })
}

func newContainerWorld(t *testing.T, img string) *containerWorld {
	v := testenv.TLSVault(t)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	w := &containerWorld{img: img, vault: v, vaultAddr: v.Addr, token: v.RootToken, apiKey: "ck-" + hex.EncodeToString(b)}
	root := v.ClientWithToken(t, v.RootToken)
	if err := root.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("transit/keys/keyroll-evidence", map[string]any{"type": "ed25519"}); err != nil {
		t.Fatal(err)
	}
	w.caDir = t.TempDir()
	ca, err := os.ReadFile(v.CACert)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.caDir, "ca.crt"), ca, 0o644)
	mustMkdir(t, w.caDir, 0o755)
	w.tlsDir, w.tlsPool = selfSignedCert(t)
	_, w.sidecarPort, _ = net.SplitHostPort(freeAddr(t))
	w.simAddr = freeAddr(t)
	w.startReceiver(t)
	w.startSimulator(t)
	return w
}

// render renders the chart with this world's addresses.
func (w *containerWorld) render(t *testing.T, set ...string) *renderedPods {
	base := []string{
		"vault.address=" + w.vaultAddr,
		"digicert.url=http://" + w.simAddr + "/services/v2",
		"digicert.timeout=5s",
		"rotation.propagationDelay=5s",
		"rotation.overlap=1h",
		"rotation.minInterval=1h",
		"listener.refresh=1s",
		"listenerSidecar.enabled=true",
		"listenerSidecar.port=" + w.sidecarPort,
		"listenerSidecar.upstream=http://127.0.0.1:" + w.upPort,
	}
	return renderPods(t, append(base, set...)...)
}

// volumes makes the stand-ins of pod's volumes, with the chart's ConfigMaps overlaid (see
// TestContainer) and the Vault token in the projected token's place.
func (w *containerWorld) volumes(t *testing.T, p *renderedPods, pod string) map[string]string {
	cms := map[string]map[string]string{}
	for name, data := range p.configMaps {
		cms[name] = map[string]string{"config.yaml": overlayConfig(t, data["config.yaml"])}
	}
	spec := p.rotation
	if pod == "receiver" {
		spec = p.receiver
	}
	return standInVolumes(t, spec, cms, w.secrets(t), w.token)
}

func (w *containerWorld) secrets(t *testing.T) map[string]string {
	crt, err := os.ReadFile(filepath.Join(w.tlsDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(w.tlsDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"keyroll-digicert/api-key":     w.apiKey,
		"webhook-listener-tls/tls.crt": string(crt),
		"webhook-listener-tls/tls.key": string(key),
	}
}

// overlayConfig is the chart's config.yaml with token auth from the projected token's
// path, and (when it has evidence) Transit signing and an anchor.
func overlayConfig(t *testing.T, in string) string {
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatalf("the chart's config.yaml: %v", err)
	}
	vault := cfg["vault"].(map[string]any)
	auth := vault["auth"].(map[string]any)
	vault["auth"] = map[string]any{"method": "token", "token_file": auth["service_account_token_file"]}
	if ev, ok := cfg["evidence"].(map[string]any); ok {
		ev["signing"] = map[string]any{"key": "keyroll-evidence"}
		ev["anchor"] = "keyroll/evidence/head"
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// container is one running (or finished) container of a pod.
type container struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	code int
}

// start runs args in the image as container c of pod would run (flags from kubeletRun), with
// the Vault CA bundle mounted and --network host; extra flags come before the image.
func (w *containerWorld) start(t *testing.T, r podRun, args []string, extra ...string) *container {
	t.Helper()
	name := fmt.Sprintf("keyroll-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	flags := []string{"run", "--rm", "--name", name, "--network", "host",
		"-v", w.caDir + ":" + vaultCAMount + ":ro", "-e", "VAULT_CACERT=" + vaultCAFile}
	flags = append(append(append(flags, r.flags...), extra...), w.img)
	c := &container{name: name, out: &syncbuf.Buffer{Limit: 4 << 20}, done: make(chan struct{})}
	c.cmd = podman(append(flags, args...)...)
	c.cmd.Env = append(os.Environ(), r.env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := c.cmd.Wait()
		c.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			c.code = ee.ExitCode()
		} else if err != nil {
			c.code = -1
		}
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = podman("rm", "-f", "--time", "0", name).Run()
		<-c.done
	})
	return c
}

// ended reports whether c has ended.
func (c *container) ended() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// wait waits for c to end and returns its exit code.
func (c *container) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.code
	case <-time.After(limit):
		t.Fatalf("container still running after %s:\n%s", limit, c.out.String())
		return 0
	}
}

// run runs args to the end and returns the exit code and output.
func (w *containerWorld) run(t *testing.T, r podRun, args []string, extra ...string) (int, string) {
	t.Helper()
	c := w.start(t, r, args, extra...)
	code := c.wait(t, 2*time.Minute)
	return code, c.out.String()
}

func (w *containerWorld) testCheckAndRun(t *testing.T, p *renderedPods) {
	vols := w.evidence
	r := kubeletRun(t, p.rotation, "keyroll", vols, w.secrets(t))
	t.Logf("podman run flags derived from the chart's CronJob: %s", strings.Join(r.flags, " "))
	if code, out := w.run(t, r, []string{"check", "--config", configArg(t, r.args)}); code != 0 {
		t.Fatalf("keyroll check: exit %d\n%s", code, out)
	} else {
		t.Logf("keyroll check in the container:\n%s", out)
	}
	code, out := w.run(t, r, r.args)
	if code != 0 {
		t.Fatalf("keyroll %s: exit %d\n%s", strings.Join(r.args, " "), code, out)
	}
	t.Logf("keyroll %s in the container:\n%s", strings.Join(r.args, " "), out)
	w.checkEvidence(t, r, vols, "rotated")
	w.rotated = !t.Failed()
}

// configArg is the value of --config in args.
func configArg(t *testing.T, args []string) string {
	for i, a := range args {
		if a == "--config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("the pod's args %q have no --config", args)
	return ""
}

// checkEvidence checks the evidence file on the volume: 0600, owned by the pod's user, its
// last record has outcome want, and `keyroll evidence verify` (signatures against Transit's
// public key, end against the anchor in Vault) says OK.
func (w *containerWorld) checkEvidence(t *testing.T, r podRun, vols map[string]string, want string) {
	t.Helper()
	file := filepath.Join(vols["evidence"], "evidence.jsonl")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no evidence on the volume: %v", err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || int64(st.Uid) != r.uid {
		t.Errorf("evidence file mode %v owner %d, want 0600 owned by %d", fi.Mode().Perm(), st.Uid, r.uid)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last struct {
		Outcome   string `json:"outcome"`
		Signature string `json:"signature"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Outcome != want || !strings.HasPrefix(last.Signature, "vault:v1:") {
		t.Errorf("last evidence record: outcome %q signature %q, want %q signed by Transit", last.Outcome, last.Signature, want)
	}
	// The way out of the volume that evidence-export/pod.yaml takes: the image's `evidence
	// export` writes the file and nothing else, so the container's output (stdout and stderr,
	// as `kubectl logs` shows them) ends with exactly the file.
	code, exported := w.run(t, r, []string{"evidence", "export", "/var/lib/keyroll/evidence.jsonl"})
	if code != 0 || !strings.HasSuffix(exported, string(b)) || len(exported) > len(b)+4096 {
		t.Errorf("evidence export: exit %d, %d bytes for a file of %d, the file at the end: %v",
			code, len(exported), len(b), strings.HasSuffix(exported, string(b)))
	}
	cfg := configArg(t, r.args)
	code, pub := w.run(t, r, []string{"evidence", "public-key", "--config", cfg, "--log-level", "error"})
	if code != 0 {
		t.Fatalf("evidence public-key: exit %d\n%s", code, pub)
	}
	if i := strings.Index(pub, "-----BEGIN"); i >= 0 {
		pub = pub[i:] // podman's own warnings, if any, come first on the shared output
	}
	pubDir := t.TempDir()
	writeFile(t, filepath.Join(pubDir, "evidence.pem"), []byte(pub), 0o644)
	mustMkdir(t, pubDir, 0o755)
	code, out := w.run(t, r, []string{"evidence", "verify", "/var/lib/keyroll/evidence.jsonl",
		"--public-key", "/pub/evidence.pem", "--config", cfg, "--vault"}, "-v", pubDir+":/pub:ro")
	if code != 0 || !regexp.MustCompile(`(?m)^OK `).MatchString(out) {
		t.Errorf("evidence verify --vault: exit %d\n%s", code, out)
	} else {
		t.Logf("evidence verify in the container: %s", strings.TrimSpace(out))
	}
}

func (w *containerWorld) testSIGTERM(t *testing.T, p *renderedPods) {
	if !w.rotated {
		t.Skip("needs the first rotation")
	}
	r := kubeletRun(t, p.rotation, "keyroll", w.evidence, w.secrets(t))
	c := w.start(t, r, append(append([]string{}, r.args...), "--force"))
	waitFor(t, time.Minute, c.out, "propagation wait", func() bool {
		return strings.Contains(c.out.String(), "waiting for listeners to learn the new key") || c.ended()
	})
	if c.ended() {
		t.Fatalf("the run ended before the propagation wait: exit %d\n%s", c.code, c.out.String())
	}
	stop := podman("stop", "--time", strconv.FormatInt(r.grace, 10), c.name)
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("podman stop: %v\n%s", err, out)
	}
	code := c.wait(t, time.Duration(r.grace+10)*time.Second)
	t.Logf("keyroll run --force, podman stop (SIGTERM to PID 1) in the propagation wait: exit %d\n%s", code, c.out.String())
	if code != 1 {
		t.Errorf("exit %d after SIGTERM, want 1 (retryable: the staged rotation resumes)", code)
	}
	w.deliver(t, "after SIGTERM") // DigiCert's key is still accepted
	code, out := w.run(t, r, r.args)
	t.Logf("the next run:\n%s", out)
	if code != 0 {
		t.Fatalf("the next run: exit %d", code)
	}
	w.checkEvidence(t, r, w.evidence, "resumed")
	w.deliver(t, "after the resumed rotation")
}

// deliver has the simulator deliver an event with DigiCert's current key and wants the
// sidecar to accept it and forward it to the receiver.
func (w *containerWorld) deliver(t *testing.T, when string) {
	t.Helper()
	before := w.forwarded.Load()
	resp, err := http.Post("http://"+w.simAddr+"/_sim/deliver?api_key="+w.apiKey+"&event=certificate_issued", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Status int    `json:"listener_status"`
		Error  string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Status/100 != 2 || w.forwarded.Load() != before+1 {
		t.Errorf("%s: a delivery with DigiCert's key got %d (%s), forwarded %d", when, got.Status, got.Error, w.forwarded.Load()-before)
	}
}

func (w *containerWorld) testSidecar(t *testing.T, p *renderedPods) {
	w.deliver(t, "after the rotation")
	before := w.forwarded.Load()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.tlsPool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:"+w.sidecarPort+"/webhook", strings.NewReader(`{"event":"certificate_issued"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-WEBHOOK-KEY", "not-the-key-"+hex.EncodeToString([]byte(w.apiKey))[:16])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 || w.forwarded.Load() != before {
		t.Errorf("a delivery with a wrong key got %d and %d forwards, want refused and none", resp.StatusCode, w.forwarded.Load()-before)
	} else {
		t.Logf("a wrong key: %s, not forwarded", resp.Status)
	}
}

// testSchedule runs the chart's `keyroll schedule` Deployment with a non-UTC CRON_TZ: an
// @every schedule fires, and a daily one in Asia/Kathmandu (UTC+05:45) is due at the
// instant Go's own zone database says.
func (w *containerWorld) testSchedule(t *testing.T) {
	if !w.rotated {
		t.Skip("needs the first rotation")
	}
	_, metrics, _ := net.SplitHostPort(freeAddr(t))
	loc, err := time.LoadLocation("Asia/Kathmandu")
	if err != nil {
		t.Fatal(err)
	}
	next := time.Now().In(loc).Truncate(time.Minute).Add(2 * time.Minute)
	for _, tt := range []struct {
		name, schedule string
		fires          bool      // wait for a run
		next           time.Time // or check the next run's instant
	}{
		{name: "@every", schedule: "@every 3s", fires: true},
		{name: "daily in Asia/Kathmandu", schedule: fmt.Sprintf("%d %d * * *", next.Minute(), next.Hour()), next: next},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := w.render(t, "mode=schedule", "timeZone=Asia/Kathmandu", "schedule="+tt.schedule, "metricsPort="+metrics)
			vols := w.volumes(t, p, "rotation") // this schedule's config
			vols["evidence"] = w.evidence["evidence"]
			r := kubeletRun(t, p.rotation, "keyroll", vols, w.secrets(t))
			c := w.start(t, r, r.args)
			started := logLine(t, c, "scheduler started")
			if tt.fires {
				logLine(t, c, "scheduled run finished")
			} else {
				next, err := time.Parse(time.RFC3339, started["next"].(string))
				if err != nil || !next.Equal(tt.next) {
					t.Errorf("next run %v (%v), want %v (%s)", started["next"], err, tt.next, tt.schedule)
				}
			}
			if out, err := podman("stop", "--time", strconv.FormatInt(r.grace, 10), c.name).CombinedOutput(); err != nil {
				t.Fatalf("podman stop: %v\n%s", err, out)
			}
			if code := c.wait(t, time.Minute); code != 0 {
				t.Errorf("schedule after SIGTERM: exit %d\n%s", code, c.out.String())
			}
			t.Logf("keyroll %s (CRON_TZ=Asia/Kathmandu %s):\n%s", strings.Join(r.args, " "), tt.schedule, c.out.String())
		})
	}
}

// logLine waits for c's JSON log line with message msg and returns it; it fails when c
// ends first.
func logLine(t *testing.T, c *container, msg string) map[string]any {
	t.Helper()
	var line map[string]any
	waitFor(t, time.Minute, c.out, msg, func() bool {
		ended := c.ended()
		sc := bufio.NewScanner(strings.NewReader(c.out.String()))
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["message"] == msg {
				line = m
				return true
			}
		}
		return ended
	})
	if line == nil {
		t.Fatalf("container ended (exit %d) before logging %q:\n%s", c.code, msg, c.out.String())
	}
	return line
}

// testUnwritableEvidence: an evidence file the pod's user cannot write stops a due
// rotation before any change, with a clear error and exit code 1, and DigiCert's key stays
// accepted.
func (w *containerWorld) testUnwritableEvidence(t *testing.T, p *renderedPods) {
	if !w.rotated {
		t.Skip("needs the first rotation")
	}
	r := kubeletRun(t, p.rotation, "keyroll", w.evidence, w.secrets(t))
	vc := w.vault.ClientWithToken(t, w.vault.RootToken)
	version := func() any {
		s, err := vc.Logical().Read("secret/metadata/keyroll/digicert/prod-us")
		if err != nil || s == nil {
			t.Fatalf("document metadata: %v", err)
		}
		return s.Data["current_version"]
	}
	before := version()
	dir := w.evidence["evidence"]
	file := filepath.Join(dir, "evidence.jsonl")
	for _, p := range []string{dir, file} {
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, p := range []string{dir, file} {
			_ = os.Chown(p, int(r.uid), int(r.uid))
		}
	}()
	code, out := w.run(t, r, append(append([]string{}, r.args...), "--force"))
	t.Logf("keyroll run --force with a root-owned evidence volume: exit %d\n%s", code, out)
	// Exit 1: failed before any change, the state resumable; the CronJob retries it, and a
	// fixed volume (fsGroup) lets the retry through.
	if code != 1 || !strings.Contains(out, "keyroll: evidence: open: open /var/lib/keyroll/evidence.jsonl: permission denied") {
		t.Errorf("exit %d, want 1 with an error naming the evidence file and the permission", code)
	}
	if after := version(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the document changed from version %v to %v", before, after)
	}
	w.deliver(t, "after the refused run")
}

// startReceiver is the service behind the sidecar: it counts the deliveries forwarded to it.
func (w *containerWorld) startReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, w.upPort, _ = net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.forwarded.Add(1)
		rw.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
}

// startSimulator starts `keyroll simulate` in the image and the chart's listener sidecar.
func (w *containerWorld) startSimulator(t *testing.T) {
	sim := w.start(t, podRun{}, []string{"simulate", "--addr", w.simAddr, "--api-key", w.apiKey,
		"--endpoint", "https://127.0.0.1:" + w.sidecarPort + "/webhook", "--ca-file", "/tls/tls.crt"},
		"-v", w.tlsDir+":/tls:ro")
	waitFor(t, time.Minute, sim.out, "simulator", func() bool {
		resp, err := http.Get("http://" + w.simAddr + "/_sim/stats")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil || sim.ended()
	})
	if sim.ended() {
		t.Fatalf("the simulator ended: exit %d\n%s", sim.code, sim.out.String())
	}
	p := w.render(t)
	vols := w.volumes(t, p, "receiver")
	r := kubeletRun(t, p.receiver, "keyroll-listener", vols, w.secrets(t))
	t.Logf("podman run flags derived from the chart's listener sidecar: %s %s", strings.Join(r.flags, " "), strings.Join(r.args, " "))
	side := w.start(t, r, r.args)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.tlsPool}}}
	waitFor(t, time.Minute, side.out, "sidecar", func() bool {
		resp, err := client.Get("https://127.0.0.1:" + w.sidecarPort + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil || side.ended()
	})
	if side.ended() {
		t.Fatalf("the sidecar ended: exit %d\n%s", side.code, side.out.String())
	}
}

// selfSignedCert writes tls.crt and tls.key for 127.0.0.1 into a new directory.
func selfSignedCert(t *testing.T) (string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyroll-listener"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	k, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mustMkdir(t, dir, 0o755)
	writeFile(t, filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	writeFile(t, filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k}), 0o644)
	return dir, pool
}

func writeFile(t *testing.T, name string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}
