package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/robfig/cron/v3"

	"github.com/keyroll/keyroll/internal/failure"
)

// FieldError is one problem with one key of the configuration.
type FieldError struct {
	Path string // key path, e.g. "targets[1].vault_path"
	Line int    // line in the file, 0 when the key is not in it
	Msg  string
}

func (e FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s (line %d): %s", e.Path, e.Line, e.Msg)
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors is a list of problems.
type FieldErrors []FieldError

// Error is returned by Parse and Validate; it lists every problem found.
type Error struct {
	Problems FieldErrors
}

// FailureKind marks every configuration problem as such (exit code 2).
func (e *Error) FailureKind() failure.Kind { return failure.Config }

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// cronParser reads rotation.schedule: the standard five fields, descriptors such as
// @daily, and a CRON_TZ= or TZ= prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var (
	targetName = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)
	vaultPath  = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the whole configuration and returns an *Error listing every problem,
// each with its key path and line, or nil. It parses rotation.schedule into
// Rotation.Cron. No message shows a value that came from the environment: it names the
// ${…} reference instead.
func (c *Config) Validate() error {
	var p FieldErrors
	c.validateVault(&p)
	c.validateCertCentral(&p, "certcentral", c.CertCentral, true)
	c.validateRotation(&p)
	c.validateTargets(&p)
	c.validateAPIKeyPaths(&p)
	c.validateListener(&p)
	validateEvidence(&p, c.Evidence)
	c.validateOps(&p)
	if len(p) > 0 {
		return &Error{Problems: c.src.scrub(p)}
	}
	return nil
}

// add appends one problem.
func (p *FieldErrors) add(path, format string, args ...any) {
	*p = append(*p, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validateVault checks vault.*.
func (c *Config) validateVault(p *FieldErrors) {
	c.checkURL(p, "vault.address", c.Vault.Address, c.Vault.InsecureHTTP,
		"the Vault token would cross the network in cleartext: use https://, or set vault.insecure_http: true when a service mesh terminates TLS")
	if !vaultPath.MatchString(c.Vault.KVMount) {
		p.add("vault.kv_mount", "want a mount path such as secret, got %s", c.show("vault.kv_mount", c.Vault.KVMount))
	}
	switch a := c.Vault.Auth; a.Method {
	case AuthToken:
	case AuthKubernetes:
		if a.Role == "" {
			p.add("vault.auth.role", "required for method kubernetes")
		}
	case AuthAppRole:
		if a.RoleID == "" {
			p.add("vault.auth.role_id", "required for method approle")
		}
		if a.SecretIDFile == "" {
			p.add("vault.auth.secret_id_file", "required for method approle")
		}
	default:
		p.add("vault.auth.method", "want token, kubernetes or approle, got %s", c.show("vault.auth.method", a.Method))
	}
}

// validateRotation checks rotation.* and parses the schedule.
func (c *Config) validateRotation(p *FieldErrors) {
	r := c.Rotation
	if sched, err := cronParser.Parse(r.Schedule); err != nil && c.fromEnv("rotation.schedule") {
		p.add("rotation.schedule", "invalid cron schedule %s", c.show("rotation.schedule", r.Schedule))
	} else if err != nil {
		p.add("rotation.schedule", "invalid cron schedule %q: %v", r.Schedule, err)
	} else {
		c.Rotation.Cron = sched
	}
	if r.SecretLength < 32 {
		p.add("rotation.secret_length", "must be at least 32 (DigiCert's minimum), got %d", r.SecretLength)
	} else if r.SecretLength > 1024 {
		p.add("rotation.secret_length", "must be at most 1024, got %d", r.SecretLength)
	}
	if r.Overlap < 0 {
		p.add("rotation.overlap", "must not be negative")
	}
	if r.PropagationDelay < 0 {
		p.add("rotation.propagation_delay", "must not be negative")
	}
	if r.PropagationDelay < c.Listener.Refresh {
		p.add("rotation.propagation_delay", "%s is shorter than listener.refresh %s: listeners could miss the staged key", r.PropagationDelay, c.Listener.Refresh)
	}
	if r.MinInterval < 0 {
		p.add("rotation.min_interval", "must not be negative")
	}
	if r.MaxAge <= 0 {
		p.add("rotation.max_age", "must be positive")
	}
	if r.StuckAfter <= 0 {
		p.add("rotation.stuck_after", "must be positive")
	}
}

// validateTargets checks targets[]: names and documents unique.
func (c *Config) validateTargets(p *FieldErrors) {
	if len(c.Targets) == 0 {
		p.add("targets", "at least one target is required")
	}
	names := map[string]int{}
	paths := map[string]int{}
	for i, t := range c.Targets {
		at := fmt.Sprintf("targets[%d]", i)
		if !targetName.MatchString(t.Name) {
			p.add(at+".name", "want lower-case letters, digits, '.', '_' or '-' (1-63), got %s", c.show(at+".name", t.Name))
		} else if j, dup := names[t.Name]; dup {
			p.add(at+".name", "duplicate of targets[%d]", j)
		} else {
			names[t.Name] = i
		}
		if !vaultPath.MatchString(t.VaultPath) {
			p.add(at+".vault_path", "want a relative path such as keyroll/digicert/prod-us, got %s", c.show(at+".vault_path", t.VaultPath))
		} else if j, dup := paths[t.VaultPath]; dup {
			p.add(at+".vault_path", "same document as targets[%d]", j)
		} else {
			paths[t.VaultPath] = i
		}
		if t.WebhookID < 0 {
			p.add(at+".webhook_id", "must not be negative")
		}
		if t.CertCentral != nil {
			c.validateCertCentral(p, at+".certcentral", *t.CertCentral, false)
		}
		c.validateKind(p, at, t)
	}
}

// validateKind checks targets[i].kind and what each kind allows: the api_key block only
// on an api_key target, no webhook or API key source on one.
func (c *Config) validateKind(p *FieldErrors, at string, t Target) {
	switch t.Kind {
	case "", KindWebhook:
		if t.APIKey != nil {
			p.add(at+".api_key", "only for kind: api_key (this target rotates a webhook's secret)")
		}
		return
	case KindAPIKey:
	default:
		p.add(at+".kind", "want webhook or api_key, got %s", c.show(at+".kind", t.Kind))
		return
	}
	if t.WebhookID != 0 {
		p.add(at+".webhook_id", "not for kind: api_key (an API key has no webhook)")
	}
	if cc := t.CertCentral; cc != nil && cc.APIKeyEnv != "" {
		p.add(at+".certcentral.api_key_env", "not for kind: api_key: its API key is its own document's %s", CredentialField)
	}
	if cc := t.CertCentral; cc != nil && cc.APIKeyVault != nil {
		p.add(at+".certcentral.api_key_vault", "not for kind: api_key: its API key is its own document's %s", CredentialField)
	}
	if t.APIKey == nil {
		return
	}
	k := *t.APIKey
	if k.KeyID < 0 {
		p.add(at+".api_key.key_id", "must not be negative (0: take current_id from the document)")
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"max_age", k.MaxAge}, {"min_interval", k.MinInterval}, {"overlap", k.Overlap}, {"grace", k.Grace}} {
		if d.v < 0 {
			p.add(at+".api_key."+d.key, "must not be negative (0: the default)")
		}
	}
	switch k.InUse {
	case "", InUseHold, InUseRevoke:
	default:
		p.add(at+".api_key.in_use", "want hold or revoke, got %s", c.show(at+".api_key.in_use", k.InUse))
	}
}

// validateListener checks listener.*.
func (c *Config) validateListener(p *FieldErrors) {
	if c.Listener.Refresh < 0 {
		p.add("listener.refresh", "must not be negative (0: listeners read Vault on every request)")
	}
	if c.Listener.MaxStaleness <= c.Listener.Refresh {
		p.add("listener.max_staleness", "must be longer than listener.refresh")
	}
}

// Warnings returns what is allowed but probably not meant; commands log them at start.
func (c *Config) Warnings() []string {
	var w []string
	if r := c.Rotation; r.MinInterval < r.Overlap {
		w = append(w, fmt.Sprintf("rotation.min_interval %s is shorter than rotation.overlap %s: a run inside the previous key's overlap window skips unless forced, and --force cuts that window short", r.MinInterval, r.Overlap))
	}
	if c.Listener.Refresh > 0 && c.Listener.MaxStaleness >= c.Rotation.PropagationDelay {
		w = append(w, fmt.Sprintf("listener.max_staleness %s is not shorter than rotation.propagation_delay %s: a listener that cannot read Vault right after a stage keeps its old key set past the wait and answers 401 to the new key instead of failing closed (503)", c.Listener.MaxStaleness, c.Rotation.PropagationDelay))
	}
	for i, t := range c.Targets {
		if k := c.APIKeyFor(t); t.IsAPIKey() && k.Grace >= k.Overlap {
			w = append(w, fmt.Sprintf("targets[%d].api_key.grace %s is not shorter than its overlap %s: a consumer still using the old key is only seen if the retiring run comes later than grace after the promote", i, k.Grace, k.Overlap))
		}
	}
	if u, err := url.Parse(c.Vault.Address); err == nil && u.Scheme == "http" && !loopback(u.Hostname()) && c.Vault.InsecureHTTP {
		w = append(w, "vault.insecure_http: talking plain HTTP to Vault at "+u.Host+"; the token crosses the network in cleartext unless a service mesh encrypts it")
	}
	return append(w, c.insecureOpsURLs()...)
}

// checkURL requires an https:// URL, or http:// on a loopback host (or anywhere when
// allowHTTP is set).
func (c *Config) checkURL(p *FieldErrors, path, raw string, allowHTTP bool, why string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add(path, "want an https:// URL, got %s", c.show(path, raw))
	case u.Scheme == "http" && !allowHTTP && !loopback(u.Hostname()):
		p.add(path, "plain http:// to a host that is not a loopback address: %s", why)
	}
}

// loopback reports whether host is localhost or a loopback IP address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateAPIKeyPaths refuses an api_key_vault.path that is a target's document or lies
// under it: whoever may read the document (every listener of that target) could read the
// API key.
func (c *Config) validateAPIKeyPaths(p *FieldErrors) {
	refs := map[string]*VaultRef{"certcentral": c.CertCentral.APIKeyVault}
	for i, t := range c.Targets {
		if t.CertCentral != nil {
			refs[fmt.Sprintf("targets[%d].certcentral", i)] = t.CertCentral.APIKeyVault
		}
	}
	for at, ref := range refs {
		if ref == nil {
			continue
		}
		key := strings.Trim(ref.Path, "/")
		for i, t := range c.Targets {
			doc := strings.Trim(t.VaultPath, "/")
			switch {
			case doc == "" || (key != doc && !strings.HasPrefix(key, doc+"/")):
			case t.IsAPIKey() && key == doc && ref.Field == CredentialField:
				// The rotated API key's own document: no listener reads it.
			case t.IsAPIKey() && key == doc:
				p.add(at+".api_key_vault.field", "must be %s: targets[%d] (kind api_key) keeps the key in use there", CredentialField, i)
			case t.IsAPIKey():
				p.add(at+".api_key_vault.path", "lies under targets[%d].vault_path (kind api_key): point at that document itself, field %s", i, CredentialField)
			default:
				p.add(at+".api_key_vault.path", "lies at or under targets[%d].vault_path: keep the DigiCert API key outside every key document, where no listener policy reaches", i)
			}
		}
	}
}

func (c *Config) validateCertCentral(p *FieldErrors, at string, cc CertCentral, full bool) {
	add := p.add
	if cc.URL != "" || full {
		c.checkURL(p, at+".url", cc.URL, false, "the DigiCert API key (X-DC-DEVKEY) would cross the network in cleartext: use https://")
	}
	switch {
	case c.fromEnv(at + ".api_key_env"):
		// The expanded value is most likely the key itself: never show it.
		add(at+".api_key_env", "write the name of the variable that holds the key (e.g. DIGICERT_API_KEY), not %s: ${…} is not expanded here (the value is not shown)", c.src.expanded[at+".api_key_env"])
	case cc.APIKeyEnv != "" && !envName.MatchString(cc.APIKeyEnv):
		add(at+".api_key_env", "want an environment variable name such as DIGICERT_API_KEY (the value is not shown: it may be the key itself)")
	}
	if cc.APIKeyVault != nil {
		if cc.APIKeyEnv != "" && !full {
			add(at, "set api_key_env or api_key_vault, not both")
		}
		if !vaultPath.MatchString(cc.APIKeyVault.Path) {
			add(at+".api_key_vault.path", "want a KV v2 path, got %s", c.show(at+".api_key_vault.path", cc.APIKeyVault.Path))
		}
		if cc.APIKeyVault.Field == "" {
			add(at+".api_key_vault.field", "required")
		}
	}
	if full && cc.APIKeyEnv == "" && cc.APIKeyVault == nil {
		add(at+".api_key_env", "set api_key_env or api_key_vault")
	}
	if cc.Timeout < 0 || (full && cc.Timeout == 0) {
		add(at+".timeout", "must be positive")
	}
}
