package certcentral

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/keyroll/keyroll/internal/clock"
)

// Window is one rolling rate-limit window: at most Requests requests in any
// interval of length Period.
type Window struct {
	Requests int
	Period   time.Duration
}

// DefaultWindows are DigiCert's documented limits per API key: 100 requests
// per 5 seconds and 1000 requests per 3 minutes.
var DefaultWindows = []Window{
	{Requests: 100, Period: 5 * time.Second},
	{Requests: 1000, Period: 3 * time.Minute},
}

// DefaultLimiterMargin is added to every window's period to absorb jitter
// between the moment a request leaves the client and the moment DigiCert
// counts it.
const DefaultLimiterMargin = 250 * time.Millisecond

// Limiter keeps the requests of one API key under every one of its windows.
//
// It is a sliding-window log, not a token bucket: a token bucket of burst b
// and rate r admits b + r·W requests in a window of length W, so to be safe
// for both windows it would need b + 5s·r <= 100 and b + 180s·r <= 1000 and
// could then sustain only about 5 requests per second. The log remembers the
// times of the last N grants of each window of N requests and grants the next
// one no earlier than the oldest of them plus the window's period (plus the
// margin). So no interval of length Period ever holds more than Requests
// grants, and a burst of 100 goes out at once, which is the best any client
// can do under the same limits. Memory is one timestamp per allowed request
// of the largest window (1000).
//
// Grants are handed out in the order Wait is called (FIFO). A waiter whose
// context ends keeps its slot, so the limiter errs on the safe side. A Limiter
// is safe for concurrent use.
type Limiter struct {
	clock  clock.Clock
	margin time.Duration

	mu      sync.Mutex
	windows []*windowLog
	last    time.Time       // latest grant; grants never go backwards
	onGrant func(time.Time) // test hook, called with l.mu held
}

type windowLog struct {
	limit  int
	period time.Duration
	times  []time.Time // ring of the last limit grants
	next   int         // index of the oldest grant once the ring is full
}

// LimiterOption configures a Limiter.
type LimiterOption func(*Limiter)

// WithWindows replaces DefaultWindows. No windows means no limit. Windows
// with a non-positive Requests or Period are ignored.
func WithWindows(ws ...Window) LimiterOption {
	return func(l *Limiter) {
		l.windows = nil
		for _, w := range ws {
			if w.Requests > 0 && w.Period > 0 {
				l.windows = append(l.windows, &windowLog{limit: w.Requests, period: w.Period})
			}
		}
	}
}

// WithLimiterClock sets the clock (default clock.System).
func WithLimiterClock(c clock.Clock) LimiterOption {
	return func(l *Limiter) { l.clock = c }
}

// WithMargin replaces DefaultLimiterMargin; 0 means exact windows.
func WithMargin(d time.Duration) LimiterOption {
	return func(l *Limiter) { l.margin = max(d, 0) }
}

// NewLimiter returns a limiter for DefaultWindows unless options say
// otherwise.
func NewLimiter(opts ...LimiterOption) *Limiter {
	l := &Limiter{clock: clock.System, margin: DefaultLimiterMargin}
	WithWindows(DefaultWindows...)(l)
	for _, o := range opts {
		o(l)
	}
	return l
}

// Wait blocks until the next request may be sent, or until ctx is done. It
// fails at once, without waiting, when ctx's deadline comes before the grant.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := l.wait(ctx); err != nil {
		return fmt.Errorf("certcentral: %w", err)
	}
	return nil
}

// wait is Wait with errors not yet prefixed.
func (l *Limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.clock.Now()
	l.mu.Lock()
	at := l.earliest(now)
	if dl, ok := ctx.Deadline(); ok && at.Sub(now) > time.Until(dl) { // deadlines are real time
		l.mu.Unlock()
		return fmt.Errorf("rate limit: next request allowed in %v, after the deadline: %w",
			at.Sub(now).Round(time.Millisecond), context.DeadlineExceeded)
	}
	l.commit(at)
	l.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return l.clock.Sleep(ctx, d)
	}
	return nil
}

// earliest returns the first time at or after now at which a grant keeps
// every window within its limit. l.mu must be held.
func (l *Limiter) earliest(now time.Time) time.Time {
	at := now
	if at.Before(l.last) {
		at = l.last
	}
	for _, w := range l.windows {
		if len(w.times) == w.limit {
			if t := w.times[w.next].Add(w.period + l.margin); t.After(at) {
				at = t
			}
		}
	}
	return at
}

// commit records a grant at t. l.mu must be held.
func (l *Limiter) commit(t time.Time) {
	for _, w := range l.windows {
		if len(w.times) < w.limit {
			w.times = append(w.times, t)
			continue
		}
		w.times[w.next] = t
		w.next = (w.next + 1) % w.limit
	}
	l.last = t
	if l.onGrant != nil {
		l.onGrant(t)
	}
}

// LimiterRegistry hands out one Limiter per API key, so that every client
// using a key shares its limits. It keys limiters by the SHA-256 of the API
// key and never stores the key.
type LimiterRegistry struct {
	opts []LimiterOption
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*Limiter
}

// NewLimiterRegistry returns a registry whose limiters are made with opts.
func NewLimiterRegistry(opts ...LimiterOption) *LimiterRegistry {
	return &LimiterRegistry{opts: opts, m: map[[sha256.Size]byte]*Limiter{}}
}

// For returns the limiter for apiKey, creating it on first use.
func (r *LimiterRegistry) For(apiKey string) *Limiter {
	h := sha256.Sum256([]byte(apiKey))
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.m[h]
	if !ok {
		l = NewLimiter(r.opts...)
		r.m[h] = l
	}
	return l
}

// Limiters is the process-wide registry that clients use by default.
var Limiters = NewLimiterRegistry()

// LimiterFor returns the process-wide limiter for apiKey: Limiters.For(apiKey).
func LimiterFor(apiKey string) *Limiter { return Limiters.For(apiKey) }
