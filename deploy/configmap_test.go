package deploy_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/config"
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
// identical to what `keyroll policy` prints for the ConfigMap's configuration.
func TestShippedPoliciesAreGenerated(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(configMapYAML(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"keyroll-job-policy.hcl":      {"job"},
		"keyroll-listener-policy.hcl": {"listener", "prod-us"},
	} {
		var out, errs bytes.Buffer
		if err := cli.Run(context.Background(), append([]string{"policy", "--config", file, "--log-format", "json"}, args...), &out, &errs); err != nil {
			t.Fatalf("keyroll policy %v: %v\n%s", args, err, errs.String())
		}
		got, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "vault", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != out.String() {
			t.Errorf("deploy/kubernetes/vault/%s differs from `keyroll policy %s`; regenerate it:\n%s", name, strings.Join(args, " "), out.String())
		}
	}
}

// configMapConfig returns the CronJob's config.yaml, parsed and validated by keyroll,
// which rejects unknown keys and reports every problem.
func configMapConfig(t *testing.T) *config.Config {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Read(strings.NewReader(configMapYAML(t)), noEnv)
	if err != nil {
		t.Fatalf("config.yaml in configmap.yaml: %v", err)
	}
	return cfg
}

// configMapYAML returns the config.yaml the ConfigMap holds.
func configMapYAML(t *testing.T) string {
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
	return raw
}
