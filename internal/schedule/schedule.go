// Package schedule runs keyroll's rotation on a cron schedule (robfig/cron/v3): one run at
// a time, panics recovered, the next fire time logged, and a graceful stop that lets a
// running rotation reach a safe point within a bounded grace period.
package schedule

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Job is one scheduled run. Its context ends when the grace period after a stop runs out
// (or at a hard stop); it should return promptly then, leaving state resumable.
type Job func(ctx context.Context) error

// Scheduler fires Job on Schedule until Run's context ends.
type Scheduler struct {
	Schedule cron.Schedule
	Job      Job
	Log      zerolog.Logger
	// Grace bounds how long a running job may go on after the stop (default 2m).
	Grace time.Duration
	// Location is the time zone of the cron clock (default: UTC). A CRON_TZ= prefix in the
	// spec takes precedence.
	Location *time.Location

	mu      sync.Mutex
	running bool
}

// cronLogger adapts zerolog to cron.Logger.
type cronLogger struct{ log zerolog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Debug().Fields(kv).Msg("cron: " + msg)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error().Err(err).Fields(kv).Msg("cron: " + msg)
}

// Run schedules the job until ctx ends, then stops scheduling and waits for a running job
// for at most Grace; a value received on hardStop (e.g. a second signal) cancels the
// running job at once. It returns nil after a clean stop.
func (s *Scheduler) Run(ctx context.Context, hardStop <-chan struct{}) error {
	if s.Schedule == nil || s.Job == nil {
		return errors.New("schedule: Schedule and Job are required")
	}
	grace := s.Grace
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	// The job's context outlives ctx by the grace period.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	logger := cronLogger{log: s.Log}
	c := cron.New(
		cron.WithLocation(loc),
		cron.WithLogger(logger),
		// Recover must sit inside SkipIfStillRunning: a panic that escaped the latter would
		// keep its semaphore and skip every later run.
		cron.WithChain(cron.SkipIfStillRunning(logger), cron.Recover(logger)),
	)
	var id cron.EntryID
	id = c.Schedule(s.Schedule, cron.FuncJob(func() {
		s.setRunning(true)
		defer s.setRunning(false)
		start := time.Now()
		err := s.Job(jobCtx)
		ev := s.Log.Info()
		if err != nil {
			ev = s.Log.Error().Err(err)
		}
		ev.Dur("duration", time.Since(start)).Time("next", c.Entry(id).Next).Msg("scheduled run finished")
	}))
	c.Start()
	s.Log.Info().Time("next", c.Entry(id).Next).Msg("scheduler started")

	select {
	case <-ctx.Done():
	case <-hardStop:
	}
	stopped := c.Stop() // no new runs; done when the running one returns
	if s.isRunning() {
		s.Log.Info().Dur("grace", grace).Msg("stop requested: letting the running rotation reach a safe point")
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-stopped.Done():
		s.Log.Info().Msg("scheduler stopped")
		return nil
	case <-hardStop:
		s.Log.Warn().Msg("second stop request: cancelling the running rotation; its state stays resumable")
	case <-t.C:
		s.Log.Warn().Dur("grace", grace).Msg("grace period over: cancelling the running rotation; its state stays resumable")
	}
	cancelJobs()
	<-stopped.Done()
	return nil
}

func (s *Scheduler) setRunning(b bool) {
	s.mu.Lock()
	s.running = b
	s.mu.Unlock()
}

func (s *Scheduler) isRunning() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}
