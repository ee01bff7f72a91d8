package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
)

// reportFlags are the flags of `keyroll evidence report`.
type reportFlags struct {
	common
	since, until, format, maxAge string
}

func evidenceReportCmd(env *Env) *cobra.Command {
	f := &reportFlags{}
	c := &cobra.Command{
		Use:   "report FILE",
		Short: "Write a compliance report of an evidence file (Markdown, CSV or HTML)",
		Long: "Write a report of an evidence file for auditors: per target, each key's life, the maximum\n" +
			"key age against rotation.max_age, failures and their time to recovery, and a verdict.",
		Example: "  keyroll evidence report evidence.jsonl --since 2026-01-01 --format html > report.html",
		Args:    oneFile,
		RunE:    func(c *cobra.Command, args []string) error { return runEvidenceReport(env, f, args[0]) },
	}
	fs := c.Flags()
	f.register(fs)
	fs.StringVar(&f.since, "since", "", "start of the period (RFC 3339 or YYYY-MM-DD; default: the first record)")
	fs.StringVar(&f.until, "until", "", "end of the period (RFC 3339 or YYYY-MM-DD; default: now)")
	fs.StringVar(&f.format, "format", "md", "md, csv or html")
	fs.StringVar(&f.maxAge, "max-age", "", "the cryptoperiod to judge keys by (default: rotation.max_age of --config, else 90d)")
	return c
}

// runEvidenceReport implements `keyroll evidence report FILE`: per target, each key's life,
// the maximum key age against rotation.max_age, failures and their time to recovery, and a
// verdict, as Markdown, CSV or self-contained HTML.
func runEvidenceReport(env *Env, f *reportFlags, file string) error {
	var err error
	var o evidence.ReportOptions
	if o.Since, err = parseReportTime(f.since); err != nil {
		return fmt.Errorf("%w: --since: %v", ErrUsage, err)
	}
	if o.Until, err = parseReportTime(f.until); err != nil {
		return fmt.Errorf("%w: --until: %v", ErrUsage, err)
	}
	switch {
	case f.maxAge != "":
		d, err := config.ParseDuration(f.maxAge)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: --max-age %q: want a positive duration such as 90d", ErrUsage, f.maxAge)
		}
		o.MaxAge = d
	case f.configPath != "":
		cfg, err := f.start(env)
		if err != nil {
			return err
		}
		o.MaxAge = cfg.Rotation.MaxAge.D()
	default:
		o.MaxAge = config.Default().Rotation.MaxAge.D()
	}
	write := map[string]func(*evidence.Report) error{
		"md":   func(r *evidence.Report) error { return r.WriteMarkdown(env.Stdout) },
		"csv":  func(r *evidence.Report) error { return r.WriteCSV(env.Stdout) },
		"html": func(r *evidence.Report) error { return r.WriteHTML(env.Stdout) },
	}[f.format]
	if write == nil {
		return fmt.Errorf("%w: --format %q: want md, csv or html", ErrUsage, f.format)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("evidence report: %w", err)
	}
	res, verr := evidence.VerifyWith(bytes.NewReader(b), evidence.VerifyOptions{})
	chain := fmt.Sprintf("intact, %d records (hash chain only; verify signatures and the anchor with keyroll evidence verify)", res.Records)
	var ce *evidence.ChainError
	if errors.As(verr, &ce) {
		chain = fmt.Sprintf("BROKEN at line %d: %s; the report covers the %d records before it", ce.Line, ce.Reason, res.Records)
	} else if verr != nil {
		return fmt.Errorf("evidence report: %w", verr)
	}
	recs, err := evidence.ReadRecords(bytes.NewReader(b[:res.Size]))
	if err != nil {
		return fmt.Errorf("evidence report: %w", err)
	}
	r := evidence.BuildReport(recs, o)
	r.Chain = chain
	return write(r)
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
