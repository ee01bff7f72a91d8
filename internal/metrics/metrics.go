// Package metrics holds keyroll's Prometheus metrics on prometheus/client_golang: the
// registry every command serves (keyroll_build_info, the Go and process collectors), the
// per-target rotation and key metrics of `keyroll run` and `keyroll schedule`, the
// /metrics and /healthz handler, and the push of a run's metrics to a Pushgateway.
//
// Times are exported as Unix timestamps (…_timestamp_seconds) so that rules compute ages
// with time() and a restarted or pushed-once process stays right: the key's age is
// time() - keyroll_key_current_since_timestamp_seconds.
package metrics

import (
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyroll/keyroll/keyset"
)

// NewRegistry returns a registry holding keyroll_build_info{version,goversion} and the
// Go and process collectors. Register the command's own collectors on it.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "keyroll_build_info",
			Help:        "Always 1; the labels name the keyroll build.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

// Rotations are the metrics of one process's rotation runs and of the targets' key
// documents, every series labelled with the target. It is a prometheus.Collector; its
// methods are safe for concurrent use.
type Rotations struct {
	runs          *prometheus.CounterVec
	failures      *prometheus.CounterVec
	lastRun       *prometheus.GaugeVec
	lastSuccess   *prometheus.GaugeVec
	lastFailure   *prometheus.GaugeVec
	lastDuration  *prometheus.GaugeVec
	needsHuman    *prometheus.GaugeVec
	currentSince  *prometheus.GaugeVec
	pending       *prometheus.GaugeVec
	pendingSince  *prometheus.GaugeVec
	prevUntil     *prometheus.GaugeVec
	maxAge        *prometheus.GaugeVec
	stuckAfter    *prometheus.GaugeVec
	interval      *prometheus.GaugeVec
	retired       *prometheus.GaugeVec
	untimestamped *prometheus.GaugeVec
	held          *prometheus.GaugeVec
	all           []prometheus.Collector

	mu          sync.Mutex
	successUnix map[string]float64 // lastSuccess by target, as last set
}

// NewRotations returns the rotation metrics, with no target yet.
func NewRotations() *Rotations {
	target := []string{"target"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, target)
	}
	r := &Rotations{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyroll_rotations_total",
			Help: "Rotation runs by outcome (rotated, resumed, skipped, failed)."}, []string{"target", "outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyroll_rotation_failures_total",
			Help: "Failed rotation runs, a failed Vault login included."}, target),
		lastRun:       gauge("keyroll_rotation_last_run_timestamp_seconds", "Unix time the last rotation run ended."),
		lastSuccess:   gauge("keyroll_rotation_last_success_timestamp_seconds", "Unix time of the last successful run (rotated, resumed or skipped), at least the current key's promotion."),
		lastFailure:   gauge("keyroll_rotation_last_failure_timestamp_seconds", "Unix time of the last failed run (absent: none seen by this process)."),
		lastDuration:  gauge("keyroll_rotation_last_duration_seconds", "Duration of the last rotation run."),
		needsHuman:    gauge("keyroll_rotation_needs_human", "1 when the last run stopped on something only a human can fix (exit 3), else 0."),
		currentSince:  gauge("keyroll_key_current_since_timestamp_seconds", "Unix time the current key was promoted (its age is time() minus this)."),
		pending:       gauge("keyroll_key_pending", "1 while a staged key is pending, else 0."),
		pendingSince:  gauge("keyroll_key_pending_since_timestamp_seconds", "Unix time the pending key was staged (0: none pending)."),
		prevUntil:     gauge("keyroll_key_previous_until_timestamp_seconds", "Unix time the previous key's overlap window ends (0: no previous key)."),
		maxAge:        gauge("keyroll_rotation_max_age_seconds", "The target's max_age (rotation.max_age; an api_key target's api_key.max_age): the age past which its key is overdue."),
		stuckAfter:    gauge("keyroll_rotation_stuck_after_seconds", "rotation.stuck_after: how long a key may stay pending."),
		interval:      gauge("keyroll_rotation_schedule_interval_seconds", "The longest gap between two runs of rotation.schedule: a success older than this means a run was missed."),
		retired:       gauge("keyroll_key_retired_versions_readable", "Versions of the key document Vault keeps readable that hold a retired key (0 once retirement destroyed them)."),
		untimestamped: gauge("keyroll_evidence_untimestamped_records", "Records of the evidence file after its last RFC 3161 timestamp (evidence.timestamp): 0 once the run's timestamp succeeded."),
		held:          gauge("keyroll_api_key_held", "api_key targets: 1 while the previous API key is held, active past its overlap because it is still in use (in_use: hold), else 0."),
	}
	r.all = []prometheus.Collector{r.runs, r.failures, r.lastRun, r.lastSuccess, r.lastFailure, r.lastDuration,
		r.needsHuman, r.currentSince, r.pending, r.pendingSince, r.prevUntil, r.maxAge, r.stuckAfter, r.interval, r.retired, r.untimestamped, r.held}
	return r
}

// Describe implements prometheus.Collector.
func (r *Rotations) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range r.all {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (r *Rotations) Collect(ch chan<- prometheus.Metric) {
	for _, c := range r.all {
		c.Collect(ch)
	}
}

// Run is one finished rotation run of a target.
type Run struct {
	Target     string
	Outcome    string // rotated, resumed, skipped or failed
	Failed     bool
	NeedsHuman bool
	Duration   time.Duration
	Finished   time.Time
}

// Observe records a finished run.
func (r *Rotations) Observe(run Run) {
	t := run.Target
	r.runs.WithLabelValues(t, run.Outcome).Inc()
	r.failures.WithLabelValues(t).Add(0) // present from the first run on, failed or not
	r.lastRun.WithLabelValues(t).Set(unix(run.Finished))
	r.lastDuration.WithLabelValues(t).Set(run.Duration.Seconds())
	r.needsHuman.WithLabelValues(t).Set(boolFloat(run.NeedsHuman))
	if run.Failed {
		r.failures.WithLabelValues(t).Inc()
		r.lastFailure.WithLabelValues(t).Set(unix(run.Finished))
		return
	}
	r.raiseLastSuccess(t, run.Finished)
}

// ObserveDocument fills the key gauges of target from its key document as read from
// Vault.
func (r *Rotations) ObserveDocument(target string, d keyset.Document) {
	r.currentSince.WithLabelValues(target).Set(unix(d.CurrentSince))
	r.pending.WithLabelValues(target).Set(boolFloat(d.Staged()))
	r.pendingSince.WithLabelValues(target).Set(unix(d.PendingSince))
	var until time.Time
	if d.Previous != "" {
		until = d.PreviousUntil
	}
	r.prevUntil.WithLabelValues(target).Set(unix(until))
}

// ObserveHeld sets whether api_key target's document holds a previous key kept past its
// overlap because it is still in use (previous_held_since).
func (r *Rotations) ObserveHeld(target string, d keyset.Document) {
	r.held.WithLabelValues(target).Set(boolFloat(d.Previous != "" && !d.PreviousHeldSince.IsZero()))
}

// ObserveRetired sets how many versions of target's document Vault keeps readable while
// they hold a retired key (keyroll status's RETIRED column).
func (r *Rotations) ObserveRetired(target string, versions int) {
	r.retired.WithLabelValues(target).Set(float64(versions))
}

// SucceededBy raises the target's last success to t when that is later: a scheduler
// that starts after a rotation knows of it, from the current key's promotion, without
// having run it.
func (r *Rotations) SucceededBy(target string, t time.Time) {
	r.raiseLastSuccess(target, t)
}

// SetPolicy exports the limits the alert rules compare against.
func (r *Rotations) SetPolicy(target string, maxAge, stuckAfter time.Duration) {
	r.maxAge.WithLabelValues(target).Set(maxAge.Seconds())
	r.stuckAfter.WithLabelValues(target).Set(stuckAfter.Seconds())
}

// SetScheduleInterval exports the longest gap between two scheduled runs, which the
// KeyrollNoRecentSuccess alert compares the last success against.
func (r *Rotations) SetScheduleInterval(target string, d time.Duration) {
	r.interval.WithLabelValues(target).Set(d.Seconds())
}

// raiseLastSuccess sets the target's last success to t unless it is later already (a
// zero t changes nothing).
func (r *Rotations) raiseLastSuccess(target string, t time.Time) {
	if t.IsZero() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.successUnix == nil {
		r.successUnix = map[string]float64{}
	}
	if ts := unix(t); ts > r.successUnix[target] {
		r.successUnix[target] = ts
		r.lastSuccess.WithLabelValues(target).Set(ts)
	}
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves /metrics from reg and /healthz from healthy (nil: always healthy).
func Handler(healthy func() error, reg prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
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

// ObserveUntimestamped records how many records of the evidence file wait for an RFC 3161
// timestamp after a run of target (the file is shared: every target gets the same count).
func (r *Rotations) ObserveUntimestamped(target string, records int) {
	r.untimestamped.WithLabelValues(target).Set(float64(records))
}
