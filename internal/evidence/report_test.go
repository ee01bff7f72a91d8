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
	first := 0
	for first < len(rows) && rows[first][0] != "prod-eu" {
		first++
	}
	if got := strings.Join(rows[first], ","); got != "prod-eu,2025-03-04 03:00:00Z,current,sha256:dddddddddddddddd,promoted before the first record" {
		t.Errorf("first csv row of prod-eu: %s", got)
	}
	if !strings.Contains(csvOut.String(), "run skipped") || !strings.Contains(md.String(), "| skipped |") {
		t.Errorf("the skipped run is not listed:\n%s", md.String())
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

// TestReportBrokenNeverPasses: on a broken file every format says BROKEN at the top and no
// target is judged: no PASS anywhere.
func TestReportBrokenNeverPasses(t *testing.T) {
	trust := Trust{Broken: true, Finding: "line 2: record altered", Checks: []Check{{Name: "hash chain", Status: "broken", Detail: "line 2: record altered"}}}
	r := BuildReport(history()[:2], ReportOptions{MaxAge: 90 * day, Until: t0.Add(20 * day), Trust: trust})
	for name, write := range map[string]func(*bytes.Buffer) error{
		"md":   func(b *bytes.Buffer) error { return r.WriteMarkdown(b) },
		"csv":  func(b *bytes.Buffer) error { return r.WriteCSV(b) },
		"html": func(b *bytes.Buffer) error { return r.WriteHTML(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if strings.Contains(out, "PASS") || !strings.Contains(out, "BROKEN: line 2: record altered") || !strings.Contains(out, "NOT JUDGED") {
			t.Errorf("%s report of a broken file:\n%s", name, out)
		}
		if name == "html" && !strings.Contains(out, `class="banner broken"`) {
			t.Errorf("html: no red BROKEN banner")
		}
	}
}

// TestReportEscapesEveryField: a value from the file in any field that reaches the page is
// text, never markup, in the HTML (the SVG included) and in the Markdown.
func TestReportEscapesEveryField(t *testing.T) {
	const evil = `<img src=x onerror=alert(1)>`
	rec := sample(0)
	rec.Target, rec.Actor, rec.RotationID = evil, evil, evil
	rec.OldFingerprint, rec.NewFingerprint = evil, evil
	rec.Trigger, rec.Outcome = Trigger(evil), OutcomeFailed
	rec.Error = &ErrorInfo{Code: evil, Message: evil}
	for i := range rec.Steps {
		rec.Steps[i].Name, rec.Steps[i].Detail = evil, evil+" --force"
	}
	rec.Steps = append(rec.Steps, Step{Name: "promote", Time: rec.FinishedAt, Outcome: "ok", Detail: evil},
		Step{Name: "reconcile", Time: rec.FinishedAt, Outcome: "skipped", Detail: evil},
		Step{Name: "retire", Time: rec.FinishedAt, Outcome: "ok", Detail: evil})
	skip := rec
	skip.Outcome, skip.Error = OutcomeSkipped, nil
	fail := rec
	fail.StartedAt, fail.FinishedAt = rec.StartedAt.Add(time.Hour), rec.FinishedAt.Add(time.Hour)
	repair := Record{Type: TypeRepair, Actor: evil, StartedAt: t0, FinishedAt: t0, Repair: &Repair{File: evil, Bytes: 1, SHA256: evil}}
	trust := Trust{Broken: true, Finding: evil, Checks: []Check{{Name: evil, Status: evil, Detail: evil}}}
	next := func(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }
	r := BuildReport([]Record{rec, skip, fail, repair}, ReportOptions{MaxAge: time.Minute, Until: t0.Add(day), Trust: trust, Next: next,
		Header: Header{File: evil, SHA256: evil, Version: evil, Actor: evil, Schedule: evil}, Scope: []string{evil}})
	var h, md bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"html": h.String(), "md": md.String()} {
		if strings.Contains(out, "<img") || strings.Contains(out, "<script") {
			i := strings.Index(out, "<img")
			t.Errorf("%s report carries live markup from the file: …%s…", name, out[max(i-200, 0):min(i+100, len(out))])
		}
		if !strings.Contains(out, "&lt;img src=x onerror=alert(1)&gt;") && !strings.Contains(out, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s report lost the value instead of escaping it", name)
		}
	}
	if os.Getenv("KEYROLL_REPORT_DIR") != "" {
		os.WriteFile(os.Getenv("KEYROLL_REPORT_DIR")+"/injection.html", h.Bytes(), 0o644)
	}
}

// TestReportRetirementAndSchedule: "destroyed" comes from what the retire step destroyed,
// "accepted until" is the actual end when a forced rotation cut the window, and with a
// schedule every scheduled time without a run is listed and fails the verdict.
func TestReportRetirementAndSchedule(t *testing.T) {
	fp := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 16) }
	rot := func(at time.Duration, old, new byte, detail string) Record {
		t := t0.Add(at)
		return Record{Seq: int64(at / day), Target: "us", Trigger: TriggerCronJob, Actor: "a", StartedAt: t, FinishedAt: t.Add(time.Minute),
			Outcome: OutcomeRotated, OldFingerprint: fp(old), NewFingerprint: fp(new), OverlapUntil: Time(t.Add(day)),
			Steps: []Step{{Name: "promote", Time: t.Add(time.Minute), Outcome: "ok", Detail: detail}}}
	}
	retire := Record{Target: "us", Trigger: TriggerCronJob, Actor: "a", StartedAt: t0.Add(7 * day), FinishedAt: t0.Add(7 * day), Outcome: OutcomeSkipped,
		Steps: []Step{{Name: "reconcile", Time: t0.Add(7 * day), Outcome: "skipped", Detail: "not due: promoted 7d ago"},
			{Name: "retire", Time: t0.Add(7 * day), Outcome: "ok", Detail: "retired " + fp('a') + "; destroyed versions 3"}}}
	forced := rot(14*day, 'b', 'c', "current "+fp('c'))
	forced2 := rot(14*day+time.Hour, 'c', 'd', "current "+fp('d')+"; cut the overlap window of "+fp('b')+" short (was until 2025-03-18T03:00:00Z, --force)")
	weekly := func(t time.Time) time.Time { // every 7 days from t0
		n := t.Sub(t0)/(7*day) + 1
		return t0.Add(n * 7 * day)
	}
	r := BuildReport([]Record{rot(0, 'z', 'a', ""), rot(1*day, 'a', 'b', ""), retire, forced, forced2},
		ReportOptions{MaxAge: 90 * day, Since: t0, Until: t0.Add(30 * day), Next: weekly})
	us := r.Targets[0]
	var a, b *KeyLife
	for _, k := range us.Keys {
		switch k.Fingerprint {
		case fp('a'):
			a = k
		case fp('b'):
			b = k
		}
	}
	if a == nil || a.Destroyed != t0.Add(7*day) || a.DestroyedVersions != "versions 3" {
		t.Errorf("key a: %+v, want destroyed at day 7 (versions 3)", a)
	}
	if b == nil || !b.AcceptedUntil.Equal(forced2.Steps[0].Time) || b.OverlapUntil.Equal(b.AcceptedUntil) {
		t.Errorf("key b: accepted until %s (window %s), want the forced cut at %s", b.AcceptedUntil, b.OverlapUntil, forced2.Steps[0].Time)
	}
	if len(us.Runs) != 5 || !us.Runs[4].Forced || !strings.Contains(us.Runs[2].Note, "not due") {
		t.Errorf("runs: %+v", us.Runs)
	}
	// Scheduled at days 7, 14, 21 and 28: day 21 and 28 have no run.
	if len(us.Missing) != 2 || !us.Missing[0].Equal(t0.Add(21*day)) || !strings.Contains(us.Verdict(r.MaxAge), "2 scheduled run(s) left no record") {
		t.Errorf("missing %v, verdict %q", us.Missing, us.Verdict(r.MaxAge))
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "(window planned until") || !strings.Contains(md.String(), "(versions 3)") || !strings.Contains(md.String(), "Scheduled runs without a record: 2") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// TestReportAPIKey: an API key's records show its kind, each key's id beside its
// fingerprint and when the issuer revoked it (the end of its use, not the overlap's), and
// judge it by its own max_age (TargetMaxAge) while a webhook keeps rotation.max_age.
func TestReportAPIKey(t *testing.T) {
	fp := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 16) }
	rot := func(at time.Duration, old, new byte, oldID, newID int) Record {
		ts := t0.Add(at)
		return Record{RotationID: "r", Target: "digicert-api-key", Kind: KindAPIKey, Trigger: TriggerSchedule, StartedAt: ts, FinishedAt: ts.Add(time.Minute),
			Outcome: OutcomeRotated, OldFingerprint: fp(old), NewFingerprint: fp(new), OldKeyID: oldID, NewKeyID: newID, OverlapUntil: Time(ts.Add(day)),
			Steps: []Step{{Name: "create", Time: ts, Outcome: "ok"}, {Name: "promote", Time: ts.Add(time.Minute), Outcome: "ok"}}}
	}
	revoke := Record{Target: "digicert-api-key", Kind: KindAPIKey, StartedAt: t0.Add(3 * day), FinishedAt: t0.Add(3 * day), Outcome: OutcomeSkipped, OldFingerprint: fp('2'), OldKeyID: 502,
		Steps: []Step{
			{Name: "revoke", Time: t0.Add(3 * day), Outcome: "revoked", Detail: "the previous key 501 " + fp('1') + ": last used 2027-01-01T00:00:00Z"},
			{Name: "retire", Time: t0.Add(3 * day), Outcome: "ok", Detail: "retired " + fp('1') + "; destroyed versions 1"}}}
	hook := Record{RotationID: "h", Target: "prod-us", StartedAt: t0, FinishedAt: t0, Outcome: OutcomeRotated, OldFingerprint: fp('a'), NewFingerprint: fp('b'),
		WebhookID: 7, Steps: []Step{{Name: "promote", Time: t0, Outcome: "ok"}}}
	recs := []Record{hook, rot(0, '1', '2', 501, 502), revoke, rot(40*day, '2', '3', 502, 503)}
	r := BuildReport(recs, ReportOptions{MaxAge: 90 * day, TargetMaxAge: map[string]time.Duration{"digicert-api-key": 30 * day}, Until: t0.Add(50 * day)})
	key, us := r.Targets[0], r.Targets[1]
	if key.Kind != KindAPIKey || key.MaxAge != 30*day || us.Kind != "" || us.MaxAge != 90*day {
		t.Fatalf("kinds and max ages: %+v / %+v", key, us)
	}
	if len(key.Keys) != 3 || key.Keys[0].KeyID != 501 || key.Keys[1].KeyID != 502 || key.Keys[2].KeyID != 503 {
		t.Fatalf("key ids: %+v", key.Keys)
	}
	if k := key.Keys[0]; !k.Revoked.Equal(t0.Add(3*day)) || !k.AcceptedUntil.Equal(k.Revoked) || k.Retired.IsZero() {
		t.Errorf("the revoked key: %+v", k)
	}
	if len(key.Over) != 1 || key.Over[0].KeyID != 502 || !strings.Contains(key.Verdict(key.MaxAge), "over max_age 30d") || !us.Pass() {
		t.Errorf("verdicts: %q over %v; %q", key.Verdict(key.MaxAge), key.Over, us.Verdict(us.MaxAge))
	}
	var md, csvOut, html bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	_ = r.WriteCSV(&csvOut)
	_ = r.WriteHTML(&html)
	for name, out := range map[string]string{"md": md.String(), "csv": csvOut.String(), "html": html.String()} {
		for _, want := range []string{fp('1') + " #501", fp('3') + " #503", "digicert-api-key (API key, max_age 30d)"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
	}
	if !strings.Contains(csvOut.String(), "revoked,"+fp('1')+" #501,at the issuer") || !strings.Contains(md.String(), "API key. **FAIL") {
		t.Errorf("the revoke or the kind is not shown:\n%s\n%s", csvOut.String(), md.String())
	}
}
