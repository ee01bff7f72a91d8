// Package metrics keeps keyroll's per-target rotation metrics and serves them in the
// Prometheus text exposition format, with a /healthz endpoint beside them.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Rotations holds the metrics of the rotations run by this process. It is safe for
// concurrent use; the zero value is ready.
type Rotations struct {
	mu      sync.Mutex
	targets map[string]*target
	now     func() time.Time
}

type target struct {
	lastSuccess  time.Time
	lastDuration time.Duration
	failures     int
	outcomes     map[string]int
	currentSince time.Time
}

// NewRotations returns an empty set of metrics; now is the clock (nil: time.Now).
func NewRotations(now func() time.Time) *Rotations {
	return &Rotations{now: now}
}

func (r *Rotations) get(name string) *target {
	if r.targets == nil {
		r.targets = map[string]*target{}
	}
	t, ok := r.targets[name]
	if !ok {
		t = &target{outcomes: map[string]int{}}
		r.targets[name] = t
	}
	return t
}

// Observe records one finished rotation attempt of a target. currentSince is when the
// target's current key was promoted (zero: unknown).
func (r *Rotations) Observe(name, outcome string, failed bool, d time.Duration, finished, currentSince time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.get(name)
	t.outcomes[outcome]++
	t.lastDuration = d
	if failed {
		t.failures++
	} else {
		t.lastSuccess = finished
	}
	if !currentSince.IsZero() {
		t.currentSince = currentSince
	}
}

// WriteTo writes the metrics in the Prometheus text format.
func (r *Rotations) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now
	if r.now != nil {
		now = r.now
	}
	names := make([]string, 0, len(r.targets))
	for n := range r.targets {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	family := func(name, typ, help string, each func(n string, t *target)) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, n := range names {
			each(n, r.targets[n])
		}
	}
	family("keyroll_rotation_last_success_timestamp_seconds", "gauge", "Unix time of the last successful rotation run (rotated, resumed or skipped).", func(n string, t *target) {
		if !t.lastSuccess.IsZero() {
			fmt.Fprintf(&b, "keyroll_rotation_last_success_timestamp_seconds{target=%q} %d\n", n, t.lastSuccess.Unix())
		}
	})
	family("keyroll_rotation_duration_seconds", "gauge", "Duration of the last rotation run.", func(n string, t *target) {
		fmt.Fprintf(&b, "keyroll_rotation_duration_seconds{target=%q} %g\n", n, t.lastDuration.Seconds())
	})
	family("keyroll_rotation_failures_total", "counter", "Failed rotation runs.", func(n string, t *target) {
		fmt.Fprintf(&b, "keyroll_rotation_failures_total{target=%q} %d\n", n, t.failures)
	})
	family("keyroll_rotations_total", "counter", "Rotation runs by outcome.", func(n string, t *target) {
		outs := make([]string, 0, len(t.outcomes))
		for o := range t.outcomes {
			outs = append(outs, o)
		}
		sort.Strings(outs)
		for _, o := range outs {
			fmt.Fprintf(&b, "keyroll_rotations_total{target=%q,outcome=%q} %d\n", n, o, t.outcomes[o])
		}
	})
	family("keyroll_key_age_seconds", "gauge", "Age of the target's current key.", func(n string, t *target) {
		if !t.currentSince.IsZero() {
			fmt.Fprintf(&b, "keyroll_key_age_seconds{target=%q} %g\n", n, now().Sub(t.currentSince).Seconds())
		}
	})
	k, err := io.WriteString(w, b.String())
	return int64(k), err
}

// Handler serves /metrics from each of writers in turn and /healthz from healthy.
func Handler(healthy func() error, writers ...io.WriterTo) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		for _, wt := range writers {
			if _, err := wt.WriteTo(w); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if healthy != nil {
			if err := healthy(); err != nil {
				http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}
