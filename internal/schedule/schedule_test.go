package schedule_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/schedule"
)

// every fires every d (robfig's @every rounds to whole seconds; tests need less).
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func TestRunsSkipsOverlapsAndRecovers(t *testing.T) {
	var runs, concurrent, maxConcurrent atomic.Int64
	job := func(ctx context.Context) error {
		n := runs.Add(1)
		c := concurrent.Add(1)
		defer concurrent.Add(-1)
		for {
			m := maxConcurrent.Load()
			if c <= m || maxConcurrent.CompareAndSwap(m, c) {
				break
			}
		}
		if n == 1 {
			panic("boom") // recovered; the scheduler goes on
		}
		time.Sleep(25 * time.Millisecond) // longer than the interval: later fires are skipped
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &schedule.Scheduler{Schedule: every(10 * time.Millisecond), Job: job, Log: zerolog.Nop(), Grace: time.Second}
	done := make(chan error)
	go func() { done <- s.Run(ctx, nil) }()
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if runs.Load() < 4 {
		t.Errorf("runs = %d, want >= 4 (a panic must not stop the scheduler)", runs.Load())
	}
	if maxConcurrent.Load() != 1 {
		t.Errorf("max concurrent runs = %d, want 1", maxConcurrent.Load())
	}
}

func TestStopWaitsForRunningJobWithinGrace(t *testing.T) {
	started := make(chan struct{})
	var finished atomic.Bool
	var once atomic.Bool
	job := func(ctx context.Context) error {
		if !once.CompareAndSwap(false, true) {
			return nil
		}
		close(started)
		select {
		case <-time.After(100 * time.Millisecond): // reaches its safe point
			finished.Store(true)
		case <-ctx.Done():
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &schedule.Scheduler{Schedule: every(5 * time.Millisecond), Job: job, Log: zerolog.Nop(), Grace: 10 * time.Second}
	done := make(chan error)
	go func() { done <- s.Run(ctx, nil) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("the running job was not allowed to finish within the grace period")
	}
}

func TestGraceAndHardStopCancelJob(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
		hard  bool
	}{
		{"grace expires", 20 * time.Millisecond, false},
		{"second signal", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{})
			var once atomic.Bool
			var cancelled atomic.Bool
			job := func(ctx context.Context) error {
				if !once.CompareAndSwap(false, true) {
					return nil
				}
				close(started)
				<-ctx.Done()
				cancelled.Store(true)
				return ctx.Err()
			}
			ctx, cancel := context.WithCancel(context.Background())
			hard := make(chan struct{})
			s := &schedule.Scheduler{Schedule: every(5 * time.Millisecond), Job: job, Log: zerolog.Nop(), Grace: tc.grace}
			done := make(chan error)
			go func() { done <- s.Run(ctx, hard) }()
			<-started
			cancel()
			if tc.hard {
				close(hard)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("scheduler did not stop")
			}
			if !cancelled.Load() {
				t.Error("the running job's context was not cancelled")
			}
		})
	}
}
