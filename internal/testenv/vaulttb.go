package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/vault"
)

// VaultBinary returns the Vault binary's path, or skips t (fails it when CI=true).
func VaultBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvVaultBinary)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Vault integration tests (use scripts/test.sh)", EnvVaultBinary)
		}
		t.Skipf("%s not set: run scripts/test.sh (or make test) for the Vault integration tests", EnvVaultBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("vault binary: %v", err)
	}
	return bin
}

// DevVault starts a dedicated dev server for t and stops it when t ends.
func DevVault(t testing.TB) *VaultServer {
	t.Helper()
	return startTB(t, VaultOptions{Bin: VaultBinary(t)})
}

// TLSVault starts a dedicated dev server for t that serves HTTPS with a certificate from
// a private CA (see [VaultOptions.TLS]), with sans added to its names, and stops it when
// t ends.
func TLSVault(t testing.TB, sans ...string) *VaultServer {
	t.Helper()
	return startTB(t, VaultOptions{Bin: VaultBinary(t), Dir: t.TempDir(), TLS: true, SANs: sans})
}

func startTB(t testing.TB, o VaultOptions) *VaultServer {
	t.Helper()
	v, err := StartVault(context.Background(), o)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(v.Stop)
	return v
}

var (
	sharedMu    sync.Mutex
	sharedVault *VaultServer
)

// SharedVault returns one dev server per test binary, started on first use. Tests sharing
// it must use their own paths. Call StopSharedVault from TestMain ([Main] does it).
func SharedVault(t testing.TB) *VaultServer {
	t.Helper()
	bin := VaultBinary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedVault == nil {
		v, err := StartVault(context.Background(), VaultOptions{Bin: bin})
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		sharedVault = v
	}
	return sharedVault
}

// StopSharedVault stops the shared server, if one was started.
func StopSharedVault() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedVault != nil {
		sharedVault.Stop()
		sharedVault = nil
	}
}

// Main runs the tests and stops the shared server afterwards. Use it as
// `func TestMain(m *testing.M) { testenv.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	StopSharedVault()
	os.Exit(code)
}

// Client returns a client holding the root token.
func (v *VaultServer) Client(t testing.TB) *api.Client {
	t.Helper()
	return v.ClientWithToken(t, v.RootToken)
}

// ClientWithToken returns a client holding token.
func (v *VaultServer) ClientWithToken(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := v.NewClient(token)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}

// Policy writes an ACL policy named name.
func (v *VaultServer) Policy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := v.Client(t).Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("testenv: put policy %s: %v", name, err)
	}
}

// Token creates a token with the given policies and TTL (0: the default) and returns it.
func (v *VaultServer) Token(t testing.TB, ttl time.Duration, policies ...string) string {
	t.Helper()
	tok, err := CreateToken(context.Background(), v.Client(t), ttl, policies...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return tok
}

// AppRole enables the approle auth method at mount (if it is not yet), creates role with
// policy (HCL) and the given token TTLs, and returns the login settings for it, with the
// secret id in a 0600 file under t's temp dir.
func (v *VaultServer) AppRole(t testing.TB, mount, role, policy, ttl, maxTTL string) vault.Auth {
	t.Helper()
	c := v.Client(t)
	if err := c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}); err != nil &&
		!strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("testenv: enable approle at %s: %v", mount, err)
	}
	v.Policy(t, role, policy)
	if _, err := c.Logical().Write("auth/"+mount+"/role/"+role, map[string]any{
		"token_policies": role, "token_ttl": ttl, "token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatalf("testenv: approle role %s: %v", role, err)
	}
	rid, err := c.Logical().Read("auth/" + mount + "/role/" + role + "/role-id")
	if err != nil {
		t.Fatalf("testenv: role id: %v", err)
	}
	sid, err := c.Logical().Write("auth/"+mount+"/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatalf("testenv: secret id: %v", err)
	}
	f := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(f, []byte(sid.Data["secret_id"].(string)), 0o600); err != nil {
		t.Fatal(err)
	}
	return vault.Auth{Method: vault.AuthAppRole, Mount: mount, RoleID: rid.Data["role_id"].(string), SecretIDFile: f}
}

// CustomMetadata returns the custom_metadata of the KV v2 secret at path under mount, read
// with the root token.
func (v *VaultServer) CustomMetadata(t testing.TB, mount, path string) map[string]string {
	t.Helper()
	sec, err := v.Client(t).Logical().Read(mount + "/metadata/" + path)
	if err != nil || sec == nil {
		t.Fatalf("testenv: read metadata of %s: %v", path, err)
	}
	out := map[string]string{}
	cm, _ := sec.Data["custom_metadata"].(map[string]any)
	for k, val := range cm {
		if str, ok := val.(string); ok {
			out[k] = str
		}
	}
	return out
}

// TransitKey enables the Transit secrets engine at mount (if it is not yet) and creates
// the asymmetric key name of type typ ("ed25519" or "ecdsa-p256") if it does not exist.
func (v *VaultServer) TransitKey(t testing.TB, mount, name, typ string) {
	t.Helper()
	if err := TransitKey(context.Background(), v.Client(t), mount, name, typ); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

// AuditLog enables a file audit device writing to a new file under t's temp dir and
// returns that file's path. Every request Vault serves from then on is logged there.
func (v *VaultServer) AuditLog(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".log")
	if err := AuditFile(context.Background(), v.Client(t), name, path); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = v.Client(t).Sys().DisableAudit(name) })
	return path
}
