package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/redact"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// app is what the commands that talk to Vault and DigiCert share: the configuration, a
// Vault session, the key store and one DigiCert client per target.
type app struct {
	env     *Env
	cfg     *config.Config
	session *vault.Session
	store   *vault.Store
	clients map[string]*certcentral.Client // by target name
	// clientKeys is the fingerprint of the API key each client was built with.
	clientKeys map[string]string
	http       *http.Client // shared by the DigiCert clients: one connection pool
	// untimestamped is how many evidence records the last recorder left without an RFC
	// 3161 timestamp (evidence.timestamp).
	untimestamped int
}

// newApp logs in to Vault with the configuration's settings.
func newApp(ctx context.Context, env *Env, cfg *config.Config) (*app, error) {
	sess, err := login(ctx, env, cfg.Vault)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // a fleet's rotations share DigiCert's host
	a := &app{env: env, cfg: cfg, session: sess, store: vault.NewStore(sess.Client(), cfg.Vault.KVMount),
		clients: map[string]*certcentral.Client{}, clientKeys: map[string]string{}, http: &http.Client{Transport: tr}}
	return a, nil
}

// login logs in to Vault as the vault section of the configuration says.
func login(ctx context.Context, env *Env, v config.Vault) (*vault.Session, error) {
	a := v.Auth
	return vault.Login(ctx, vault.Options{
		Address: v.Address,
		Auth: vault.Auth{
			Method:                  a.Method,
			Token:                   env.Getenv("VAULT_TOKEN"),
			TokenFile:               a.TokenFile,
			Role:                    a.Role,
			Mount:                   a.Mount,
			ServiceAccountTokenFile: a.ServiceAccountTokenFile,
			RoleID:                  a.RoleID,
			SecretIDFile:            a.SecretIDFile,
		},
	}, env.Log)
}

// selectTargets returns the configured targets named in names (all when empty).
func selectTargets(cfg *config.Config, names []string) ([]config.Target, error) {
	if len(names) == 0 {
		return cfg.Targets, nil
	}
	var out []config.Target
	var unknown []string
	seen := map[string]bool{}
	for _, n := range names {
		t, ok := cfg.Target(n)
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		if !seen[n] {
			out = append(out, t)
			seen[n] = true
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: --target %s: not in the configuration", ErrUsage, strings.Join(unknown, ", "))
	}
	return out, nil
}

// errNoAPIKey means a target's DigiCert API key could not be found (a configuration error).
var errNoAPIKey = failure.New(failure.Config, "DigiCert API key not available")

// apiKey resolves the DigiCert API key of a target: from Vault when api_key_vault is set,
// else from the environment variable api_key_env names.
func (a *app) apiKey(ctx context.Context, cc config.CertCentral) (string, error) {
	if cc.APIKeyVault != nil {
		k, err := a.store.ReadField(ctx, cc.APIKeyVault.Path, cc.APIKeyVault.Field)
		if err != nil {
			return "", fmt.Errorf("DigiCert API key from Vault: %w", err)
		}
		return k, nil
	}
	k := strings.TrimSpace(a.env.Getenv(cc.APIKeyEnv))
	if k == "" {
		return "", fmt.Errorf("certcentral.api_key_env: environment variable %s is empty or not set: %w", cc.APIKeyEnv, errNoAPIKey)
	}
	return k, nil
}

// client returns the DigiCert client of target t, creating it on first use, and again
// whenever the API key it reads has changed (a key in Vault that an api_key target
// rotated: a scheduler's later runs use the new key). Clients that share an API key
// share its rate limiter.
func (a *app) client(ctx context.Context, t config.Target) (*certcentral.Client, error) {
	cc := a.cfg.CertCentralFor(t)
	key, err := a.apiKey(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", t.Name, err)
	}
	fp := keyset.Fingerprint(key)
	if c, ok := a.clients[t.Name]; ok && a.clientKeys[t.Name] == fp {
		return c, nil
	}
	c, err := certcentral.New(certcentral.Config{
		BaseURL:    cc.URL,
		APIKey:     key,
		Timeout:    cc.Timeout.D(),
		UserAgent:  "keyroll/" + Version(),
		HTTPClient: a.http,
	})
	if err != nil {
		return nil, &config.Error{Problems: config.FieldErrors{{Path: "certcentral", Msg: fmt.Sprintf("target %s: %v", t.Name, err)}}}
	}
	a.clients[t.Name], a.clientKeys[t.Name] = c, fp
	return c, nil
}

// policy returns the rotation policy of the configuration.
func policy(cfg *config.Config) rotate.Policy {
	r := cfg.Rotation
	return rotate.Policy{
		SecretLength:     r.SecretLength,
		Overlap:          r.Overlap.D(),
		PropagationDelay: r.PropagationDelay.D(),
		MinInterval:      r.MinInterval.D(),
		VerifyListener:   r.VerifyListener,
		MaxAge:           r.MaxAge.D(),
	}
}

// targetPolicy returns the policy of an api_key target, from its api_key block: its own
// min_interval and overlap, no propagation wait or listener test (nobody listens for an
// API key). Nil for a webhook target, which follows the run's policy.
func targetPolicy(cfg *config.Config, t config.Target) *rotate.Policy {
	if !t.IsAPIKey() {
		return nil
	}
	k := cfg.APIKeyFor(t)
	p := policy(cfg)
	p.Overlap, p.MinInterval, p.MaxAge = k.Overlap.D(), k.MinInterval.D(), k.MaxAge.D()
	p.PropagationDelay, p.VerifyListener = 0, false
	return &p
}

// keyPolicy returns the API-key kind's part of target t (the zero value for a webhook).
func keyPolicy(cfg *config.Config, t config.Target) rotate.KeyPolicy {
	if !t.IsAPIKey() {
		return rotate.KeyPolicy{}
	}
	k := cfg.APIKeyFor(t)
	p := rotate.KeyPolicy{KeyID: k.KeyID, Grace: k.Grace.D(), InUse: rotate.InUseHold}
	if k.InUse == config.InUseRevoke {
		p.InUse = rotate.InUseRevoke
	}
	return p
}

// recorder returns the evidence sink: the optional file first, then the log. The caller
// closes the returned closer.
func (a *app) recorder(ctx context.Context) (rotate.Recorder, func() error, error) {
	logSink := evidence.LogSink{Logger: a.env.Log}
	if a.cfg.Evidence.File == "" {
		return logSink, func() error { return nil }, nil
	}
	f, err := a.openEvidence(ctx, a.cfg.Evidence.File)
	if err != nil {
		return nil, nil, err
	}
	closeFile := func() error {
		if ts := a.cfg.Evidence.Timestamp; ts != nil {
			// A TSA outage never fails the run: the next run's token covers these records.
			n, err := f.Timestamp(context.WithoutCancel(ctx), redact.URL(ts.URL))
			a.untimestamped = n
			if err != nil {
				a.env.Log.Warn().Err(err).Int("untimestamped_records", n).Msg("evidence not timestamped yet: the next run's timestamp covers it")
			}
		}
		return f.Close()
	}
	return evidence.Multi{f, logSink}, closeFile, nil
}

// actor names who runs keyroll: the host or pod, and the Vault identity.
func (a *app) actor(ctx context.Context) string {
	host := a.env.Getenv("POD_NAME")
	if host == "" {
		host, _ = os.Hostname()
	}
	if id := a.session.Identity(ctx); id != "" {
		return host + " / " + id
	}
	return host
}
