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
func checkCmd(env *Env) *cobra.Command {
	f := &common{}
	c := &cobra.Command{
		Use:   "check",
		Short: "Validate the config and prove Vault and DigiCert access",
		Long: "Validate the configuration and prove access without changing anything: the Vault login,\n" +
			"a read of each target's key document and the policy's capabilities on it, DigiCert's\n" +
			"GET /webhook with each target's API key, and the paths the evidence needs.\n" +
			"It prints one line per check and exits with the worst problem found.",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runCheck(c.Context(), env, f) },
	}
	f.register(c.Flags())
	return c
}

func runCheck(ctx context.Context, env *Env, f *common) error {
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "ok    config: %d target(s)\n", len(cfg.Targets))
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		fmt.Fprintf(env.Stdout, "FAIL  vault login (%s, %s): %v\n", cfg.Vault.Address, methodOrToken(cfg.Vault.Auth.Method), err)
		return err
	}
	fmt.Fprintf(env.Stdout, "ok    vault login (%s, %s) as %s\n", cfg.Vault.Address, methodOrToken(cfg.Vault.Auth.Method), a.session.Identity(ctx))

	var problems []error
	for _, t := range cfg.Targets {
		problems = append(problems, a.checkVault(ctx, env.Stdout, t)...)
		if err := a.checkDigiCert(ctx, env.Stdout, t); err != nil {
			problems = append(problems, err)
		}
	}
	if err := a.checkJobPaths(ctx, env.Stdout); err != nil {
		problems = append(problems, err)
	}
	return joinFailures("check", problems)
}

// checkJobPaths checks the policy's capabilities on what the job reads and writes beside
// the documents: the DigiCert API keys kept in Vault, the evidence's Transit key and anchor.
func (a *app) checkJobPaths(ctx context.Context, out io.Writer) error {
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
		fmt.Fprintf(out, "FAIL  vault capabilities: %v\n", err)
		return err
	case len(missing) > 0:
		fmt.Fprintf(out, "FAIL  vault policy lacks %s (`keyroll policy job` prints the policy the job needs)\n", strings.Join(missing, ", "))
		return fmt.Errorf("%w: policy lacks %s", vault.ErrPermissionDenied, strings.Join(missing, ", "))
	}
	fmt.Fprintf(out, "ok    vault policy allows %s\n", strings.Join(paths, ", "))
	return nil
}

// checkVault reads target t's document and checks the policy's capabilities on it,
// printing a line for each.
func (a *app) checkVault(ctx context.Context, out io.Writer, t config.Target) []error {
	var problems []error
	mount := a.cfg.Vault.KVMount
	path := mount + "/" + t.VaultPath
	vv, err := a.store.Read(ctx, t.VaultPath)
	switch {
	case err == nil:
		fmt.Fprintf(out, "ok    %s: vault %s version %d, state %s, current %s\n", t.Name, path, vv.Version, vv.Doc.State(), orDash(keyset.Fingerprint(vv.Doc.Current)))
	case errors.Is(err, vault.ErrNotFound):
		fmt.Fprintf(out, "ok    %s: vault %s does not exist yet: the first rotation creates it\n", t.Name, path)
	case errors.Is(err, vault.ErrPermissionDenied):
		fmt.Fprintf(out, "FAIL  %s: vault %s: permission denied: `keyroll policy job` prints the policy the job needs (%s/data/%s, %s/metadata/%s, destroy)\n",
			t.Name, path, mount, t.VaultPath, mount, t.VaultPath)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	default:
		fmt.Fprintf(out, "FAIL  %s: vault %s: %v\n", t.Name, path, err)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	}
	switch missing, err := a.store.MissingCapabilities(ctx, t.VaultPath); {
	case err != nil:
		fmt.Fprintf(out, "FAIL  %s: vault capabilities: %v\n", t.Name, err)
		problems = append(problems, fmt.Errorf("target %s: %w", t.Name, err))
	case len(missing) > 0:
		fmt.Fprintf(out, "FAIL  %s: vault policy lacks %s (`keyroll policy job` prints the policy the job needs)\n", t.Name, strings.Join(missing, ", "))
		problems = append(problems, fmt.Errorf("target %s: %w: policy lacks %s", t.Name, vault.ErrPermissionDenied, strings.Join(missing, ", ")))
	default:
		fmt.Fprintf(out, "ok    %s: vault policy allows rotating %s\n", t.Name, path)
	}
	return problems
}

// checkDigiCert calls DigiCert's GET /webhook with target t's API key and prints what it
// found.
func (a *app) checkDigiCert(ctx context.Context, out io.Writer, t config.Target) error {
	c, err := a.client(ctx, t)
	if err != nil {
		fmt.Fprintf(out, "FAIL  %s: digicert: %v\n", t.Name, err)
		return err
	}
	w, err := c.GetWebhook(ctx, t.WebhookID)
	if err != nil {
		fmt.Fprintf(out, "FAIL  %s: digicert GET /webhook: %v\n", t.Name, err)
		return fmt.Errorf("target %s: %w", t.Name, err)
	}
	secret := "not returned"
	if w.SecretReturned {
		secret = orDash(keyset.Fingerprint(w.Secret))
	}
	fmt.Fprintf(out, "ok    %s: digicert webhook %d status %s, endpoint %s, %d events, secret %s\n",
		t.Name, w.ID, w.Status, w.Endpoint, len(w.Events), secret)
	return nil
}

func methodOrToken(m string) string {
	if m == "" {
		return "token"
	}
	return m
}
