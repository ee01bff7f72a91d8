package main

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"
)

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func verdict(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.Inf(1)
	}
	return float64(a) / float64(b)
}

// minVault and minDigiCert are the fewest requests one rotation can make (docs/design.md,
// "The rotation"): read, stage and promote, custom_metadata after stage and after promote;
// GET, the test event, PUT and the verifying GET.
const (
	minVault    = 5
	minDigiCert = 4
)

func (r *report) markdown(o options) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	r.mdHeader(w, o)
	r.mdSingle(w, o)
	r.mdFleets(w, o)
	r.mdNotes(w, o)
	return b.String()
}

// mdHeader writes the title and the machine.
func (r *report) mdHeader(w func(string, ...any), o options) {
	cores := runtime.NumCPU()
	w("## keyroll benchmark\n\n")
	w("Machine: %d cores (`nproc`), %s, %s %s/%s, %s; %s.\n\n", cores, cpuModel(), goVersion(), runtime.GOOS, runtime.GOARCH,
		strings.SplitN(firstLine(r.vaultVersion), ",", 2)[0], r.started.UTC().Format("2006-01-02 15:04 UTC"))
	w("Everything on 127.0.0.1: Vault dev server (in-memory, file audit device on), `keyroll simulate`, an always-200 webhook listener. ")
	w("Config: `propagation_delay: 0s`, `listener.refresh: 0s`, `verify_listener: true`, no evidence file; `keyroll run --force`.\n\n")
}

// mdSingle writes the table head and the rows of one rotation.
func (r *report) mdSingle(w func(string, ...any), o options) {
	w("| measurement | result | reference | ratio | budget | holds |\n|---|---|---|---|---|---|\n")
	w("| one rotation, `keyroll run --force` wall time, process start to exit (median of %d; no injected latency) | %s | | | | |\n", len(r.krWalls), ms(r.krWall))
	w("| CPU of that whole process, user+sys, median (Go runtime start, package init, config, Vault login, one rotation, logs) | %s | | | | |\n", ms(r.krCPU))
	if f, ok := largest(r.fleets); ok && f.n > 1 {
		per := (f.cpu - r.critCPU) / time.Duration(f.n-1)
		w("| keyroll's own CPU per rotation in a real process: (CPU of the %d-target run − CPU of the one-target run) ÷ %d | %s | | | < 10 ms | %s |\n",
			f.n, f.n-1, ms(per), verdict(per < 10*time.Millisecond))
	}
	if r.benchRotate != "" {
		d := time.Duration(nsPerOp(r.benchRotate))
		w("| one rotation in-process, `BenchmarkRotate` (in-memory store, in-process simulator, zero latency; keyroll's *and* the simulator's work) | %s/op | | | < 10 ms | %s |\n", ms(d), verdict(d < 10*time.Millisecond))
	}
	w("| Vault requests per `keyroll run` of one target (audit log) | %d | minimum %d | | | %s |\n", r.krVault.total, minVault, note(r.krVault.total == minVault, "¹"))
	w("| DigiCert requests per `keyroll run` of one target (simulator stats) | %d | minimum %d | | | %s |\n", r.krDC.total, minDigiCert, verdict(r.krDC.total == minDigiCert))
	sr := ratio(r.scriptWall, r.krWall)
	w("| the same rotation by hand, `bench/manual-rotation.sh` (vault CLI, curl, jq), median of %d, run alternately with keyroll | %s | keyroll %s | %.1f× slower | ≥ 20× | %s |\n",
		len(r.scriptWalls), ms(r.scriptWall), ms(r.krWall), sr, verdict(sr >= 20))
	w("| per-target critical path at %s latency: one-target `keyroll run`, median of %s (rotation alone, as keyroll reports it) | %s (%s) | | | | |\n",
		o.latency, itoa(o.critRuns), ms(r.critWall), ms(r.critRot))
}

// mdFleets writes the rows of the fleets and memory.
func (r *report) mdFleets(w func(string, ...any), o options) {
	for _, f := range r.fleets {
		rt := ratio(f.wall, f.ideal)
		w("| fleet of %d targets, one API key each, %s latency, `--parallel %d` (median of %d) | %s | ideal %s² | %.2f× | ≤ 1.5× | %s |\n",
			f.n, o.latency, f.parallel, len(f.walls), ms(f.wall), ms(f.ideal), rt, verdict(rt <= 1.5))
	}
	for _, f := range r.oneKey {
		if f.failed != "" {
			w("| fleet of %d targets on ONE API key | failed: %s | | | | ❌ |\n", f.n, f.failed)
			continue
		}
		ref, what, budget := f.rateBound, fmt.Sprintf("rate-limit bound %s for %d requests³", ms(f.rateBound), f.dc.total), 1.1
		if f.ideal > f.rateBound {
			ref, what, budget = f.ideal, fmt.Sprintf("latency ideal %s² (rate-limit bound %s for %d requests³ does not bind)", ms(f.ideal), ms(f.rateBound), f.dc.total), 1.5
		}
		rt := ratio(f.wall, ref)
		w("| fleet of %d targets on ONE API key, %s latency, `--parallel %d`: wall; 429s | %s; %d × 429 | %s | %.2f× | ≤ %.1f×, no 429 | %s |\n",
			f.n, o.latency, f.parallel, ms(f.wall), f.dc.tooMany, what, rt, budget, verdict(rt <= budget && f.dc.tooMany == 0))
	}
	for _, f := range r.fleets {
		if f.n == maxFleet(r.fleets) {
			w("| peak RSS of `keyroll run`, %d targets on %d API keys (max over runs) | %s | | | < 64 MiB | %s |\n", f.n, f.n, mib(f.rss), verdict(f.rss < 64*1024))
		}
	}
	for _, f := range r.oneKey {
		if f.n == maxFleet(r.oneKey) && f.failed == "" {
			w("| peak RSS of `keyroll run`, %d targets on one API key | %s | | | < 64 MiB | %s |\n", f.n, mib(f.rss), verdict(f.rss < 64*1024))
		}
	}
	w("| peak RSS of `keyroll run`, one target | %s | | | | |\n", mib(r.krRSS))
	if r.benchVerify != "" {
		w("| listener verification, `%s` | %s | | | | |\n", benchName(r.benchVerify), benchResult(r.benchVerify))
	}
	w("\n")
}

// mdNotes writes the footnotes, the per-fleet details and the Go benchmarks.
func (r *report) mdNotes(w func(string, ...any), o options) {
	w("¹ Vault, one target: %s. The minimum (docs/design.md, \"The rotation\") is 5: read, stage and promote on `data/`, and custom_metadata after stage and after promote on `metadata/`; ", r.krVault)
	w("the rest is start-up: `auth/token/lookup-self` once to validate the token at login and once for the evidence actor (the Vault entity or accessor).\n")
	w("DigiCert, one target: %s; %d deliveries to the listener (the test event, and the contact DigiCert makes on update).\n", r.krDC, r.deliveries)
	w("The manual script: Vault %d requests (%s) — each `vault kv` command first asks `sys/internal/ui/mounts` which KV version the mount is — and DigiCert %d (%s); its CPU (user+sys, all its processes) averages %s.\n",
		r.scriptVault.total, r.scriptVault, r.scriptDC.total, r.scriptDC, ms(r.scriptCPU))
	w("² ideal = ceil(N / parallel) × the per-target rotation time + once the one-target process's time outside its rotation (start-up, login): %s + %s.\n",
		ms(r.critRot), ms(max(r.critWall-r.critRot, 0)))
	w("³ The earliest the last of R requests can go when at most 100 go in any 5 s and 1000 in any 3 min: request k no earlier than request k−100 + 5 s and request k−1000 + 180 s (2000 requests: 225 s). keyroll's limiter adds a 250 ms safety margin per window.\n")
	for _, f := range r.fleets {
		w("Fleet %d, per run: Vault %d requests (%s); DigiCert %d (%s); 429s %d; runs %s.\n", f.n, f.vault.total, f.vault, f.dc.total, f.dc, f.dc.tooMany, durs(f.walls))
	}
	for _, f := range r.oneKey {
		w("One-key fleet %d: Vault %d requests; DigiCert %d (%s); 429s %d.\n", f.n, f.vault.total, f.dc.total, f.dc, f.dc.tooMany)
	}
	if r.profile != "" {
		w("CPU profile of the %d-target run (`keyroll run --cpu-profile`, wall %s): `%s`; `go tool pprof -top` in `%s`.\n",
			maxFleet(r.fleets), ms(r.profileWall), rel(o, r.profile), rel(o, r.profileTop))
	}
	for _, t := range r.transient {
		w("Failed attempt, run again (not in the figures above): %s\n", t)
	}
	if len(r.benchLines) > 0 {
		w("\nGo benchmarks (`go test -run '^$' -bench … -benchmem`):\n\n```\n")
		for _, l := range r.benchLines {
			w("%s\n", l)
		}
		w("```\n")
	}
	if r.benchNote != "" {
		w("\n%s\n", r.benchNote)
	}
}

func note(ok bool, mark string) string {
	if ok {
		return "✅"
	}
	return mark
}

func maxFleet(fs []fleetResult) int {
	m := 0
	for _, f := range fs {
		m = max(m, f.n)
	}
	return m
}

func durs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = ms(d)
	}
	return strings.Join(s, ", ")
}

func benchName(line string) string { return strings.Fields(line)[0] }

func benchResult(line string) string {
	f := strings.Fields(line)
	var parts []string
	for i := 2; i+1 < len(f); i += 2 {
		parts = append(parts, f[i]+" "+f[i+1])
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	return tail(s, 200)
}

func rel(o options, p string) string {
	if p == "" {
		return ""
	}
	if r, ok := strings.CutPrefix(p, o.repo+"/"); ok {
		return r
	}
	return p
}

func largest(fs []fleetResult) (fleetResult, bool) {
	var best fleetResult
	for _, f := range fs {
		if f.n > best.n {
			best = f
		}
	}
	return best, best.n > 0
}
