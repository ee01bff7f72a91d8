package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
)

// FileVault is a real `vault server -config` with file storage on a free 127.0.0.1 port,
// initialised with a single unseal key, so that it can be killed, restarted and sealed
// without losing its data. Its files (vault.hcl, vault-data/, vault.log) are in one
// directory.
type FileVault struct {
	Addr string // http://127.0.0.1:PORT

	bin, dir  string
	log       *os.File
	unsealKey string
	rootToken string
	api       *api.Client // holds the root token once initialised; safe for concurrent use

	mu   sync.Mutex
	proc *Proc
}

const fileVaultConfig = `storage "file" {
  path = %q
}
listener "tcp" {
  address     = %q
  tls_disable = true
}
api_addr      = "http://%s"
disable_mlock = true
ui            = false
log_level     = "warn"
`

// NewFileVault writes the configuration of a file-storage server in dir; [FileVault.Start]
// starts it and [FileVault.Init] initialises it.
func NewFileVault(bin, dir string) (*FileVault, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	v := &FileVault{Addr: "http://" + addr, bin: bin, dir: dir}
	if v.api, err = newVaultClient(v.Addr, "", ""); err != nil {
		return nil, err
	}
	v.api.SetClientTimeout(5 * time.Second)
	data := filepath.Join(dir, "vault-data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	hcl := fmt.Sprintf(fileVaultConfig, data, addr, addr)
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	v.log, err = os.OpenFile(filepath.Join(dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	return v, err
}

// Client returns the client of the server, holding the root token once initialised. It
// does not retry, and times out after 5 s.
func (v *FileVault) Client() *api.Client { return v.api }

// RootToken is the root token, once initialised.
func (v *FileVault) RootToken() string { return v.rootToken }

// Start starts the server process and waits until it answers HTTP (sealed, after a
// restart).
func (v *FileVault) Start(ctx context.Context) error {
	cmd := exec.Command(v.bin, "server", "-config", filepath.Join(v.dir, "vault.hcl"))
	cmd.Env = vaultEnv(os.Environ(), "HOME="+v.dir)
	cmd.Stdout, cmd.Stderr = v.log, v.log
	p, err := StartProc("vault", cmd)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	v.mu.Lock()
	v.proc = p
	v.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.Done():
			return errors.New("vault: the server exited while starting (see vault.log)")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := v.api.Sys().SealStatusWithContext(ctx); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("vault: no answer 60 s after start (see vault.log)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Init initialises a fresh server (one unseal key), unseals it and mounts KV v2 at
// secret/.
func (v *FileVault) Init(ctx context.Context) error {
	resp, err := v.api.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vault: init: %w", err)
	}
	v.unsealKey, v.rootToken = resp.Keys[0], resp.RootToken
	v.api.SetToken(v.rootToken)
	if err := v.Unseal(ctx); err != nil {
		return err
	}
	if err := v.api.Sys().MountWithContext(ctx, "secret", &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		return fmt.Errorf("vault: mount secret/: %w", err)
	}
	// KV v2 upgrades its mount in the background: wait until it takes writes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := v.api.Logical().WriteWithContext(ctx, "secret/data/testenv-probe", map[string]any{"data": map[string]any{"ok": "1"}})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("vault: KV v2 mount not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Unseal unseals the server and waits until it is active.
func (v *FileVault) Unseal(ctx context.Context) error {
	c := v.api
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

// Seal seals the server.
func (v *FileVault) Seal(ctx context.Context) error {
	if err := v.api.Sys().SealWithContext(ctx); err != nil {
		return fmt.Errorf("vault: seal: %w", err)
	}
	return nil
}

// Kill ends the server process with SIGKILL and waits for it.
func (v *FileVault) Kill() {
	if p := v.current(); p != nil {
		p.Kill()
	}
}

// Stop ends the server (SIGTERM, SIGKILL after 10 s) and closes its log.
func (v *FileVault) Stop() {
	if p := v.current(); p != nil {
		p.Stop(10 * time.Second)
	}
	v.log.Close()
}

func (v *FileVault) current() *Proc {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.proc
}
