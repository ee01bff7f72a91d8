package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// DefaultParallel is how many targets `keyroll run` rotates at once by default.
const DefaultParallel = 8

type runFlags struct {
	common
	output
	targets     stringList
	force       bool
	rebind      bool
	adopt       bool
	dryRun      bool
	overlap     string
	trigger     string
	parallel    int
	profile     string
	revokeInUse bool
}

// runCmd is `keyroll run`.
func runCmd(env *Env) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Rotate every (or the named) target now",
		Long: "Rotate every configured target that is due (or the ones named with --target), resuming\n" +
			"any rotation a crash left staged. Exit 0 when every target succeeded or had nothing due,\n" +
			"1 when a retry may succeed, 2 on a usage or configuration error, 3 when a human is needed.",
		Example: "  keyroll run --config config.yaml\n  keyroll run --target prod-us --dry-run\n  keyroll run --force --overlap 0\n" +
			"  keyroll run --target prod-us --rebind\n  keyroll run --target prod-us --adopt-drift\n  keyroll run --target digicert-api-key --revoke-in-use",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return f.run(c.Context(), env) },
	}
	fs := c.Flags()
	f.common.register(fs)
	f.output.register(fs)
	fs.Var(&f.targets, "target", "rotate only this target (repeatable)")
	fs.BoolVar(&f.force, "force", false, "rotate even if not due, or inside the overlap window (cutting it short)")
	fs.BoolVar(&f.rebind, "rebind", false, "move a document bound to another webhook or CertCentral host to this one")
	fs.BoolVar(&f.adopt, "adopt-drift", false, "keep DigiCert's live secret, unknown to Vault, as previous and rotate")
	fs.BoolVar(&f.dryRun, "dry-run", false, "read everything, print the plan, write nothing")
	fs.StringVar(&f.overlap, "overlap", "", "override rotation.overlap for this run (0 drops the old key at promote)")
	fs.StringVar(&f.trigger, "trigger", "manual", "what started this run: manual, schedule or cronjob (recorded in evidence)")
	fs.IntVar(&f.parallel, "parallel", DefaultParallel, "targets rotated at once")
	fs.BoolVar(&f.revokeInUse, "revoke-in-use", false, "api_key targets: revoke an old key past its overlap even though it is still in use (once; in_use: hold otherwise keeps it)")
	// A developer switch (cmd/bench uses it), kept out of the help.
	fs.StringVar(&f.profile, "cpu-profile", "", "write a CPU profile of the run to `file`")
	_ = fs.MarkHidden("cpu-profile")
	return c
}

// options checks the flags and returns the rotation options they ask for.
func (f *runFlags) options() (rotate.Options, error) {
	o := rotate.Options{Force: f.force, Rebind: f.rebind, AdoptDrift: f.adopt, DryRun: f.dryRun, RevokeInUse: f.revokeInUse}
	if f.overlap != "" {
		d, err := config.ParseDuration(f.overlap)
		if err != nil {
			return o, fmt.Errorf("%w: --overlap: %v", ErrUsage, err)
		}
		o.Overlap = &d
	}
	tr, err := evidence.ParseTrigger(f.trigger)
	if err != nil {
		return o, fmt.Errorf("%w: --trigger: %v", ErrUsage, err)
	}
	o.Trigger = tr
	if f.parallel < 1 {
		return o, fmt.Errorf("%w: --parallel must be at least 1", ErrUsage)
	}
	return o, f.output.check()
}

func (f *runFlags) run(ctx context.Context, env *Env) error {
	if f.profile != "" {
		stop, err := startCPUProfile(f.profile)
		if err != nil {
			return err
		}
		defer stop()
	}
	o, err := f.options()
	if err != nil {
		return err
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	targets, err := selectTargets(cfg, f.targets)
	if err != nil {
		return err
	}
	ops := newOps(env, cfg)
	if !f.dryRun {
		ops.rememberOutcomes()
	}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		if !f.dryRun {
			ops.loginFailed(ctx, targets, err)
			ops.push(ctx, targets)
		}
		return err
	}
	results, err := a.rotate(ctx, targets, o, f.parallel, progressTo(env))
	if err != nil {
		return err
	}
	runErr := worst(results)
	if f.output.json() {
		if err := printJSON(env.Stdout, runOutput(results, f.dryRun, runErr)); err != nil {
			return err
		}
	} else {
		printResults(env.Stdout, results, f.dryRun)
	}
	if !f.dryRun {
		ops.finished(ctx, a, results, cfg.Metrics.Pushgateway != "") // a push carries the key gauges
		ops.push(ctx, targets)
	}
	return runErr
}

// rotate runs one rotation of each target. Every target's DigiCert client is built before
// anything is written, so a configuration error changes nothing.
func (a *app) rotate(ctx context.Context, targets []config.Target, o rotate.Options, parallel int, done func(rotate.Result)) ([]rotate.Result, error) {
	rts := make([]rotate.Target, 0, len(targets))
	for _, t := range targets {
		rt, err := a.rotateTarget(ctx, t)
		if err != nil {
			return nil, err
		}
		rts = append(rts, rt)
	}
	rec, closeRec, err := a.recorder(ctx)
	if err != nil {
		return nil, err
	}
	defer closeRec()
	if o.Actor == "" {
		o.Actor = a.actor(ctx)
	}
	eng := &rotate.Engine{Store: vault.RotateStore{Store: a.store}, Recorder: rec, Log: a.env.Log}
	return eng.RotateAll(ctx, rts, policy(a.cfg), o, parallel, done), nil
}

// rotateTarget is target t as the engine rotates it: a webhook's secret through
// certcentral.RotateAPI, or (kind api_key) the API key in its document through
// certcentral.KeysRotator, authenticated with that document's current, with the target's
// own policy.
func (a *app) rotateTarget(ctx context.Context, t config.Target) (rotate.Target, error) {
	rt := rotate.Target{Name: t.Name, VaultPath: t.VaultPath, WebhookID: t.WebhookID, Host: a.cfg.CertCentralFor(t).Host()}
	c, err := a.client(ctx, t)
	if !t.IsAPIKey() {
		if err != nil {
			return rt, err
		}
		rt.API = certcentral.RotateAPI{Client: c}
		return rt, nil
	}
	rt.Key, rt.Policy = keyPolicy(a.cfg, t), targetPolicy(a.cfg, t)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		// No document, or no current in it: the engine refuses before any call (first
		// adoption needs the key stored as current), saying where to find it.
		rt.Keys = noCredential{target: t.Name}
	case err != nil:
		return rt, err
	default:
		rt.Keys = certcentral.KeysRotator{Client: c}
	}
	return rt, nil
}

// noCredential is the KeysAPI of an api_key target whose document holds no key to
// authenticate with; the engine refuses such a target before calling it.
type noCredential struct{ target string }

var errNoCredential = failure.New(failure.NeedsHuman, "the API key's document holds no current key")

func (n noCredential) err() error { return fmt.Errorf("target %s: %w", n.target, errNoCredential) }

func (n noCredential) Key(context.Context, int) (rotate.APIKey, error) {
	return rotate.APIKey{}, n.err()
}
func (n noCredential) Keys(context.Context, int) ([]rotate.APIKey, error) {
	return nil, n.err()
}
func (n noCredential) CreateKey(context.Context, int, string, int) (rotate.CreatedKey, error) {
	return rotate.CreatedKey{}, n.err()
}
func (n noCredential) Revoke(context.Context, int) error { return n.err() }
func (n noCredential) Authenticate(context.Context, string, int) (rotate.APIKey, error) {
	return rotate.APIKey{}, n.err()
}

// progressTo prints a line per finished target when stderr is a terminal.
func progressTo(env *Env) func(rotate.Result) {
	if !isTerminal(env.Stderr) {
		return nil
	}
	var mu sync.Mutex
	n := 0
	return func(r rotate.Result) {
		mu.Lock()
		defer mu.Unlock()
		n++
		fmt.Fprintf(env.Stderr, "[%d] %s: %s (%s)\n", n, r.Target, r.Outcome, r.Duration.Round(time.Millisecond))
	}
}

// printResults writes the summary table (and, for a dry run, each target's plan).
func printResults(w io.Writer, results []rotate.Result, dryRun bool) {
	if dryRun {
		for _, r := range results {
			kind := ""
			if r.Record.Kind == evidence.KindAPIKey {
				kind = config.KindAPIKey + ", "
			}
			fmt.Fprintf(w, "%s (%sdry run):\n", r.Target, kind)
			for _, p := range r.Plan {
				fmt.Fprintf(w, "  - %s\n", p)
			}
			if r.Err != nil {
				fmt.Fprintf(w, "  ! %v\n", r.Err)
			}
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tOUTCOME\tOLD → NEW\tDURATION\tERROR")
	for _, r := range results {
		change := "-"
		if r.NewFP != "" {
			change = orDash(r.OldFP) + keyID(r.Record.OldKeyID) + " → " + r.NewFP + keyID(r.Record.NewKeyID)
		}
		msg := ""
		switch {
		case r.Err != nil:
			msg = r.Err.Error()
		case r.Outcome == evidence.OutcomeSkipped && len(r.Plan) > 0:
			msg = r.Plan[0] // why it skipped: not due, or inside the overlap window
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Target, r.Outcome, change, r.Duration.Round(time.Millisecond), msg)
	}
	tw.Flush()
	for _, r := range results {
		for _, s := range r.Record.Steps {
			switch {
			case s.Name == string(rotate.StepBind):
				fmt.Fprintf(w, "%s: %s\n", r.Target, s.Detail) // both bindings, from and to
			case (s.Name == string(rotate.StepRevoke) || s.Name == string(rotate.StepRevokeOrphan)) && s.Outcome == "revoked":
				// an API key revoked at DigiCert, also by a run that rotated nothing
				fmt.Fprintf(w, "%s: %s: %s\n", r.Target, s.Name, s.Detail)
			}
		}
	}
}

// RunOutput is the document `keyroll run -o json` prints.
type RunOutput struct {
	DryRun   bool        `json:"dry_run"`
	Targets  []RunResult `json:"targets"`
	ExitCode int         `json:"exit_code"` // the process's exit code
}

// RunResult is one target's line of RunOutput.
type RunResult struct {
	Target          string   `json:"target"`
	Kind            string   `json:"kind"`    // webhook or api_key
	Outcome         string   `json:"outcome"` // rotated, resumed, skipped, failed, …
	RotationID      string   `json:"rotation_id,omitempty"`
	OldFingerprint  string   `json:"old_fingerprint,omitempty"`
	NewFingerprint  string   `json:"new_fingerprint,omitempty"`
	OldKeyID        int      `json:"old_key_id,omitempty"` // api_key: the issuer's id of the key replaced
	NewKeyID        int      `json:"new_key_id,omitempty"` // and of the key created
	DurationSeconds float64  `json:"duration_seconds"`
	Plan            []string `json:"plan,omitempty"` // the decision: why it skipped, a dry run's steps
	Error           string   `json:"error,omitempty"`
	Failure         string   `json:"failure,omitempty"` // retryable, config or needs_human
}

func runOutput(results []rotate.Result, dryRun bool, err error) RunOutput {
	out := RunOutput{DryRun: dryRun, Targets: make([]RunResult, 0, len(results)), ExitCode: ExitCode(err)}
	for _, r := range results {
		rr := RunResult{Target: r.Target, Kind: config.KindWebhook, Outcome: string(r.Outcome), RotationID: r.RotationID, OldFingerprint: r.OldFP,
			NewFingerprint: r.NewFP, OldKeyID: r.Record.OldKeyID, NewKeyID: r.Record.NewKeyID, DurationSeconds: r.Duration.Seconds(), Plan: r.Plan}
		if r.Record.Kind == evidence.KindAPIKey {
			rr.Kind = config.KindAPIKey
		}
		if r.Err != nil {
			rr.Error, rr.Failure = r.Err.Error(), failure.Of(r.Err).String()
		}
		out.Targets = append(out.Targets, rr)
	}
	return out
}

// keyID is " #id" for an API key's id at the issuer, "" when there is none.
func keyID(id int) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprintf(" #%d", id)
}

func orDash(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// worst turns per-target results into the run's error: nil when every target succeeded,
// else the failures, of the worst kind among them.
func worst(results []rotate.Result) error {
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return joinFailures(fmt.Sprintf("%d of %d targets failed", len(errs), len(results)), errs)
}

// startCPUProfile writes a CPU profile of the rest of the command to file (--cpu-profile).
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("%w: --cpu-profile: %v", ErrUsage, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
