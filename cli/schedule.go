package cli

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
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

func runSchedule(ctx context.Context, env *Env, args []string) error {
	var (
		f           common
		metricsAddr string
		grace       time.Duration
		parallel    int
	)
	fs := flag.NewFlagSet("schedule", flag.ContinueOnError)
	f.register(fs)
	fs.StringVar(&metricsAddr, "metrics-addr", "", "serve /healthz and Prometheus /metrics on this address")
	fs.DurationVar(&grace, "grace", 2*time.Minute, "how long a running rotation may go on after SIGTERM")
	fs.IntVar(&parallel, "parallel", DefaultParallel, "targets rotated at once")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if parallel < 1 || grace <= 0 {
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
		if _, err := a.client(ctx, t); err != nil {
			return err
		}
	}
	keep, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopKeep()
	go a.session.KeepAlive(keep)

	m := metrics.NewRotations(nil)
	var mu sync.Mutex
	var lastErr error
	job := func(ctx context.Context) error {
		if err := a.session.Ensure(ctx, minTokenTTL); err != nil {
			mu.Lock()
			lastErr = err
			mu.Unlock()
			return fmt.Errorf("schedule: vault login: %w", err)
		}
		results, err := a.rotate(ctx, cfg.Targets, rotate.Options{Trigger: evidence.TriggerSchedule}, parallel, nil)
		if err == nil {
			for _, r := range results {
				var since time.Time
				if r.Err == nil {
					since = currentSince(ctx, a, r.Target)
				}
				m.Observe(r.Target, string(r.Outcome), r.Err != nil, r.Duration, time.Now(), since)
			}
			err = worst(results)
		}
		mu.Lock()
		lastErr = err
		mu.Unlock()
		return err
	}

	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			return fmt.Errorf("%w: --metrics-addr: %v", ErrUsage, err)
		}
		healthy := func() error {
			mu.Lock()
			defer mu.Unlock()
			if failure.Of(lastErr) == failure.NeedsHuman {
				return lastErr
			}
			return nil
		}
		srv := &http.Server{Handler: metrics.Handler(healthy, m), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		env.Log.Info().Str("addr", ln.Addr().String()).Msg("metrics listening")
	}

	// A second SIGINT/SIGTERM (the first ended ctx) cancels a running rotation at once.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hard := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				if n == 2 {
					close(hard)
					return
				}
			case <-keep.Done():
				return
			}
		}
	}()
	s := &schedule.Scheduler{Schedule: cfg.Rotation.Cron, Job: job, Log: env.Log, Grace: grace}
	return s.Run(ctx, hard)
}

// currentSince reads when the target's current key was promoted, for the key-age metric.
func currentSince(ctx context.Context, a *app, name string) time.Time {
	t, ok := a.cfg.Target(name)
	if !ok {
		return time.Time{}
	}
	vv, err := a.store.Read(ctx, t.VaultPath)
	if err != nil {
		return time.Time{}
	}
	return vv.Doc.CurrentSince
}
