package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/cli"
)

// decodeOne decodes out, which must be exactly one JSON document with only known fields,
// into v.
func decodeOne(t *testing.T, what, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: stdout is not its JSON document: %v\n%s", what, err, out)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document on stdout:\n%s", what, out)
	}
}

func TestOutputJSON(t *testing.T) {
	w := newWorld(t, "")
	code, out, errs := w.run("run", "-o", "json", "--log-format", "json")
	var run cli.RunOutput
	decodeOne(t, "run -o json", out, &run)
	if code != 0 || run.ExitCode != 0 || run.DryRun || len(run.Targets) != 1 {
		t.Fatalf("run -o json: exit %d, %+v\n%s", code, run, errs)
	}
	if r := run.Targets[0]; r.Target != "prod-us" || r.Outcome != "rotated" || r.NewFingerprint == "" ||
		r.RotationID == "" || r.Error != "" || r.DurationSeconds <= 0 {
		t.Errorf("run -o json: target %+v", r)
	}
	if !strings.Contains(errs, `"level":"info"`) {
		t.Errorf("run -o json: the logs are not on stderr:\n%s", errs)
	}
	outputs := []string{out, errs}

	// Not due: skipped, and the plan says why.
	code, out, _ = w.run("run", "--output=json")
	decodeOne(t, "second run", out, &run)
	if r := run.Targets[0]; code != 0 || r.Outcome != "skipped" || len(r.Plan) == 0 {
		t.Errorf("second run -o json: exit %d, %+v", code, r)
	}

	// A failure is in the document, with its kind and the exit code.
	w.sim.Inject(certcentraltest.Fault{Method: http.MethodGet, Path: "/webhook", Status: 503, Count: 100})
	code, out, _ = w.run("run", "--force", "-o", "json")
	decodeOne(t, "failed run", out, &run)
	if r := run.Targets[0]; code != 1 || run.ExitCode != 1 || r.Outcome != "failed" || r.Failure != "retryable" || r.Error == "" {
		t.Errorf("failed run -o json: exit %d, %+v", code, run)
	}
	w.sim.ClearFaults()

	code, out, errs = w.run("check", "-o", "json")
	var check cli.CheckReport
	decodeOne(t, "check -o json", out, &check)
	if code != 0 || !check.OK || len(check.Checks) < 4 || check.Checks[0].Check != "config" {
		t.Errorf("check -o json: exit %d, %+v\n%s", code, check, errs)
	}
	for _, c := range check.Checks {
		if !c.OK || c.Message == "" {
			t.Errorf("check -o json: %+v", c)
		}
	}
	outputs = append(outputs, out, errs)

	code, out, errs = w.run("status", "-o", "json")
	var rows []cli.TargetStatus
	decodeOne(t, "status -o json", out, &rows)
	if code != 0 || len(rows) != 1 || rows[0].State != "idle" || rows[0].LiveMatches != "current" {
		t.Errorf("status -o json: exit %d, %+v\n%s", code, rows, errs)
	}
	outputs = append(outputs, out, errs)
	w.checkNoLeak(outputs)

	for _, cmd := range []string{"run", "check", "status"} {
		if code, out, errs := w.run(cmd, "-o", "yaml"); code != cli.ExitUsage || out != "" || !strings.Contains(errs, "--output") {
			t.Errorf("%s -o yaml: exit %d, %q %q; want 2 naming --output", cmd, code, out, errs)
		}
	}
}

// TestCheckTextUnchanged keeps check's text lines as they were before -o json.
func TestCheckTextUnchanged(t *testing.T) {
	w := newWorld(t, "")
	code, out, errs := w.run("check")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 4 || lines[0] != "ok    config: 1 target(s)" ||
		!strings.HasPrefix(lines[1], "ok    vault login (") || !strings.HasPrefix(lines[2], "ok    prod-us: vault secret/") {
		t.Errorf("check: exit %d\n%s%s", code, out, errs)
	}
}
