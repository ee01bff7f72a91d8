package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/cli"
	"github.com/keyroll/keyroll/internal/testenv"
)

func freeAddr(t *testing.T) string {
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestScheduleRunsAndStops(t *testing.T) {
	w := newWorld(t, "")
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("rotation: {"), []byte(`rotation: {schedule: "@every 1s", `), 1)
	if err := os.WriteFile(w.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"schedule", "--config", w.config, "--metrics-addr", addr}, &out, &errb)
	}()
	// Wait for the first scheduled rotation to show in the metrics: the run's counters come
	// first and the key gauges after the documents are read again, so wait for all of them.
	wants := []string{
		`keyroll_rotations_total{outcome="rotated",target="prod-us"} 1`,
		`keyroll_rotation_last_success_timestamp_seconds{target="prod-us"}`,
		`keyroll_key_current_since_timestamp_seconds{target="prod-us"}`,
		`keyroll_rotation_failures_total{target="prod-us"} 0`,
	}
	hasAll := func(body string) bool {
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	}
	var body string
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine, not a budget
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if hasAll(body) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if code := cli.ExitCode(err); code != 0 {
			t.Errorf("schedule stopped with exit %d: %v\n%s", code, err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("schedule did not stop")
	}
	logs := errb.String()
	if !strings.Contains(logs, "scheduler started") || !strings.Contains(logs, `"trigger":"schedule"`) || !strings.Contains(logs, `"next"`) {
		t.Errorf("logs lack the start, the next fire time or the schedule trigger:\n%s", logs)
	}
	w.checkNoLeak([]string{out.String(), logs, body})
}

func TestScheduleInvalidSpecIsConfigError(t *testing.T) {
	w := newWorld(t, "")
	cfg, _ := os.ReadFile(w.config)
	cfg = bytes.Replace(cfg, []byte("rotation: {"), []byte(`rotation: {schedule: "CRON_TZ=Mars/Base 0 3 * * 1", `), 1)
	_ = os.WriteFile(w.config, cfg, 0o600)
	code, _, errs := w.run("schedule")
	if code != 2 || !strings.Contains(errs, "rotation.schedule") {
		t.Errorf("exit %d, want 2 naming rotation.schedule: %s", code, errs)
	}
	_ = fmt.Sprint()
}
