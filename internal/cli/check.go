package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	vaultpolicy "github.com/keyroll/keyroll/internal/policy"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// runCheck validates the configuration and proves access without changing anything: Vault
// login, a read of each target's document, and DigiCert's GET /webhook with each target's
// key. It prints one line per check and fails with the worst problem found.
// checkFlags are the flags of `keyroll check`.
type checkFlags struct {
	common
	output
}

func checkCmd(env *Env) *cobra.Command {
	f := &checkFlags{}
	c := &cobra.Command{
		Use:   "check",
		Short: "Validate the config and prove Vault and DigiCert access",
		Long: "Validate the configuration and prove access without changing anything: the Vault login,\n" +
			"a read of each target's key document and the policy's capabilities on it, DigiCert's\n" +
			"GET /webhook with each target's API key, and the paths the evidence needs. An api_key\n" +
			"target's key is probed read-only (its own description, its user's keys, the access roles,\n" +
			"the webhook, last_used_date) and the report says what its role is assumed to allow.\n" +
			"It prints one line per check and exits with the worst problem found.",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runCheck(c.Context(), env, f) },
	}
	f.common.register(c.Flags())
	f.output.register(c.Flags())
	return c
}

func runCheck(ctx context.Context, env *Env, f *checkFlags) error {
	if err := f.output.check(); err != nil {
		return err
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	out := &CheckReport{Checks: []CheckLine{}}
	if !f.output.json() {
		out.text = env.Stdout
	}
	err = checkAll(ctx, env, cfg, out)
	if f.output.json() {
		out.OK = err == nil
		if perr := printJSON(env.Stdout, out); perr != nil {
			return perr
		}
	}
	return err
}

// checkAll runs every check, reporting each to out, and returns the worst problem.
func checkAll(ctx context.Context, env *Env, cfg *config.Config, out *CheckReport) error {
	out.add("config", "", true, "config: %d target(s)", len(cfg.Targets))
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		out.add("vault_login", "", false, "vault login (%s, %s): %v", cfg.Vault.Address, methodOrToken(cfg.Vault.Auth.Method), err)
		return err
	}
	out.add("vault_login", "", true, "vault login (%s, %s) as %s", cfg.Vault.Address, methodOrToken(cfg.Vault.Auth.Method), a.session.Identity(ctx))

	var problems []error
	for _, t := range cfg.Targets {
		doc, errs := a.checkVault(ctx, out, t)
		problems = append(problems, errs...)
		check := a.checkDigiCert
		if t.IsAPIKey() {
			check = func(ctx context.Context, out *CheckReport, t config.Target) error {
				return a.checkAPIKey(ctx, out, t, doc)
			}
		}
		if err := check(ctx, out, t); err != nil {
			problems = append(problems, err)
		}
	}
	if err := a.checkJobPaths(ctx, out); err != nil {
		problems = append(problems, err)
	}
	return joinFailures("check", problems)
}

// CheckReport is what `keyroll check` found: printed a line at a time as text, or kept
// for the one JSON document `check -o json` prints.
type CheckReport struct {
	OK     bool        `json:"ok"`
	Checks []CheckLine `json:"checks"`
	text   io.Writer   // nil: JSON
}

// CheckLine is one check's result.
type CheckLine struct {
	// Check is config, vault_login, vault_document, vault_policy, digicert, or for an
	// api_key target api_key, api_key_keys, api_key_webhook, api_key_last_used, api_key_role.
	Check   string `json:"check"`
	Target  string `json:"target,omitempty"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// add reports one check of target ("" for the whole configuration).
func (r *CheckReport) add(check, target string, ok bool, format string, args ...any) {
	l := CheckLine{Check: check, Target: target, OK: ok, Message: fmt.Sprintf(format, args...)}
	r.Checks = append(r.Checks, l)
	if r.text == nil {
		return
	}
	status, who := "ok   ", ""
	if !ok {
		status = "FAIL "
	}
	if target != "" {
		who = target + ": "
	}
	fmt.Fprintf(r.text, "%s %s%s\n", status, who, l.Message)
}

// checkJobPaths checks the policy's capabilities on what the job reads and writes beside
// the documents: the DigiCert API keys kept in Vault, the evidence's Transit key and anchor.
func (a *app) checkJobPaths(ctx context.Context, out *CheckReport) error {
	grants := vaultpolicy.JobPaths(policySpec(a.cfg))
	if len(grants) == 0 {
		return nil
	}
	paths, want := make([]string, len(grants)), make([][]string, len(grants))
	for i, g := range grants {
		paths[i], want[i] = g.Path, g.Capabilities
	}
	switch missing, err := a.store.Missing(ctx, paths, want); {
	case err != nil:
		out.add("vault_policy", "", false, "vault capabilities: %v", err)
		return err
	case len(missing) > 0:
		out.add("vault_policy", "", false, "vault policy lacks %s (`keyroll policy job` prints the policy the job needs)", strings.Join(missing, ", "))
		return fmt.Errorf("%w: policy lacks %s", vault.ErrPermissionDenied, strings.Join(missing, ", "))
	}
	out.add("vault_policy", "", true, "vault policy allows %s", strings.Join(paths, ", "))
	return nil
}

// checkVault reads target t's document and checks the policy's capabilities on it,
// printing a line for each, and returns the document (empty when it was not read).
func (a *app) checkVault(ctx context.Context, out *CheckReport, t config.Target) (keyset.Document, []error) {
	var problems []error
	mount := a.cfg.Vault.KVMount
	path := mount + "/" + t.VaultPath
	vv, err := a.store.Read(ctx, t.VaultPath)
	switch {
	case err == nil:
		out.add("vault_document", t.Name, true, "vault %s version %d, state %s, current %s", path, vv.Version, vv.Doc.State(), orDash(keyset.Fingerprint(vv.Doc.Current)))
	case errors.Is(err, vault.ErrNotFound) && t.IsAPIKey():
		out.add("vault_document", t.Name, false, "vault %s does not exist: store the API key keyroll should use and rotate as current (and its id as current_id, or set api_key.key_id)", path)
	case errors.Is(err, vault.ErrNotFound):
		out.add("vault_document", t.Name, true, "vault %s does not exist yet: the first rotation creates it", path)
	case errors.Is(err, vault.ErrPermissionDenied):
		out.add("vault_document", t.Name, false, "vault %s: permission denied: `keyroll policy job` prints the policy the job needs (%s/data/%s, %s/metadata/%s, destroy)",
			path, mount, t.VaultPath, mount, t.VaultPath)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	default:
		out.add("vault_document", t.Name, false, "vault %s: %v", path, err)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	}
	switch missing, err := a.store.MissingCapabilities(ctx, t.VaultPath); {
	case err != nil:
		out.add("vault_policy", t.Name, false, "vault capabilities: %v", err)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	case len(missing) > 0:
		out.add("vault_policy", t.Name, false, "vault policy lacks %s (`keyroll policy job` prints the policy the job needs)", strings.Join(missing, ", "))
		problems = append(problems, fmt.Errorf("target %s: %w: policy lacks %s", t.Name, vault.ErrPermissionDenied, strings.Join(missing, ", ")))
	default:
		out.add("vault_policy", t.Name, true, "vault policy allows rotating %s", path)
	}
	return vv.Doc, problems
}

// checkDigiCert calls DigiCert's GET /webhook with target t's API key and prints what it
// found.
func (a *app) checkDigiCert(ctx context.Context, out *CheckReport, t config.Target) error {
	c, err := a.client(ctx, t)
	if err != nil {
		out.add("digicert", t.Name, false, "digicert: %v", err)
		return err
	}
	w, err := c.GetWebhook(ctx, t.WebhookID)
	if err != nil {
		out.add("digicert", t.Name, false, "digicert GET /webhook: %v", err)
		return fmt.Errorf("target %s: %w", t.Name, err)
	}
	secret := "not returned"
	if w.SecretReturned {
		secret = orDash(keyset.Fingerprint(w.Secret))
	}
	out.add("digicert", t.Name, true, "digicert webhook %d status %s, endpoint %s, %d events, secret %s",
		w.ID, w.Status, w.Endpoint, len(w.Events), secret)
	return nil
}

func methodOrToken(m string) string {
	if m == "" {
		return "token"
	}
	return m
}
