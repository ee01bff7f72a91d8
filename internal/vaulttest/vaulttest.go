// Package vaulttest runs a real Vault dev server for keyroll's integration tests.
//
// The binary comes from $KEYROLL_VAULT_BIN, set by scripts/test.sh after
// scripts/vault-bin.sh built or found it. Without it, tests that need Vault skip, except
// when CI=true, where they fail: CI must never pass on skipped integration tests.
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/vault"
)

// EnvBinary names the variable holding the path of the Vault binary.
const EnvBinary = "KEYROLL_VAULT_BIN"

// Server is a running `vault server -dev` on a free 127.0.0.1 port.
type Server struct {
	Addr      string // http://127.0.0.1:PORT
	RootToken string
	cmd       *exec.Cmd
	done      chan struct{}
	logs      *syncbuf.Buffer
	stopOnce  sync.Once
}

// Binary returns the Vault binary's path, or skips t (fails it when CI=true).
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Vault integration tests (use scripts/test.sh)", EnvBinary)
		}
		t.Skipf("%s not set: run scripts/test.sh (or make test) for the Vault integration tests", EnvBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("vault binary: %v", err)
	}
	return bin
}

// Start starts a dedicated dev server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(Binary(t))
	if err != nil {
		t.Fatalf("vaulttest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

var (
	sharedMu  sync.Mutex
	sharedSrv *Server
)

// Shared returns one dev server per test binary, started on first use. Tests sharing it
// must use their own paths. Call StopShared from TestMain (Main does it).
func Shared(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv == nil {
		s, err := start(bin)
		if err != nil {
			t.Fatalf("vaulttest: %v", err)
		}
		sharedSrv = s
	}
	return sharedSrv
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedSrv != nil {
		sharedSrv.Stop()
		sharedSrv = nil
	}
}

// Main runs the tests and stops the shared server afterwards. Use it as
// `func TestMain(m *testing.M) { vaulttest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "root-" + hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := startOnce(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	home, err := os.MkdirTemp("", "keyroll-vault-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:      "http://127.0.0.1:" + strconv.Itoa(port),
		RootToken: randomToken(),
		done:      make(chan struct{}),
		logs:      &syncbuf.Buffer{Limit: 1 << 20},
	}
	s.cmd = exec.Command(bin, "server", "-dev",
		"-dev-root-token-id="+s.RootToken,
		"-dev-listen-address=127.0.0.1:"+strconv.Itoa(port),
		"-dev-no-store-token",
	)
	s.cmd.Env = append(os.Environ(), "HOME="+home, "VAULT_ADDR="+s.Addr, "VAULT_LOG_LEVEL=warn", "VAULT_DISABLE_MLOCK=true")
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	go func() {
		_ = s.cmd.Wait()
		_ = os.RemoveAll(home)
		close(s.done)
	}()
	if err := s.waitHealthy(30 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("vault dev server on %s: %w\n%s", s.Addr, err, s.logs.String())
	}
	return s, nil
}

func (s *Server) waitHealthy(limit time.Duration) error {
	c, err := s.newClient(s.RootToken)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("exited before becoming healthy")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		h, err := c.Sys().HealthWithContext(ctx)
		cancel()
		if err == nil && h.Initialized && !h.Sealed {
			// The dev server mounts secret/ as KV v2; wait until it answers.
			if _, err := c.Logical().Read("secret/config"); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after %s: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server and waits for it to exit. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
}

func (s *Server) newClient(token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}

// Client returns a client holding the root token.
func (s *Server) Client(t testing.TB) *api.Client {
	t.Helper()
	return s.ClientWithToken(t, s.RootToken)
}

// ClientWithToken returns a client holding token.
func (s *Server) ClientWithToken(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := s.newClient(token)
	if err != nil {
		t.Fatalf("vaulttest: client: %v", err)
	}
	return c
}

// Policy writes an ACL policy named name.
func (s *Server) Policy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := s.Client(t).Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("vaulttest: put policy %s: %v", name, err)
	}
}

// Token creates a token with the given policies and TTL (0: the default) and returns it.
func (s *Server) Token(t testing.TB, ttl time.Duration, policies ...string) string {
	t.Helper()
	req := &api.TokenCreateRequest{Policies: policies, NoDefaultPolicy: false}
	if ttl > 0 {
		req.TTL = ttl.String()
		req.ExplicitMaxTTL = ""
	}
	sec, err := s.Client(t).Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("vaulttest: create token: %v", err)
	}
	return sec.Auth.ClientToken
}

// Logs returns what the server printed so far.
func (s *Server) Logs() string {
	return s.logs.String()
}

// AppRole enables the approle auth method at mount (if it is not yet), creates role with
// policy (HCL) and the given token TTLs, and returns the login settings for it, with the
// secret id in a 0600 file under t's temp dir.
func (s *Server) AppRole(t testing.TB, mount, role, policy, ttl, maxTTL string) vault.Auth {
	t.Helper()
	c := s.Client(t)
	if err := c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}); err != nil &&
		!strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("vaulttest: enable approle at %s: %v", mount, err)
	}
	s.Policy(t, role, policy)
	if _, err := c.Logical().Write("auth/"+mount+"/role/"+role, map[string]any{
		"token_policies": role, "token_ttl": ttl, "token_max_ttl": maxTTL,
	}); err != nil {
		t.Fatalf("vaulttest: approle role %s: %v", role, err)
	}
	rid, err := c.Logical().Read("auth/" + mount + "/role/" + role + "/role-id")
	if err != nil {
		t.Fatalf("vaulttest: role id: %v", err)
	}
	sid, err := c.Logical().Write("auth/"+mount+"/role/"+role+"/secret-id", nil)
	if err != nil {
		t.Fatalf("vaulttest: secret id: %v", err)
	}
	f := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(f, []byte(sid.Data["secret_id"].(string)), 0o600); err != nil {
		t.Fatal(err)
	}
	return vault.Auth{Method: vault.AuthAppRole, Mount: mount, RoleID: rid.Data["role_id"].(string), SecretIDFile: f}
}

// CustomMetadata returns the custom_metadata of the KV v2 secret at path under mount, read
// with the root token.
func (s *Server) CustomMetadata(t testing.TB, mount, path string) map[string]string {
	t.Helper()
	sec, err := s.Client(t).Logical().Read(mount + "/metadata/" + path)
	if err != nil || sec == nil {
		t.Fatalf("vaulttest: read metadata of %s: %v", path, err)
	}
	out := map[string]string{}
	cm, _ := sec.Data["custom_metadata"].(map[string]any)
	for k, v := range cm {
		if str, ok := v.(string); ok {
			out[k] = str
		}
	}
	return out
}

// TransitKey enables the Transit secrets engine at mount (if it is not yet) and creates
// the asymmetric key name of type typ ("ed25519" or "ecdsa-p256") if it does not exist.
func (s *Server) TransitKey(t testing.TB, mount, name, typ string) {
	t.Helper()
	c := s.Client(t)
	if err := c.Sys().Mount(mount, &api.MountInput{Type: "transit"}); err != nil &&
		!strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("vaulttest: enable transit at %s: %v", mount, err)
	}
	if _, err := c.Logical().Write(mount+"/keys/"+name, map[string]any{"type": typ}); err != nil {
		t.Fatalf("vaulttest: transit key %s/%s: %v", mount, name, err)
	}
}

// AuditLog enables a file audit device writing to a new file under t's temp dir and
// returns that file's path. Every request Vault serves from then on is logged there.
func (s *Server) AuditLog(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".log")
	err := s.Client(t).Sys().EnableAuditWithOptions(name, &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": path}})
	if err != nil {
		t.Fatalf("vaulttest: enable audit device %s: %v", name, err)
	}
	t.Cleanup(func() { _ = s.Client(t).Sys().DisableAudit(name) })
	return path
}
