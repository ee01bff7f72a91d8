package cli

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/keyroll/keyroll/internal/config"
	vaultpolicy "github.com/keyroll/keyroll/internal/policy"
)

// runPolicy prints the Vault policies the configuration needs: `policy` all of them,
// `policy job` the job's, `policy listener TARGET` the listeners' of one target.
func runPolicy(ctx context.Context, env *Env, args []string) error {
	var f common
	fs := flag.NewFlagSet("policy", flag.ContinueOnError)
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: keyroll policy [flags] [job | listener TARGET]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	out, spec := env.Stdout, policySpec(cfg)
	switch rest := fs.Args(); {
	case len(rest) == 0:
		io.WriteString(out, vaultpolicy.Job(spec))
		for _, t := range spec.Targets {
			io.WriteString(out, "\n")
			io.WriteString(out, vaultpolicy.Listener(spec, t))
		}
	case rest[0] == "job" && len(rest) == 1:
		io.WriteString(out, vaultpolicy.Job(spec))
	case rest[0] == "listener" && len(rest) == 2:
		t, ok := cfg.Target(rest[1])
		if !ok {
			return fmt.Errorf("%w: policy listener %s: not a configured target", ErrUsage, rest[1])
		}
		io.WriteString(out, vaultpolicy.Listener(spec, vaultpolicy.Target{Name: t.Name, VaultPath: t.VaultPath}))
	default:
		return fmt.Errorf("%w: policy: want no argument, job, or listener TARGET", ErrUsage)
	}
	return nil
}

// policySpec is what the policies of cfg depend on.
func policySpec(cfg *config.Config) vaultpolicy.Spec {
	s := vaultpolicy.Spec{KVMount: cfg.Vault.KVMount}
	for _, t := range cfg.Targets {
		s.Targets = append(s.Targets, vaultpolicy.Target{Name: t.Name, VaultPath: t.VaultPath})
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
