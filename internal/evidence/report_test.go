package evidence

import (
	"bytes"
	"encoding/csv"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

// history is a year of two targets: prod-us goes over max_age once and has a failure
// that recovers; prod-eu rotates every 30 days. A repair record sits in the middle.
func history() []Record {
	fp := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 16) }
	rot := func(target string, at time.Duration, old, new byte) Record {
		t := t0.Add(at)
		return Record{RotationID: "r", Target: target, Trigger: TriggerCronJob, Actor: "a", StartedAt: t, FinishedAt: t.Add(time.Minute),
			Outcome: OutcomeRotated, OldFingerprint: fp(old), NewFingerprint: fp(new), OverlapUntil: Time(t.Add(day)),
			Steps: []Step{{Name: "stage", Time: t, Outcome: "ok"}, {Name: "promote", Time: t.Add(time.Minute), Outcome: "ok"}}}
	}
	fail := func(target string, at time.Duration) Record {
		t := t0.Add(at)
		return Record{Target: target, StartedAt: t, FinishedAt: t, Outcome: OutcomeFailed, Error: &ErrorInfo{Code: "vault_unavailable", Message: "503 | sealed"},
			Steps: []Step{{Name: "read", Time: t, Outcome: "failed"}}}
	}
	skip := func(target string, at time.Duration) Record {
		t := t0.Add(at)
		return Record{Target: target, StartedAt: t, FinishedAt: t, Outcome: OutcomeSkipped}
	}
	retire := rot("prod-eu", 31*day, 'e', 'f')
	retire.Outcome, retire.NewFingerprint, retire.OldFingerprint = OutcomeSkipped, "", ""
	retire.Steps = []Step{{Name: "retire", Time: t0.Add(32 * day), Outcome: "ok", Detail: "previous " + fp('e')}}
	return []Record{
		rot("prod-us", 0, 'a', 'b'),
		rot("prod-eu", day, 'd', 'e'),
		fail("prod-us", 30*day), fail("prod-us", 30*day+time.Hour), skip("prod-us", 30*day+6*time.Hour),
		rot("prod-eu", 31*day, 'e', 'f'), retire,
		{Seq: 9, Type: TypeRepair, StartedAt: t0.Add(40 * day), FinishedAt: t0.Add(40 * day), Repair: &Repair{File: "e.torn-x", Bytes: 31, SHA256: strings.Repeat("ab", 32)}},
		rot("prod-eu", 61*day, 'f', 'g'),
		rot("prod-us", 100*day, 'b', 'c'),
		fail("prod-us", 110*day),
	}
}

func TestReport(t *testing.T) {
	r := BuildReport(history(), ReportOptions{MaxAge: 90 * day, Until: t0.Add(120 * day)})
	if len(r.Targets) != 2 || r.Targets[0].Target != "prod-eu" || len(r.Repairs) != 1 {
		t.Fatalf("report: %+v", r)
	}
	eu, us := r.Targets[0], r.Targets[1]
	if len(us.Keys) != 3 || !us.Keys[0].AgeIsBound || us.Keys[1].Age != 100*day || !us.Keys[2].Current {
		t.Errorf("prod-us keys: %+v %+v %+v", us.Keys[0], us.Keys[1], us.Keys[2])
	}
	if len(us.Over) != 1 || us.Over[0].Fingerprint != "sha256:bbbbbbbbbbbbbbbb" || !strings.HasPrefix(us.Verdict(r.MaxAge), "FAIL") {
		t.Errorf("prod-us verdict %q, over %v", us.Verdict(r.MaxAge), us.Over)
	}
	if len(us.Failures) != 2 || us.Failures[0].Attempts != 2 || us.Failures[0].Recovery != 6*time.Hour || !us.Failures[1].Recovered.IsZero() {
		t.Errorf("prod-us failures: %+v %+v", us.Failures[0], us.Failures[1])
	}
	if len(eu.Over) != 0 || eu.MaxKeyAge != 59*day-time.Minute || eu.Keys[1].Retired != t0.Add(32*day) {
		t.Errorf("prod-eu: max age %s, over %v, keys %+v", eu.MaxKeyAge, eu.Over, eu.Keys[1])
	}
	// A period that starts later leaves out the keys that ended before it.
	later := BuildReport(history(), ReportOptions{MaxAge: 90 * day, Since: t0.Add(50 * day), Until: t0.Add(120 * day)})
	if n := len(later.Targets[0].Keys); n != 2 {
		t.Errorf("prod-eu keys from day 50: %d, want 2", n)
	}
	var md, csvOut, html bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteCSV(&csvOut); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## prod-us", "FAIL: over max_age 90d: sha256:bbbbbbbbbbbbbbbb (100d)", `503 \| sealed`, "| not yet | — |", "moved 31 torn bytes"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	if dir := os.Getenv("KEYROLL_REPORT_DIR"); dir != "" { // to look at the pages in a browser
		os.WriteFile(dir+"/report.html", html.Bytes(), 0o644)
		os.WriteFile(dir+"/report.md", md.Bytes(), 0o644)
		os.WriteFile(dir+"/report.csv", csvOut.Bytes(), 0o644)
	}
	rows, err := csv.NewReader(bytes.NewReader(csvOut.Bytes())).ReadAll()
	if err != nil || strings.Join(rows[0], ",") != "target,time,event,key,detail" {
		t.Fatalf("csv: %v %v", rows, err)
	}
	if got := strings.Join(rows[1], ","); got != "prod-eu,2025-03-04 03:00:00Z,current,sha256:dddddddddddddddd,promoted before the first record" {
		t.Errorf("first csv row: %s", got)
	}
	h := html.String()
	if strings.Count(h, "<svg") != 2 || strings.Contains(h, "<script") || strings.Contains(h, "http://") && !strings.Contains(h, `xmlns="http://www.w3.org/2000/svg"`) ||
		!strings.Contains(h, "503 | sealed") {
		t.Errorf("html is not one self-contained page with two timelines")
	}
}

func TestLastOutcomes(t *testing.T) {
	dir := t.TempDir()
	if got, err := LastOutcomes(filepath.Join(dir, "missing.jsonl")); err != nil || len(got) != 0 {
		t.Errorf("missing file: %v, %v; want an empty map", got, err)
	}
	lines := []string{
		`{"seq":1,"target":"us","outcome":"rotated"}`,
		`{"seq":2,"target":"eu","outcome":"failed"}`,
		`{"seq":3,"target":"us","outcome":"failed"}`,
		`{"seq":4,"type":"repair","actor":"x"}`,
		`{"seq":5,"target":"eu","outcome":"skipped","dry_run":true}`,
		`{"seq":6,"target":"us","outcome":"resumed"}`,
		`{"seq":7,"target":"eu","outc`, // a torn tail
	}
	path := filepath.Join(dir, "jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LastOutcomes(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Outcome{"us": OutcomeResumed, "eu": OutcomeFailed}
	if !maps.Equal(got, want) {
		t.Errorf("LastOutcomes = %v, want %v", got, want)
	}
}
