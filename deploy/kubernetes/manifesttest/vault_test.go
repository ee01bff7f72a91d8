package manifesttest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/deploy/kubernetes/manifesttest/kubetest"
)

// testVault is a `vault server -dev` on a free loopback port, the binary from
// $KEYROLL_VAULT_BIN (scripts/vault-bin.sh), as keyroll's own integration tests run it.
type testVault struct {
	Addr, RootToken string
	CACert          string // with TLS: the PEM file of the dev server's private CA
	bin             string
}

func startVault(t *testing.T) *testVault { return startVaultWith(t, false) }

// startTLSVault starts `vault server -dev -dev-tls`: HTTPS with a certificate from a private
// CA, whose bundle is v.CACert.
func startTLSVault(t *testing.T) *testVault { return startVaultWith(t, true) }

func startVaultWith(t *testing.T, tls bool) *testVault {
	t.Helper()
	bin := binFromEnv(t, "KEYROLL_VAULT_BIN", "scripts/vault-bin.sh")
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	addr := freeAddr(t)
	v := &testVault{Addr: "http://" + addr, RootToken: "root-" + hex.EncodeToString(b), bin: bin}
	logs := &kubetest.Buffer{Limit: 1 << 20}
	args := []string{"server", "-dev", "-dev-root-token-id=" + v.RootToken, "-dev-listen-address=" + addr, "-dev-no-store-token"}
	if tls {
		dir := t.TempDir()
		v.Addr, v.CACert = "https://"+addr, filepath.Join(dir, "vault-ca.pem")
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "VAULT_LOG_LEVEL=warn", "VAULT_DISABLE_MLOCK=true")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(time.Minute)
	for v.CACert != "" && time.Now().Before(deadline) {
		if _, err := os.Stat(v.CACert); err == nil {
			break // the dev server writes its CA before it listens
		}
		time.Sleep(100 * time.Millisecond)
	}
	c := v.client(t, v.RootToken)
	for {
		if h, err := c.Sys().Health(); err == nil && h.Initialized && !h.Sealed {
			if _, err := c.Logical().Read("secret/config"); err == nil {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault dev server not ready:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client returns a Vault client holding token ("" for none).
func (v *testVault) client(t *testing.T, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	cfg.MaxRetries = 0
	if v.CACert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CACert}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// env returns the environment with no VAULT_* variables but extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VAULT_") {
			env = append(env, e)
		}
	}
	return append(env, extra...)
}
