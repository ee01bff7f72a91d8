// Package config holds keyroll's configuration: the schema of config.yaml, its defaults,
// environment expansion and overrides, and validation that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/keyroll/keyroll/failure"
)

// EnvConfig names the variable that points at the config file when --config is not given.
const EnvConfig = "KEYROLL_CONFIG"

// DefaultPath is the config file read when neither --config nor $KEYROLL_CONFIG is set.
const DefaultPath = "config.yaml"

// Config is the whole of config.yaml.
type Config struct {
	Vault       Vault       `yaml:"vault"`
	CertCentral CertCentral `yaml:"certcentral"`
	Rotation    Rotation    `yaml:"rotation"`
	Targets     []Target    `yaml:"targets"`
	Evidence    Evidence    `yaml:"evidence"`
	Listener    Listener    `yaml:"listener"`
	Metrics     Metrics     `yaml:"metrics"`
	Notify      []Notify    `yaml:"notify"`
}

// Vault says where the key documents live and how keyroll logs in.
type Vault struct {
	Address string    `yaml:"address"`
	KVMount string    `yaml:"kv_mount"`
	Auth    VaultAuth `yaml:"auth"`
}

// Auth methods.
const (
	AuthToken      = "token"
	AuthKubernetes = "kubernetes"
	AuthAppRole    = "approle"
)

// VaultAuth selects a Vault login method. Token auth reads VAULT_TOKEN (or TokenFile);
// kubernetes uses the pod's service account token; approle reads RoleID and the secret id
// from SecretIDFile.
type VaultAuth struct {
	Method       string `yaml:"method"`
	Role         string `yaml:"role"`
	Mount        string `yaml:"mount"`
	TokenFile    string `yaml:"token_file"`
	RoleID       string `yaml:"role_id"`
	SecretIDFile string `yaml:"secret_id_file"`
	// ServiceAccountTokenFile overrides the kubernetes service account token path.
	ServiceAccountTokenFile string `yaml:"service_account_token_file"`
}

// CertCentral says how to reach DigiCert's API. Targets may override any field.
type CertCentral struct {
	URL         string    `yaml:"url"`
	APIKeyEnv   string    `yaml:"api_key_env"`
	APIKeyVault *VaultRef `yaml:"api_key_vault"`
	Timeout     Duration  `yaml:"timeout"`
}

// VaultRef points at one field of a KV v2 secret.
type VaultRef struct {
	Path  string `yaml:"path"`
	Field string `yaml:"field"`
}

// Rotation holds the rotation policy shared by all targets.
type Rotation struct {
	Schedule         string   `yaml:"schedule"`
	SecretLength     int      `yaml:"secret_length"`
	Overlap          Duration `yaml:"overlap"`
	PropagationDelay Duration `yaml:"propagation_delay"`
	MinInterval      Duration `yaml:"min_interval"`
	MaxAge           Duration `yaml:"max_age"`
	VerifyListener   bool     `yaml:"verify_listener"`
	// StuckAfter is how long a target may stay staged before `keyroll status` alarms.
	StuckAfter Duration `yaml:"stuck_after"`

	// Cron is Schedule as parsed by Validate (nil before a successful Validate).
	Cron cron.Schedule `yaml:"-"`
}

// Target is one webhook whose secret keyroll rotates.
type Target struct {
	Name        string       `yaml:"name"`
	VaultPath   string       `yaml:"vault_path"`
	WebhookID   int          `yaml:"webhook_id"`
	CertCentral *CertCentral `yaml:"certcentral"`
}

// Evidence configures the optional hash-chained evidence file.
type Evidence struct {
	File string `yaml:"file"`
	// Signing, when set, has Vault Transit sign every record.
	Signing *EvidenceSigning `yaml:"signing"`
	// Anchor, when set, is the KV v2 path (in vault.kv_mount) holding the file's head.
	Anchor string `yaml:"anchor"`
}

// EvidenceSigning names the asymmetric Vault Transit key that signs evidence records.
type EvidenceSigning struct {
	TransitMount string `yaml:"transit_mount"` // default "transit"
	Key          string `yaml:"key"`
}

// Listener configures `keyroll listen` and the listener package.
type Listener struct {
	// Refresh is how long listeners cache the key document; 0 reads it on every request.
	Refresh Duration `yaml:"refresh"`
	// MaxStaleness is how long a listener keeps serving its last good key set while Vault
	// cannot be read; past it the listener fails closed.
	MaxStaleness Duration `yaml:"max_staleness"`
}

// Default returns the configuration every file is laid over.
func Default() Config {
	return Config{
		Vault: Vault{
			Address: "https://127.0.0.1:8200",
			KVMount: "secret",
			Auth:    VaultAuth{Method: AuthToken, Mount: ""},
		},
		CertCentral: CertCentral{
			URL:       "https://www.digicert.com/services/v2",
			APIKeyEnv: "DIGICERT_API_KEY",
			Timeout:   Duration(30 * time.Second),
		},
		Rotation: Rotation{
			Schedule:         "CRON_TZ=UTC 0 3 * * 1",
			SecretLength:     48,
			Overlap:          Duration(24 * time.Hour),
			PropagationDelay: Duration(2 * time.Minute),
			MinInterval:      Duration(time.Hour),
			MaxAge:           Duration(90 * 24 * time.Hour),
			VerifyListener:   true,
			StuckAfter:       Duration(time.Hour),
		},
		Listener: Listener{
			Refresh:      Duration(30 * time.Second),
			MaxStaleness: Duration(10 * time.Minute),
		},
	}
}

// ErrNoFile is returned by Load when the config file does not exist.
var ErrNoFile = failure.New(failure.Config, "config: file not found")

// Path returns the config file to read: flag, then $KEYROLL_CONFIG (looked up with
// lookup), then ./config.yaml.
func Path(flag string, lookup func(string) (string, bool)) string {
	if flag != "" {
		return flag
	}
	if p, _ := lookup(EnvConfig); p != "" {
		return p
	}
	return DefaultPath
}

// Load reads, parses and validates the file at path, expanding ${NAME} references with
// lookup. Parse and validation errors are *Error values listing every problem.
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoFile, path)
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	c, err := Parse(bytes.NewReader(b), lookup)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse reads YAML from r over Default(), expanding ${NAME} and ${NAME:-default} in
// values (not comments) from lookup, and applies the VAULT_ADDR override. Unknown keys are errors. It does not
// validate.
func Parse(r io.Reader, lookup func(string) (string, bool)) (*Config, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	raw, missing := expandEnv(raw, lookup)
	if len(missing) > 0 {
		return nil, &Error{Problems: missing}
	}
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{Problems: decodeProblems(raw, err)}
	}
	if v, ok := lookup("VAULT_ADDR"); ok && v != "" {
		c.Vault.Address = v
	}
	return &c, nil
}

// CertCentralFor returns the DigiCert settings of t: the global ones with the target's
// non-empty overrides laid over them.
func (c *Config) CertCentralFor(t Target) CertCentral {
	cc := c.CertCentral
	if o := t.CertCentral; o != nil {
		if o.URL != "" {
			cc.URL = o.URL
		}
		if o.APIKeyEnv != "" {
			cc.APIKeyEnv = o.APIKeyEnv
			cc.APIKeyVault = nil
		}
		if o.APIKeyVault != nil {
			cc.APIKeyVault = o.APIKeyVault
			if o.APIKeyEnv == "" {
				cc.APIKeyEnv = ""
			}
		}
		if o.Timeout != 0 {
			cc.Timeout = o.Timeout
		}
	}
	return cc
}

// Target returns the target named name.
func (c *Config) Target(name string) (Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// expandEnv replaces ${NAME} and ${NAME:-default} in the scalar values of the YAML
// document raw, leaving comments alone, and returns the re-encoded document.
func expandEnv(raw []byte, lookup func(string) (string, bool)) ([]byte, FieldErrors) {
	if !envRef.Match(raw) {
		return raw, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return raw, nil // the decoder reports the syntax error
	}
	var missing FieldErrors
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && envRef.MatchString(n.Value) {
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRef.FindStringSubmatch(m)
				if v, ok := lookup(sub[1]); ok {
					return v
				}
				if sub[2] != "" {
					return sub[3]
				}
				missing = append(missing, FieldError{Path: "${" + sub[1] + "}", Msg: fmt.Sprintf("environment variable is not set (line %d)", n.Line)})
				return ""
			})
			n.Style &^= yaml.TaggedStyle
			n.Tag = ""
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	out, err := yaml.Marshal(&root)
	if err != nil {
		return raw, nil
	}
	return out, missing
}

var lineRef = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// decodeProblems turns a YAML decoding error into field errors, naming the key path of
// the line each message refers to where it can be found.
func decodeProblems(raw []byte, err error) FieldErrors {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	lines := linePaths(raw)
	var out FieldErrors
	for _, m := range msgs {
		path := "yaml"
		if sub := lineRef.FindStringSubmatch(m); sub != nil {
			var line int
			fmt.Sscan(sub[1], &line)
			if entries := lines[line]; len(entries) > 0 {
				path = entries[0].path // the outermost key of the line
				for _, e := range entries {
					// A scalar whose value the message quotes is the culprit.
					if e.scalar && e.value != "" && (strings.Contains(sub[2], `"`+e.value+`"`) || strings.Contains(sub[2], "`"+e.value+"`")) {
						path = e.path
						break
					}
				}
				m = fmt.Sprintf("%s (line %d)", sub[2], line)
			}
		}
		out = append(out, FieldError{Path: path, Msg: m})
	}
	return out
}

type lineEntry struct {
	path   string
	value  string
	scalar bool
}

// linePaths maps each line of a YAML document to the keys on it, outermost first, e.g.
// 12 → [{targets[0].vault_path, "a/b", scalar}].
func linePaths(raw []byte) map[int][]lineEntry {
	var root yaml.Node
	if yaml.Unmarshal(raw, &root) != nil {
		return nil
	}
	out := map[int][]lineEntry{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				out[k.Line] = append(out[k.Line], lineEntry{path: p, value: v.Value, scalar: v.Kind == yaml.ScalarNode})
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				out[c.Line] = append(out[c.Line], lineEntry{path: p, value: c.Value, scalar: c.Kind == yaml.ScalarNode})
				walk(c, p)
			}
		}
	}
	walk(&root, "")
	return out
}
