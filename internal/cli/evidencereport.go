package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
)

// reportFlags are the flags of `keyroll evidence report`.
type reportFlags struct {
	common
	since, until, format, maxAge, pubKey, tsaCA string
	withVault                                   bool
	signedFrom                                  int64
}

func evidenceReportCmd(env *Env) *cobra.Command {
	f := &reportFlags{}
	c := &cobra.Command{
		Use:   "report FILE",
		Short: "Write a compliance report of an evidence file (Markdown, CSV or HTML)",
		Long: "Write a report of an evidence file for auditors. At the top, what verifying the file found:\n" +
			"the chain, the signatures (--public-key), the RFC 3161 timestamps (--tsa-ca) and the anchor's\n" +
			"history (--config and --vault). Then per target each key's life, every run, the scheduled runs\n" +
			"that left no record (with --config), the maximum key age against rotation.max_age (an api_key\n" +
			"target's api_key.max_age; its keys shown with their ids and revocations), failures\n" +
			"and their time to recovery, and a verdict. A broken file exits 1, is BROKEN at the top and no\n" +
			"target is judged.",
		Example: "  keyroll evidence report evidence.jsonl --since 2026-01-01 --format html \\\n" +
			"    --public-key transit.pem --tsa-ca tsa-root.pem --config config.yaml --vault > report.html",
		Args: oneFile,
		RunE: func(c *cobra.Command, args []string) error { return runEvidenceReport(c.Context(), env, f, args[0]) },
	}
	fs := c.Flags()
	f.register(fs)
	fs.StringVar(&f.since, "since", "", "start of the period (RFC 3339 or YYYY-MM-DD; default: the first record)")
	fs.StringVar(&f.until, "until", "", "end of the period (RFC 3339 or YYYY-MM-DD; default: now)")
	fs.StringVar(&f.format, "format", "md", "md, csv or html")
	fs.StringVar(&f.maxAge, "max-age", "", "the cryptoperiod to judge every target's keys by (default: rotation.max_age of --config, an api_key target's api_key.max_age, else 90d)")
	fs.StringVar(&f.pubKey, "public-key", "", "PEM file of the Transit public key(s): verify every signature")
	fs.Int64Var(&f.signedFrom, "signed-from", 0, "with --public-key: records before this seq may be unsigned")
	fs.StringVar(&f.tsaCA, "tsa-ca", "", "PEM file of the Time-Stamp Authority's root(s): verify every RFC 3161 timestamp")
	fs.BoolVar(&f.withVault, "vault", false, "check the file against the anchor's history in Vault (needs --config)")
	return c
}

// runEvidenceReport implements `keyroll evidence report FILE`: the result of verifying the
// file (chain, signatures with --public-key, the anchor's history with --vault) at the top,
// then per target each key's life, every run, scheduled runs without a record (with
// --config), failures and their time to recovery, and a verdict, as Markdown, CSV or
// self-contained HTML. A broken file exits 1, says BROKEN at the top and judges no target.
func runEvidenceReport(ctx context.Context, env *Env, f *reportFlags, file string) error {
	write, o, cfg, err := f.options(env)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("evidence report: %w", err)
	}
	vo, err := f.trustInputs(ctx, env, cfg)
	if err != nil {
		return err
	}
	trust, size, err := checkTrust(b, vo)
	if err != nil {
		return fmt.Errorf("evidence report: %w", err)
	}
	o.Trust = trust
	sum := sha256.Sum256(b)
	o.Header = evidence.Header{File: file, SHA256: hex.EncodeToString(sum[:]), Version: Version(), Actor: reportActor(env)}
	if cfg != nil {
		o.Header.Schedule = cfg.Rotation.Schedule
	}
	recs, err := evidence.ReadRecords(bytes.NewReader(b[:size]))
	if err != nil {
		return fmt.Errorf("evidence report: %w", err)
	}
	if err := write(evidence.BuildReport(recs, o)); err != nil {
		return err
	}
	if trust.Broken {
		return failure.Wrap(failure.Retryable, fmt.Errorf("evidence report: %s is BROKEN: %s", file, trust.Finding)) // exit 1, as verify
	}
	return nil
}

// trustInputs reads what the file is checked against: the public keys, the TSA's roots and,
// with --vault, the anchor's history.
func (f *reportFlags) trustInputs(ctx context.Context, env *Env, cfg *config.Config) (evidence.VerifyOptions, error) {
	vo := evidence.VerifyOptions{SignedFrom: f.signedFrom}
	var err error
	if vo.Keys, err = readKeys(f.pubKey); err != nil {
		return vo, err
	}
	if vo.TSARoots, err = readTSARoots(f.tsaCA); err != nil {
		return vo, err
	}
	if !f.withVault {
		return vo, nil
	}
	if cfg == nil || cfg.Evidence.Anchor == "" {
		return vo, &config.Error{Problems: config.FieldErrors{{Path: "evidence.anchor", Msg: "--vault needs --config with the anchor's path"}}}
	}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		return vo, err
	}
	if vo.History, err = a.anchor().History(ctx); err != nil {
		return vo, fmt.Errorf("evidence report: %w", err)
	}
	vo.Head = &evidence.Head{}
	if n := len(vo.History); n > 0 {
		vo.Head = &vo.History[n-1].Head
	}
	return vo, nil
}

// options reads the flags into the writer and the report's options; cfg is nil without
// --config.
func (f *reportFlags) options(env *Env) (func(*evidence.Report) error, evidence.ReportOptions, *config.Config, error) {
	var o evidence.ReportOptions
	var err error
	if o.Since, err = parseReportTime(f.since); err != nil {
		return nil, o, nil, fmt.Errorf("%w: --since: %v", ErrUsage, err)
	}
	if o.Until, err = parseReportTime(f.until); err != nil {
		return nil, o, nil, fmt.Errorf("%w: --until: %v", ErrUsage, err)
	}
	if f.signedFrom != 0 && f.pubKey == "" {
		return nil, o, nil, fmt.Errorf("%w: --signed-from needs --public-key", ErrUsage)
	}
	write := map[string]func(*evidence.Report) error{
		"md":   func(r *evidence.Report) error { return r.WriteMarkdown(env.Stdout) },
		"csv":  func(r *evidence.Report) error { return r.WriteCSV(env.Stdout) },
		"html": func(r *evidence.Report) error { return r.WriteHTML(env.Stdout) },
	}[f.format]
	if write == nil {
		return nil, o, nil, fmt.Errorf("%w: --format %q: want md, csv or html", ErrUsage, f.format)
	}
	var cfg *config.Config
	if f.configPath != "" || f.withVault {
		if cfg, err = f.start(env); err != nil {
			return nil, o, nil, err
		}
		o.MaxAge = cfg.Rotation.MaxAge.D()
		if cfg.Rotation.Cron != nil {
			o.Next = cfg.Rotation.Cron.Next
		}
		for _, t := range cfg.Targets {
			o.Scope = append(o.Scope, t.Name)
		}
	} else if err := f.setup(env); err != nil {
		return nil, o, nil, err
	}
	switch {
	case f.maxAge != "":
		d, err := config.ParseDuration(f.maxAge)
		if err != nil || d <= 0 {
			return nil, o, nil, fmt.Errorf("%w: --max-age %q: want a positive duration such as 90d", ErrUsage, f.maxAge)
		}
		o.MaxAge = d // every target's, an api_key target's too
	case cfg == nil:
		o.MaxAge = config.Default().Rotation.MaxAge.D()
	default:
		o.TargetMaxAge = map[string]time.Duration{}
		for _, t := range cfg.Targets {
			if t.IsAPIKey() {
				o.TargetMaxAge[t.Name] = cfg.MaxAgeFor(t)
			}
		}
	}
	return write, o, cfg, nil
}

// readKeys reads --public-key; "" gives no keys.
func readKeys(path string) ([]crypto.PublicKey, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: --public-key: %v", ErrUsage, err)
	}
	keys, err := evidence.ParsePublicKeys(pem)
	if err != nil {
		return nil, fmt.Errorf("%w: --public-key %s: %v", ErrUsage, path, err)
	}
	return keys, nil
}

// checkTrust verifies b in stages (the chain, then the signatures, then the anchor) so that
// a break is put down to the check that found it, and returns what the report shows and
// the bytes of the records it may rely on.
func checkTrust(b []byte, vo evidence.VerifyOptions) (evidence.Trust, int64, error) {
	var t evidence.Trust
	stages := []struct {
		name string
		o    evidence.VerifyOptions
		skip string
		ok   func(evidence.Result) string
	}{
		{"hash chain", evidence.VerifyOptions{}, "", func(r evidence.Result) string {
			return fmt.Sprintf("%d records, every hash and prev_hash intact", r.Records)
		}},
		{"signatures", evidence.VerifyOptions{Keys: vo.Keys, SignedFrom: vo.SignedFrom}, "give --public-key (Transit's public key, from keyroll evidence public-key)",
			func(r evidence.Result) string {
				return fmt.Sprintf("%d signatures valid, Transit key versions %s", r.Signed, strings.Trim(fmt.Sprint(r.KeyVersions), "[]"))
			}},
		{"timestamps", evidence.VerifyOptions{TSARoots: vo.TSARoots}, "give --tsa-ca (the Time-Stamp Authority's root)", func(r evidence.Result) string {
			return fmt.Sprintf("%d RFC 3161 timestamps valid, signed by %s, in time order; %d record(s) after the last one (pending)",
				r.Timestamps, strings.Join(r.TSANames, ", "), r.Untimestamped)
		}},
		{"anchor", vo, "give --config and --vault (the anchor's history in Vault)", func(r evidence.Result) string {
			return fmt.Sprintf("the file ends at the anchored head (seq %d); %d anchor versions from version %d: seq never backwards, every head matches its record, each anchored within %s of it",
				vo.Head.Seq, r.AnchorVersions, r.AnchorFrom, evidence.DefaultMaxAnchorDelay)
		}},
	}
	size := int64(len(b))
	for i, s := range stages {
		if t.Broken || (i == 1 && vo.Keys == nil) || (i == 2 && vo.TSARoots == nil) || (i == 3 && vo.Head == nil) {
			detail := s.skip
			if t.Broken {
				detail = "not run: an earlier check broke"
			}
			t.Checks = append(t.Checks, evidence.Check{Name: s.name, Status: "not checked", Detail: detail})
			continue
		}
		res, err := evidence.VerifyWith(bytes.NewReader(b), s.o)
		var ce *evidence.ChainError
		switch {
		case errors.As(err, &ce):
			t.Broken, t.Finding = true, fmt.Sprintf("line %d: %s", ce.Line, ce.Reason)
			t.Checks = append(t.Checks, evidence.Check{Name: s.name, Status: "broken", Detail: t.Finding})
			size = min(size, res.Size)
		case err != nil:
			return t, 0, err
		default:
			t.Checks = append(t.Checks, evidence.Check{Name: s.name, Status: "ok", Detail: s.ok(res)})
		}
	}
	return t, size, nil
}

// reportActor names who made a report: the host or pod and the user.
func reportActor(env *Env) string {
	who := hostName(env)
	if u, err := user.Current(); err == nil {
		who = u.Username + "@" + who
	}
	return who
}

// parseReportTime accepts RFC 3339 or a date (midnight UTC); "" is the zero time.
func parseReportTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t, nil
}
