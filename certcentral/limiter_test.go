package certcentral_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// maxInWindow returns the largest number of times in any half-open interval
// (t-period, t]; times must be sorted.
func maxInWindow(times []time.Time, period time.Duration) int {
	most, from := 0, 0
	for i, t := range times {
		for !times[from].After(t.Add(-period)) {
			from++
		}
		most = max(most, i-from+1)
	}
	return most
}

func grantTimes(t *testing.T, l *certcentral.Limiter, clock *certcentraltest.FakeClock, n int) []time.Time {
	t.Helper()
	times := make([]time.Time, n)
	for i := range times {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		times[i] = clock.Now()
	}
	return times
}

func TestLimiterWindows(t *testing.T) {
	for _, tc := range []struct {
		n       int
		maxSpan time.Duration // the last grant no later than this after the first
	}{
		// Optimal for 250 is 10s (100 at 0, 100 at 5s, 50 at 10s); the margin
		// adds 2 × 250ms.
		{250, 10*time.Second + 2*certcentral.DefaultLimiterMargin},
		// 1200 needs the 3-minute window: 1000 go out in the first minute,
		// the 1001st waits for the first to leave it.
		{1200, 3*time.Minute + 10*time.Second + 3*certcentral.DefaultLimiterMargin},
	} {
		clock := certcentraltest.NewFakeClock(t0)
		l := certcentral.NewLimiter(certcentral.WithLimiterClock(clock))
		times := grantTimes(t, l, clock, tc.n)
		if m := maxInWindow(times, 5*time.Second); m > 100 {
			t.Errorf("n=%d: %d grants in a 5s window", tc.n, m)
		}
		if m := maxInWindow(times, 3*time.Minute); m > 1000 {
			t.Errorf("n=%d: %d grants in a 3min window", tc.n, m)
		}
		if span := times[len(times)-1].Sub(times[0]); span > tc.maxSpan {
			t.Errorf("n=%d: took %v, want <= %v", tc.n, span, tc.maxSpan)
		}
		if !times[99].Equal(t0) || !times[100].After(t0.Add(5*time.Second)) {
			t.Errorf("n=%d: first burst not immediate: %v, %v", tc.n, times[99], times[100])
		}
	}
}

func TestLimiterExactAndNone(t *testing.T) {
	clock := certcentraltest.NewFakeClock(t0)
	l := certcentral.NewLimiter(certcentral.WithLimiterClock(clock), certcentral.WithMargin(0),
		certcentral.WithWindows(certcentral.Window{Requests: 3, Period: time.Second}))
	times := grantTimes(t, l, clock, 7)
	want := []time.Duration{0, 0, 0, time.Second, time.Second, time.Second, 2 * time.Second}
	for i := range times {
		if got := times[i].Sub(t0); got != want[i] {
			t.Errorf("grant %d at +%v, want +%v", i, got, want[i])
		}
	}
	unlimited := certcentral.NewLimiter(certcentral.WithLimiterClock(clock), certcentral.WithWindows())
	before := clock.Now()
	grantTimes(t, unlimited, clock, 5000)
	if !clock.Now().Equal(before) {
		t.Errorf("a limiter without windows waited")
	}
}

func TestLimiterDeadline(t *testing.T) {
	clock := certcentraltest.NewFakeClock(t0)
	l := certcentral.NewLimiter(certcentral.WithLimiterClock(clock),
		certcentral.WithWindows(certcentral.Window{Requests: 1, Period: time.Hour}))
	must(t, l.Wait(context.Background()))
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Wait(c); !errors.Is(err, context.DeadlineExceeded) || !certcentral.IsRetryable(err) {
		t.Errorf("Wait beyond deadline = %v", err)
	}
	if len(clock.Sleeps()) != 0 {
		t.Errorf("slept %v", clock.Sleeps())
	}
	cancel()
	if err := l.Wait(c); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on cancelled ctx = %v", err)
	}
}

func TestLimiterRegistry(t *testing.T) {
	r := certcentral.NewLimiterRegistry()
	if r.For("key-a") != r.For("key-a") || r.For("key-a") == r.For("key-b") {
		t.Errorf("registry does not share per key")
	}
	if certcentral.LimiterFor("x") != certcentral.Limiters.For("x") {
		t.Errorf("LimiterFor does not use Limiters")
	}
	c1, _ := certcentral.New(certcentral.Config{APIKey: "shared-key-0123"})
	c2, _ := certcentral.New(certcentral.Config{APIKey: "shared-key-0123"})
	if c1 == nil || c2 == nil {
		t.Fatal("New failed")
	}
}

// TestClientStaysUnderSimulatorLimits sends 250 calls through one limiter
// against the simulator's rate limits on a shared fake clock: no 429.
// Without the limiter the simulator answers 429 and the retries (honouring
// its Retry-After) still get every call through.
func TestClientStaysUnderSimulatorLimits(t *testing.T) {
	for _, limited := range []bool{true, false} {
		e := newEnv(t)
		c := e.client(t, func(c *certcentral.Config) {
			c.NoLimiter = !limited
			if !limited {
				c.Limiter = nil
				c.Retry.MaxAttempts = 10
			}
		})
		for i := range 250 {
			if _, err := c.ListWebhooks(ctx(t)); err != nil {
				t.Fatalf("limited=%t: call %d: %v", limited, i, err)
			}
		}
		var times []time.Time
		for _, r := range e.sim.Requests() {
			if r.Status == 200 {
				times = append(times, r.Time)
			}
		}
		if len(times) != 250 || maxInWindow(times, 5*time.Second) > 100 || maxInWindow(times, 3*time.Minute) > 1000 {
			t.Errorf("limited=%t: %d accepted, windows %d/%d", limited, len(times),
				maxInWindow(times, 5*time.Second), maxInWindow(times, 3*time.Minute))
		}
		n429 := e.sim.Count429()
		if limited && n429 != 0 {
			t.Errorf("limited client got %d 429s", n429)
		}
		if !limited && n429 == 0 {
			t.Errorf("unlimited client got no 429: the simulator does not limit")
		}
		if span := times[len(times)-1].Sub(times[0]); span > 11*time.Second {
			t.Errorf("limited=%t: 250 calls took %v", limited, span)
		}
	}
}
