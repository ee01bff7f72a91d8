package listener

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// DefaultLogEvery is how often a rate-limited log writes a line at most.
const DefaultLogEvery = time.Second

// rateLog writes at most one line every `every`, counting the lines it drops and reporting
// that count (as "suppressed") on the next line it writes. Unauthenticated traffic cannot
// flood the log.
type rateLog struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	next       time.Time
	suppressed int
	total      atomic.Uint64 // every line dropped
}

func newRateLog(every time.Duration, now func() time.Time) *rateLog {
	if every <= 0 {
		every = DefaultLogEvery
	}
	return &rateLog{every: every, now: now}
}

// event returns the event to write, with the number of lines dropped before it, or nil
// when this line is dropped.
func (l *rateLog) event(log *zerolog.Logger, lvl zerolog.Level) *zerolog.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Before(l.next) {
		l.suppressed++
		l.total.Add(1)
		return nil
	}
	l.next = now.Add(l.every)
	ev := log.WithLevel(lvl)
	if l.suppressed > 0 {
		ev = ev.Int("suppressed", l.suppressed)
		l.suppressed = 0
	}
	return ev
}

// Suppressed returns the number of lines dropped since l was made.
func (l *rateLog) Suppressed() uint64 { return l.total.Load() }

// ParseCIDRs parses a comma-separated list of CIDR prefixes or single addresses, e.g.
// "203.0.113.0/24,2001:db8::/32,198.51.100.7".
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("%q: want a CIDR prefix or an address", f)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q: want a CIDR prefix or an address", f)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address given")
	}
	return out, nil
}

// AllowFrom passes to next only the requests whose source address lies in one of allowed,
// and answers the others 403 (closing the connection) with a rate-limited log line. The source is the connection's
// peer; with trustForwardedFor, it is the last address of X-Forwarded-For when the header
// is present (set it only behind a proxy that appends the real peer to that header).
func AllowFrom(allowed []netip.Prefix, trustForwardedFor bool, log zerolog.Logger, next http.Handler) http.Handler {
	rl := newRateLog(DefaultLogEvery, time.Now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := sourceAddr(r, trustForwardedFor)
		for _, p := range allowed {
			if src.IsValid() && p.Contains(src) {
				next.ServeHTTP(w, r)
				return
			}
		}
		if ev := rl.event(&log, zerolog.WarnLevel); ev != nil {
			ev.Str("remote_addr", r.RemoteAddr).Str("source", src.String()).Str("path", r.URL.Path).Msg("delivery from a source not in --allow-from refused")
		}
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
	})
}

func sourceAddr(r *http.Request, trustForwardedFor bool) netip.Addr {
	if trustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1]))
			if err != nil {
				return netip.Addr{}
			}
			return a.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
