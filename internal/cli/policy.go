package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	vaultpolicy "github.com/keyroll/keyroll/internal/policy"
)

// policyCmd is `keyroll policy`: it prints the Vault policies the configuration needs,
// `policy` all of them, `policy job` the job's, `policy listener TARGET` the listeners' of
// one target.
func policyCmd(env *Env) *cobra.Command {
	f := &common{}
	c := &cobra.Command{
		Use:   "policy [job | listener TARGET]",
		Short: "Print the Vault policies the config needs (job, listener TARGET)",
		Long: "Print the Vault policies the configuration needs, in HCL: with no argument every one,\n" +
			"with job the rotation job's, with listener TARGET the listeners' of that target (an api_key\n" +
			"target has none: nobody listens for an API key, and asking for it exits 2).",
		Example: "  keyroll policy job | vault policy write keyroll-job -\n" +
			"  keyroll policy listener prod-us | vault policy write keyroll-listener-prod-us -",
		Args:      policyArgs,
		ValidArgs: []string{"job", "listener"},
		RunE:      func(c *cobra.Command, args []string) error { return runPolicy(env, f, args) },
	}
	f.register(c.Flags())
	return c
}

// policyArgs wants no argument, job, or listener TARGET.
func policyArgs(_ *cobra.Command, args []string) error {
	switch {
	case len(args) == 0, len(args) == 1 && args[0] == "job", len(args) == 2 && args[0] == "listener":
		return nil
	}
	return fmt.Errorf("%w: policy: want no argument, job, or listener TARGET", ErrUsage)
}

func runPolicy(env *Env, f *common, rest []string) error {
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	out, spec := env.Stdout, policySpec(cfg)
	switch {
	case len(rest) == 0:
		io.WriteString(out, vaultpolicy.Job(spec))
		for _, t := range spec.Targets {
			if t.APIKey {
				continue // nobody listens for an API key
			}
			io.WriteString(out, "\n")
			io.WriteString(out, vaultpolicy.Listener(spec, t))
		}
	case rest[0] == "job":
		io.WriteString(out, vaultpolicy.Job(spec))
	default: // listener TARGET (policyArgs)
		t, ok := cfg.Target(rest[1])
		if !ok {
			return fmt.Errorf("%w: policy listener %s: not a configured target", ErrUsage, rest[1])
		}
		l, err := vaultpolicy.ListenerOf(spec, vaultpolicy.Target{Name: t.Name, VaultPath: t.VaultPath, APIKey: t.IsAPIKey()})
		if err != nil {
			return fmt.Errorf("%w: policy listener %s: %v", ErrUsage, t.Name, err)
		}
		io.WriteString(out, l)
	}
	return nil
}

// policySpec is what the policies of cfg depend on.
func policySpec(cfg *config.Config) vaultpolicy.Spec {
	s := vaultpolicy.Spec{KVMount: cfg.Vault.KVMount}
	for _, t := range cfg.Targets {
		s.Targets = append(s.Targets, vaultpolicy.Target{Name: t.Name, VaultPath: t.VaultPath, APIKey: t.IsAPIKey()})
		if ref := cfg.CertCentralFor(t).APIKeyVault; ref != nil {
			s.APIKeyPaths = append(s.APIKeyPaths, ref.Path)
		}
	}
	e := cfg.Evidence
	if e.Signing != nil || e.Anchor != "" {
		s.Evidence = &vaultpolicy.Evidence{Anchor: e.Anchor}
		if e.Signing != nil {
			s.Evidence.TransitMount, s.Evidence.SigningKey = e.Signing.Mount(), e.Signing.Key
		}
	}
	return s
}
