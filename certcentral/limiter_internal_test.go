package certcentral

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestLimiterConcurrent runs goroutines against the real clock with small
// windows and checks the exact grant times.
func TestLimiterConcurrent(t *testing.T) {
	windows := []Window{{Requests: 10, Period: 40 * time.Millisecond}, {Requests: 25, Period: 200 * time.Millisecond}}
	l := NewLimiter(WithMargin(0), WithWindows(windows...))
	var grants []time.Time
	l.onGrant = func(t time.Time) { grants = append(grants, t) } // l.mu is held
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := l.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(grants) != 40 || !slices.IsSortedFunc(grants, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("%d grants, sorted %t", len(grants), slices.IsSortedFunc(grants, func(a, b time.Time) int { return a.Compare(b) }))
	}
	for _, w := range windows {
		for i := w.Requests; i < len(grants); i++ {
			if gap := grants[i].Sub(grants[i-w.Requests]); gap < w.Period {
				t.Errorf("grants %d and %d only %v apart (window %v)", i-w.Requests, i, gap, w)
			}
		}
	}
	// 40 grants: 25 in the first 200ms window, the rest after it.
	if span := grants[39].Sub(grants[0]); span < 200*time.Millisecond || span > 2*time.Second {
		t.Errorf("span %v", span)
	}
}
