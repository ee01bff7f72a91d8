package listener_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/listener"
)

func TestMetrics(t *testing.T) {
	s := newSetup(t, fullDoc(), func(c *listener.Config) { c.Target = `odd"name` })

	before := scrape(t, s.v)
	for _, want := range []string{
		`keyroll_listener_keyset_fresh{target="odd\"name"} 0`,
		`keyroll_listener_keyset_staleness_seconds{target="odd\"name"} +Inf`,
		`keyroll_listener_last_refresh_timestamp_seconds{target="odd\"name"} 0`,
		`keyroll_listener_previous_until_timestamp_seconds{target="odd\"name"} 0`,
	} {
		if !strings.Contains(before, want+"\n") {
			t.Errorf("before any load, metrics lack %s:\n%s", want, before)
		}
	}

	s.load(t)
	s.clock.Advance(90 * time.Second)
	for _, k := range []string{keyCurrent, keyCurrent, keyPending, keyPrevious, keyOther, ""} {
		s.v.Verify(k)
	}
	s.src.fail(errVaultDown)
	_ = s.v.Load(context.Background())

	st := s.v.Stats()
	if st.Accepted[keyset.RoleCurrent] != 2 || st.Rejected[listener.ReasonWrongKey] != 1 || st.Rejected[listener.ReasonMissingKey] != 1 ||
		st.Refreshes != 1 || st.RefreshErrors != 1 {
		t.Errorf("Stats = %+v", st)
	}

	out := scrape(t, s.v)
	target := `target="odd\"name"`
	for _, want := range []string{
		`keyroll_listener_accepted_total{role="current",` + target + `} 2`,
		`keyroll_listener_accepted_total{role="pending",` + target + `} 1`,
		`keyroll_listener_accepted_total{role="previous",` + target + `} 1`,
		`keyroll_listener_rejected_total{reason="missing_key",` + target + `} 1`,
		`keyroll_listener_rejected_total{reason="wrong_key",` + target + `} 1`,
		`keyroll_listener_rejected_total{reason="expired_key",` + target + `} 0`,
		`keyroll_listener_rejected_total{reason="unavailable",` + target + `} 0`,
		`keyroll_listener_refreshes_total{result="ok",` + target + `} 1`,
		`keyroll_listener_refreshes_total{result="error",` + target + `} 1`,
		`keyroll_listener_keyset_fresh{` + target + `} 1`,
		`keyroll_listener_keyset_staleness_seconds{` + target + `} 90`,
		`keyroll_listener_keyset_max_staleness_seconds{` + target + `} 300`,
		`keyroll_listener_last_refresh_timestamp_seconds{` + target + `} 1.7956944e+09`,
		`keyroll_listener_keyset_version{` + target + `} 1`,
		`keyroll_listener_keyset_accepting{role="previous",` + target + `} 1`,
		`keyroll_listener_previous_until_timestamp_seconds{` + target + `} 1.795698e+09`,
		"# TYPE keyroll_listener_accepted_total counter",
		"# TYPE keyroll_listener_keyset_staleness_seconds gauge",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Every line is a comment or a well-formed sample.
	sample := regexp.MustCompile(`^[a-z_]+\{(?:[a-z_]+="[a-z_]+",)?target="(?:[^"\\]|\\.)*"\} (?:[-+]?[0-9.e+]+|\+Inf)$`)
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "# HELP ") && !strings.HasPrefix(line, "# TYPE ") && !sample.MatchString(line) {
			t.Errorf("malformed line %q", line)
		}
	}
	noKeysIn(t, "metrics", out)

}

// scrape returns what MetricsHandler serves.
func scrape(t *testing.T, v *listener.Verifier) string {
	t.Helper()
	rec := httptest.NewRecorder()
	v.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("MetricsHandler: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.String()
}

// Two verifiers of different targets register in one registry, as a service that
// embeds the listener for two webhooks does; a second verifier of the same target is
// refused, not merged.
func TestCollectorsShareARegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	a := newSetup(t, fullDoc(), func(c *listener.Config) { c.Target = "prod-us" })
	b := newSetup(t, fullDoc(), func(c *listener.Config) { c.Target = "prod-eu" })
	same := newSetup(t, fullDoc(), func(c *listener.Config) { c.Target = "prod-us" })
	if err := reg.Register(a.v); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(b.v); err != nil {
		t.Fatalf("second target: %v", err)
	}
	if err := reg.Register(same.v); err == nil {
		t.Error("a second verifier of the same target must not register")
	}
	a.v.Verify(keyCurrent)
	n, err := testutil.GatherAndCount(reg, "keyroll_listener_accepted_total")
	if err != nil || n != 6 {
		t.Errorf("accepted_total series = %d, %v; want 3 roles × 2 targets", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP keyroll_listener_keyset_version KV version of the key document in use (0: none loaded).
# TYPE keyroll_listener_keyset_version gauge
keyroll_listener_keyset_version{target="prod-eu"} 0
keyroll_listener_keyset_version{target="prod-us"} 0
`), "keyroll_listener_keyset_version"); err != nil {
		t.Error(err)
	}
}

func TestHealthHandler(t *testing.T) {
	s := newSetup(t, fullDoc(), nil)
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.v.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec
	}
	if rec := get(); rec.Code != 503 || rec.Body.String() != "key set not loaded yet\n" {
		t.Errorf("before load: %d %q", rec.Code, rec.Body)
	}
	s.load(t)
	if rec := get(); rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("loaded: %d %q", rec.Code, rec.Body)
	}
	s.src.fail(errVaultDown)
	s.clock.Advance(5*time.Minute + time.Second)
	_ = s.v.Load(context.Background())
	rec := get()
	if rec.Code != 503 || rec.Body.String() != "key set stale\n" {
		t.Errorf("stale: %d %q", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret/data") {
		t.Error("the health answer must not expose Vault details")
	}
}
