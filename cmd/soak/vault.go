package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
)

// vaultServer is a real `vault server -config` with file storage on 127.0.0.1, initialised
// and unsealed by the soak, so that it can be killed, restarted and sealed without losing
// its data. It keeps the windows during which it was down or sealed.
type vaultServer struct {
	bin, dir string
	addr     string // http://127.0.0.1:PORT
	port     int
	log      *os.File

	unsealKey string
	rootToken string
	api       *api.Client // holds the root token once initialised; safe for concurrent use

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	outages []window // the last one is open (to zero) while Vault is down or sealed
	// slow are stretches, outside those outages, in which Vault answered the monitor late
	// or not at all: on a loaded machine a listener's read can then fail as if Vault were out.
	slow []window
}

// errNotApplied: a fault could not be applied (the seal request itself failed).
var errNotApplied = errors.New("vault: seal not applied")

// window is a stretch of time; a zero to means it has not ended.
type window struct{ from, to time.Time }

const vaultConfig = `storage "file" {
  path = %q
}
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:%d"
disable_mlock = true
ui            = false
log_level     = "warn"
`

func newVaultServer(bin, dir string) (*vaultServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	v := &vaultServer{bin: bin, dir: dir, port: port, addr: "http://127.0.0.1:" + strconv.Itoa(port)}
	cfg := api.DefaultConfig()
	cfg.Address = v.addr
	cfg.MaxRetries = 0
	cfg.Timeout = 5 * time.Second
	if v.api, err = api.NewClient(cfg); err != nil {
		return nil, err
	}
	v.api.ClearToken()
	if err := os.MkdirAll(filepath.Join(dir, "vault-data"), 0o700); err != nil {
		return nil, err
	}
	hcl := fmt.Sprintf(vaultConfig, filepath.Join(dir, "vault-data"), port, port)
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	v.log, err = os.OpenFile(filepath.Join(dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	return v, err
}

// client returns the Vault client, holding the root token once initialised.
func (v *vaultServer) client() *api.Client { return v.api }

// startProcess starts the server process and waits until it answers HTTP.
func (v *vaultServer) startProcess(ctx context.Context) error {
	cmd := exec.Command(v.bin, "server", "-config", filepath.Join(v.dir, "vault.hcl"))
	cmd.Env = append(os.Environ(), "HOME="+v.dir, "VAULT_ADDR=", "VAULT_TOKEN=")
	cmd.Stdout, cmd.Stderr = v.log, v.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("vault: start: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	v.mu.Lock()
	v.cmd, v.exited = cmd, exited
	v.mu.Unlock()
	c := v.client()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			return errors.New("vault: the server exited while starting (see vault.log)")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := c.Sys().SealStatusWithContext(ctx); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("vault: no answer 60 s after start (see vault.log)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// initialize initialises a fresh server (one unseal key), unseals it and mounts KV v2 at
// secret/.
func (v *vaultServer) initialize(ctx context.Context) error {
	c := v.client()
	resp, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vault: init: %w", err)
	}
	v.unsealKey, v.rootToken = resp.Keys[0], resp.RootToken
	v.api.SetToken(v.rootToken)
	if err := v.unseal(ctx); err != nil {
		return err
	}
	c = v.client()
	if err := c.Sys().MountWithContext(ctx, "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return fmt.Errorf("vault: mount secret/: %w", err)
	}
	// KV v2 upgrades its mount in the background: wait until it takes writes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Logical().WriteWithContext(ctx, "secret/data/soak-probe", map[string]any{"data": map[string]any{"ok": "1"}})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault: KV v2 mount not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unseal unseals the server and waits until it is active.
func (v *vaultServer) unseal(ctx context.Context) error {
	c := v.client()
	if _, err := c.Sys().UnsealWithContext(ctx, v.unsealKey); err != nil {
		return fmt.Errorf("vault: unseal: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := c.Sys().HealthWithContext(ctx)
		if err == nil && h.Initialized && !h.Sealed && !h.Standby {
			if _, err := c.Auth().Token().LookupSelfWithContext(ctx); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault: not active 30 s after unseal: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// enableTransit mounts Transit and creates the ed25519 key that signs evidence records, and
// sets the anchor's max_versions as the Vault set-up does (see keepHistory).
func (v *vaultServer) enableTransit(ctx context.Context, key, kvMount, anchor string) error {
	c := v.client()
	if err := c.Sys().MountWithContext(ctx, "transit", &api.MountInput{Type: "transit"}); err != nil {
		return fmt.Errorf("vault: mount transit/: %w", err)
	}
	if _, err := c.Logical().WriteWithContext(ctx, "transit/keys/"+key, map[string]any{"type": "ed25519"}); err != nil {
		return fmt.Errorf("vault: transit key %s: %w", key, err)
	}
	return v.keepHistory(ctx, kvMount, anchor, 100000)
}

// keepHistory sets max_versions of the KV v2 secret at mount/path, as the Vault set-up does
// for the evidence anchor, so that `evidence verify --vault` checks every head anchored.
func (v *vaultServer) keepHistory(ctx context.Context, mount, path string, versions int) error {
	if _, err := v.client().Logical().WriteWithContext(ctx, mount+"/metadata/"+path, map[string]any{"max_versions": versions}); err != nil {
		return fmt.Errorf("vault: max_versions of %s: %w", path, err)
	}
	return nil
}

// token creates a token with policies.
func (v *vaultServer) token(ctx context.Context, policies ...string) (string, error) {
	sec, err := v.client().Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: policies, TTL: "768h"})
	if err != nil {
		return "", err
	}
	return sec.Auth.ClientToken, nil
}

// down marks the start of an outage.
func (v *vaultServer) down() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.outages = append(v.outages, window{from: time.Now()})
}

// up marks the end of the current outage.
func (v *vaultServer) up() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.outages); n > 0 && v.outages[n-1].to.IsZero() {
		v.outages[n-1].to = time.Now()
	}
}

// unresponsive records a stretch in which Vault answered late or failed, unless it falls
// in an injected outage.
func (v *vaultServer) unresponsive(from, to time.Time) {
	if v.outageWithin(from, to) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := len(v.slow); n > 0 && !v.slow[n-1].to.Before(from) {
		v.slow[n-1].to = to
		return
	}
	v.slow = append(v.slow, window{from: from, to: to})
}

// slowTotal is the number and total length of the stretches Vault was unresponsive.
func (v *vaultServer) slowTotal() (n int, d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range v.slow {
		n, d = n+1, d+o.to.Sub(o.from)
	}
	return n, d
}

// outOrSlowWithin reports whether Vault was down, sealed or unresponsive at some time in
// [from, to].
func (v *vaultServer) outOrSlowWithin(from, to time.Time) bool {
	if v.outageWithin(from, to) {
		return true
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return overlaps(v.slow, from, to)
}

// outageWithin reports whether Vault was down or sealed at some time in [from, to].
func (v *vaultServer) outageWithin(from, to time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return overlaps(v.outages, from, to)
}

// overlaps reports whether a window of ws (in time order) meets [from, to].
func overlaps(ws []window, from, to time.Time) bool {
	for i := len(ws) - 1; i >= 0; i-- {
		o := ws[i]
		if (o.to.IsZero() || !o.to.Before(from)) && !o.from.After(to) {
			return true
		}
		if !o.to.IsZero() && o.to.Before(from) {
			break
		}
	}
	return false
}

// outageTotal is the time Vault spent down or sealed.
func (v *vaultServer) outageTotal() (n int, d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, o := range v.outages {
		to := o.to
		if to.IsZero() {
			to = time.Now()
		}
		n, d = n+1, d+to.Sub(o.from)
	}
	return n, d
}

// restart kills the server with SIGKILL, keeps it down for downFor, starts it again and
// unseals it.
func (v *vaultServer) restart(ctx context.Context, downFor time.Duration) error {
	v.down()
	v.kill()
	if !sleepCtx(ctx, downFor) {
		return ctx.Err()
	}
	if err := v.startProcess(ctx); err != nil {
		return err
	}
	if err := v.unseal(ctx); err != nil {
		return err
	}
	v.up()
	return nil
}

// sealFor seals Vault, keeps it sealed for d and unseals it.
func (v *vaultServer) sealFor(ctx context.Context, d time.Duration) error {
	v.down()
	if err := v.client().Sys().SealWithContext(ctx); err != nil {
		v.up()
		return fmt.Errorf("%w: %w", errNotApplied, err)
	}
	if !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	if err := v.unseal(ctx); err != nil {
		return err
	}
	v.up()
	return nil
}

// kill ends the server process with SIGKILL and waits for it.
func (v *vaultServer) kill() {
	v.mu.Lock()
	cmd, exited := v.cmd, v.exited
	v.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// stop ends the server at the end of the soak.
func (v *vaultServer) stop() {
	v.mu.Lock()
	cmd, exited := v.cmd, v.exited
	v.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		v.kill()
	}
	v.log.Close()
}
