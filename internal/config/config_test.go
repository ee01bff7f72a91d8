package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/config"
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
	c, err := config.Load(filepath.Join("..", "..", "config.yaml"), os.LookupEnv)
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if c.Rotation.MaxAge.D() != 90*24*time.Hour {
		t.Errorf("max_age = %s, want 2160h", c.Rotation.MaxAge)
	}
	if len(c.Targets) != 2 || c.Targets[0].Name != "prod-us" || !c.Targets[1].IsAPIKey() {
		t.Errorf("targets = %+v", c.Targets)
	}
	if ref := c.CertCentralFor(c.Targets[0]).APIKeyVault; ref == nil || ref.Path != c.Targets[1].VaultPath {
		t.Errorf("the webhook target does not use the rotated API key: %+v", ref)
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
		r.MinInterval.D() != 24*time.Hour || !r.VerifyListener || c.Vault.KVMount != "secret" ||
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
		{"-1h", 0, false},
		{"1d-1h", 0, false},
		{"1e10d", 0, false},
		{"NaNd", 0, false},
		{"Infd", 0, false},
		{"+Infd", 0, false},
		{"106752d", 0, false},
		{"106751d23h47m17s", 0, false},
		{"2562048h", 0, false},
		{"106751d", 106751 * 24 * time.Hour, true},
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
		{"plain http vault", `vault: {address: "http://vault.internal:8200"}`, []string{"vault.address"}},
		{"plain http digicert", `certcentral: {url: "http://www.digicert.com/services/v2"}`, []string{"certcentral.url"}},
		{"plain http override", `targets: [{name: a, vault_path: a, certcentral: {url: "http://10.0.0.1/x"}}]`, []string{"targets[0].certcentral.url"}},
		{"api key in the document", `certcentral: {api_key_env: "", api_key_vault: {path: a/b, field: k}}`, []string{"certcentral.api_key_vault.path"}},
		{"api key under the document", `certcentral: {api_key_env: "", api_key_vault: {path: a/b/api, field: k}}`, []string{"certcentral.api_key_vault.path"}},
		{"target api key under a document", `targets: [{name: a, vault_path: a/b}, {name: c, vault_path: c, certcentral: {api_key_vault: {path: a/b/k, field: k}}}]`, []string{"targets[1].certcentral.api_key_vault.path"}},
		{"no api key source", `certcentral: {api_key_env: ""}`, []string{"certcentral.api_key_env"}},
		{"api key vault needs field", `certcentral: {api_key_vault: {path: a/b}}`, []string{"certcentral.api_key_vault.field"}},
		{"target problems", `targets: [{name: "Bad Name", vault_path: "/abs/"}, {name: ok, vault_path: x/y, webhook_id: -1}, {name: ok, vault_path: x/y}]`,
			[]string{"targets[0].name", "targets[0].vault_path", "targets[1].webhook_id", "targets[2].name", "targets[2].vault_path"}},
		{"target override", `targets: [{name: a, vault_path: a, certcentral: {url: "nope", api_key_env: "1BAD"}}]`,
			[]string{"targets[0].certcentral.url", "targets[0].certcentral.api_key_env"}},
		{"no targets", `targets: []`, []string{"targets"}},
		{"unknown kind", `targets: [{name: a, vault_path: a, kind: password}]`, []string{"targets[0].kind"}},
		{"api_key block on a webhook", `targets: [{name: a, vault_path: a, api_key: {max_age: 30d}}, {name: b, vault_path: b, kind: webhook, api_key: {}}]`,
			[]string{"targets[0].api_key", "targets[1].api_key"}},
		{"api key target's own credential", `targets: [{name: a, vault_path: a, kind: api_key, webhook_id: 3, certcentral: {api_key_env: K}}, {name: b, vault_path: b, kind: api_key, certcentral: {api_key_vault: {path: x, field: y}}}]`,
			[]string{"targets[0].webhook_id", "targets[0].certcentral.api_key_env", "targets[1].certcentral.api_key_vault"}},
		{"api key block values", `targets: [{name: a, vault_path: a, kind: api_key, api_key: {key_id: -1, max_age: -1d, min_interval: -1s, overlap: -1h, grace: -1m, in_use: ignore}}]`,
			[]string{"targets[0].api_key.key_id", "targets[0].api_key.max_age", "targets[0].api_key.min_interval", "targets[0].api_key.overlap", "targets[0].api_key.grace", "targets[0].api_key.in_use"}},
		{"api key bad duration", `targets: [{name: a, vault_path: a, kind: api_key, api_key: {max_age: soon}}]`, []string{"targets[0].api_key.max_age"}},
		{"api key document needs field current", `certcentral: {api_key_env: "", api_key_vault: {path: k, field: key}}
targets: [{name: a, vault_path: a}, {name: k, vault_path: k, kind: api_key}]`, []string{"certcentral.api_key_vault.field"}},
		{"api key under the api key document", `certcentral: {api_key_env: "", api_key_vault: {path: k/x, field: current}}
targets: [{name: a, vault_path: a}, {name: k, vault_path: k, kind: api_key}]`, []string{"certcentral.api_key_vault.path"}},
		{"api key still not in a webhook document", `certcentral: {api_key_env: "", api_key_vault: {path: a, field: current}}
targets: [{name: a, vault_path: a}, {name: k, vault_path: k, kind: api_key}]`, []string{"certcentral.api_key_vault.path"}},
		{"listener", `listener: {refresh: -1s, max_staleness: -2s}`, []string{"listener.refresh", "listener.max_staleness"}},
		{"timestamp without a file", `evidence: {timestamp: {url: "http://timestamp.digicert.com"}}`, []string{"evidence.timestamp"}},
		{"timestamp url", `evidence: {file: /e, timestamp: {url: "ftp://tsa"}}`, []string{"evidence.timestamp.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.yaml
			if !strings.Contains(src, "targets") {
				src = "targets: [{name: a, vault_path: a/b}]\n" + src
			}
			_, err := config.Read(strings.NewReader(src), env(nil))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Read = %v, want *config.Error", err)
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

// TestTimestampURLMayBeHTTP: RFC 3161 answers are signed, so the TSA's URL alone may be
// plain http on any host.
func TestTimestampURLMayBeHTTP(t *testing.T) {
	src := "targets: [{name: a, vault_path: a/b}]\nevidence: {file: /e, timestamp: {url: \"http://timestamp.digicert.com\"}}\n"
	if _, err := config.Read(strings.NewReader(src), env(nil)); err != nil {
		t.Errorf("http TSA refused: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "rotation: {overlapp: 1h}", "overlapp"},
		{"bad duration", "rotation: {overlap: soon}", "soon"},
		{"wrong type", "targets: {name: x}", "targets (line 1): cannot unmarshal"},
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
	b, _ := os.ReadFile(filepath.Join("..", "..", "config.yaml"))
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

func TestReadReportsEverythingAtOnce(t *testing.T) {
	src := `vault:
  address: "${VADDR:-https://vault.example:8200}"
  kv_mount: "${MOUNT}"
rotation:
  overlap: soon
  secret_length: 16
  min_interval: "1e10d"
  colour: blue
targets:
  - name: "Bad Name"
    vault_path: a/b
    webhook_id: lots
`
	_, err := config.Read(strings.NewReader(src), env(map[string]string{"MOUNT": "secret"}))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Read = %v, want *config.Error", err)
	}
	want := map[string]int{ // key path → line in src
		"rotation.overlap":       5,
		"rotation.secret_length": 6,
		"rotation.min_interval":  7,
		"rotation.colour":        8,
		"targets[0].name":        10,
		"targets[0].webhook_id":  12,
	}
	got := map[string]int{}
	for _, p := range ce.Problems {
		got[p.Path] = p.Line
	}
	for path, line := range want {
		if l, ok := got[path]; !ok || l != line {
			t.Errorf("%s: reported %v at line %d, want line %d; all: %v", path, ok, l, line, err)
		}
	}
	if len(ce.Problems) != len(want) {
		t.Errorf("%d problems, want %d: %v", len(ce.Problems), len(want), err)
	}
}

func TestEnvDefaultsFollowTheShell(t *testing.T) {
	src := `vault:
  kv_mount: ${M:-def}
  auth:
    role: "${M:-def}"
    mount: '${M-def}'
    token_file: ${U-unset}
targets: [{name: a, vault_path: a}]`
	for _, tt := range []struct {
		name string
		env  map[string]string
		want [4]string
	}{
		{"unset", nil, [4]string{"def", "def", "def", "unset"}},
		{"empty", map[string]string{"M": ""}, [4]string{"def", "def", "", "unset"}},
		{"set", map[string]string{"M": "m", "U": "u"}, [4]string{"m", "m", "m", "u"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(strings.NewReader(src), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			got := [4]string{c.Vault.KVMount, c.Vault.Auth.Role, c.Vault.Auth.Mount, c.Vault.Auth.TokenFile}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorsNeverShowEnvironmentValues fills every kind of bad value from the environment
// with secret-looking values and scans the whole error for them.
func TestErrorsNeverShowEnvironmentValues(t *testing.T) {
	secrets := map[string]string{
		"KEY":     "dckey-0123456789abcdefSECRET",
		"ADDR":    "vault:8200/SECRETADDR0123",
		"NAME":    "Bad Name SECRET0123456789",
		"PATH_":   "/abs/SECRETPATH0123456789/",
		"LEN":     "SECRETLEN0123456789",
		"DUR":     "SECRETDUR0123456789",
		"METHOD":  "SECRETMETHOD0123456789",
		"SCHED":   "SECRETSCHED0123456789",
		"SHORT":   "sh0rt",
		"WEBHOOK": "SECRETHOOK0123456789",
	}
	src := `vault: {address: "${ADDR}", kv_mount: "${SHORT}/", auth: {method: "${METHOD}"}}
certcentral:
  api_key_env: ${KEY}
  url: "http://${SHORT}.example"
rotation:
  secret_length: ${LEN}
  overlap: ${DUR}
  schedule: "${SCHED}"
targets:
  - name: "${NAME}"
    vault_path: "${PATH_}"
    webhook_id: ${WEBHOOK}
`
	for _, vaultAddr := range []string{"", "ftp://SECRETVAULTADDR0123"} {
		e := maps(secrets)
		if vaultAddr != "" {
			e["VAULT_ADDR"] = vaultAddr
		}
		_, err := config.Read(strings.NewReader(src), env(e))
		if err == nil {
			t.Fatal("Read accepted every bad value")
		}
		for name, v := range e {
			if strings.Contains(err.Error(), v) {
				t.Errorf("the error shows the value of %s: %v", name, err)
			}
		}
		for _, want := range []string{"certcentral.api_key_env", "rotation.secret_length", "rotation.overlap", "targets[0].name", "targets[0].webhook_id", "vault.address", "${NAME}"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not name %s: %v", want, err)
			}
		}
	}
}

func maps(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestTransport(t *testing.T) {
	tests := []struct {
		yaml string
		ok   bool
	}{
		{`vault: {address: "http://127.0.0.1:8200"}`, true},
		{`vault: {address: "http://localhost:8200"}`, true},
		{`vault: {address: "http://[::1]:8200"}`, true},
		{`vault: {address: "https://vault.internal:8200"}`, true},
		{`vault: {address: "http://vault.internal:8200"}`, false},
		{`vault: {address: "http://vault.internal:8200", insecure_http: true}`, true},
		{`certcentral: {url: "http://127.0.0.2/services/v2"}`, true},
		{`certcentral: {url: "http://www.digicert.com/services/v2"}`, false},
		{`vault: {insecure_http: true}
certcentral: {url: "http://www.digicert.com/services/v2"}`, false},
	}
	for _, tt := range tests {
		_, err := config.Read(strings.NewReader("targets: [{name: a, vault_path: a}]\n"+tt.yaml), env(nil))
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.yaml, err, tt.ok)
		}
	}
}

func TestWarnings(t *testing.T) {
	c, err := config.Read(strings.NewReader(`vault: {address: "http://vault.mesh:8200", insecure_http: true}
rotation: {min_interval: 1h, overlap: 24h}
listener: {max_staleness: 2m}
targets: [{name: a, vault_path: a}]`), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"insecure_http", "min_interval", "max_staleness 2m0s is not shorter than rotation.propagation_delay 2m0s"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q do not mention %s", w, want)
		}
	}
	d, err := config.Read(strings.NewReader("targets: [{name: a, vault_path: a}]\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("the defaults give warnings: %q", w)
	}
}

func TestRotationInterval(t *testing.T) {
	now := time.Date(2026, 3, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		schedule string
		want     time.Duration
	}{
		{"CRON_TZ=UTC 0 3 * * 1", 7 * 24 * time.Hour},
		{"0 3 * * 1,4", 4 * 24 * time.Hour}, // Thu -> Mon is the longer gap
		{"@daily", 24 * time.Hour},
		{"@every 1m", time.Minute},
		{"CRON_TZ=Europe/Berlin 0 3 * * *", 25 * time.Hour}, // the autumn change in October
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			c := config.Default()
			c.Rotation.Schedule = tt.schedule
			c.Targets = []config.Target{{Name: "t", VaultPath: "keyroll/t"}}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			at := now
			if strings.Contains(tt.schedule, "Berlin") {
				at = time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)
			}
			if got := c.Rotation.Interval(at); got != tt.want {
				t.Errorf("Interval = %v, want %v", got, tt.want)
			}
		})
	}
	if got := config.Default().Rotation.Interval(now); got != 0 {
		t.Errorf("before Validate: %v, want 0", got)
	}
}

// TestRepoConfigIsSecureByDefault: the example configuration writes evidence, signed with
// Transit and anchored in Vault.
func TestRepoConfigIsSecureByDefault(t *testing.T) {
	c, err := config.Load(filepath.Join("..", "..", "config.yaml"), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Evidence; e.File == "" || e.Signing == nil || e.Signing.Key == "" || e.Anchor == "" {
		t.Errorf("evidence = %+v, want a file, signing and an anchor", e)
	}
}

// TestAPIKeyTarget: an api_key target's block takes rotation.* and 15m/hold as defaults,
// its credential is its own document's current, and api_key_vault may name that document.
func TestAPIKeyTarget(t *testing.T) {
	src := `
vault: {address: "http://127.0.0.1:8200"}
certcentral: {api_key_env: "", api_key_vault: {path: keyroll/digicert/api-key, field: current}}
rotation: {max_age: 60d, min_interval: 2d, overlap: 12h}
targets:
  - {name: prod-us, vault_path: keyroll/digicert/prod-us}
  - name: digicert-api-key
    kind: api_key
    vault_path: keyroll/digicert/api-key
  - name: eu-api-key
    kind: api_key
    vault_path: keyroll/digicert/eu-api-key
    api_key: {key_id: 184, max_age: 30d, min_interval: 7d, overlap: 1d, grace: 1h, in_use: revoke}
`
	c, err := config.Read(strings.NewReader(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	tests := []struct {
		target string
		want   config.APIKey
		kind   string
	}{
		{"prod-us", config.APIKey{MaxAge: config.Duration(60 * day), MinInterval: config.Duration(2 * day), Overlap: config.Duration(12 * time.Hour), Grace: config.Duration(15 * time.Minute), InUse: "hold"}, "webhook"},
		{"digicert-api-key", config.APIKey{MaxAge: config.Duration(60 * day), MinInterval: config.Duration(2 * day), Overlap: config.Duration(12 * time.Hour), Grace: config.Duration(15 * time.Minute), InUse: "hold"}, "api_key"},
		{"eu-api-key", config.APIKey{KeyID: 184, MaxAge: config.Duration(30 * day), MinInterval: config.Duration(7 * day), Overlap: config.Duration(day), Grace: config.Duration(time.Hour), InUse: "revoke"}, "api_key"},
	}
	for _, tt := range tests {
		tg, _ := c.Target(tt.target)
		if got := c.APIKeyFor(tg); got != tt.want {
			t.Errorf("%s: APIKeyFor = %+v, want %+v", tt.target, got, tt.want)
		}
		if tg.KindName() != tt.kind || tg.IsAPIKey() != (tt.kind == "api_key") {
			t.Errorf("%s: kind %q", tt.target, tg.KindName())
		}
		if tt.kind == "api_key" && c.MaxAgeFor(tg) != tt.want.MaxAge.D() {
			t.Errorf("%s: MaxAgeFor = %s", tt.target, c.MaxAgeFor(tg))
		}
		ref := c.CertCentralFor(tg).APIKeyVault
		if ref == nil || ref.Field != "current" {
			t.Fatalf("%s: api_key_vault = %+v", tt.target, ref)
		}
		if tt.kind == "api_key" && ref.Path != tg.VaultPath {
			t.Errorf("%s: the credential is read from %s, want its own document", tt.target, ref.Path)
		}
	}
	if c.MaxAgeFor(c.Targets[0]) != 60*day {
		t.Errorf("webhook max age = %s", c.MaxAgeFor(c.Targets[0]))
	}
	if w := strings.Join(c.Warnings(), "\n"); w != "" {
		t.Errorf("warnings: %s", w)
	}
	short := strings.Replace(src, "grace: 1h", "grace: 2d", 1)
	if c, err = config.Read(strings.NewReader(short), env(nil)); err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); !strings.Contains(w, "targets[2].api_key.grace") {
		t.Errorf("grace longer than the overlap: warnings %q", w)
	}
}
