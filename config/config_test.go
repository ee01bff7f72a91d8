package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/config"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const minimal = `
vault: {address: "http://127.0.0.1:8200", auth: {method: token}}
listener: {refresh: 30s}
targets:
  - {name: prod-us, vault_path: keyroll/digicert/prod-us}
`

func TestRepoConfigValidates(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "config.yaml"), os.LookupEnv)
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if c.Rotation.MaxAge.D() != 90*24*time.Hour {
		t.Errorf("max_age = %s, want 2160h", c.Rotation.MaxAge)
	}
	if len(c.Targets) != 1 || c.Targets[0].Name != "prod-us" {
		t.Errorf("targets = %+v", c.Targets)
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse(strings.NewReader(minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := c.Rotation
	if r.SecretLength != 48 || r.Overlap.D() != 24*time.Hour || r.PropagationDelay.D() != 2*time.Minute ||
		r.MinInterval.D() != time.Hour || !r.VerifyListener || c.Vault.KVMount != "secret" ||
		c.CertCentral.APIKeyEnv != "DIGICERT_API_KEY" || c.CertCentral.Timeout.D() != 30*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestEnvExpansionAndOverrides(t *testing.T) {
	src := `
vault: {address: "${VADDR}", kv_mount: "${MOUNT:-kv}"}
targets:
  - {name: a, vault_path: "keyroll/${ENVNAME}/a"}
`
	c, err := config.Parse(strings.NewReader(src), env(map[string]string{"VADDR": "http://from-file:8200", "ENVNAME": "prod"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Vault.Address != "http://from-file:8200" || c.Vault.KVMount != "kv" || c.Targets[0].VaultPath != "keyroll/prod/a" {
		t.Errorf("expansion: %+v", c)
	}
	c, err = config.Parse(strings.NewReader(src), env(map[string]string{"VADDR": "x", "ENVNAME": "p", "VAULT_ADDR": "https://override:8200"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Vault.Address != "https://override:8200" {
		t.Errorf("VAULT_ADDR override: got %s", c.Vault.Address)
	}
	_, err = config.Parse(strings.NewReader(src), env(nil))
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "${VADDR}") || !strings.Contains(err.Error(), "${ENVNAME}") {
		t.Errorf("missing variables: got %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0.5d", 12 * time.Hour, true},
		{"0", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"-1d", 0, false},
		{"3 days", 0, false},
		{"1d1d", 0, false},
	}
	for _, tt := range tests {
		got, err := config.ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // key paths that must be reported
	}{
		{"bad auth method", `vault: {auth: {method: ldap}}`, []string{"vault.auth.method"}},
		{"kubernetes needs role", `vault: {auth: {method: kubernetes}}`, []string{"vault.auth.role"}},
		{"approle needs ids", `vault: {auth: {method: approle}}`, []string{"vault.auth.role_id", "vault.auth.secret_id_file"}},
		{"short secret", `rotation: {secret_length: 16}`, []string{"rotation.secret_length"}},
		{"bad schedule", `rotation: {schedule: "61 * * * *"}`, []string{"rotation.schedule"}},
		{"propagation shorter than refresh", "rotation: {propagation_delay: 10s}\nlistener: {refresh: 30s}", []string{"rotation.propagation_delay"}},
		{"negatives", `rotation: {overlap: -1h, min_interval: -1s}`, []string{"rotation.overlap", "rotation.min_interval"}},
		{"bad url", `certcentral: {url: "ftp://x"}`, []string{"certcentral.url"}},
		{"bad vault addr", `vault: {address: "vault:8200"}`, []string{"vault.address"}},
		{"no api key source", `certcentral: {api_key_env: ""}`, []string{"certcentral.api_key_env"}},
		{"api key vault needs field", `certcentral: {api_key_vault: {path: a/b}}`, []string{"certcentral.api_key_vault.field"}},
		{"target problems", `targets: [{name: "Bad Name", vault_path: "/abs/"}, {name: ok, vault_path: x/y, webhook_id: -1}, {name: ok, vault_path: x/y}]`,
			[]string{"targets[0].name", "targets[0].vault_path", "targets[1].webhook_id", "targets[2].name", "targets[2].vault_path"}},
		{"target override", `targets: [{name: a, vault_path: a, certcentral: {url: "nope", api_key_env: "1BAD"}}]`,
			[]string{"targets[0].certcentral.url", "targets[0].certcentral.api_key_env"}},
		{"no targets", `targets: []`, []string{"targets"}},
		{"listener", `listener: {refresh: -1s, max_staleness: -2s}`, []string{"listener.refresh", "listener.max_staleness"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.yaml
			if !strings.Contains(src, "targets") {
				src = "targets: [{name: a, vault_path: a/b}]\n" + src
			}
			c, err := config.Parse(strings.NewReader(src), env(nil))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = c.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want *config.Error", err)
			}
			got := map[string]bool{}
			for _, p := range ce.Problems {
				got[p.Path] = true
			}
			for _, w := range tt.want {
				if !got[w] {
					t.Errorf("missing problem at %s; got %v", w, ce)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "rotation: {overlapp: 1h}", "overlapp"},
		{"bad duration", "rotation: {overlap: soon}", "soon"},
		{"wrong type", "targets: {name: x}", "targets: cannot unmarshal"},
		{"not yaml", "vault: [", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(strings.NewReader(tt.yaml), env(nil))
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want *config.Error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), os.LookupEnv)
	if !errors.Is(err, config.ErrNoFile) {
		t.Fatalf("got %v, want ErrNoFile", err)
	}
}

func TestPath(t *testing.T) {
	t.Setenv(config.EnvConfig, "")
	if got := config.Path("", os.LookupEnv); got != "config.yaml" {
		t.Errorf("default path %q", got)
	}
	t.Setenv(config.EnvConfig, "/etc/keyroll/config.yaml")
	if got := config.Path("", os.LookupEnv); got != "/etc/keyroll/config.yaml" {
		t.Errorf("env path %q", got)
	}
	if got := config.Path("x.yaml", os.LookupEnv); got != "x.yaml" {
		t.Errorf("flag path %q", got)
	}
}

func TestCertCentralFor(t *testing.T) {
	c := config.Default()
	t1 := config.Target{Name: "eu", CertCentral: &config.CertCentral{URL: "https://certcentral.digicert.eu/services/v2", APIKeyEnv: "EU_KEY"}}
	got := c.CertCentralFor(t1)
	if got.URL != t1.CertCentral.URL || got.APIKeyEnv != "EU_KEY" || got.Timeout != c.CertCentral.Timeout {
		t.Errorf("override: %+v", got)
	}
	if got := c.CertCentralFor(config.Target{Name: "us"}); got.URL != c.CertCentral.URL {
		t.Errorf("no override: %+v", got)
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("..", "config.yaml"))
	f.Add(string(b))
	f.Add(minimal)
	f.Add("rotation: {overlap: 1d2h}")
	f.Add("targets: [{name: ${X:-a}}]")
	f.Add(":\n- [")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := config.Parse(strings.NewReader(src), env(nil))
		if err != nil {
			return
		}
		_ = c.Validate()
	})
}

func TestParseErrorsNameKeyPath(t *testing.T) {
	src := "vault:\n  address: x\nrotation:\n  overlap: soon\n  secret_length: many\ntargets:\n  - name: a\n    webhook_id: lots\n"
	_, err := config.Parse(strings.NewReader(src), env(nil))
	for _, want := range []string{"rotation.overlap", "rotation.secret_length", "targets[0].webhook_id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
