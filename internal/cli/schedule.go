package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/internal/clock"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/metrics"
	"github.com/keyroll/keyroll/internal/schedule"
	"github.com/keyroll/keyroll/rotate"
)

// minTokenTTL is the token lifetime the scheduler wants left before each run; below it,
// it logs in again.
const minTokenTTL = 5 * time.Minute

// scheduleFlags are the flags of `keyroll schedule`.
type scheduleFlags struct {
	common
	metricsAddr string
	grace       time.Duration
	parallel    int
}

// runSchedule rotates every target on rotation.schedule until ctx ends; a running
// rotation then gets --grace to reach a safe point, or stops at once on env.Hard.
func runSchedule(ctx context.Context, env *Env, f *scheduleFlags) error {
	if f.parallel < 1 || f.grace <= 0 {
		return fmt.Errorf("%w: --parallel and --grace must be positive", ErrUsage)
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	// Build every client now: a configuration error stops the scheduler before it starts.
	for _, t := range cfg.Targets {
		if _, err := a.rotateTarget(ctx, t); err != nil {
			return err
		}
	}
	keep, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeep()
	go a.session.KeepAlive(keep)

	j := &scheduledJob{a: a, parallel: f.parallel, ops: newOps(env, cfg), keep: keep, clock: clock.System}
	j.ops.readDocuments(ctx, a, cfg.Targets, true) // informed from the start, not after the first run
	j.ops.rememberOutcomes()                       // a restarted scheduler still notifies a recovery
	defer j.stopWake()
	j.wakeAtWindowEnds(keep)
	if f.metricsAddr != "" {
		stopMetrics, err := j.serveMetrics(keep, f.metricsAddr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	s := &schedule.Scheduler{Schedule: cfg.Rotation.Cron, Job: j.run, Log: env.Log, Grace: f.grace}
	return s.Run(ctx, env.Hard)
}

// scheduleCmd is `keyroll schedule`.
func scheduleCmd(env *Env) *cobra.Command {
	f := &scheduleFlags{}
	c := &cobra.Command{
		Use:   "schedule",
		Short: "Rotate on rotation.schedule until SIGTERM",
		Long: "Rotate every target on rotation.schedule until SIGTERM, as a long-running process (a\n" +
			"Deployment) instead of a CronJob, serving /healthz and /metrics on --metrics-addr.\n" +
			"On SIGTERM a running rotation gets --grace to reach a safe point; a second SIGTERM stops it at once.",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runSchedule(c.Context(), env, f) },
	}
	fs := c.Flags()
	f.register(fs)
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /healthz and Prometheus /metrics on this address")
	fs.DurationVar(&f.grace, "grace", 2*time.Minute, "how long a running rotation may go on after SIGTERM")
	fs.IntVar(&f.parallel, "parallel", DefaultParallel, "targets rotated at once")
	return c
}

// scheduledJob is one scheduled run of every target, with the metrics and health it
// leaves behind.
type scheduledJob struct {
	a        *app
	parallel int
	ops      *ops

	mu      sync.Mutex
	lastErr error // of the last run

	runMu sync.Mutex      // one run at a time: on the schedule, or at a window's end
	keep  context.Context // the scheduler's lifetime, for runs at a window's end
	// ends are the overlap windows still open (previous_until of a target), wake the
	// timer that runs every target once the earliest of them has ended, to retire its key.
	wakeMu sync.Mutex
	ends   []time.Time
	wake   *time.Timer
	clock  clock.Clock // the time the window ends are compared with
}

// windowEndMargin is how long after previous_until the run that retires the key starts.
const windowEndMargin = time.Second

// run rotates every target once, after making sure the Vault token will last.
func (j *scheduledJob) run(ctx context.Context) error {
	return j.runWith(ctx, rotate.Options{Trigger: evidence.TriggerSchedule})
}

// runWith is run with the given options.
func (j *scheduledJob) runWith(ctx context.Context, o rotate.Options) error {
	j.runMu.Lock()
	defer j.runMu.Unlock()
	err := j.rotate(ctx, o)
	j.mu.Lock()
	j.lastErr = err
	j.mu.Unlock()
	return err
}

func (j *scheduledJob) rotate(ctx context.Context, o rotate.Options) error {
	if err := j.a.session.Ensure(ctx, minTokenTTL); err != nil {
		j.ops.loginFailed(ctx, j.a.cfg.Targets, err) // a failed login is a failed run
		return fmt.Errorf("schedule: vault login: %w", err)
	}
	results, err := j.a.rotate(ctx, j.a.cfg.Targets, o, j.parallel, nil)
	if err != nil {
		return err
	}
	j.ops.finished(ctx, j.a, results, true)
	for _, r := range results {
		if r.Record.OverlapUntil != nil {
			j.retireAt(time.Time(*r.Record.OverlapUntil))
		}
	}
	return worst(results)
}

// wakeAtWindowEnds reads every target's document and arranges a run at the end of each
// open overlap window, so the scheduler retires (and destroys) a key when its window
// ends rather than at the next scheduled rotation.
func (j *scheduledJob) wakeAtWindowEnds(ctx context.Context) {
	now := j.clock.Now()
	for _, t := range j.a.cfg.Targets {
		if vv, err := j.a.store.Read(ctx, t.VaultPath); err == nil {
			p := policy(j.a.cfg)
			if tp := targetPolicy(j.a.cfg, t); tp != nil {
				p = *tp // an api_key target's own
			}
			if end := rotate.When(vv.Doc, p, now).Retire; !end.IsZero() {
				j.retireAt(end) // now when the window is already over: retire at once
			}
		}
	}
}

// retireAt adds a window ending at end and re-arms the timer for the earliest one.
func (j *scheduledJob) retireAt(end time.Time) {
	j.wakeMu.Lock()
	defer j.wakeMu.Unlock()
	j.ends = append(j.ends, end)
	j.armLocked()
}

func (j *scheduledJob) armLocked() {
	if j.wake != nil {
		j.wake.Stop()
		j.wake = nil
	}
	if len(j.ends) == 0 || j.keep.Err() != nil {
		return
	}
	slices.SortFunc(j.ends, time.Time.Compare)
	first := j.ends[0]
	j.wake = time.AfterFunc(max(0, first.Sub(j.clock.Now())+windowEndMargin), func() {
		j.wakeMu.Lock()
		now := j.clock.Now()
		j.ends = slices.DeleteFunc(j.ends, func(e time.Time) bool { return !e.After(now) })
		j.wakeMu.Unlock()
		j.a.env.Log.Info().Time("window_end", first).Msg("an overlap window ended: retiring its key")
		if err := j.runWith(j.keep, rotate.Options{Trigger: evidence.TriggerSchedule, RetireOnly: true}); err != nil {
			j.a.env.Log.Warn().Err(err).Msg("run at a window's end failed")
		}
		j.wakeMu.Lock()
		j.armLocked()
		j.wakeMu.Unlock()
	})
}

// stopWake stops the timer of the window ends.
func (j *scheduledJob) stopWake() {
	j.wakeMu.Lock()
	defer j.wakeMu.Unlock()
	j.ends = nil
	if j.wake != nil {
		j.wake.Stop()
	}
}

// healthy is /healthz: unhealthy while the last run ended needing a human.
func (j *scheduledJob) healthy() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if failure.Of(j.lastErr) == failure.NeedsHuman {
		return j.lastErr
	}
	return nil
}

// serveMetrics serves /healthz and /metrics on addr until ctx ends or stop is called.
func (j *scheduledJob) serveMetrics(ctx context.Context, addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --metrics-addr: %v", ErrUsage, err)
	}
	log := j.a.env.Log
	srv := &http.Server{Handler: metrics.Handler(j.healthy, j.ops.reg), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(ctx, srv, ln, 5*time.Second, log); err != nil {
			log.Error().Err(err).Msg("metrics server")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	return func() { cancel(); <-done }, nil
}
