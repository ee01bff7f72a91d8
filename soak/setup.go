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
)

// configTemplate is keyroll's configuration in the soak: a rotation takes about a second.
const configTemplate = `vault:
  address: %s
  kv_mount: %s
  auth: {method: token}
certcentral:
  url: %s
  api_key_env: DIGICERT_API_KEY
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
evidence:
  file: %s
listener:
  refresh: %s
  max_staleness: %s
`

// configFile is the path of the configuration with verify_listener set as given.
func (h *harness) configFile(verify bool) string {
	return filepath.Join(h.dir, fmt.Sprintf("config-verify-%t.yaml", verify))
}

func (h *harness) evidenceFile() string { return filepath.Join(h.dir, "evidence.jsonl") }

func (h *harness) writeConfigs() error {
	for _, verify := range []bool{true, false} {
		c := fmt.Sprintf(configTemplate, h.vault.addr, h.s.kvMount, h.dc.url, h.s.dcTimeout, h.s.overlap, h.s.propagation,
			verify, h.s.docPath, h.dc.id, h.evidenceFile(), h.s.refresh, h.s.maxStaleness)
		if err := os.WriteFile(h.configFile(verify), []byte(c), 0o600); err != nil {
			return err
		}
	}
	return nil
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
	if h.vault, err = newVaultServer(vaultBin, h.dir); err != nil {
		return stopAll, err
	}
	if err := h.vault.startProcess(ctx); err != nil {
		return stopAll, err
	}
	stops = append(stops, h.vault.stop)
	if err := h.vault.initialize(ctx); err != nil {
		return stopAll, err
	}
	if err := h.tokens(ctx); err != nil {
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
	if err := h.policies(ctx); err != nil {
		return stopAll, err
	}
	h.events.add("vault %s (file storage), simulator %s, webhook %d, PUT contacts the endpoint: %t", h.vault.addr, h.dc.url, h.dc.id, contact)
	fmt.Fprintf(h.out, "soak: DigiCert's PUT contacts the endpoint with the new secret: %t\n", contact)

	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	stops = append(stops, func() { stopBg(); wg.Wait() })
	h.mon = &monitor{h: h}
	goRun(&wg, func() { h.mon.run(bg) })
	for i := range h.s.replicas {
		port, err := freePort()
		if err != nil {
			return stopAll, err
		}
		h.replicas = append(h.replicas, &replica{name: fmt.Sprintf("listener-%d", i+1), port: port, url: fmt.Sprintf("http://127.0.0.1:%d", port)})
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
	goRun(&wg, func() { h.deliver(bg, newRand(h.s.seed+2), h.dc.changed) })
	return stopAll, nil
}

func goRun(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() { defer wg.Done(); f() }()
}

// tokens makes a token for the job and one for the listeners, holding the policies that
// policies writes.
func (h *harness) tokens(ctx context.Context) error {
	var err error
	if h.jobToken, err = h.vault.token(ctx, "keyroll-job"); err != nil {
		return err
	}
	h.listenerToken, err = h.vault.token(ctx, "keyroll-listener")
	return err
}

// policies writes the job's and the listeners' policies as `keyroll policy` prints them for
// the soak's configuration: the least privilege the shipped policies are made of.
func (h *harness) policies(ctx context.Context) error {
	for name, args := range map[string][]string{"keyroll-job": {"job"}, "keyroll-listener": {"listener", "soak"}} {
		out, err := exec.CommandContext(ctx, h.keyroll, append([]string{"policy", "--config", h.configFile(false)}, args...)...).Output()
		if err != nil {
			return fmt.Errorf("keyroll policy %v: %w", args, err)
		}
		if err := h.vault.policy(ctx, name, string(out)); err != nil {
			return fmt.Errorf("%s policy: %w", name, err)
		}
	}
	return nil
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

// checkEvidence checks invariant 5 while no keyroll writes: `keyroll evidence verify`
// accepts the file, every record keyroll logged is in it, and it holds at most one record
// more than logged per keyroll process killed (one that was killed after writing its
// record but before logging it).
func (h *harness) checkEvidence(ctx context.Context) {
	out, err := exec.CommandContext(ctx, h.keyroll, "evidence", "verify", h.evidenceFile()).CombinedOutput()
	h.mu.Lock()
	h.evChecks++
	logged := append([]string(nil), h.evLogged...)
	killed := h.killedRuns
	h.mu.Unlock()
	if err != nil {
		h.violation(5, fmt.Sprintf("keyroll evidence verify: %v: %s", err, strings.TrimSpace(string(out))))
		return
	}
	hashes, err := fileHashes(h.evidenceFile())
	if err != nil {
		h.violation(5, err.Error())
		return
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

// fileHashes returns the hash of every record in an evidence file.
func fileHashes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if x := jsonField(sc.Text(), "hash"); x != "" {
			out = append(out, x)
		}
	}
	return out, sc.Err()
}
