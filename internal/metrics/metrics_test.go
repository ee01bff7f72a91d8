package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keyroll/keyroll/internal/metrics"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
)

var t0 = time.Unix(1_800_000_000, 0)

func TestRotations(t *testing.T) {
	m := metrics.NewRotations()
	m.SetPolicy("prod-us", 90*24*time.Hour, time.Hour)
	m.SetScheduleInterval("prod-us", 7*24*time.Hour)
	m.Observe(metrics.Run{Target: "prod-us", Outcome: "rotated", Duration: 1500 * time.Millisecond, Finished: t0.Add(-time.Minute)})
	m.Observe(metrics.Run{Target: "prod-us", Outcome: "failed", Failed: true, NeedsHuman: true, Duration: 2 * time.Second, Finished: t0})
	m.Observe(metrics.Run{Target: "prod-eu", Outcome: "skipped", Duration: time.Second, Finished: t0})
	// A promotion before the last success does not lower it.
	m.ObserveDocument("prod-us", keyset.Document{Current: "k", CurrentSince: t0.Add(-time.Hour)})
	m.SucceededBy("prod-us", t0.Add(-time.Hour))
	err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP keyroll_rotation_failures_total Failed rotation runs, a failed Vault login included.
# TYPE keyroll_rotation_failures_total counter
keyroll_rotation_failures_total{target="prod-eu"} 0
keyroll_rotation_failures_total{target="prod-us"} 1
# HELP keyroll_rotation_last_duration_seconds Duration of the last rotation run.
# TYPE keyroll_rotation_last_duration_seconds gauge
keyroll_rotation_last_duration_seconds{target="prod-eu"} 1
keyroll_rotation_last_duration_seconds{target="prod-us"} 2
# HELP keyroll_rotation_last_success_timestamp_seconds Unix time of the last successful run (rotated, resumed or skipped), at least the current key's promotion.
# TYPE keyroll_rotation_last_success_timestamp_seconds gauge
keyroll_rotation_last_success_timestamp_seconds{target="prod-eu"} 1.8e+09
keyroll_rotation_last_success_timestamp_seconds{target="prod-us"} 1.79999994e+09
# HELP keyroll_rotation_needs_human 1 when the last run stopped on something only a human can fix (exit 3), else 0.
# TYPE keyroll_rotation_needs_human gauge
keyroll_rotation_needs_human{target="prod-eu"} 0
keyroll_rotation_needs_human{target="prod-us"} 1
# HELP keyroll_rotations_total Rotation runs by outcome (rotated, resumed, skipped, failed).
# TYPE keyroll_rotations_total counter
keyroll_rotations_total{outcome="failed",target="prod-us"} 1
keyroll_rotations_total{outcome="rotated",target="prod-us"} 1
keyroll_rotations_total{outcome="skipped",target="prod-eu"} 1
# HELP keyroll_key_current_since_timestamp_seconds Unix time the current key was promoted (its age is time() minus this).
# TYPE keyroll_key_current_since_timestamp_seconds gauge
keyroll_key_current_since_timestamp_seconds{target="prod-us"} 1.7999964e+09
# HELP keyroll_rotation_max_age_seconds The target's max_age (rotation.max_age; an api_key target's api_key.max_age): the age past which its key is overdue.
# TYPE keyroll_rotation_max_age_seconds gauge
keyroll_rotation_max_age_seconds{target="prod-us"} 7.776e+06
# HELP keyroll_rotation_schedule_interval_seconds The longest gap between two runs of rotation.schedule: a success older than this means a run was missed.
# TYPE keyroll_rotation_schedule_interval_seconds gauge
keyroll_rotation_schedule_interval_seconds{target="prod-us"} 604800
`), "keyroll_rotation_schedule_interval_seconds", "keyroll_rotation_failures_total", "keyroll_rotation_last_duration_seconds", "keyroll_rotation_last_success_timestamp_seconds",
		"keyroll_rotation_needs_human", "keyroll_rotations_total", "keyroll_key_current_since_timestamp_seconds", "keyroll_rotation_max_age_seconds")
	if err != nil {
		t.Error(err)
	}
}

// A process that starts after a rotation learns the last success, the key's age and a
// pending rotation from the document alone.
func TestObserveDocumentFillsFromVault(t *testing.T) {
	m := metrics.NewRotations()
	doc := keyset.Document{Current: "c", CurrentSince: t0, Pending: "p", PendingSince: t0.Add(time.Minute),
		Previous: "o", PreviousUntil: t0.Add(24 * time.Hour)}
	m.ObserveDocument("prod-us", doc)
	m.SucceededBy("prod-us", doc.CurrentSince)
	for name, want := range map[string]float64{
		"keyroll_rotation_last_success_timestamp_seconds": 1.8e9,
		"keyroll_key_current_since_timestamp_seconds":     1.8e9,
		"keyroll_key_pending":                             1,
		"keyroll_key_pending_since_timestamp_seconds":     1.8e9 + 60,
		"keyroll_key_previous_until_timestamp_seconds":    1.8e9 + 86400,
	} {
		if got := gauge(t, m, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	m.ObserveDocument("prod-us", keyset.Document{Current: "c", CurrentSince: t0})
	if gauge(t, m, "keyroll_key_pending") != 0 || gauge(t, m, "keyroll_key_pending_since_timestamp_seconds") != 0 ||
		gauge(t, m, "keyroll_key_previous_until_timestamp_seconds") != 0 {
		t.Error("an idle document must clear the pending and previous gauges")
	}
}

// TestAPIKeyHeld: keyroll_api_key_held is 1 while an api_key target's previous key is
// held (previous_held_since set), 0 once it is revoked and dropped; the target's own
// max_age is exported beside the webhook's.
func TestAPIKeyHeld(t *testing.T) {
	m := metrics.NewRotations()
	m.SetPolicy("prod-us", 90*24*time.Hour, time.Hour)
	m.SetPolicy("digicert-api-key", 30*24*time.Hour, time.Hour)
	held := keyset.Document{Current: "c", CurrentID: "185", CurrentSince: t0, Previous: "o", PreviousID: "184",
		PreviousUntil: t0.Add(-time.Hour), PreviousHeldSince: t0.Add(-time.Minute)}
	m.ObserveHeld("digicert-api-key", held)
	err := testutil.CollectAndCompare(m, strings.NewReader(`
# HELP keyroll_api_key_held api_key targets: 1 while the previous API key is held, active past its overlap because it is still in use (in_use: hold), else 0.
# TYPE keyroll_api_key_held gauge
keyroll_api_key_held{target="digicert-api-key"} 1
# HELP keyroll_rotation_max_age_seconds The target's max_age (rotation.max_age; an api_key target's api_key.max_age): the age past which its key is overdue.
# TYPE keyroll_rotation_max_age_seconds gauge
keyroll_rotation_max_age_seconds{target="digicert-api-key"} 2.592e+06
keyroll_rotation_max_age_seconds{target="prod-us"} 7.776e+06
`), "keyroll_api_key_held", "keyroll_rotation_max_age_seconds")
	if err != nil {
		t.Error(err)
	}
	for _, d := range []keyset.Document{
		{Current: "c", CurrentSince: t0},                                         // revoked and dropped
		{Current: "c", Previous: "o", PreviousUntil: t0.Add(time.Hour)},          // in its overlap
		{Current: "c", PreviousHeldSince: t0, PreviousUntil: t0.Add(-time.Hour)}, // held, then dropped
	} {
		m.ObserveHeld("digicert-api-key", d)
		if g := gauge(t, m, "keyroll_api_key_held"); g != 0 {
			t.Errorf("held = %v for %+v, want 0", g, d)
		}
	}
}

func gauge(t *testing.T, m *metrics.Rotations, name string) float64 {
	t.Helper()
	mfs, err := gatherer{m}.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestRegistry(t *testing.T) {
	reg := metrics.NewRegistry("v1.2.3")
	for _, name := range []string{"keyroll_build_info", "go_goroutines", "process_start_time_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
}

func TestHandler(t *testing.T) {
	var healthErr error
	h := metrics.Handler(func() error { return healthErr }, metrics.NewRegistry("test"))
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get("/healthz"); rec.Code != 200 {
		t.Errorf("healthz = %d", rec.Code)
	}
	healthErr = errors.New("drift on prod-us")
	if rec := get("/healthz"); rec.Code != 503 {
		t.Errorf("unhealthy healthz = %d", rec.Code)
	}
	rec := get("/metrics")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `keyroll_build_info{goversion="`) {
		t.Errorf("metrics = %d\n%s", rec.Code, rec.Body)
	}
}

// TestPushToRealPushgateway pushes a failed run after a successful one, as two CronJob
// runs do, and reads the real Pushgateway back: one group per target, and the failed
// run keeps the last success the earlier run pushed.
func TestPushToRealPushgateway(t *testing.T) {
	pg := testenv.StartPushgateway(t)
	ctx := context.Background()

	first := metrics.NewRegistry("test")
	ok := metrics.NewRotations()
	first.MustRegister(ok)
	ok.Observe(metrics.Run{Target: "prod-us", Outcome: "rotated", Duration: time.Second, Finished: t0})
	ok.Observe(metrics.Run{Target: "prod-eu", Outcome: "skipped", Duration: time.Second, Finished: t0})
	if err := metrics.Push(ctx, pg.URL, nil, first, []string{"prod-us", "prod-eu"}); err != nil {
		t.Fatal(err)
	}

	second := metrics.NewRegistry("test")
	failed := metrics.NewRotations()
	second.MustRegister(failed)
	failed.Observe(metrics.Run{Target: "prod-us", Outcome: "failed", Failed: true, NeedsHuman: true, Duration: 2 * time.Second, Finished: t0.Add(time.Hour)})
	if err := metrics.Push(ctx, pg.URL, nil, second, []string{"prod-us"}); err != nil {
		t.Fatal(err)
	}

	page := pg.Metrics(t)
	for _, want := range []string{
		`keyroll_rotation_last_success_timestamp_seconds{instance="",job="keyroll",target="prod-us"} 1.8e+09`,
		`keyroll_rotation_last_failure_timestamp_seconds{instance="",job="keyroll",target="prod-us"} 1.8000036e+09`,
		`keyroll_rotation_needs_human{instance="",job="keyroll",target="prod-us"} 1`,
		`keyroll_rotation_last_success_timestamp_seconds{instance="",job="keyroll",target="prod-eu"} 1.8e+09`,
		`push_time_seconds{instance="",job="keyroll",target="prod-eu"}`,
		`keyroll_build_info{goversion="`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("pushgateway lacks %s", want)
		}
	}
	if strings.Contains(page, `go_goroutines{instance="",job="keyroll"`) {
		t.Error("only keyroll_* metrics are pushed")
	}
	if t.Failed() {
		t.Logf("pushgateway /metrics:\n%s", page)
	}
}

func TestPushUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	reg := metrics.NewRegistry("test")
	err := metrics.Push(context.Background(), "http://user:pw@"+srv.Listener.Addr().String(), nil, reg, []string{"a", "b"})
	if err == nil || !strings.Contains(err.Error(), "target a") || !strings.Contains(err.Error(), "target b") {
		t.Errorf("err = %v, want one failure per target", err)
	}
	if strings.Contains(err.Error(), "pw@") {
		t.Errorf("the password leaked: %v", err)
	}
}

// TestPushFailureRedactsPassword: a real Pushgateway answers an error to a push whose URL
// carries a password; client_golang's error repeats the URL, and the returned error
// (which `keyroll run` logs) must not.
func TestPushFailureRedactsPassword(t *testing.T) {
	pg := testenv.StartPushgateway(t)
	const password = "Pushgw-S3cret-Passw0rd"
	// A path prefix the Pushgateway does not serve: every push gets 404.
	gw := strings.Replace(pg.URL, "http://", "http://keyroll:"+password+"@", 1) + "/no-such-prefix"
	reg := metrics.NewRegistry("test")
	err := metrics.Push(context.Background(), gw, nil, reg, []string{"prod-us"})
	if err == nil {
		t.Fatal("push to a missing path succeeded")
	}
	if !strings.Contains(err.Error(), "404") {
		t.Errorf("err = %v, want the Pushgateway's 404", err)
	}
	for _, leak := range []string{password, "keyroll:", "no-such-prefix"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("the error shows %q: %v", leak, err)
		}
	}
	t.Logf("error: %v", err)
}
