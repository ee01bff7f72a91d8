package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/keyroll/keyroll/evidence"
	"github.com/keyroll/keyroll/failure"
	"github.com/keyroll/keyroll/metrics"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/schedule"
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
func runSchedule(ctx context.Context, env *Env, args []string) error {
	f, err := parseScheduleFlags(env, args)
	if err != nil {
		return err
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
		if _, err := a.client(ctx, t); err != nil {
			return err
		}
	}
	keep, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeep()
	go a.session.KeepAlive(keep)

	j := &scheduledJob{a: a, parallel: f.parallel, ops: newOps(env, cfg)}
	j.ops.readDocuments(ctx, a, cfg.Targets, true) // informed from the start, not after the first run
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

func parseScheduleFlags(env *Env, args []string) (*scheduleFlags, error) {
	f := &scheduleFlags{}
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve /healthz and Prometheus /metrics on this address")
	fs.DurationVar(&f.grace, "grace", 2*time.Minute, "how long a running rotation may go on after SIGTERM")
	fs.IntVar(&f.parallel, "parallel", DefaultParallel, "targets rotated at once")
	if err := parseFlags(fs, env, args); err != nil {
		return nil, err
	}
	if f.parallel < 1 || f.grace <= 0 {
		return nil, fmt.Errorf("%w: --parallel and --grace must be positive", ErrUsage)
	}
	return f, nil
}

// scheduledJob is one scheduled run of every target, with the metrics and health it
// leaves behind.
type scheduledJob struct {
	a        *app
	parallel int
	ops      *ops

	mu      sync.Mutex
	lastErr error // of the last run
}

// run rotates every target once, after making sure the Vault token will last.
func (j *scheduledJob) run(ctx context.Context) error {
	err := j.rotate(ctx)
	j.mu.Lock()
	j.lastErr = err
	j.mu.Unlock()
	return err
}

func (j *scheduledJob) rotate(ctx context.Context) error {
	if err := j.a.session.Ensure(ctx, minTokenTTL); err != nil {
		j.ops.loginFailed(ctx, j.a.cfg.Targets, err) // a failed login is a failed run
		return fmt.Errorf("schedule: vault login: %w", err)
	}
	results, err := j.a.rotate(ctx, j.a.cfg.Targets, rotate.Options{Trigger: evidence.TriggerSchedule}, j.parallel, nil)
	if err != nil {
		return err
	}
	j.ops.finished(ctx, j.a, results, true)
	return worst(results)
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
