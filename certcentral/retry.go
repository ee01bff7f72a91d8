package certcentral

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a call is retried after a
// retryable failure (429, 5xx, timeout, connection error). Zero fields take
// the defaults shown.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts including the first (default 5).
	// 1 disables retries.
	MaxAttempts int
	// BaseBackoff is the backoff cap after the first failure; it doubles per
	// failure up to MaxBackoff. The actual wait is drawn uniformly from
	// [0, cap] ("full jitter"). Defaults: 500ms and 30s.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for
	// (default 5m); a longer one ends the retries at once.
	MaxRetryAfter time.Duration
}

// Default retry policy values.
const (
	DefaultMaxAttempts   = 5
	DefaultBaseBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = DefaultBaseBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.BaseBackoff {
		p.MaxBackoff = p.BaseBackoff
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = DefaultMaxRetryAfter
	}
	return p
}

// backoff returns the full-jitter wait after the n-th failed attempt (n >= 1).
func (p RetryPolicy) backoff(n int) time.Duration {
	limit := p.BaseBackoff
	for i := 1; i < n && limit < p.MaxBackoff; i++ {
		limit *= 2
	}
	if limit > p.MaxBackoff {
		limit = p.MaxBackoff
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

// maxRetryAfterHeader bounds parsed Retry-After values so that arithmetic on
// absurd ones cannot overflow.
const maxRetryAfterHeader = 24 * time.Hour

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
// It returns 0 when the header is absent, unparsable or in the past.
func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfterHeader/time.Second) {
			return maxRetryAfterHeader
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfterHeader)
}
