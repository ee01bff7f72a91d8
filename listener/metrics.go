package listener

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

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

// WriteMetrics writes the counters and the state of the key set in the Prometheus text
// exposition format (version 0.0.4), every series labelled with the target.
func (v *Verifier) WriteMetrics(w io.Writer) error {
	st, ks := v.Stats(), v.Status()
	var b strings.Builder
	target := `target="` + escapeLabel(v.target) + `"`
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name, labels string, val float64) {
		fmt.Fprintf(&b, "%s{%s%s} %s\n", name, target, labels, formatFloat(val))
	}

	family("keyroll_listener_accepted_total", "counter", "Webhook deliveries accepted, by the role of the key that matched.")
	for _, r := range roles {
		sample("keyroll_listener_accepted_total", `,role="`+r.String()+`"`, float64(st.Accepted[r]))
	}
	family("keyroll_listener_rejected_total", "counter", "Webhook deliveries rejected, by reason.")
	for _, r := range reasons {
		sample("keyroll_listener_rejected_total", `,reason="`+r.String()+`"`, float64(st.Rejected[r]))
	}
	family("keyroll_listener_refreshes_total", "counter", "Reads of the key document from Vault, by result.")
	sample("keyroll_listener_refreshes_total", `,result="ok"`, float64(st.Refreshes))
	sample("keyroll_listener_refreshes_total", `,result="error"`, float64(st.RefreshErrors))

	family("keyroll_listener_keyset_fresh", "gauge", "1 while deliveries can be verified (a key set no older than the maximum staleness), else 0.")
	sample("keyroll_listener_keyset_fresh", "", boolFloat(ks.Fresh))
	family("keyroll_listener_last_refresh_timestamp_seconds", "gauge", "Unix time the read of the key set in use started (0: none loaded).")
	family("keyroll_listener_keyset_staleness_seconds", "gauge", "Age of the key set in use (+Inf: none loaded).")
	if ks.Loaded {
		sample("keyroll_listener_last_refresh_timestamp_seconds", "", float64(ks.LoadedAt.UnixNano())/1e9)
		sample("keyroll_listener_keyset_staleness_seconds", "", ks.Staleness.Seconds())
	} else {
		sample("keyroll_listener_last_refresh_timestamp_seconds", "", 0)
		sample("keyroll_listener_keyset_staleness_seconds", "", math.Inf(1))
	}
	family("keyroll_listener_keyset_max_staleness_seconds", "gauge", "Age past which the key set is no longer used and deliveries are rejected.")
	sample("keyroll_listener_keyset_max_staleness_seconds", "", ks.MaxStaleness.Seconds())
	family("keyroll_listener_keyset_version", "gauge", "KV version of the key document in use (0: none loaded).")
	sample("keyroll_listener_keyset_version", "", float64(ks.Version))
	family("keyroll_listener_keyset_accepting", "gauge", "1 when the key of the role is in the accept set now, else 0.")
	for _, r := range roles {
		sample("keyroll_listener_keyset_accepting", `,role="`+r.String()+`"`, boolFloat(ks.Accepting[r]))
	}
	if !ks.PreviousUntil.IsZero() {
		family("keyroll_listener_previous_until_timestamp_seconds", "gauge", "Unix time the overlap window of the previous key ends.")
		sample("keyroll_listener_previous_until_timestamp_seconds", "", float64(ks.PreviousUntil.Unix()))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("listener: write metrics: %w", err)
	}
	return nil
}

// MetricsHandler serves WriteMetrics, e.g. on /metrics. It is not behind the key check.
func (v *Verifier) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := v.WriteMetrics(w); err != nil {
			v.log.Debug().Err(err).Msg("metrics not written")
		}
	})
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

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// escapeLabel escapes a label value for the text exposition format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
