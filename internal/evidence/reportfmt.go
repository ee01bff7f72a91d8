package evidence

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

const reportTime = "2006-01-02 15:04:05Z"

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(reportTime)
}

// event is one line of a target's history, as the CSV and Markdown reports list them.
type event struct {
	Time   time.Time
	Event  string
	Key    string
	Detail string
}

// events lists the target's history in time order.
func (tr *TargetReport) events() []event {
	var ev []event
	for _, k := range tr.Keys {
		if k.Promoted.IsZero() {
			ev = append(ev, event{k.firstRecord, "current", k.Fingerprint, "promoted before the first record"})
		} else {
			ev = append(ev, event{k.Promoted, "promoted", k.Fingerprint, ""})
		}
		if !k.Replaced.IsZero() {
			age := days(k.Age)
			if k.AgeIsBound {
				age = "≥ " + age
			}
			ev = append(ev, event{k.Replaced, "entered overlap", k.Fingerprint, fmt.Sprintf("accepted until %s; current for %s", ts(k.OverlapUntil), age)})
		}
		if !k.Retired.IsZero() {
			ev = append(ev, event{k.Retired, "retired", k.Fingerprint, ""})
		}
		if !k.Destroyed.IsZero() {
			ev = append(ev, event{k.Destroyed, "destroyed", k.Fingerprint, ""})
		}
	}
	for _, f := range tr.Failures {
		ev = append(ev, event{f.Started, "failed", "", fmt.Sprintf("%s: %s (%d attempt(s))", f.Code, f.Message, f.Attempts)})
		if !f.Recovered.IsZero() {
			ev = append(ev, event{f.Recovered, "recovered", "", "after " + days(f.Recovery)})
		}
	}
	// Stable insertion sort by time, a promotion before what it causes at the same time: a
	// handful of events per target.
	rank := func(e event) int {
		if e.Event == "promoted" || e.Event == "current" {
			return 0
		}
		return 1
	}
	before := func(a, b event) bool { return a.Time.Before(b.Time) || a.Time.Equal(b.Time) && rank(a) < rank(b) }
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && before(ev[j], ev[j-1]); j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
	return ev
}

// WriteCSV writes the report as CSV: one row per event of each target, then its maximum
// key age and verdict. Columns: target, time, event, key, detail.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"target", "time", "event", "key", "detail"})
	for _, tr := range r.Targets {
		for _, e := range tr.events() {
			_ = cw.Write([]string{tr.Target, ts(e.Time), e.Event, e.Key, e.Detail})
		}
		_ = cw.Write([]string{tr.Target, ts(r.Until), "max key age", tr.OldestKey, days(tr.MaxKeyAge)})
		_ = cw.Write([]string{tr.Target, ts(r.Until), "verdict", "", tr.Verdict(r.MaxAge)})
	}
	for _, rep := range r.Repairs {
		_ = cw.Write([]string{"", ts(rep.FinishedAt), "file repaired", "", repairDetail(rep)})
	}
	cw.Flush()
	return cw.Error()
}

func repairDetail(rec Record) string {
	if rec.Repair == nil {
		return ""
	}
	return fmt.Sprintf("seq %d: moved %d torn bytes (sha256 %s) to %s", rec.Seq, rec.Repair.Bytes, rec.Repair.SHA256, rec.Repair.File)
}

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Webhook key rotation evidence: %s to %s\n\n", ts(r.Since), ts(r.Until))
	fmt.Fprintf(&b, "Records: %d. Chain: %s. Cryptoperiod (rotation.max_age): %s.\n\n", r.Records, r.Chain, days(r.MaxAge))
	for _, tr := range r.Targets {
		fmt.Fprintf(&b, "## %s\n\n**%s**. Oldest key while current: %s (%s).\n\n", tr.Target, tr.Verdict(r.MaxAge), tr.OldestKey, days(tr.MaxKeyAge))
		b.WriteString("| key | promoted | entered overlap | accepted until | retired | destroyed | current for |\n|---|---|---|---|---|---|---|\n")
		for _, k := range tr.Keys {
			promoted, age := ts(k.Promoted), days(k.Age)
			if k.AgeIsBound {
				promoted, age = "before "+ts(k.firstRecord), "≥ "+age
			}
			if k.OverMaxAge {
				age += " **over max_age**"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", k.Fingerprint, promoted, ts(k.Replaced), ts(k.OverlapUntil), ts(k.Retired), ts(k.Destroyed), age)
		}
		if len(tr.Failures) == 0 {
			b.WriteString("\nNo failures.\n\n")
			continue
		}
		b.WriteString("\n| failed | attempts | error | recovered | time to recovery |\n|---|---|---|---|---|\n")
		for _, f := range tr.Failures {
			rec, ttr := ts(f.Recovered), days(f.Recovery)
			if f.Recovered.IsZero() {
				rec, ttr = "not yet", "—"
			}
			fmt.Fprintf(&b, "| %s | %d | %s: %s | %s | %s |\n", ts(f.Started), f.Attempts, f.Code, mdCell(f.Message), rec, ttr)
		}
		b.WriteString("\n")
	}
	if len(r.Repairs) > 0 {
		b.WriteString("## File repairs\n\n")
		for _, rep := range r.Repairs {
			fmt.Fprintf(&b, "- %s: %s\n", ts(rep.FinishedAt), repairDetail(rep))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// WriteHTML writes the report as one self-contained HTML page (no scripts, no external
// resources) with an SVG timeline per target.
func (r *Report) WriteHTML(w io.Writer) error {
	type target struct {
		*TargetReport
		Verdict string
		Pass    bool
		SVG     template.HTML
	}
	data := struct {
		*Report
		Period, MaxAgeText string
		Targets            []target
	}{Report: r, Period: ts(r.Since) + " to " + ts(r.Until), MaxAgeText: days(r.MaxAge)}
	for _, tr := range r.Targets {
		data.Targets = append(data.Targets, target{tr, tr.Verdict(r.MaxAge), len(tr.Over) == 0, template.HTML(r.timeline(tr))})
	}
	return reportHTML.Execute(w, data)
}

var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{"ts": ts, "days": days}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>keyroll evidence report {{.Period}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}code{font-size:.95em}.pass{color:#116611;font-weight:bold}.fail{color:#b00;font-weight:bold}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>
<h1>Webhook key rotation evidence</h1>
<p>Period: {{.Period}}. Records: {{.Records}}. Chain: {{.Chain}}. Cryptoperiod (rotation.max_age): {{.MaxAgeText}}.</p>
<p class="legend"><span style="background:#2b6cb0"></span>current key<span style="background:#90cdf4"></span>overlap (old key still accepted)<span style="background:#e53e3e"></span>failed attempt<span style="background:#38a169"></span>recovered<span style="border-left:2px dashed #b00;width:0"></span>max_age reached</p>
{{range .Targets}}
<h2>{{.Target}}</h2>
<p class="{{if .Pass}}pass{{else}}fail{{end}}">{{.Verdict}}</p>
<p>Oldest key while current: <code>{{.OldestKey}}</code> ({{days .MaxKeyAge}}).</p>
{{.SVG}}
<table><tr><th>key</th><th>promoted</th><th>entered overlap</th><th>accepted until</th><th>retired</th><th>destroyed</th><th>current for</th></tr>
{{range .Keys}}<tr><td><code>{{.Fingerprint}}</code></td><td>{{if .AgeIsBound}}before first record{{else}}{{ts .Promoted}}{{end}}</td><td>{{ts .Replaced}}</td><td>{{ts .OverlapUntil}}</td><td>{{ts .Retired}}</td><td>{{ts .Destroyed}}</td><td{{if .OverMaxAge}} class="fail"{{end}}>{{if .AgeIsBound}}≥ {{end}}{{days .Age}}</td></tr>
{{end}}</table>
{{if .Failures}}<table><tr><th>failed</th><th>attempts</th><th>error</th><th>recovered</th><th>time to recovery</th></tr>
{{range .Failures}}<tr><td>{{ts .Started}}</td><td>{{.Attempts}}</td><td>{{.Code}}: {{.Message}}</td><td>{{if .Recovered.IsZero}}not yet{{else}}{{ts .Recovered}}{{end}}</td><td>{{if .Recovered.IsZero}}—{{else}}{{days .Recovery}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>No failures.</p>{{end}}
{{end}}
{{if .Repairs}}<h2>File repairs</h2><ul>{{range .Repairs}}<li>{{ts .FinishedAt}}: torn tail of {{.Repair.Bytes}} bytes (sha256 <code>{{.Repair.SHA256}}</code>) moved to <code>{{.Repair.File}}</code></li>{{end}}</ul>{{end}}
</body></html>
`))

// timeline draws a target's keys as bars on the report's period, failures and recoveries
// as ticks, and where each key reached max_age as a dashed line.
func (r *Report) timeline(tr *TargetReport) string {
	const width, left, row, top = 1000.0, 150.0, 26.0, 30.0
	from, to := r.Since, r.Until
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return left + (width-left-10)*min(max(f, 0), 1)
	}
	height := top + row*float64(len(tr.Keys)+1) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`, width, height, width, height)
	fmt.Fprintf(&b, `<title>%s key timeline</title>`, template.HTMLEscapeString(tr.Target))
	axisTime := "2006-01-02 15:04"
	if to.Sub(from) < 2*24*time.Hour {
		axisTime = "2006-01-02 15:04:05"
	}
	for i := 0; i <= 4; i++ { // axis
		t := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 4))
		anchor := map[int]string{0: "start", 4: "end"}[i]
		if anchor == "" {
			anchor = "middle"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="14" text-anchor="%s" fill="#555">%s</text>`,
			x(t), top-8, x(t), height-20, x(t), anchor, t.UTC().Format(axisTime))
	}
	for i, k := range tr.Keys {
		y := top + row*float64(i)
		start := k.Promoted
		if start.IsZero() {
			start = k.firstRecord
		}
		end := k.Replaced
		if end.IsZero() {
			end = to
		}
		fmt.Fprintf(&b, `<text x="4" y="%.0f">%s</text>`, y+14, k.Fingerprint)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="16" fill="#2b6cb0"><title>%s current %s to %s (%s)</title></rect>`,
			x(start), y+2, max(x(end)-x(start), 1), k.Fingerprint, ts(start), ts(end), days(k.Age))
		if k.OverlapUntil.After(end) {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="16" fill="#90cdf4"><title>%s accepted in overlap until %s</title></rect>`,
				x(end), y+2, max(x(k.OverlapUntil)-x(end), 1), k.Fingerprint, ts(k.OverlapUntil))
		}
		if r.MaxAge > 0 && !k.Promoted.IsZero() {
			if due := k.Promoted.Add(r.MaxAge); !due.After(to) && !due.After(end) { // reached while current
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#b00" stroke-width="2" stroke-dasharray="3,2"><title>max_age reached %s</title></line>`,
					x(due), y, x(due), y+20, ts(due))
			}
		}
	}
	y := top + row*float64(len(tr.Keys))
	fmt.Fprintf(&b, `<text x="4" y="%.0f">attempts</text>`, y+14)
	for _, f := range tr.Failures {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="3" height="16" fill="#e53e3e"><title>failed %s: %s</title></rect>`, x(f.Started)-1, y+2, ts(f.Started), template.HTMLEscapeString(f.Code))
		if !f.Recovered.IsZero() {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="3" height="16" fill="#38a169"><title>recovered %s after %s</title></rect>`, x(f.Recovered)-1, y+2, ts(f.Recovered), days(f.Recovery))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}
