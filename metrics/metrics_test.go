package metrics_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/metrics"
)

func TestRotationsExposition(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := metrics.NewRotations(func() time.Time { return now })
	m.Observe("prod-us", "rotated", false, 1500*time.Millisecond, now.Add(-time.Minute), now.Add(-time.Hour))
	m.Observe("prod-us", "failed", true, 2*time.Second, now, time.Time{})
	m.Observe("prod-eu", "skipped", false, time.Second, now, time.Time{})
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# TYPE keyroll_rotation_failures_total counter",
		`keyroll_rotation_failures_total{target="prod-us"} 1`,
		`keyroll_rotation_failures_total{target="prod-eu"} 0`,
		`keyroll_rotations_total{target="prod-us",outcome="failed"} 1`,
		`keyroll_rotations_total{target="prod-us",outcome="rotated"} 1`,
		`keyroll_rotation_last_success_timestamp_seconds{target="prod-us"} 1799999940`,
		`keyroll_rotation_duration_seconds{target="prod-us"} 2`,
		`keyroll_key_age_seconds{target="prod-us"} 3600`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, `keyroll_key_age_seconds{target="prod-eu"}`) {
		t.Error("unknown key age must be left out")
	}
}

func TestHandler(t *testing.T) {
	var healthErr error
	h := metrics.Handler(func() error { return healthErr }, metrics.NewRotations(nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("healthz = %d", rec.Code)
	}
	healthErr = errors.New("drift on prod-us")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 503 {
		t.Errorf("unhealthy healthz = %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("metrics = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
