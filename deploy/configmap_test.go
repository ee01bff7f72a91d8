package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keyroll/keyroll/config"
)

// TestConfigMapIsValidConfig checks the CronJob's config.yaml with keyroll's own parser and
// validation, which reject unknown keys and report every problem.
func TestConfigMapIsValidConfig(t *testing.T) {
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
	cfg, err := config.Parse(strings.NewReader(raw), noEnv)
	if err != nil {
		t.Fatalf("config.yaml in configmap.yaml: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config.yaml in configmap.yaml: %v", err)
	}
	if cfg.Vault.Auth.Method != config.AuthKubernetes {
		t.Errorf("vault.auth.method = %q, want kubernetes", cfg.Vault.Auth.Method)
	}
	if !strings.HasPrefix(cfg.Evidence.File, "/var/lib/keyroll/") {
		t.Errorf("evidence.file = %q, want it on the image's volume /var/lib/keyroll", cfg.Evidence.File)
	}
}
