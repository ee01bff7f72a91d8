package policy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/policy"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var seq atomic.Int64

// twoTargets is a configuration with two targets and the API key in Vault, under a prefix
// of its own.
func twoTargets(t *testing.T) (policy.Spec, string) {
	t.Helper()
	n := fmt.Sprint(seq.Add(1))
	return policy.Spec{
		KVMount:     "secret",
		Targets:     []policy.Target{{Name: "us", VaultPath: "keyroll/" + n + "/digicert/us"}, {Name: "eu", VaultPath: "keyroll/" + n + "/digicert/eu"}},
		APIKeyPaths: []string{"keyroll-job/" + n + "/digicert-api-key"},
		Evidence:    &policy.Evidence{TransitMount: "transit", SigningKey: "keyroll-evidence-" + n, Anchor: "keyroll/" + n + "/evidence/head"},
	}, n
}

func Example() {
	spec := policy.Spec{KVMount: "secret", Targets: []policy.Target{{Name: "prod-us", VaultPath: "keyroll/digicert/prod-us"}}}
	l := policy.Listener(spec, spec.Targets[0])
	fmt.Print(l[strings.Index(l, "path"):])
	// Output:
	// path "secret/data/keyroll/digicert/prod-us" {
	//   capabilities = ["read"]
	// }
}

// TestPoliciesWithRealTokens installs the generated policies in a real Vault and checks
// with tokens holding them that each can do what it must and nothing more.
func TestPoliciesWithRealTokens(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	cfg, n := twoTargets(t)
	us, eu := cfg.Targets[0], cfg.Targets[1]
	apiKey := struct{ Path, Field string }{cfg.APIKeyPaths[0], "key"}

	root := srv.Client(t)
	srv.TransitKey(t, "transit", cfg.Evidence.SigningKey, "ed25519")
	srv.TransitKey(t, "transit", "other-"+n, "ed25519")
	if _, err := root.Logical().Write("secret/data/"+apiKey.Path, map[string]any{"data": map[string]any{"key": "digicert-api-key-value"}}); err != nil {
		t.Fatal(err)
	}
	srv.Policy(t, policy.JobName+n, policy.Job(cfg))
	srv.Policy(t, policy.ListenerName(us.Name)+n, policy.Listener(cfg, us))
	job := vault.NewStore(srv.ClientWithToken(t, srv.Token(t, time.Hour, policy.JobName+n)), "secret")
	lis := vault.NewStore(srv.ClientWithToken(t, srv.Token(t, time.Hour, policy.ListenerName(us.Name)+n)), "secret")

	// The job: every target's document, its metadata and history, destroy, the API key.
	for _, tg := range []policy.Target{us, eu} {
		if _, err := job.Write(ctx, tg.VaultPath, keyset.Document{Current: strings.Repeat("a", 48)}, 0); err != nil {
			t.Fatalf("job write %s: %v", tg.Name, err)
		}
		if _, err := job.Write(ctx, tg.VaultPath, keyset.Document{Current: strings.Repeat("b", 48)}, 1); err != nil {
			t.Fatalf("job write %s: %v", tg.Name, err)
		}
		if err := job.WriteMetadata(ctx, tg.VaultPath, map[string]string{"state": "idle"}); err != nil {
			t.Fatalf("job metadata %s: %v", tg.Name, err)
		}
		if _, _, err := job.History(ctx, tg.VaultPath); err != nil {
			t.Fatalf("job history %s: %v", tg.Name, err)
		}
		if err := job.Destroy(ctx, tg.VaultPath, []int{1}); err != nil {
			t.Fatalf("job destroy %s: %v", tg.Name, err)
		}
		missing, err := job.MissingCapabilities(ctx, tg.VaultPath)
		if err != nil || len(missing) > 0 {
			t.Errorf("job lacks %v (%v) on %s", missing, err, tg.Name)
		}
	}
	if k, err := job.ReadField(ctx, apiKey.Path, apiKey.Field); err != nil || k != "digicert-api-key-value" {
		t.Errorf("job cannot read the API key: %v", err)
	}
	if _, err := job.Read(ctx, "keyroll/elsewhere"); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("job reads outside its targets: %v", err)
	}

	// The job's evidence: sign with its Transit key, read the key's public keys, keep the
	// anchor; not another Transit key.
	jobClient := srv.ClientWithToken(t, srv.Token(t, time.Hour, policy.JobName+n))
	sign := map[string]any{"input": "aGFzaA=="}
	if _, err := jobClient.Logical().Write("transit/sign/"+cfg.Evidence.SigningKey, sign); err != nil {
		t.Errorf("job cannot sign evidence: %v", err)
	}
	if _, err := jobClient.Logical().Read("transit/keys/" + cfg.Evidence.SigningKey); err != nil {
		t.Errorf("job cannot read the evidence key's public keys: %v", err)
	}
	if _, err := jobClient.Logical().Write("transit/sign/other-"+n, sign); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("job may sign with another Transit key: %v", err)
	}
	if _, err := job.WriteData(ctx, cfg.Evidence.Anchor, map[string]any{"seq": 1}, 0); err != nil {
		t.Errorf("job cannot write the evidence anchor: %v", err)
	}
	if _, _, err := job.ReadData(ctx, cfg.Evidence.Anchor); err != nil {
		t.Errorf("job cannot read the evidence anchor: %v", err)
	}
	// The anchor's history is out of the job's reach: it can add versions, but neither
	// remove one (delete, destroy, metadata delete) nor lower max_versions, nor undelete.
	if _, err := root.Logical().Write("secret/metadata/"+cfg.Evidence.Anchor, map[string]any{"max_versions": 10000}); err != nil {
		t.Fatal(err)
	}
	anchor := strings.Trim(cfg.Evidence.Anchor, "/")
	refused := map[string]func() error{
		"lower max_versions": func() error {
			_, err := jobClient.Logical().Write("secret/metadata/"+anchor, map[string]any{"max_versions": 1})
			return err
		},
		"read the metadata": func() error { _, err := jobClient.Logical().Read("secret/metadata/" + anchor); return err },
		"delete the metadata and every version": func() error {
			_, err := jobClient.Logical().Delete("secret/metadata/" + anchor)
			return err
		},
		"delete the latest version": func() error { _, err := jobClient.Logical().Delete("secret/data/" + anchor); return err },
		"delete versions": func() error {
			_, err := jobClient.Logical().Write("secret/delete/"+anchor, map[string]any{"versions": []int{1}})
			return err
		},
		"destroy versions": func() error {
			_, err := jobClient.Logical().Write("secret/destroy/"+anchor, map[string]any{"versions": []int{1}})
			return err
		},
		"undelete versions": func() error {
			_, err := jobClient.Logical().Write("secret/undelete/"+anchor, map[string]any{"versions": []int{1}})
			return err
		},
		"change the mount's default max_versions": func() error {
			_, err := jobClient.Logical().Write("secret/config", map[string]any{"max_versions": 1})
			return err
		},
	}
	for what, f := range refused {
		if err := f(); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("job may %s on the evidence anchor: %v", what, err)
		} else {
			t.Logf("job refused to %s on the anchor: 403 permission denied", what)
		}
	}
	if sec, err := root.Logical().Read("secret/metadata/" + anchor); err != nil || vault.Int(sec.Data["max_versions"]) != 10000 || vault.Int(sec.Data["current_version"]) != 1 {
		t.Errorf("anchor metadata after the refusals: %v, %v", sec, err)
	}

	var paths []string
	var want [][]string
	for _, g := range policy.JobPaths(cfg) {
		paths, want = append(paths, g.Path), append(want, g.Capabilities)
	}
	if missing, err := job.Missing(ctx, paths, want); err != nil || len(missing) > 0 {
		t.Errorf("job lacks %v (%v) beside the documents", missing, err)
	}
	caps := 0
	for _, w := range want {
		caps += len(w)
	}
	if missing, err := lis.Missing(ctx, paths, want); err != nil || len(missing) != caps {
		t.Errorf("a listener token lacks %v (%v), want all %d of the job's capabilities beside the documents", missing, err, caps)
	}

	// A listener of us: its own document, and nothing else.
	if vv, err := lis.Read(ctx, us.VaultPath); err != nil || vv.Doc.Current == "" {
		t.Errorf("listener cannot read its document: %v", err)
	}
	denied := map[string]error{}
	_, denied["read the API key"] = lis.ReadField(ctx, apiKey.Path, apiKey.Field)
	_, denied["read another target's document"] = lis.Read(ctx, eu.VaultPath)
	_, denied["write its document"] = lis.Write(ctx, us.VaultPath, keyset.Document{Current: "x"}, 2)
	_, _, denied["read its metadata and history"] = lis.History(ctx, us.VaultPath)
	_, _, denied["read the evidence anchor"] = lis.ReadData(ctx, cfg.Evidence.Anchor)
	denied["destroy"] = lis.Destroy(ctx, us.VaultPath, []int{2})
	for what, err := range denied {
		if !errors.Is(err, vault.ErrPermissionDenied) {
			t.Errorf("listener may %s: %v", what, err)
		}
	}
}

func TestPolicyIsNoWiderThanTheTargets(t *testing.T) {
	cfg, _ := twoTargets(t)
	for _, p := range []string{policy.Job(cfg), policy.Listener(cfg, cfg.Targets[0])} {
		var rules []string
		for _, l := range strings.Split(p, "\n") {
			if !strings.HasPrefix(l, "#") {
				rules = append(rules, l)
			}
		}
		p := strings.Join(rules, "\n")
		if strings.Contains(p, "*") || strings.Contains(p, "+") || strings.Contains(p, "delete") ||
			strings.Contains(p, `"list"`) || strings.Contains(p, "sudo") {
			t.Errorf("policy grants more than the paths it names:\n%s", p)
		}
	}
	if l := policy.Listener(cfg, cfg.Targets[0]); strings.Contains(l, cfg.Targets[1].VaultPath) || strings.Contains(l, "digicert-api-key") {
		t.Errorf("listener policy reaches beyond its target:\n%s", l)
	}
}

// TestSudoGrantsNothingByItself: a token whose policy has only sudo on every path the job
// uses is denied each of the job's operations by a real Vault, and Missing (what `keyroll
// check` asks) reports every capability of every path as missing.
func TestSudoGrantsNothingByItself(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	cfg, n := twoTargets(t)
	us := cfg.Targets[0]
	srv.TransitKey(t, "transit", cfg.Evidence.SigningKey, "ed25519")
	var paths []string
	var want [][]string
	for _, g := range policy.JobPaths(cfg) {
		paths, want = append(paths, g.Path), append(want, g.Capabilities)
	}
	for _, tg := range cfg.Targets {
		for _, sub := range []string{"data", "metadata", "destroy"} {
			paths = append(paths, "secret/"+sub+"/"+tg.VaultPath)
			want = append(want, map[string][]string{"data": {"read", "create", "update"}, "metadata": {"read", "create", "update"}, "destroy": {"update"}}[sub])
		}
	}
	var hcl strings.Builder
	caps := 0
	for i, p := range paths {
		fmt.Fprintf(&hcl, "path %q {\n  capabilities = [\"sudo\"]\n}\n", p)
		caps += len(want[i])
	}
	srv.Policy(t, "sudo-only-"+n, hcl.String())
	client := srv.ClientWithToken(t, srv.Token(t, time.Hour, "sudo-only-"+n))
	sudo := vault.NewStore(client, "secret")

	missing, err := sudo.Missing(ctx, paths, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != caps {
		t.Errorf("Missing reports %d of %d capabilities for a sudo-only token: %v", len(missing), caps, missing)
	}
	if m, err := sudo.MissingCapabilities(ctx, us.VaultPath); err != nil || len(m) != 7 {
		t.Errorf("MissingCapabilities = %v, %v; want all 7 missing", m, err)
	}
	// And the real operations agree: each is denied.
	denied := map[string]error{}
	_, denied["read the document"] = sudo.Read(ctx, us.VaultPath)
	_, denied["write the document"] = sudo.Write(ctx, us.VaultPath, keyset.Document{Current: strings.Repeat("a", 48)}, 0)
	_, _, denied["read the history"] = sudo.History(ctx, us.VaultPath)
	denied["destroy"] = sudo.Destroy(ctx, us.VaultPath, []int{1})
	_, denied["read the API key"] = sudo.ReadField(ctx, cfg.APIKeyPaths[0], "key")
	for what, err := range denied {
		if !errors.Is(err, vault.ErrPermissionDenied) {
			t.Errorf("a sudo-only token may %s: %v", what, err)
		}
	}
	if _, err := client.Logical().Write("transit/sign/"+cfg.Evidence.SigningKey, map[string]any{"input": "aGFzaA=="}); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("a sudo-only token may sign evidence: %v", err)
	}
}

// TestAPIKeyTargetWithRealTokens: the job rotates an api_key target's document as it does
// a webhook's (create, read, update on data and metadata, destroy) and reads its current
// as its credential, with no separate grant; the webhook's listeners cannot read it, and
// an api_key target has no listener policy.
func TestAPIKeyTargetWithRealTokens(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	n := fmt.Sprint(seq.Add(1))
	us := policy.Target{Name: "us", VaultPath: "keyroll/" + n + "/digicert/us"}
	key := policy.Target{Name: "digicert-api-key", VaultPath: "keyroll/" + n + "/digicert/api-key", APIKey: true}
	spec := policy.Spec{KVMount: "secret", Targets: []policy.Target{us, key}, APIKeyPaths: []string{key.VaultPath}}

	hcl := policy.Job(spec)
	if got := strings.Count(hcl, `"secret/data/`+key.VaultPath+`"`); got != 1 {
		t.Errorf("the API key's document has %d grants on its data path, want 1:\n%s", got, hcl)
	}
	if paths := policy.JobPaths(spec); len(paths) != 0 {
		t.Errorf("JobPaths = %v, want none beside the documents", paths)
	}
	if _, err := policy.ListenerOf(spec, key); !errors.Is(err, policy.ErrNoListener) {
		t.Errorf("ListenerOf(api_key target) = %v, want ErrNoListener", err)
	}
	if l, err := policy.ListenerOf(spec, us); err != nil || l != policy.Listener(spec, us) {
		t.Errorf("ListenerOf(webhook target) = %v", err)
	}
	srv.Policy(t, policy.JobName+n, hcl)
	srv.Policy(t, policy.ListenerName(us.Name)+n, policy.Listener(spec, us))
	job := vault.NewStore(srv.ClientWithToken(t, srv.Token(t, time.Hour, policy.JobName+n)), "secret")
	lis := vault.NewStore(srv.ClientWithToken(t, srv.Token(t, time.Hour, policy.ListenerName(us.Name)+n)), "secret")

	old, next := strings.Repeat("k", 36), strings.Repeat("n", 36)
	if _, err := job.Write(ctx, key.VaultPath, keyset.Document{Current: old, CurrentID: "184"}, 0); err != nil {
		t.Fatalf("job creates the API key's document: %v", err)
	}
	if _, err := job.Write(ctx, key.VaultPath, keyset.Document{Current: old, CurrentID: "184", Pending: next, PendingID: "185"}, 1); err != nil {
		t.Fatalf("job stages a new API key: %v", err)
	}
	if err := job.WriteMetadata(ctx, key.VaultPath, map[string]string{"state": "pending"}); err != nil {
		t.Errorf("job metadata: %v", err)
	}
	if _, _, err := job.History(ctx, key.VaultPath); err != nil {
		t.Errorf("job history: %v", err)
	}
	if err := job.Destroy(ctx, key.VaultPath, []int{1}); err != nil {
		t.Errorf("job destroy: %v", err)
	}
	if k, err := job.ReadField(ctx, key.VaultPath, "current"); err != nil || k != old {
		t.Errorf("job cannot read its credential: %v", err)
	}
	if missing, err := job.MissingCapabilities(ctx, key.VaultPath); err != nil || len(missing) > 0 {
		t.Errorf("job lacks %v (%v) on the API key's document", missing, err)
	}
	if _, err := lis.Read(ctx, key.VaultPath); !errors.Is(err, vault.ErrPermissionDenied) {
		t.Errorf("a webhook listener reads the API key's document: %v", err)
	}
}
