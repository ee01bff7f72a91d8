package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/internal/tsatest"
)

// configTemplate is keyroll's configuration in the soak: a rotation takes about a second.
// With the API key (-api-keys), the webhook target's credential is the API key document's
// current, and the API key is a target of its own.
const configTemplate = `vault:
  address: %s
  kv_mount: %s
  auth: {method: token}
certcentral:
  url: %s
  %s
  timeout: %s
rotation:
  schedule: "@every 1s"
  overlap: %s
  propagation_delay: %s
  min_interval: 0s
  verify_listener: %t
targets:
  - name: soak
    vault_path: %s
    webhook_id: %d
%sevidence:
  file: %s
  signing: {key: %s}
  anchor: %s
  timestamp: {url: %q}
listener:
  refresh: %s
  max_staleness: %s
`

// The evidence of the soak is signed by Transit and anchored in KV.
const (
	evidenceKey    = "keyroll-evidence"
	evidenceAnchor = "keyroll/evidence/soak-head"
	// evidencePolicy adds what signing and anchoring need to the shipped job policy, for a
	// keyroll without `keyroll policy` (which writes them itself).
	evidencePolicy = `path "transit/sign/keyroll-evidence" { capabilities = ["update"] }
path "transit/keys/keyroll-evidence" { capabilities = ["read"] }
path "secret/data/keyroll/evidence/soak-head" { capabilities = ["create", "read", "update"] }
`
)

// configFile is the path of the configuration with verify_listener set as given.
func (h *harness) configFile(verify bool) string {
	return filepath.Join(h.dir, fmt.Sprintf("config-verify-%t.yaml", verify))
}

func (h *harness) evidenceFile() string { return filepath.Join(h.dir, "evidence.jsonl") }

func (h *harness) writeConfigs() error {
	if h.tsa == nil {
		if err := h.startTSA(); err != nil {
			return err
		}
	}
	for _, verify := range []bool{true, false} {
		c := fmt.Sprintf(configTemplate, h.vault.Addr, h.s.kvMount, h.dc.url, h.apiCredential(), h.s.dcTimeout, h.s.overlap, h.s.propagation,
			verify, h.s.docPath, h.dc.id, h.apiTargetConfig(), h.evidenceFile(), evidenceKey, evidenceAnchor, h.tsa.URL, h.s.refresh, h.s.maxStaleness)
		if err := os.WriteFile(h.configFile(verify), []byte(c), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// startTSA starts the local RFC 3161 Time-Stamp Authority (openssl ts -reply) that
// timestamps the evidence.
func (h *harness) startTSA() error {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		return fmt.Errorf("openssl, the soak's Time-Stamp Authority: %w (apt-get install openssl)", err)
	}
	dir := filepath.Join(h.dir, "tsa")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	h.tsa, err = tsatest.Start(openssl, dir, "Soak")
	return err
}

// setup starts Vault, the simulator, the replicas and the monitor, and runs a first
// rotation without faults. The returned function stops everything.
func (h *harness) setup(ctx context.Context, vaultBin string) (func(), error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var err error
	h.vault, err = startVault(ctx, vaultBin, h.dir, evidenceKey, h.s.kvMount, evidenceAnchor)
	if h.vault != nil {
		stops = append(stops, h.vault.Stop)
	}
	if err != nil {
		return stopAll, err
	}
	h.front, err = startFront(h, newRand(h.s.seed+1))
	if err != nil {
		return stopAll, err
	}
	stops = append(stops, func() { _ = h.front.srv.Close() })
	contact := h.s.updateContact == "always" || (h.s.updateContact == "random" && newRand(h.s.seed+3).IntN(2) == 0)
	if h.dc, err = startDigicert(h.front.url, contact, h.events); err != nil {
		return stopAll, err
	}
	stops = append(stops, h.dc.close)
	if err := h.writeConfigs(); err != nil {
		return stopAll, err
	}
	if err := h.tokens(ctx); err != nil {
		return stopAll, err
	}
	if err := h.seedAPIKey(ctx); err != nil {
		return stopAll, err
	}
	h.dc.onRefused = func(req string, status int, fp string) {
		h.violation(invRefused, fmt.Sprintf("DigiCert answered %d to %s with key %s: a key in use was refused", status, req, fp))
	}
	h.events.add("vault %s (file storage), simulator %s, webhook %d, PUT contacts the endpoint: %t", h.vault.Addr, h.dc.url, h.dc.id, contact)
	fmt.Fprintf(h.out, "soak: DigiCert's PUT contacts the endpoint with the new secret: %t\n", contact)

	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stops = append(stops, func() { stopBg(); wg.Wait() })
	h.mon = &monitor{h: h}
	goRun(&wg, func() { h.mon.run(bg) })
	h.keyMon = &keyMonitor{h: h}
	if h.s.apiKeys {
		goRun(&wg, func() { h.keyMon.run(bg) })
	}
	for i := range h.s.replicas {
		port, err := testenv.FreePort()
		if err != nil {
			return stopAll, err
		}
		admin, err := testenv.FreePort()
		if err != nil {
			return stopAll, err
		}
		h.replicas = append(h.replicas, &replica{name: fmt.Sprintf("listener-%d", i+1), port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port),
			adminAddr: fmt.Sprintf("127.0.0.1:%d", admin)})
	}
	for _, r := range h.replicas {
		goRun(&wg, func() { h.keep(bg, r) })
	}
	if err := h.bootstrap(ctx); err != nil {
		return stopAll, err
	}
	if err := h.waitReplicas(ctx); err != nil {
		return stopAll, err
	}
	if err := h.publicKey(ctx); err != nil {
		return stopAll, err
	}
	goRun(&wg, func() { h.deliver(bg, newRand(h.s.seed+2), h.dc.changed) })
	return stopAll, nil
}

func goRun(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() { defer wg.Done(); f() }()
}

// tokens writes the shipped job and listener policies and makes a token for each.
func (h *harness) tokens(ctx context.Context) error {
	job, listener, err := h.policies(ctx)
	if err != nil {
		return err
	}
	for name, hcl := range map[string]string{"keyroll-job": job, "keyroll-listener": listener} {
		if err := h.vault.Client().Sys().PutPolicyWithContext(ctx, name, hcl); err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
	}
	if h.jobToken, err = h.vault.token(ctx, "keyroll-job"); err != nil {
		return err
	}
	h.listenerToken, err = h.vault.token(ctx, "keyroll-listener")
	return err
}

// policies returns the job's and the listeners' Vault policies: what `keyroll policy`
// prints for the soak's configuration when the keyroll under test has that command, else
// the shipped deploy/kubernetes/vault files.
func (h *harness) policies(ctx context.Context) (job, listener string, err error) {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, h.keyroll, append([]string{"policy"}, args...)...)
		cmd.Env = withEnv("DIGICERT_API_KEY", h.dc.apiKey)
		out, err := cmd.Output()
		return string(out), err
	}
	if job, err = run("--config", h.configFile(true), "job"); err == nil {
		if listener, err = run("--config", h.configFile(true), "listener", "soak"); err == nil {
			h.events.add("vault: policies from keyroll policy")
			return job, listener, nil
		}
	}
	dir := filepath.Join(h.repo, "deploy", "kubernetes", "vault")
	jb, err := os.ReadFile(filepath.Join(dir, "keyroll-job-policy.hcl"))
	if err != nil {
		return "", "", err
	}
	lb, err := os.ReadFile(filepath.Join(dir, "keyroll-listener-policy.hcl"))
	return string(jb) + evidencePolicy, string(lb), err
}

// bootstrap runs the first rotation, which creates the document, without faults and
// without DigiCert's test event: no replica is ready before the document exists. A
// failure is counted like any run's and retried a few times.
func (h *harness) bootstrap(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		p, err := h.startKeyroll("bootstrap", nil, "run", "--force", "--config", h.configFile(false))
		if err != nil {
			return err
		}
		code := h.waitKeyroll(ctx, p, "run")
		switch {
		case code == 0:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case attempt == 3:
			return fmt.Errorf("the first rotation failed %d times (see keyroll.log)", attempt)
		}
		sleepCtx(ctx, time.Second)
	}
}

// waitReplicas waits until every replica is ready.
func (h *harness) waitReplicas(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, r := range h.replicas {
			if r.isReady() {
				n++
			}
		}
		if n == len(h.replicas) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d listener replicas ready after 60 s (see keyroll.log)", n, len(h.replicas))
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// publicKey saves the Transit public key that verifies the evidence signatures.
func (h *harness) publicKey(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, h.keyroll, "evidence", "public-key", "--config", h.configFile(true))
	cmd.Env = withEnv("VAULT_TOKEN", h.vault.RootToken(), "DIGICERT_API_KEY", h.dc.apiKey)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("keyroll evidence public-key: %w", err)
	}
	return os.WriteFile(h.publicKeyFile(), out, 0o600)
}

func (h *harness) publicKeyFile() string { return filepath.Join(h.dir, "evidence.pem") }

// checkEvidence checks invariant 5 while no keyroll writes: `keyroll evidence verify`
// accepts the file (hash chain, every record signed by the Transit key, the end matching
// the anchor in Vault and every version of the anchor's history: seq never backwards, each
// head the file's record, each stored within 15 minutes of its record; every RFC 3161
// timestamp signed by the soak's TSA over the record before it, in time order), every record keyroll logged is in it, it holds at most one record
// more than logged per keyroll process killed (one that was killed after writing its
// record but before logging it), and one repair record per torn tail.
func (h *harness) checkEvidence(ctx context.Context) {
	start := time.Now()
	cmd := exec.CommandContext(ctx, h.keyroll, "evidence", "verify", h.evidenceFile(),
		"--public-key", h.publicKeyFile(), "--tsa-ca", h.tsa.CAFile, "--config", h.configFile(true), "--vault")
	cmd.Env = withEnv("VAULT_TOKEN", h.vault.RootToken(), "DIGICERT_API_KEY", h.dc.apiKey)
	out, err := cmd.CombinedOutput()
	h.mu.Lock()
	h.evChecks++
	logged := append([]string(nil), h.evLogged...)
	killed, torn := h.killedRuns, h.tornTails
	h.mu.Unlock()
	if err != nil && h.vault.outageWithin(start, time.Now()) {
		h.events.add("evidence check skipped: Vault was out while it ran")
		return
	}
	if err != nil {
		h.violation(5, fmt.Sprintf("keyroll evidence verify: %v: %s", err, strings.TrimSpace(string(out))))
		return
	}
	if len(logged) > 0 && (!strings.Contains(string(out), "anchor history: ") || !strings.Contains(string(out), "timestamps valid (Soak TSA)")) {
		h.violation(5, "keyroll evidence verify did not check the anchor's history and the timestamps: "+strings.TrimSpace(string(out)))
		return
	}
	hashes, repairs, err := fileHashes(h.evidenceFile())
	if err != nil {
		h.violation(5, err.Error())
		return
	}
	if repairs != torn {
		h.violation(5, fmt.Sprintf("the evidence file has %d repair records for %d torn tails", repairs, torn))
	}
	inFile := map[string]bool{}
	for _, x := range hashes {
		inFile[x] = true
	}
	for _, x := range logged {
		if !inFile[x] {
			h.violation(5, fmt.Sprintf("evidence record %s was logged but is not in the file", x))
			return
		}
	}
	if extra := len(hashes) - len(logged); extra < 0 || extra > killed {
		h.violation(5, fmt.Sprintf("the evidence file has %d records, keyroll logged %d and %d keyroll processes were killed", len(hashes), len(logged), killed))
	}
}

// fileHashes returns the hash of every rotation record in an evidence file and the number
// of repair records.
func fileHashes(path string) (hashes []string, repairs int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		switch {
		case jsonField(sc.Text(), "type") == "repair":
			repairs++
		case jsonField(sc.Text(), "type") == "timestamp": // not logged: a token over the head
		case jsonField(sc.Text(), "hash") != "":
			hashes = append(hashes, jsonField(sc.Text(), "hash"))
		}
	}
	return hashes, repairs, sc.Err()
}

// tornTail reports whether the evidence file ends in a partial line.
func (h *harness) tornTail() bool {
	f, err := os.Open(h.evidenceFile())
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return false
	}
	b := make([]byte, 1)
	_, err = f.ReadAt(b, st.Size()-1)
	return err == nil && b[0] != '\n'
}

// tearTail appends part of a record without its newline, as a writer that died in the
// middle of an append leaves it (a full disk, a node lost mid-write).
func (h *harness) tearTail() error {
	f, err := os.OpenFile(h.evidenceFile(), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(`{"seq":999999,"rotation_id":"torn","target":"soak","outc`)
	return err
}

// noteTornTail counts a torn tail a killed keyroll left, which the next run must repair.
func (h *harness) noteTornTail(why string) {
	if !h.tornTail() {
		return
	}
	h.mu.Lock()
	h.tornTails++
	h.mu.Unlock()
	h.events.add("evidence: the file ends in a torn line (%s)", why)
}
