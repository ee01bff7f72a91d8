package testenv_test

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := testenv.FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: want 5 distinct positive ports", ports)
		}
		seen[p] = true
	}
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"whole lines", []string{"a\nb\n"}, []string{"a", "b"}},
		{"split across writes", []string{"a", "b\nc", "\n"}, []string{"ab", "c"}},
		{"carriage return dropped", []string{"a\r\n"}, []string{"a"}},
		{"last line at flush", []string{"a\nb"}, []string{"a", "b"}},
		{"empty lines kept", []string{"\n\n"}, []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := testenv.Lines(func(l string) { got = append(got, l) })
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			w.Flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProcOutputAndExitCode(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	cmd := exec.Command("sh", "-c", "echo one; printf two; exit 3")
	cmd.Stdout = testenv.Lines(func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() })
	p, err := testenv.StartProc("sh", cmd)
	if err != nil {
		t.Fatal(err)
	}
	if code := p.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(lines, []string{"one", "two"}) {
		t.Errorf("lines %q, want one, two", lines)
	}
}

// TestStopEndsTheGroup: Stop ends a child's own children too, which a signal to the
// child alone would leave running.
func TestStopEndsTheGroup(t *testing.T) {
	pids := make(chan string, 1)
	cmd := exec.Command("sh", "-c", "sleep 300 & echo $!; wait")
	cmd.Stdout = testenv.Lines(func(l string) { pids <- l })
	var g testenv.Group
	p, err := g.Start("sh", cmd)
	if err != nil {
		t.Fatal(err)
	}
	grandchild := <-pids
	g.StopAll(10 * time.Second)
	if code := p.ExitCode(); code != -1 {
		t.Errorf("exit code %d, want -1 (ended by a signal)", code)
	}
	// The grandchild got SIGTERM with its group; wait for it to be gone.
	for {
		b, err := os.ReadFile("/proc/" + grandchild + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillIsRecorded(t *testing.T) {
	p, err := testenv.StartProc("sleep", exec.Command("sleep", "300"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Killed() {
		t.Fatal("killed before Kill")
	}
	p.Kill()
	if !p.Killed() || p.ExitCode() != -1 {
		t.Errorf("Killed %t, exit code %d; want true, -1", p.Killed(), p.ExitCode())
	}
	p.Stop(time.Second) // a no-op once exited
	p.Signal(syscall.SIGTERM)
}

func TestDevVault(t *testing.T) {
	v := testenv.SharedVault(t)
	if !strings.HasPrefix(v.Addr, "http://127.0.0.1:") || v.CACert != "" {
		t.Fatalf("Addr %q CACert %q: want http on loopback, no CA", v.Addr, v.CACert)
	}
	c := v.Client(t)
	if _, err := c.Logical().Write("secret/data/testenv/dev", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	tok := v.Token(t, time.Hour, "default")
	if tok == "" || tok == v.RootToken {
		t.Errorf("Token returned %q", tok)
	}
}

// TestTLSVault: the TLS server is trusted through its CA bundle, and only through it.
func TestTLSVault(t *testing.T) {
	v := testenv.TLSVault(t, "vault.test")
	if !strings.HasPrefix(v.Addr, "https://127.0.0.1:") {
		t.Fatalf("Addr %q: want https on loopback", v.Addr)
	}
	if b, err := os.ReadFile(v.CACert); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatalf("CA bundle %s: %v", v.CACert, err)
	}
	if _, err := v.Client(t).Logical().Write("secret/data/testenv/tls", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		t.Fatalf("write over TLS with the CA: %v", err)
	}
	untrusting, err := (&testenv.VaultServer{Addr: v.Addr}).NewClient(v.RootToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := untrusting.Sys().Health(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("client without the CA: %v, want a certificate error", err)
	}
	env := strings.Join(v.Env(), " ")
	for _, want := range []string{"VAULT_ADDR=" + v.Addr, "VAULT_CACERT=" + v.CACert, "VAULT_TOKEN=" + v.RootToken} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %s", want)
		}
	}
}

// TestFileVault: data written survives a SIGKILL and a seal.
func TestFileVault(t *testing.T) {
	bin := testenv.VaultBinary(t)
	ctx := context.Background()
	v, err := testenv.NewFileVault(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Init(ctx); err != nil {
		t.Fatal(err)
	}
	c := v.Client()
	if _, err := c.Logical().Write("secret/data/kept", map[string]any{"data": map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	v.Kill()
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := c.Sys().Health(); err != nil || !h.Sealed {
		t.Fatalf("after Seal: %+v, %v; want sealed", h, err)
	}
	if err := v.Unseal(ctx); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Logical().Read("secret/data/kept")
	if err != nil || sec == nil {
		t.Fatalf("read after restart and seal: %v", err)
	}
}

func TestPushgateway(t *testing.T) {
	s := testenv.StartPushgateway(t)
	if m := s.Metrics(t); !strings.Contains(m, "pushgateway_build_info") {
		t.Errorf("/metrics lacks pushgateway_build_info:\n%.500s", m)
	}
}
