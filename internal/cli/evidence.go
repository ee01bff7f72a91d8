package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/vault"
	"github.com/keyroll/keyroll/vault/evidencevault"
)

// evidenceCmd is `keyroll evidence`, the group of the evidence tools.
func evidenceCmd(env *Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "evidence",
		Short: "Evidence tools: verify, public-key, repair, report, export",
		Long: "Tools for the evidence file keyroll writes (evidence.file): a hash-chained JSON Lines\n" +
			"record of every rotation, optionally signed with a Vault Transit key and anchored in Vault.",
	}
	groupCommand(env, c)
	c.AddCommand(evidenceVerifyCmd(env), evidencePublicKeyCmd(env), evidenceRepairCmd(env), evidenceReportCmd(env), evidenceExportCmd(env))
	return c
}

// verifyFlags are the flags of `keyroll evidence verify`.
type verifyFlags struct {
	common
	pubPath    string
	signedFrom int64
	withVault  bool
	tsaCA      string
}

func evidenceVerifyCmd(env *Env) *cobra.Command {
	f := &verifyFlags{}
	c := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify an evidence file's hash chain, signatures, timestamps and anchor",
		Long: "Verify an evidence file: the hash chain always, every signature with --public-key, every\n" +
			"RFC 3161 timestamp with --tsa-ca, and with --vault that the file ends where Vault's anchor\n" +
			"says and matches every version of the anchor's history. Prints OK and exits 0 when all of it\n" +
			"holds, or BROKEN naming the line and why, with exit 1.",
		Example: "  keyroll evidence verify /var/lib/keyroll/evidence.jsonl\n" +
			"  keyroll evidence public-key --config config.yaml > transit.pem\n" +
			"  keyroll evidence verify evidence.jsonl --public-key transit.pem --config config.yaml --vault",
		Args: oneFile,
		RunE: func(c *cobra.Command, args []string) error { return runEvidenceVerify(c.Context(), env, f, args[0]) },
	}
	fs := c.Flags()
	f.register(fs)
	fs.StringVar(&f.pubPath, "public-key", "", "PEM file of the Transit public key(s): verify every signature")
	fs.Int64Var(&f.signedFrom, "signed-from", 0, "with --public-key: records before this seq may be unsigned (files that predate signing)")
	fs.BoolVar(&f.withVault, "vault", false, "check the file's end and the anchor's whole history in Vault (needs --config)")
	fs.StringVar(&f.tsaCA, "tsa-ca", "", "PEM file of the Time-Stamp Authority's root(s): verify every RFC 3161 timestamp")
	return c
}

// runEvidenceVerify implements `keyroll evidence verify FILE`: it exits 0 and prints OK
// when everything asked for holds, or 1 naming the broken line and why.
func runEvidenceVerify(ctx context.Context, env *Env, f *verifyFlags, file string) error {
	var o evidence.VerifyOptions
	var err error
	if o.TSARoots, err = readTSARoots(f.tsaCA); err != nil {
		return err
	}
	if f.pubPath != "" {
		pem, err := os.ReadFile(f.pubPath)
		if err != nil {
			return fmt.Errorf("%w: --public-key: %v", ErrUsage, err)
		}
		if o.Keys, err = evidence.ParsePublicKeys(pem); err != nil {
			return fmt.Errorf("%w: --public-key %s: %v", ErrUsage, f.pubPath, err)
		}
		o.SignedFrom = f.signedFrom
	} else if f.signedFrom != 0 {
		return fmt.Errorf("%w: --signed-from needs --public-key", ErrUsage)
	}
	if f.withVault {
		cfg, err := f.start(env)
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
		if o.History, err = a.anchor().History(ctx); err != nil {
			return fmt.Errorf("evidence verify: %w", err)
		}
		o.Head = &evidence.Head{}
		if n := len(o.History); n > 0 {
			o.Head = &o.History[n-1].Head
		}
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
	switch {
	case o.TSARoots != nil:
		parts = append(parts, fmt.Sprintf("%d timestamps valid (%s), %d record(s) pending a timestamp", res.Timestamps, strings.Join(res.TSANames, ", "), res.Untimestamped))
	case res.Timestamps > 0:
		parts = append(parts, fmt.Sprintf("%d timestamps not checked (give --tsa-ca)", res.Timestamps))
	}
	if o.Head != nil {
		parts = append(parts, fmt.Sprintf("end matches Vault's anchor (seq %d)", o.Head.Seq))
	}
	if o.History != nil && res.AnchorVersions > 0 {
		parts = append(parts, fmt.Sprintf("anchor history: %d versions from version %d, seq never backwards, every head matches its record, each anchored within %s of it",
			res.AnchorVersions, res.AnchorFrom, evidence.DefaultMaxAnchorDelay))
	}
	parts = append(parts, "last hash "+res.LastHash)
	return strings.Join(parts, ", ")
}

func evidencePublicKeyCmd(env *Env) *cobra.Command {
	var (
		c       common
		version int
	)
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print the PEM of the Transit key that signs the records",
		Long: "Print the PEM of the Vault Transit key (evidence.signing) that signs the records, every\n" +
			"version of it or --version N, for `keyroll evidence verify --public-key` and scripts/verify-evidence.sh.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvidencePublicKey(cmd.Context(), env, &c, version)
		},
	}
	c.register(cmd.Flags())
	cmd.Flags().IntVar(&version, "version", 0, "only this key version (default: every version)")
	return cmd
}

// runEvidencePublicKey implements `keyroll evidence public-key`: it prints the PEM of the
// Transit key that signs the records, read from Vault.
func runEvidencePublicKey(ctx context.Context, env *Env, c *common, version int) error {
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
	pem, err := a.signer(*cfg.Evidence.Signing).PublicKeysPEM(ctx, version)
	if err != nil {
		return fmt.Errorf("evidence public-key: %w", err)
	}
	_, err = env.Stdout.Write(pem)
	return err
}

func evidenceRepairCmd(env *Env) *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "repair FILE",
		Short: "Move a torn last line aside and append a repair record",
		Long: "Move a torn last line of an evidence file aside (to FILE.torn-…) and append a repair\n" +
			"record, as `keyroll run` does on its own. With --config the record is signed and anchored.",
		Args: oneFile,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEvidenceRepair(cmd.Context(), env, &c, args[0])
		},
	}
	c.register(cmd.Flags())
	return cmd
}

// runEvidenceRepair implements `keyroll evidence repair FILE`: it moves a torn last line
// aside and appends a repair record, as `keyroll run` does on its own.
func runEvidenceRepair(ctx context.Context, env *Env, c *common, file string) error {
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
		var (
			rep *evidence.Repair
			err error
		)
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
		o.Signer = a.signer(*s)
	}
	if a.cfg.Evidence.Anchor != "" {
		o.Anchor = a.anchor()
	}
	if ts := a.cfg.Evidence.Timestamp; ts != nil {
		o.Timestamper = evidence.TSAClient{URL: ts.URL}
	}
	f, rep, err := evidence.Open(ctx, path, o) // its errors carry their failure kind
	if err != nil {
		return nil, err
	}
	logRepair(a.env, path, rep)
	return f, nil
}

// anchor returns the configured evidence anchor.
func (a *app) anchor() evidencevault.Anchor {
	return evidencevault.NewAnchor(vault.NewStore(a.session.Client(), a.cfg.Vault.KVMount), a.cfg.Evidence.Anchor)
}

// signer returns the Transit signer of s.
func (a *app) signer(s config.EvidenceSigning) evidencevault.Signer {
	return evidencevault.NewSigner(a.session.Client(), s.Mount(), s.Key)
}

// readTSARoots reads --tsa-ca; "" gives nil.
func readTSARoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --tsa-ca: %v", ErrUsage, err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: --tsa-ca %s: no PEM certificate in it", ErrUsage, path)
	}
	return p, nil
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
