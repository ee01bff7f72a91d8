package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/receivertest"
	"github.com/keyroll/keyroll/internal/syncbuf"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
)

// TestRunPushesAndNotifies is the CronJob's alerting path: each `keyroll run` pushes its
// metrics to a real Pushgateway when it ends, success or failure, and posts the
// outcomes asked for.
func TestRunPushesAndNotifies(t *testing.T) {
	pg := testenv.StartPushgateway(t)
	slack, js := receivertest.Start(t), receivertest.Start(t)
	w := newWorld(t, fmt.Sprintf(`metrics: {pushgateway: %q}
notify:
  - {url: %q, format: slack, on: [failed, needs_human, recovered]}
  - {url: %q, format: json, on: [rotated, needs_human, recovered]}
evidence: {file: %q}
`, pg.URL, slack.URL+"/services/T0/B0/secretpath", js.URL, filepath.Join(t.TempDir(), "evidence.jsonl")))

	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	page := pg.Metrics(t)
	for _, want := range []string{
		`keyroll_rotations_total{instance="",job="keyroll",outcome="rotated",target="prod-us"} 1`,
		`keyroll_rotation_needs_human{instance="",job="keyroll",target="prod-us"} 0`,
		`keyroll_key_current_since_timestamp_seconds{instance="",job="keyroll",target="prod-us"}`,
		`keyroll_key_pending{instance="",job="keyroll",target="prod-us"} 0`,
		`keyroll_rotation_max_age_seconds{instance="",job="keyroll",target="prod-us"} 7.776e+06`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("pushgateway lacks %s\n%s", want, page)
		}
	}
	success := sample(t, page, `keyroll_rotation_last_success_timestamp_seconds{instance="",job="keyroll",target="prod-us"}`)
	if got := js.Bodies(); len(got) != 1 || !strings.Contains(got[0], `"event":"rotated"`) {
		t.Errorf("json receiver got %q", got)
	}
	if n := len(slack.Bodies()); n != 0 {
		t.Errorf("slack receiver got %d messages for a success it did not ask for", n)
	}

	// The webhook is deactivated: the next forced run needs a human. Its push keeps the
	// earlier run's last success and sets needs_human.
	hook := w.acct.Webhook()
	hook.Status = certcentraltest.StatusInactive
	w.acct.SetWebhook(hook)
	code, out, errs := w.run("run", "--force")
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errs)
	}
	page = pg.Metrics(t)
	if got := sample(t, page, `keyroll_rotation_last_success_timestamp_seconds{instance="",job="keyroll",target="prod-us"}`); got != success {
		t.Errorf("last success after a failed run = %s, want the earlier %s", got, success)
	}
	if !strings.Contains(page, `keyroll_rotation_needs_human{instance="",job="keyroll",target="prod-us"} 1`) {
		t.Errorf("needs_human not pushed:\n%s", page)
	}
	got := slack.Bodies()
	if len(got) != 1 || !strings.HasPrefix(got[0], `{"text":"keyroll prod-us: needs human (error webhook_not_active`) {
		t.Errorf("slack receiver got %q", got)
	}
	bodies := append(got, js.Bodies()...)
	if len(bodies) != 3 {
		t.Errorf("%d notifications, want 3: %q", len(bodies), bodies)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(bodies[2]), &rec); err != nil || rec["event"] != "needs_human" || rec["rotation_id"] == "" {
		t.Errorf("json needs_human body %s: %v", bodies[2], err)
	}
	if strings.Contains(errs, "secretpath") {
		t.Error("a notification URL appears in the logs")
	}

	// The webhook is back: the next run, a new process, learns from the evidence file that
	// the last attempt failed and notifies the recovery.
	hook.Status = certcentraltest.StatusActive
	w.acct.SetWebhook(hook)
	if code, out, errs := w.run("run", "--force"); code != 0 {
		t.Fatalf("exit %d after the webhook came back\n%s\n%s", code, out, errs)
	}
	got, gotJS := slack.Bodies(), js.Bodies()
	if len(got) != 2 || !strings.HasPrefix(got[1], `{"text":"keyroll prod-us: recovered`) {
		t.Errorf("slack receiver got %q, want a recovery last", got)
	}
	if len(gotJS) != 3 || !strings.Contains(gotJS[2], `"event":"recovered"`) {
		t.Errorf("json receiver got %q, want a recovery last", gotJS)
	}
	w.checkNoLeak(append(append(append(bodies, got...), gotJS...), page, errs))
}

// sample returns the value of the series named by prefix on a metrics page.
func sample(t *testing.T, page, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in\n%s", prefix, page)
	return ""
}

// scrape polls a metrics page until it contains want (or 15s pass) and returns it.
func scrapeUntil(t *testing.T, url, want string) string {
	t.Helper()
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains(body, want) {
				return body
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s never showed %s:\n%s", url, want, body)
	return body
}

// startSchedule runs `keyroll schedule` in-process with /metrics on a free address until
// the test ends; it returns the metrics URL.
func startSchedule(t *testing.T, w *world) (metricsURL string, logs *syncbuf.Buffer) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	errb := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"schedule", "--config", w.config, "--metrics-addr", addr}, &out, errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("schedule did not stop")
		}
	})
	return "http://" + addr + "/metrics", errb
}

// TestScheduleStartsInformed: right after a restart, long before its next run, the
// scheduler's page already has the key's age, the last success and the pending state,
// read from Vault.
func TestScheduleStartsInformed(t *testing.T) {
	w := newWorld(t, "")
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	vv, err := w.store.Read(context.Background(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	since := fmt.Sprintf("%g", float64(vv.Doc.CurrentSince.UnixNano())/1e9)
	url, _ := startSchedule(t, w) // the default schedule: next Monday 03:00 UTC
	page := scrapeUntil(t, url, "keyroll_key_current_since_timestamp_seconds")
	for _, want := range []string{
		`keyroll_key_current_since_timestamp_seconds{target="prod-us"} ` + since,
		`keyroll_rotation_last_success_timestamp_seconds{target="prod-us"} ` + since,
		`keyroll_key_pending{target="prod-us"} 0`,
		`keyroll_rotation_max_age_seconds{target="prod-us"} 7.776e+06`,
		`keyroll_build_info{goversion="`,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "keyroll_rotations_total") {
		t.Error("no run yet, but runs are counted")
	}
	if testing.Verbose() {
		t.Logf("metrics right after start:\n%s", grepKeyroll(page))
	}
}

func grepKeyroll(page string) string {
	var b strings.Builder
	for _, l := range strings.Split(page, "\n") {
		if strings.Contains(l, "keyroll_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestScheduleCountsLoginFailures: a scheduled run whose Vault login fails is a failed
// run of every target.
func TestScheduleCountsLoginFailures(t *testing.T) {
	w := newWorld(t, "")
	token := w.vault.Token(t, 0, "root")
	t.Setenv("VAULT_TOKEN", token)
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("rotation: {"), []byte(`rotation: {schedule: "@every 1s", `), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	url, logs := startSchedule(t, w)
	scrapeUntil(t, url, `keyroll_rotations_total{outcome="rotated",target="prod-us"} 1`)
	if err := w.vault.Client(t).Auth().Token().RevokeTree(token); err != nil {
		t.Fatal(err)
	}
	// A scrape is not atomic across families: wait for each.
	scrapeUntil(t, url, `keyroll_rotations_total{outcome="failed",target="prod-us"}`)
	scrapeUntil(t, url, `keyroll_rotation_failures_total{target="prod-us"} 1`)
	if !strings.Contains(logs.String(), "schedule: vault login") {
		t.Errorf("the failed login is not logged:\n%s", logs)
	}
}

// TestRetiredVersionsGauge: versions of the document that still hold a retired key are
// counted on the scheduler's page, as `keyroll status` counts them, so that
// KeyrollRetiredKeysReadable can fire.
func TestRetiredVersionsGauge(t *testing.T) {
	w := newWorld(t, "")
	ctx := context.Background()
	old, cur := strings.Repeat("O", 48), strings.Repeat("C", 48)
	now := time.Now()
	// Version 1 holds the old key; version 2 keeps it as previous, its window over.
	if _, err := w.store.Write(ctx, w.path, keyset.Document{Current: old, CurrentSince: now.Add(-48 * time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.Write(ctx, w.path, keyset.Document{Current: cur, CurrentSince: now.Add(-2 * time.Hour),
		Previous: old, PreviousUntil: now.Add(-time.Hour)}, 1); err != nil {
		t.Fatal(err)
	}
	code, out, errs := w.run("status", "--json")
	if !strings.Contains(out, `"retired_versions": 2`) {
		t.Errorf("status exit %d does not count 2 retired versions:\n%s\n%s", code, out, errs)
	}
	url, _ := startSchedule(t, w) // the default schedule: no run before the scrape
	page := scrapeUntil(t, url, "keyroll_key_retired_versions_readable")
	if want := `keyroll_key_retired_versions_readable{target="prod-us"} 2`; !strings.Contains(page, want) {
		t.Errorf("page lacks %s:\n%s", want, grepKeyroll(page))
	}
	w.checkNoLeak([]string{out, errs, page}, old, cur)
}

// TestScheduleRetiresAtWindowEnd: a scheduler whose next run is days away still wakes when
// the previous key's overlap window ends, and retires the key from the document and its
// version history.
func TestScheduleRetiresAtWindowEnd(t *testing.T) {
	w := newWorld(t, "")
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("overlap: 1h"), []byte("overlap: 2s"), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := w.run("run"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	vv, err := w.store.Read(context.Background(), w.path)
	if err != nil || vv.Doc.Previous == "" {
		t.Fatalf("after the rotation: previous %q, %v; want the replaced key in its window", keyset.Fingerprint(vv.Doc.Previous), err)
	}
	url, logs := startSchedule(t, w) // the default schedule: next Monday 03:00 UTC
	page := scrapeUntil(t, url, `keyroll_rotations_total{outcome="skipped",target="prod-us"} 1`)
	for _, want := range []string{
		`keyroll_key_previous_until_timestamp_seconds{target="prod-us"} 0`,
		`keyroll_key_retired_versions_readable{target="prod-us"} 0`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("after the window's end, the page lacks %s:\n%s", want, grepKeyroll(page))
		}
	}
	if !strings.Contains(logs.String(), "an overlap window ended") {
		t.Errorf("the scheduler did not log its wake-up:\n%s", logs.String())
	}
	after, err := w.store.Read(context.Background(), w.path)
	if err != nil || after.Doc.Previous != "" || after.Doc.Current != vv.Doc.Current {
		t.Errorf("after the window's end: previous %q, current changed %t, %v", keyset.Fingerprint(after.Doc.Previous), after.Doc.Current != vv.Doc.Current, err)
	}
	if code, out, _ := w.run("status", "--json"); !strings.Contains(out, `"retired_versions": 0`) {
		t.Errorf("status exit %d after the window's end:\n%s", code, out)
	}
}
