package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/vault"
)

// evidenceUsage lists the evidence subcommands.
const evidenceUsage = "evidence verify FILE [--public-key PEM] [--signed-from SEQ] [--config F --vault] | " +
	"evidence public-key --config F [--version N] | evidence repair FILE [--config F] | " +
	"evidence report FILE [--since T] [--until T] [--format md|csv|html] [--config F | --max-age D]"

// runEvidence dispatches `keyroll evidence SUBCOMMAND`.
func runEvidence(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", ErrUsage, evidenceUsage)
	}
	switch args[0] {
	case "verify":
		return runEvidenceVerify(ctx, env, args[1:])
	case "public-key":
		return runEvidencePublicKey(ctx, env, args[1:])
	case "repair":
		return runEvidenceRepair(ctx, env, args[1:])
	case "report":
		return runEvidenceReport(ctx, env, args[1:])
	}
	return fmt.Errorf("%w: unknown evidence subcommand %q: %s", ErrUsage, args[0], evidenceUsage)
}

// parseFileFlags parses flags that may come before or after the one FILE argument.
func parseFileFlags(fs *flag.FlagSet, env *Env, args []string) (string, error) {
	if err := parseFlags(fs, env, args); err != nil {
		return "", err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return "", fmt.Errorf("%w: evidence %s: FILE is missing", ErrUsage, fs.Name())
	}
	file := rest[0]
	if err := parseFlags(fs, env, rest[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%w: evidence %s: unexpected argument %q", ErrUsage, fs.Name(), fs.Arg(0))
	}
	return file, nil
}

// runEvidenceVerify implements `keyroll evidence verify FILE`: it exits 0 and prints OK
// when everything asked for holds, or 1 naming the broken line and why.
func runEvidenceVerify(ctx context.Context, env *Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	c.register(fs)
	pubPath := fs.String("public-key", "", "PEM file of the Transit public key(s): verify every signature")
	signedFrom := fs.Int64("signed-from", 0, "with --public-key: records before this seq may be unsigned (files that predate signing)")
	withVault := fs.Bool("vault", false, "compare the file's end with the anchor in Vault (needs --config)")
	file, err := parseFileFlags(fs, env, args)
	if err != nil {
		return err
	}
	var o evidence.VerifyOptions
	if *pubPath != "" {
		pem, err := os.ReadFile(*pubPath)
		if err != nil {
			return fmt.Errorf("%w: --public-key: %v", ErrUsage, err)
		}
		if o.Keys, err = evidence.ParsePublicKeys(pem); err != nil {
			return fmt.Errorf("%w: --public-key %s: %v", ErrUsage, *pubPath, err)
		}
		o.SignedFrom = *signedFrom
	} else if *signedFrom != 0 {
		return fmt.Errorf("%w: --signed-from needs --public-key", ErrUsage)
	}
	if *withVault {
		cfg, err := c.start(env)
		if err != nil {
			return err
		}
		if cfg.Evidence.Anchor == "" {
			return &config.Error{Problems: config.FieldErrors{{Path: "evidence.anchor", Msg: "--vault needs the anchor's path"}}}
		}
		a, err := newApp(ctx, env, cfg)
		if err != nil {
			return err
		}
		h, _, err := a.anchor().ReadHead(ctx)
		if err != nil {
			return fmt.Errorf("evidence verify: %w", err)
		}
		o.Head = &h
	}
	res, err := evidence.VerifyFileWith(file, o)
	var ce *evidence.ChainError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(env.Stdout, "BROKEN %s: line %d: %s\n", file, ce.Line, ce.Reason)
		return failure.Wrap(failure.Retryable, err) // exit 1, as documented
	case err != nil:
		return fmt.Errorf("evidence verify: %w", err)
	}
	fmt.Fprintf(env.Stdout, "OK %s: %s\n", file, verifiedSummary(res, o))
	return nil
}

// verifiedSummary says what VerifyWith checked and found.
func verifiedSummary(res evidence.Result, o evidence.VerifyOptions) string {
	parts := []string{fmt.Sprintf("%d records, chain intact", res.Records)}
	switch {
	case o.Keys != nil:
		s := fmt.Sprintf("%d signatures valid", res.Signed)
		if len(res.KeyVersions) > 0 {
			s += fmt.Sprintf(" (key versions %s)", strings.Trim(fmt.Sprint(res.KeyVersions), "[]"))
		}
		if u := res.Records - res.Signed; u > 0 {
			s += fmt.Sprintf(", %d unsigned before --signed-from %d", u, o.SignedFrom)
		}
		parts = append(parts, s)
	case res.Signed > 0:
		parts = append(parts, fmt.Sprintf("%d signatures not checked (unsigned: chain only; give --public-key)", res.Signed))
	default:
		parts = append(parts, "unsigned: chain only")
	}
	if o.Head != nil {
		parts = append(parts, fmt.Sprintf("end matches Vault's anchor (seq %d)", o.Head.Seq))
	}
	parts = append(parts, "last hash "+res.LastHash)
	return strings.Join(parts, ", ")
}

// runEvidencePublicKey implements `keyroll evidence public-key`: it prints the PEM of the
// Transit key that signs the records, read from Vault.
func runEvidencePublicKey(ctx context.Context, env *Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("public-key", flag.ContinueOnError)
	c.register(fs)
	version := fs.Int("version", 0, "only this key version (default: every version)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: evidence public-key: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	cfg, err := c.start(env)
	if err != nil {
		return err
	}
	if cfg.Evidence.Signing == nil {
		return &config.Error{Problems: config.FieldErrors{{Path: "evidence.signing", Msg: "not set: the records are not signed"}}}
	}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	pem, err := newTransitSigner(a.session.Client(), *cfg.Evidence.Signing).publicKeysPEM(ctx, *version)
	if err != nil {
		return fmt.Errorf("evidence public-key: %w", err)
	}
	_, err = env.Stdout.Write(pem)
	return err
}

// runEvidenceRepair implements `keyroll evidence repair FILE`: it moves a torn last line
// aside and appends a repair record, as `keyroll run` does on its own.
func runEvidenceRepair(ctx context.Context, env *Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	c.register(fs)
	file, err := parseFileFlags(fs, env, args)
	if err != nil {
		return err
	}
	var f *evidence.File
	if c.configPath != "" {
		cfg, err := c.start(env)
		if err != nil {
			return err
		}
		a, err := newApp(ctx, env, cfg)
		if err != nil {
			return err
		}
		f, err = a.openEvidence(ctx, file)
		if err != nil {
			return err
		}
	} else {
		if err := c.setup(env); err != nil {
			return err
		}
		var rep *evidence.Repair
		f, rep, err = evidence.Open(ctx, file, evidence.Options{Repair: true, Actor: hostName(env)})
		if err != nil {
			return err
		}
		logRepair(env, file, rep)
	}
	return f.Close()
}

// openEvidence opens an evidence file with the configured signer and anchor, repairing a
// torn tail. An unusable file needs a human (exit 3); Vault errors are retryable (exit 1).
func (a *app) openEvidence(ctx context.Context, path string) (*evidence.File, error) {
	o := evidence.Options{Repair: true, Actor: hostName(a.env)}
	if s := a.cfg.Evidence.Signing; s != nil {
		o.Signer = newTransitSigner(a.session.Client(), *s)
	}
	if a.cfg.Evidence.Anchor != "" {
		o.Anchor = a.anchor()
	}
	f, rep, err := evidence.Open(ctx, path, o) // its errors carry their failure kind
	if err != nil {
		return nil, err
	}
	logRepair(a.env, path, rep)
	return f, nil
}

// anchor returns the configured evidence anchor.
func (a *app) anchor() kvAnchor {
	return kvAnchor{store: vault.NewStore(a.session.Client(), a.cfg.Vault.KVMount), path: a.cfg.Evidence.Anchor}
}

func logRepair(env *Env, path string, rep *evidence.Repair) {
	if rep == nil {
		return
	}
	env.Log.Warn().Str("file", path).Str("moved_to", rep.File).Int64("bytes", rep.Bytes).Str("sha256", rep.SHA256).
		Msg("evidence file ended in a torn line: moved it aside and appended a repair record")
}

// hostName names this host or pod in repair records.
func hostName(env *Env) string {
	if p := env.Getenv("POD_NAME"); p != "" {
		return p
	}
	h, _ := os.Hostname()
	return h
}
