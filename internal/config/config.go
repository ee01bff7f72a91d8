// Package config holds keyroll's configuration: the schema of config.yaml, its defaults,
// environment expansion and overrides, and validation that reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keyroll/keyroll/internal/failure"
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

	src source // where each value came from, for error messages
}

// Vault says where the key documents live and how keyroll logs in.
type Vault struct {
	Address string    `yaml:"address"`
	KVMount string    `yaml:"kv_mount"`
	Auth    VaultAuth `yaml:"auth"`
	// InsecureHTTP allows a plain http:// address on a non-loopback host, for TLS
	// terminated by a service mesh sidecar. Every start logs a warning while it is used.
	InsecureHTTP bool `yaml:"insecure_http"`
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

// Target kinds (targets[].kind).
const (
	KindWebhook = "webhook" // the default: a webhook's shared secret
	KindAPIKey  = "api_key" // the CertCentral API key itself
)

// Target is one secret keyroll rotates: a webhook's shared secret (kind webhook, the
// default) or a CertCentral API key (kind api_key, docs/design.md "The API key").
type Target struct {
	Name        string       `yaml:"name"`
	Kind        string       `yaml:"kind"` // "" or webhook, api_key
	VaultPath   string       `yaml:"vault_path"`
	WebhookID   int          `yaml:"webhook_id"`
	CertCentral *CertCentral `yaml:"certcentral"`
	// APIKey is the api_key target's own policy; only for kind api_key, where its unset
	// fields take their defaults (see Config.APIKeyFor).
	APIKey *APIKey `yaml:"api_key"`
}

// IsAPIKey reports whether t rotates a CertCentral API key (kind api_key).
func (t Target) IsAPIKey() bool { return t.Kind == KindAPIKey }

// KindName is t's kind as status and metrics show it: webhook or api_key.
func (t Target) KindName() string {
	if t.Kind == "" {
		return KindWebhook
	}
	return t.Kind
}

// In-use policies (targets[].api_key.in_use).
const (
	InUseHold   = "hold"   // keep an old key still in use active and stop: needs a human
	InUseRevoke = "revoke" // revoke it anyway, saying so in the evidence and a notification
)

// APIKey is the api_key block of a target of kind api_key. Zero durations take their
// defaults: max_age, min_interval and overlap those of rotation.*, grace 15m; in_use hold.
type APIKey struct {
	// KeyID is the CertCentral id of the key in the document's current, for the first
	// adoption only (0: take current_id from the document).
	KeyID       int      `yaml:"key_id"`
	MaxAge      Duration `yaml:"max_age"`
	MinInterval Duration `yaml:"min_interval"`
	Overlap     Duration `yaml:"overlap"`
	// Grace: a use of the old key later than the promote plus Grace means a consumer
	// still holds it.
	Grace Duration `yaml:"grace"`
	InUse string   `yaml:"in_use"`
}

// DefaultAPIKeyGrace is api_key.grace when unset: longer than any listener refresh or
// DigiCert client's lifetime within one run, short against an overlap.
const DefaultAPIKeyGrace = 15 * time.Minute

// APIKeyFor returns the api_key settings of t with every default filled in (the zero
// value's defaults for a target of another kind).
func (c *Config) APIKeyFor(t Target) APIKey {
	var k APIKey
	if t.APIKey != nil {
		k = *t.APIKey
	}
	if k.MaxAge == 0 {
		k.MaxAge = c.Rotation.MaxAge
	}
	if k.MinInterval == 0 {
		k.MinInterval = c.Rotation.MinInterval
	}
	if k.Overlap == 0 {
		k.Overlap = c.Rotation.Overlap
	}
	if k.Grace == 0 {
		k.Grace = Duration(DefaultAPIKeyGrace)
	}
	if k.InUse == "" {
		k.InUse = InUseHold
	}
	return k
}

// MaxAgeFor is the cryptoperiod of t's key: api_key.max_age for an api_key target,
// rotation.max_age for a webhook.
func (c *Config) MaxAgeFor(t Target) time.Duration {
	if t.IsAPIKey() {
		return c.APIKeyFor(t).MaxAge.D()
	}
	return c.Rotation.MaxAge.D()
}

// CredentialField is the field of an api_key target's document that holds the key in
// use: keyroll's own credential for that target, and what every consumer reads.
const CredentialField = "current"

// Evidence configures the optional hash-chained evidence file.
type Evidence struct {
	File string `yaml:"file"`
	// Signing, when set, has Vault Transit sign every record.
	Signing *EvidenceSigning `yaml:"signing"`
	// Anchor, when set, is the KV v2 path (in vault.kv_mount) holding the file's head.
	Anchor string `yaml:"anchor"`
	// Timestamp, when set, has an RFC 3161 Time-Stamp Authority timestamp the file's head
	// after every run.
	Timestamp *EvidenceTimestamp `yaml:"timestamp"`
}

// EvidenceTimestamp names the Time-Stamp Authority. Its answers are signed, so plain http
// is accepted for this URL alone.
type EvidenceTimestamp struct {
	URL string `yaml:"url"`
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
			MinInterval:      Duration(24 * time.Hour), // = overlap: a run inside the window skips anyway
			MaxAge:           Duration(90 * 24 * time.Hour),
			VerifyListener:   true,
			StuckAfter:       Duration(time.Hour),
		},
		Listener: Listener{
			Refresh:      Duration(30 * time.Second),
			MaxStaleness: Duration(90 * time.Second), // < propagation_delay: a cut-off replica fails closed before DigiCert gets a key it missed
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
// lookup. Parse and validation errors are one *Error listing every problem.
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoFile, path)
	}
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	c, err := Read(bytes.NewReader(b), lookup)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// CertCentralFor returns the DigiCert settings of t: the global ones with the target's
// non-empty overrides laid over them. An api_key target's API key is always its own
// document's current.
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
	if t.IsAPIKey() {
		// An API key authenticates as itself: the key in its own document.
		cc.APIKeyEnv, cc.APIKeyVault = "", &VaultRef{Path: t.VaultPath, Field: CredentialField}
	}
	return cc
}

// Host returns the host name of URL ("" when it does not parse): what a key document is
// bound to besides its webhook.
func (cc CertCentral) Host() string {
	u, err := url.Parse(cc.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
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

// scheduleGaps is how many consecutive runs of the schedule Interval compares.
const scheduleGaps = 16

// Interval returns the longest gap between two consecutive runs of the validated schedule
// (Cron) among the next few after now (0 before a successful Validate): a last success
// older than this means a scheduled run was missed or failed. A weekly schedule gives 7
// days (7 days and an hour across a daylight saving change in CRON_TZ).
func (r Rotation) Interval(now time.Time) time.Duration {
	if r.Cron == nil {
		return 0
	}
	var longest time.Duration
	prev := r.Cron.Next(now)
	for range scheduleGaps {
		next := r.Cron.Next(prev)
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	return longest
}
