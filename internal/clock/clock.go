// Package clock holds the one notion of time keyroll's packages share: a Clock that tells
// the time and waits. Tests inject a fake one (certcentraltest.FakeClock) so that nothing
// really sleeps.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep pauses for d, or until ctx is done, whichever comes first. It returns
	// ctx.Err() when ctx ended the pause and nil otherwise.
	Sleep(ctx context.Context, d time.Duration) error
}

// System is the real clock: time.Now and a timer.
var System Clock = system{}

type system struct{}

func (system) Now() time.Time { return time.Now() }

func (system) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
