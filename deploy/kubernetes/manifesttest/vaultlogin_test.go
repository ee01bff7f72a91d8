package manifesttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	vaultk8s "github.com/hashicorp/vault/api/auth/kubernetes"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
)

// exitNeedsHuman is keyroll's documented exit code for credentials Vault refuses.
const exitNeedsHuman = 3

// serviceAccount creates a service account.
func (k *kube) serviceAccount(ctx context.Context, ns, name string) {
	k.t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := k.cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		k.t.Fatalf("service account %s/%s: %v", ns, name, err)
	}
}

// token asks the API server for a token of a service account (TokenRequest, as the kubelet
// does for a projected volume). No audiences means the API server's own; bound, when not
// nil, binds the token to that Secret's lifetime.
func (k *kube) token(ctx context.Context, ns, sa string, audiences []string, bound *corev1.Secret) string {
	k.t.Helper()
	exp := int64(3600)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &exp}}
	if bound != nil {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: bound.Name, UID: bound.UID}
	}
	tr, err := k.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		k.t.Fatalf("token for %s/%s: %v", ns, sa, err)
	}
	return tr.Status.Token
}

// projectedToken is a token file laid out as the kubelet writes a projected volume: the
// file is a symlink through ..data, which is swapped atomically when the token is renewed.
type projectedToken struct {
	dir string
	n   int
}

func newProjectedToken(t *testing.T, token string) *projectedToken {
	p := &projectedToken{dir: t.TempDir()}
	if err := os.Symlink("..data/token", filepath.Join(p.dir, "token")); err != nil {
		t.Fatal(err)
	}
	p.write(t, token)
	return p
}

func (p *projectedToken) path() string { return filepath.Join(p.dir, "token") }

func (p *projectedToken) write(t *testing.T, token string) {
	t.Helper()
	p.n++
	ts := fmt.Sprintf("..%d", p.n)
	if err := os.Mkdir(filepath.Join(p.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, ts, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(p.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// vaultWorld is a Vault dev server with its Kubernetes auth method configured against a
// test cluster by what keyroll ships, and keyroll's CertCentral simulator with one account.
type vaultWorld struct {
	k      *kube
	vault  *testenv.VaultServer
	bin    string
	simURL string
	apiKey string
}

func newVaultWorld(t *testing.T, k *kube) *vaultWorld {
	ctx := context.Background()
	bin, err := keyrollBinary()
	if err != nil {
		t.Fatal(err)
	}
	w := &vaultWorld{k: k, vault: testenv.DevVault(t), bin: bin, apiKey: "KEY" + strings.Repeat("k", 29)}

	// Kubernetes: the namespaces and service accounts keyroll's roles name, decoys, and
	// the reviewer Vault checks tokens with (TokenReview, via system:auth-delegator).
	for _, ns := range []string{"keyroll", "webhooks", "elsewhere", "vault"} {
		k.restrictedNamespace(ctx, ns)
	}
	k.serviceAccount(ctx, "keyroll", "keyroll")
	k.serviceAccount(ctx, "keyroll", "intruder")
	k.serviceAccount(ctx, "elsewhere", "keyroll")
	k.serviceAccount(ctx, "webhooks", "webhook-listener")
	k.serviceAccount(ctx, "vault", "vault-reviewer")
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "vault-reviewer-tokenreview"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vault-reviewer", Namespace: "vault"}},
	}
	if _, err := k.cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Vault: the Kubernetes auth method, then keyroll's policies and roles from the shipped
	// script.
	root := w.vault.ClientWithToken(t, w.vault.RootToken)
	if err := root.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Logical().Write("auth/kubernetes/config", map[string]any{
		"kubernetes_host":      k.cluster.URL,
		"kubernetes_ca_cert":   string(k.cluster.CAPEM),
		"token_reviewer_jwt":   k.token(ctx, "vault", "vault-reviewer", nil, nil),
		"issuer":               k.cluster.Issuer,
		"disable_local_ca_jwt": true,
	}); err != nil {
		t.Fatal(err)
	}
	script := exec.Command("bash", filepath.Join(dir, "vault", "kubernetes-auth-role.sh"))
	script.Env = cleanEnv("VAULT_ADDR="+w.vault.Addr, "VAULT_TOKEN="+w.vault.RootToken, "HOME="+t.TempDir(),
		"PATH="+filepath.Dir(testenv.VaultBinary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := script.CombinedOutput(); err != nil {
		t.Fatalf("kubernetes-auth-role.sh: %v\n%s", err, out)
	}

	// DigiCert: `keyroll simulate` with one account whose webhook delivers to a receiver
	// that accepts everything (the listener is tested on its own below).
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hook.Close)
	simAddr := freeAddr(t)
	simLogs := &syncbuf.Buffer{}
	sim := w.command(context.Background(), "simulate", "--addr", simAddr, "--api-key", w.apiKey,
		"--endpoint", hook.URL+"/hook", "--allow-http-endpoints")
	sim.Stdout, sim.Stderr = simLogs, simLogs
	p, err := testenv.StartProc("simulate", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	waitFor(t, 30*time.Second, simLogs, "simulator", func() bool { return strings.Contains(simLogs.String(), "simulator url=") })
	out := simLogs.String()
	w.simURL = strings.Fields(out[strings.Index(out, "simulator url=")+len("simulator url="):])[0]
	return w
}

// config writes a keyroll config that logs in as role with the token at tokenFile.
func (w *vaultWorld) config(t *testing.T, role, tokenFile string) string {
	t.Helper()
	cfg := fmt.Sprintf(`
vault:
  address: %q
  kv_mount: secret
  auth: {method: kubernetes, role: %s, mount: kubernetes, service_account_token_file: %q}
certcentral: {url: %q, api_key_env: KEYROLL_TEST_API_KEY, timeout: 5s}
rotation: {propagation_delay: 0s, min_interval: 1h, overlap: 1h, verify_listener: false}
listener: {refresh: 0s}
targets:
  - {name: prod-us, vault_path: keyroll/digicert/prod-us}
`, w.vault.Addr, role, tokenFile, w.simURL)
	f := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (w *vaultWorld) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = cleanEnv("KEYROLL_TEST_API_KEY=" + w.apiKey)
	return cmd
}

// run runs keyroll and returns its exit code, stdout and stderr.
func (w *vaultWorld) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := w.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("keyroll %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func (w *vaultWorld) version(t *testing.T) int {
	t.Helper()
	sec, err := w.vault.ClientWithToken(t, w.vault.RootToken).Logical().Read("secret/metadata/keyroll/digicert/prod-us")
	if err != nil || sec == nil {
		return 0
	}
	n, _ := sec.Data["current_version"].(json.Number).Int64()
	return int(n)
}

func testVaultLogin(t *testing.T, k *kube) {
	ctx := context.Background()
	w := newVaultWorld(t, k)
	// run runs a subtest with k reporting to it.
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) { k.t = t; f(t) })
		k.t = t
	}

	// The shipped defaults: evidence signed with the Transit key the script created and
	// anchored, with nothing but the job's policy.
	run("RunRotates", func(t *testing.T) {
		tok := newProjectedToken(t, k.token(ctx, "keyroll", "keyroll", []string{"vault"}, nil))
		cfg := w.config(t, "keyroll", tok.path())
		evidenceFile := filepath.Join(t.TempDir(), "evidence.jsonl")
		appendFile(t, cfg, fmt.Sprintf("evidence: {file: %q, signing: {transit_mount: transit, key: keyroll-evidence}, anchor: keyroll/evidence/head}\n", evidenceFile))
		code, out, errs := w.run(t, "run", "--config", cfg)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
		}
		if ev, err := os.ReadFile(evidenceFile); err != nil || !strings.Contains(string(ev), `"signature":"vault:v1:`) {
			t.Errorf("the evidence record is not signed by Transit (%v):\n%s", err, ev)
		}
		if head, err := w.vault.ClientWithToken(t, w.vault.RootToken).Logical().Read("secret/data/keyroll/evidence/head"); err != nil || head == nil {
			t.Errorf("the evidence anchor was not written: %v", err)
		}
		sec, err := w.vault.ClientWithToken(t, w.vault.RootToken).Logical().Read("secret/data/keyroll/digicert/prod-us")
		if err != nil || sec == nil {
			t.Fatalf("document: %v", err)
		}
		data, _ := sec.Data["data"].(map[string]any)
		cur, _ := data["current"].(string)
		prev, _ := data["previous"].(string)
		if cur == "" || prev == "" || cur == prev {
			t.Error("the document does not hold a new current key and the webhook's old one as previous")
		}
		if !strings.Contains(errs, "keyroll-keyroll") && !strings.Contains(out, "rotated") {
			t.Errorf("no rotation reported\nstdout:\n%s\nstderr:\n%s", out, errs)
		}
	})

	// Tokens Vault must refuse: each fails `keyroll run` with exit code 3 and a message
	// naming the check, without the token and without touching the document.
	keyrollTok := k.token(ctx, "keyroll", "keyroll", []string{"vault"}, nil)
	expired, err := k.cluster.Resign(keyrollTok, func(c map[string]any) {
		now := time.Now()
		c["iat"], c["nbf"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name, token, want string
	}{
		{"wrong service account", k.token(ctx, "keyroll", "intruder", []string{"vault"}, nil), "service account name not authorized"},
		{"wrong namespace", k.token(ctx, "elsewhere", "keyroll", []string{"vault"}, nil), "namespace not authorized"},
		{"wrong audience", k.token(ctx, "keyroll", "keyroll", nil, nil), "invalid audience (aud) claim"},
		{"expired", expired, "token is expired"},
	}
	for _, tt := range refused {
		run("Refused/"+tt.name, func(t *testing.T) {
			before := w.version(t)
			tok := newProjectedToken(t, tt.token)
			code, out, errs := w.run(t, "run", "--config", w.config(t, "keyroll", tok.path()))
			if code != exitNeedsHuman {
				t.Errorf("exit %d, want %d", code, exitNeedsHuman)
			}
			if !strings.Contains(errs, tt.want) {
				t.Errorf("stderr does not name the check %q:\n%s", tt.want, errs)
			}
			sig := tt.token[strings.LastIndex(tt.token, ".")+1:]
			if strings.Contains(out+errs, sig) || strings.Contains(out+errs, tt.token[:strings.Index(tt.token, ".")+20]) {
				t.Error("keyroll's output contains the token")
			}
			if after := w.version(t); after != before {
				t.Errorf("document version %d -> %d", before, after)
			}
			for _, l := range strings.Split(errs, "\n") {
				if strings.Contains(l, tt.want) {
					t.Logf("refused (%s): %s", tt.name, l)
				}
			}
		})
	}

	run("ListenerReadsOnlyItsTarget", func(t *testing.T) {
		tok := k.token(ctx, "webhooks", "webhook-listener", []string{"vault"}, nil)
		c := w.vault.ClientWithToken(t, "")
		auth, err := vaultk8s.NewKubernetesAuth("keyroll-listener", vaultk8s.WithServiceAccountToken(tok))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Auth().Login(ctx, auth); err != nil {
			t.Fatalf("listener login: %v", err)
		}
		if _, err := c.Logical().Read("secret/data/keyroll/digicert/prod-us"); err != nil {
			t.Errorf("listener cannot read its target: %v", err)
		}
		denied := map[string]func() error{
			"write the target": func() error {
				_, err := c.Logical().Write("secret/data/keyroll/digicert/prod-us", map[string]any{"data": map[string]any{}})
				return err
			},
			"read the target's metadata": func() error {
				_, err := c.Logical().Read("secret/metadata/keyroll/digicert/prod-us")
				return err
			},
			"read another secret": func() error {
				_, err := c.Logical().Read("secret/data/other")
				return err
			},
		}
		for what, f := range denied {
			if err := f(); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("listener may %s: %v", what, err)
			}
		}
		// The job's role refuses the listener.
		c2 := w.vault.ClientWithToken(t, "")
		auth2, _ := vaultk8s.NewKubernetesAuth("keyroll", vaultk8s.WithServiceAccountToken(tok))
		if _, err := c2.Auth().Login(ctx, auth2); err == nil {
			t.Error("the listener logged in as the job's role")
		}
	})

	run("ListenPicksUpRotatedTokenFile", func(t *testing.T) {
		// Tokens bound to a Secret die with it, as a pod's die with the pod.
		secrets := make([]*corev1.Secret, 2)
		for i := range secrets {
			s, err := k.cs.CoreV1().Secrets("webhooks").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("binding-%d", i)}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			secrets[i] = s
		}
		first := k.token(ctx, "webhooks", "webhook-listener", []string{"vault"}, secrets[0])
		second := k.token(ctx, "webhooks", "webhook-listener", []string{"vault"}, secrets[1])
		// Short Vault tokens, so that keyroll logs in again within seconds (the shipped role
		// has token_ttl 1h).
		if _, err := w.vault.ClientWithToken(t, w.vault.RootToken).Logical().Write("auth/kubernetes/role/keyroll-listener", map[string]any{"token_ttl": "3s", "token_max_ttl": "3s"}); err != nil {
			t.Fatal(err)
		}
		tok := newProjectedToken(t, first)
		addr, admin := freeAddr(t), freeAddr(t)
		logs := &syncbuf.Buffer{}
		lctx, stop := context.WithCancel(ctx)
		// /healthz is served on the admin address only.
		cmd := w.command(lctx, "listen", "--config", w.config(t, "keyroll-listener", tok.path()), "--addr", addr, "--admin-addr", admin, "--log-level", "debug")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop(); _ = cmd.Wait() })
		relogins := func() int { return strings.Count(logs.String(), `"vault re-login"`) }
		waitFor(t, 30*time.Second, logs, "a first re-login with the first token", func() bool { return relogins() >= 1 })

		tok.write(t, second) // the kubelet renews the token
		if err := k.cs.CoreV1().Secrets("webhooks").Delete(ctx, secrets[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The first token dies with its binding (once the API server's 10s cache of token
		// reviews has let go of it): a re-login that still used it would fail.
		c := w.vault.ClientWithToken(t, "")
		auth, _ := vaultk8s.NewKubernetesAuth("keyroll-listener", vaultk8s.WithServiceAccountToken(first))
		waitFor(t, time.Minute, logs, "refusal of the first token", func() bool {
			_, err := c.Auth().Login(ctx, auth)
			return err != nil
		})
		n := relogins()
		failedBefore := strings.Count(logs.String(), "vault re-login failed")
		waitFor(t, 30*time.Second, logs, "two re-logins with the renewed token file", func() bool { return relogins() >= n+2 })
		if failed := strings.Count(logs.String(), "vault re-login failed"); failed != failedBefore {
			t.Errorf("%d re-logins failed after the token file was renewed:\n%s", failed-failedBefore, logs.String())
		}
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("listener health after the token renewal: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		for _, s := range []string{first, second} {
			if strings.Contains(logs.String(), s[strings.LastIndex(s, ".")+1:]) {
				t.Error("the listener's log contains a token")
			}
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func waitFor(t *testing.T, limit time.Duration, logs *syncbuf.Buffer, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s; log:\n%s", what, limit, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appendFile appends text to the file at path.
func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
