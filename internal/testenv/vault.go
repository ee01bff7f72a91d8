package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/internal/syncbuf"
)

// EnvVaultBinary names the variable holding the path of the Vault binary.
const EnvVaultBinary = "KEYROLL_VAULT_BIN"

// VaultOptions say how [StartVault] runs `vault server -dev`.
type VaultOptions struct {
	Bin string // the vault binary (required)
	// Dir is the server's HOME and, with TLS, where its CA and certificate are written.
	// Empty: a new temporary directory, removed when the server stops.
	Dir string
	// Log receives the server's output. Nil: it is kept in memory (see [VaultServer.Logs]).
	Log io.Writer
	// RootToken is the root token. Empty: a random one.
	RootToken string
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost (and SANs) signed by
	// a CA that `vault server -dev-tls` generates; [VaultServer.CACert] is its path.
	TLS  bool
	SANs []string // more names or IP addresses for the certificate (-dev-tls-san)
	// Group, when set, tracks the server process, so that Group.StopAll stops it too.
	Group *Group
}

// VaultServer is a running `vault server -dev` on a free 127.0.0.1 port, with KV v2
// mounted at secret/.
type VaultServer struct {
	Addr      string // http://127.0.0.1:PORT, or https:// with TLS
	RootToken string
	CACert    string // with TLS: the PEM file of the CA that signed the server's certificate

	proc     *Proc
	group    *Group
	logs     *syncbuf.Buffer // nil when VaultOptions.Log was set
	tmp      string          // a temporary Dir to remove
	stopOnce sync.Once
}

// StartVault starts a dev server and waits until its KV v2 mount answers. It retries on a
// fresh port when the server fails to come up (another process may have taken the port).
func StartVault(ctx context.Context, o VaultOptions) (*VaultServer, error) {
	var lastErr error
	for attempt := 0; attempt < 3 && ctx.Err() == nil; attempt++ {
		v, err := startVaultOnce(ctx, o)
		if err == nil {
			return v, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return nil, lastErr
}

func startVaultOnce(ctx context.Context, o VaultOptions) (*VaultServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	v := &VaultServer{RootToken: o.RootToken}
	if v.RootToken == "" {
		v.RootToken = "root-" + randomHex(16)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "keyroll-vault-"); err != nil {
			return nil, err
		}
		v.tmp = dir
	}
	args := v.devArgs(o, dir, port)
	if o.TLS { // vault wants the directory to exist; a stale CA from an earlier run must go
		certDir := filepath.Dir(v.CACert)
		if err := errors.Join(os.RemoveAll(certDir), os.MkdirAll(certDir, 0o700)); err != nil {
			v.removeTmp()
			return nil, err
		}
	}
	cmd := exec.Command(o.Bin, args...)
	cmd.Env = vaultEnv(os.Environ(), "HOME="+dir, "VAULT_LOG_LEVEL=warn", "VAULT_DISABLE_MLOCK=true")
	out := o.Log
	if out == nil {
		v.logs = &syncbuf.Buffer{Limit: 1 << 20}
		out = v.logs
	}
	cmd.Stdout, cmd.Stderr = out, out
	v.group = o.Group
	if v.group == nil {
		v.group = &Group{}
	}
	if v.proc, err = v.group.Start("vault", cmd); err != nil {
		v.removeTmp()
		return nil, err
	}
	if err := v.waitReady(ctx, 30*time.Second); err != nil {
		v.Stop()
		return nil, fmt.Errorf("vault dev server on %s: %w\n%s", v.Addr, err, v.Logs())
	}
	return v, nil
}

// devArgs are the arguments of `vault server -dev` for o, and set Addr and CACert.
func (v *VaultServer) devArgs(o VaultOptions, dir string, port int) []string {
	listen := LoopbackAddr(port)
	args := []string{"server", "-dev", "-dev-root-token-id=" + v.RootToken, "-dev-listen-address=" + listen, "-dev-no-store-token"}
	v.Addr = "http://" + listen
	if o.TLS {
		certDir := filepath.Join(dir, "vault-tls")
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+certDir)
		for _, san := range o.SANs {
			args = append(args, "-dev-tls-san="+san)
		}
		v.Addr = "https://" + listen
		v.CACert = filepath.Join(certDir, "vault-ca.pem")
	}
	return args
}

// waitReady waits until the server is initialised, unsealed and its secret/ mount answers.
func (v *VaultServer) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error = errors.New("no answer")
	for {
		select {
		case <-v.proc.Done():
			return errors.New("exited before becoming ready")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if v.CACert == "" || fileExists(v.CACert) { // with TLS, the CA is written at start
			last = v.ready(ctx)
			if last == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", limit, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *VaultServer) ready(ctx context.Context) error {
	c, err := v.NewClient(v.RootToken)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	h, err := c.Sys().HealthWithContext(ctx)
	if err != nil {
		return err
	}
	if !h.Initialized || h.Sealed {
		return errors.New("sealed or not initialised")
	}
	// The dev server mounts secret/ as KV v2; wait until it answers.
	_, err = c.Logical().ReadWithContext(ctx, "secret/config")
	return err
}

// NewClient returns a client for the server holding token ("": none), trusting its CA
// with TLS. It does not retry.
func (v *VaultServer) NewClient(token string) (*api.Client, error) {
	return newVaultClient(v.Addr, v.CACert, token)
}

func newVaultClient(addr, caCert, token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	if caCert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: caCert}); err != nil {
			return nil, fmt.Errorf("vault client: %w", err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(token)
	return c, nil
}

// Env is VAULT_ADDR, VAULT_TOKEN (the root token) and, with TLS, VAULT_CACERT, as
// "KEY=value" strings for a child process's environment.
func (v *VaultServer) Env() []string {
	env := []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + v.RootToken}
	if v.CACert != "" {
		env = append(env, "VAULT_CACERT="+v.CACert)
	}
	return env
}

// Logs returns what the server printed so far (empty when VaultOptions.Log took it).
func (v *VaultServer) Logs() string {
	if v.logs == nil {
		return ""
	}
	return v.logs.String()
}

// Stop stops the server and waits for it to exit. It is safe to call more than once.
func (v *VaultServer) Stop() {
	v.stopOnce.Do(func() {
		v.group.Stop(v.proc, 10*time.Second)
		v.removeTmp()
	})
}

func (v *VaultServer) removeTmp() {
	if v.tmp != "" {
		_ = os.RemoveAll(v.tmp)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
