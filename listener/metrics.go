package listener

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyroll/keyroll/keyset"
)

// paddedCounter keeps each hot counter on its own cache line, so that concurrent
// requests counting different outcomes do not contend.
type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

// counters are a verifier's atomic counters.
type counters struct {
	accepted      [4]paddedCounter // by keyset.Role (RoleNone unused)
	rejected      [numReasons]paddedCounter
	refreshes     atomic.Uint64
	refreshErrors atomic.Uint64
}

func (c *counters) count(role keyset.Role, reason Reason) {
	if reason != ReasonNone {
		c.rejected[reason].Add(1)
		return
	}
	c.accepted[role].Add(1)
}

// roles lists the roles of the accept set, in order of precedence.
var roles = [...]keyset.Role{keyset.RoleCurrent, keyset.RolePending, keyset.RolePrevious}

// reasons lists the reasons for a rejection.
var reasons = [...]Reason{ReasonMissingKey, ReasonWrongKey, ReasonExpiredKey, ReasonUnavailable}

// Stats are a verifier's counters since it was created.
type Stats struct {
	// Accepted counts accepted keys by the role they matched (current, pending, previous).
	Accepted map[keyset.Role]uint64
	// Rejected counts rejected keys by reason.
	Rejected map[Reason]uint64
	// Refreshes and RefreshErrors count successful and failed reads of the document.
	Refreshes     uint64
	RefreshErrors uint64
}

// Stats returns the counters. Every role and reason has an entry, zero or not.
func (v *Verifier) Stats() Stats {
	st := Stats{Accepted: map[keyset.Role]uint64{}, Rejected: map[Reason]uint64{}}
	for _, r := range roles {
		st.Accepted[r] = v.stats.accepted[r].Load()
	}
	for _, r := range reasons {
		st.Rejected[r] = v.stats.rejected[r].Load()
	}
	st.Refreshes = v.stats.refreshes.Load()
	st.RefreshErrors = v.stats.refreshErrors.Load()
	return st
}

// metricDescs are the descriptions of a verifier's metrics; the target is a constant
// label, so verifiers of different targets register side by side in one registry.
type metricDescs struct {
	accepted, rejected, refreshes                    *prometheus.Desc
	fresh, lastRefresh, staleness, maxStale, version *prometheus.Desc
	accepting, previousUntil, suppressed             *prometheus.Desc
}

func newMetricDescs(target string) *metricDescs {
	c := prometheus.Labels{"target": target}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, c)
	}
	return &metricDescs{
		accepted:      d("keyroll_listener_accepted_total", "Webhook deliveries accepted, by the role of the key that matched.", "role"),
		rejected:      d("keyroll_listener_rejected_total", "Webhook deliveries rejected, by reason.", "reason"),
		refreshes:     d("keyroll_listener_refreshes_total", "Reads of the key document from Vault, by result.", "result"),
		fresh:         d("keyroll_listener_keyset_fresh", "1 while deliveries can be verified (a key set no older than the maximum staleness), else 0."),
		lastRefresh:   d("keyroll_listener_last_refresh_timestamp_seconds", "Unix time the read of the key set in use started (0: none loaded)."),
		staleness:     d("keyroll_listener_keyset_staleness_seconds", "Age of the key set in use (+Inf: none loaded)."),
		maxStale:      d("keyroll_listener_keyset_max_staleness_seconds", "Age past which the key set is no longer used and deliveries are rejected."),
		version:       d("keyroll_listener_keyset_version", "KV version of the key document in use (0: none loaded)."),
		accepting:     d("keyroll_listener_keyset_accepting", "1 when the key of the role is in the accept set now, else 0.", "role"),
		previousUntil: d("keyroll_listener_previous_until_timestamp_seconds", "Unix time the overlap window of the previous key ends (0: no previous key)."),
		suppressed:    d("keyroll_listener_log_lines_suppressed_total", "Log lines dropped by the rate limit, by log: rejected (rejected deliveries) or read_failed (failed reads with refresh 0).", "log"),
	}
}

// Describe implements prometheus.Collector: register a Verifier in a registry to export
// its counters and the state of its key set, every series labelled with its target.
// Verifiers of different targets can share a registry.
func (v *Verifier) Describe(ch chan<- *prometheus.Desc) {
	d := v.descs
	for _, x := range []*prometheus.Desc{d.accepted, d.rejected, d.refreshes, d.fresh, d.lastRefresh,
		d.staleness, d.maxStale, d.version, d.accepting, d.previousUntil, d.suppressed} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (v *Verifier) Collect(ch chan<- prometheus.Metric) {
	st, ks, d := v.Stats(), v.Status(), v.descs
	counter := func(desc *prometheus.Desc, val uint64, label string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(val), label)
	}
	gauge := func(desc *prometheus.Desc, val float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, val, labels...)
	}
	for _, r := range roles {
		counter(d.accepted, st.Accepted[r], r.String())
		gauge(d.accepting, boolFloat(ks.Accepting[r]), r.String())
	}
	for _, r := range reasons {
		counter(d.rejected, st.Rejected[r], r.String())
	}
	var rejectedSuppressed uint64
	for _, l := range v.rejects {
		rejectedSuppressed += l.Suppressed()
	}
	counter(d.suppressed, rejectedSuppressed, "rejected")
	counter(d.suppressed, v.readLog.Suppressed(), "read_failed")
	counter(d.refreshes, st.Refreshes, "ok")
	counter(d.refreshes, st.RefreshErrors, "error")
	gauge(d.fresh, boolFloat(ks.Fresh))
	loadedAt, staleness := 0.0, math.Inf(1)
	if ks.Loaded {
		loadedAt, staleness = float64(ks.LoadedAt.UnixNano())/1e9, ks.Staleness.Seconds()
	}
	gauge(d.lastRefresh, loadedAt)
	gauge(d.staleness, staleness)
	gauge(d.maxStale, ks.MaxStaleness.Seconds())
	gauge(d.version, float64(ks.Version))
	var until float64
	if !ks.PreviousUntil.IsZero() {
		until = float64(ks.PreviousUntil.Unix())
	}
	gauge(d.previousUntil, until)
}

// MetricsHandler serves the verifier's metrics alone, e.g. on /metrics. It is not behind
// the key check. To serve them with others, register the Verifier in your registry.
func (v *Verifier) MetricsHandler() http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(v)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// HealthHandler answers 200 "ok" while Ready returns nil, else 503 with the reason (no
// key, no secret), e.g. on /healthz for a readiness probe. It is not behind the key check.
func (v *Verifier) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := v.Ready(r.Context()); err != nil {
			msg := "key set unavailable"
			switch {
			case errors.Is(err, ErrNotLoaded):
				msg = "key set not loaded yet"
			case errors.Is(err, ErrStale):
				msg = "key set stale"
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, msg)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
