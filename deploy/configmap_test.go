package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyroll/keyroll/config"
	"github.com/keyroll/keyroll/policy"
)

// TestConfigMapIsValidConfig checks the CronJob's config.yaml.
func TestConfigMapIsValidConfig(t *testing.T) {
	cfg := configMapConfig(t)
	if cfg.Vault.Auth.Method != config.AuthKubernetes {
		t.Errorf("vault.auth.method = %q, want kubernetes", cfg.Vault.Auth.Method)
	}
	if !strings.HasPrefix(cfg.Evidence.File, "/var/lib/keyroll/") {
		t.Errorf("evidence.file = %q, want it on the image's volume /var/lib/keyroll", cfg.Evidence.File)
	}
}

// TestShippedPoliciesAreGenerated keeps the Vault policies in deploy/kubernetes/vault
// identical to what `keyroll policy` writes for the ConfigMap's configuration.
func TestShippedPoliciesAreGenerated(t *testing.T) {
	cfg := configMapConfig(t)
	for file, want := range map[string]string{
		"keyroll-job-policy.hcl":      policy.Job(cfg),
		"keyroll-listener-policy.hcl": policy.Listener(cfg, cfg.Targets[0]),
	} {
		got, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "vault", file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("deploy/kubernetes/vault/%s differs from `keyroll policy` output; regenerate it:\n%s", file, want)
		}
	}
}

// configMapConfig returns the CronJob's config.yaml, parsed and validated by keyroll,
// which rejects unknown keys and reports every problem.
func configMapConfig(t *testing.T) *config.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	raw, ok := cm.Data["config.yaml"]
	if !ok {
		t.Fatal("configmap.yaml has no data.config.yaml")
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Read(strings.NewReader(raw), noEnv)
	if err != nil {
		t.Fatalf("config.yaml in configmap.yaml: %v", err)
	}
	return cfg
}
