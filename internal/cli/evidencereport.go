package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
)

// runEvidenceReport implements `keyroll evidence report FILE`: per target, each key's life,
// the maximum key age against rotation.max_age, failures and their time to recovery, and a
// verdict, as Markdown, CSV or self-contained HTML.
func runEvidenceReport(_ context.Context, env *Env, args []string) error {
	var c common
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	c.register(fs)
	since := fs.String("since", "", "start of the period (RFC 3339 or YYYY-MM-DD; default: the first record)")
	until := fs.String("until", "", "end of the period (RFC 3339 or YYYY-MM-DD; default: now)")
	format := fs.String("format", "md", "md, csv or html")
	maxAge := fs.String("max-age", "", "the cryptoperiod to judge keys by (default: rotation.max_age of --config, else 90d)")
	file, err := parseFileFlags(fs, env, args)
	if err != nil {
		return err
	}
	var o evidence.ReportOptions
	if o.Since, err = parseReportTime(*since); err != nil {
		return fmt.Errorf("%w: --since: %v", ErrUsage, err)
	}
	if o.Until, err = parseReportTime(*until); err != nil {
		return fmt.Errorf("%w: --until: %v", ErrUsage, err)
	}
	switch {
	case *maxAge != "":
		d, err := config.ParseDuration(*maxAge)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: --max-age %q: want a positive duration such as 90d", ErrUsage, *maxAge)
		}
		o.MaxAge = d
	case c.configPath != "":
		cfg, err := c.start(env)
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
	}[*format]
	if write == nil {
		return fmt.Errorf("%w: --format %q: want md, csv or html", ErrUsage, *format)
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
