// Command bench is keyroll's benchmark driver, run by `make bench` (scripts/bench.sh).
//
// It starts a Vault dev server with a file audit device, an always-200 webhook listener
// and `keyroll simulate` processes, all on 127.0.0.1, and measures real `keyroll run`
// processes against them:
//
//   - one clean rotation (propagation_delay 0, verify_listener true, no injected
//     latency): median wall time from process start to exit, CPU time (user+sys), and the
//     Vault and DigiCert requests made, against the same rotation done by
//     bench/manual-rotation.sh (vault CLI + curl + jq), run alternately;
//   - fleets of N targets, each on its own API key, with injected simulator latency,
//     against the ideal ceil(N/parallel) rounds of one target's rotation;
//   - fleets of N targets on ONE API key (several webhooks on one simulated account),
//     against the bound DigiCert's two rate-limit windows put on that many requests, with
//     the simulator's count of 429s;
//   - peak RSS of the largest fleet, a CPU profile of it, and the Go benchmarks of the
//     hot paths.
//
// It prints a Markdown report on stdout and leaves its artefacts (configs, logs, the audit
// log, the profile) in -out. Every child process is stopped on the way out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyroll/keyroll/internal/testenv"
)

type options struct {
	keyroll, vaultBin, out, manual, repo string
	runs, critRuns, fleetRuns, parallel  int
	latency                              time.Duration
	fleets, oneKey                       []int
	goBench                              bool
	failDelivery                         int64
}

// ps tracks the servers the driver starts, so that all of them are stopped on the way out.
var ps testenv.Group

// stopGrace is how long a server has to end after SIGTERM before it is killed.
const stopGrace = 5 * time.Second

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	ps.StopAll(stopGrace)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func main() {
	var o options
	var fleets, oneKey string
	flag.StringVar(&o.keyroll, "keyroll", "bench/out/keyroll", "keyroll binary to measure")
	flag.StringVar(&o.vaultBin, "vault", "", "Vault binary (scripts/vault-bin.sh prints it)")
	flag.StringVar(&o.out, "out", "bench/out", "directory for artefacts")
	flag.StringVar(&o.manual, "manual", "bench/manual-rotation.sh", "the by-hand rotation script")
	flag.StringVar(&o.repo, "repo", ".", "repository root (for the Go benchmarks)")
	flag.IntVar(&o.runs, "runs", 15, "runs of the single rotation (keyroll and the script each)")
	flag.IntVar(&o.critRuns, "crit-runs", 7, "runs of the one-target rotation at the fleet latency")
	flag.IntVar(&o.fleetRuns, "fleet-runs", 3, "runs of each fleet with one API key per target")
	flag.IntVar(&o.parallel, "parallel", 8, "keyroll run --parallel for the fleets")
	flag.DurationVar(&o.latency, "latency", 20*time.Millisecond, "simulator latency for the fleets")
	flag.StringVar(&fleets, "fleets", "10,100,500", "fleet sizes, one API key per target")
	flag.StringVar(&oneKey, "one-key", "10,100,500", "fleet sizes on one API key (\"\" to skip)")
	flag.BoolVar(&o.goBench, "go-bench", true, "run the Go benchmarks too")
	flag.Int64Var(&o.failDelivery, "fail-delivery", 0, "answer the listener's Nth delivery 503 (tests the driver's handling of a failed run)")
	flag.Parse()
	o.fleets, o.oneKey = parseSizes(fleets), parseSizes(oneKey)
	if o.vaultBin == "" || o.runs < 1 || o.critRuns < 1 || o.fleetRuns < 1 || o.parallel < 1 {
		fatalf("usage: -vault BIN is required; runs and parallel must be positive")
	}
	for _, p := range []*string{&o.keyroll, &o.out, &o.manual, &o.repo} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fatalf("%v", err)
		}
		*p = abs
	}
	if err := os.MkdirAll(o.out, 0o700); err != nil {
		fatalf("%v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer ps.StopAll(stopGrace)
	go func() {
		<-ctx.Done()
		if errors.Is(context.Cause(ctx), context.Canceled) {
			ps.StopAll(stopGrace)
		}
	}()

	rep, err := run(ctx, o)
	if err != nil {
		fatalf("%v", err)
	}
	ps.StopAll(stopGrace)
	fmt.Print(rep.markdown(o))
}

func parseSizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			fatalf("bad fleet size %q", f)
		}
		out = append(out, n)
	}
	return out
}

// report holds everything measured.
type report struct {
	started                      time.Time
	vaultVersion                 string
	krWall, krCPU, scriptWall    time.Duration
	scriptCPU                    time.Duration
	krRSS                        int64
	krVault, scriptVault         vaultOps
	krDC, scriptDC               digicertOps
	deliveries                   int
	critWall, critRot, critCPU   time.Duration
	fleets                       []fleetResult
	oneKey                       []fleetResult
	profile, profileTop          string
	profileWall                  time.Duration
	benchLines                   []string
	benchRotate, benchVerify     string
	benchNote                    string
	transient                    []string // failed attempts that were run again
	krWalls, scriptWalls, krCPUs []time.Duration
}

type fleetResult struct {
	n, parallel int
	wall        time.Duration // median
	walls       []time.Duration
	cpu         time.Duration // user+sys, median
	rss         int64         // KiB, max over runs
	vault       vaultOps
	dc          digicertOps
	ideal       time.Duration // latency ideal
	rateBound   time.Duration // one key only
	failed      string
}

func run(ctx context.Context, o options) (*report, error) {
	r := &report{started: time.Now()}
	if out, err := exec.Command(o.vaultBin, "version").Output(); err == nil {
		r.vaultVersion = strings.TrimSpace(string(out))
	}
	logf("starting vault dev server and the webhook listener")
	v, err := startVault(ctx, &ps, o.vaultBin, o.out)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	lis, err := startListener(o.failDelivery)
	if err != nil {
		return nil, err
	}
	defer lis.close()

	if err := single(ctx, o, r, v, lis); err != nil {
		return nil, err
	}
	if len(o.fleets) > 0 {
		if err := fleetsPerKey(ctx, o, r, v, lis); err != nil {
			return nil, err
		}
	}
	for _, n := range o.oneKey {
		if err := fleetOneKey(ctx, o, r, v, lis, n); err != nil {
			return nil, err
		}
	}
	v.Stop()
	if r.profile != "" {
		r.profileTop = strings.TrimSuffix(r.profile, ".pprof") + ".top.txt"
		out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=40", o.keyroll, r.profile).CombinedOutput()
		if err != nil {
			logf("go tool pprof: %v", err)
		}
		mustWrite(r.profileTop, string(out))
	}
	if o.goBench {
		goBenchmarks(ctx, o, r)
	}
	return r, nil
}

// config writes a keyroll config for targets and returns its path.
func config(o options, v *vaultServer, simURL, name string, targets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated by bench/ for %s
vault:
  address: %s
  kv_mount: secret
  auth: {method: token}
certcentral:
  url: %s
  api_key_env: DIGICERT_API_KEY
  timeout: 10s
rotation:
  schedule: "@daily"
  propagation_delay: 0s      # >= listener.refresh (0s)
  overlap: 1h
  min_interval: 1h
  verify_listener: true
listener:
  refresh: 0s
targets:
`, name, v.Addr, simURL)
	for _, t := range targets {
		b.WriteString(t)
	}
	path := filepath.Join(o.out, name+".yaml")
	mustWrite(path, b.String())
	return path
}

func keyrollEnv(v *vaultServer, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	env = append(env, v.Env()...)
	return withEnv(env, extra...)
}

// runKeyroll runs `keyroll run --force` once and checks that every target rotated.
func runKeyroll(ctx context.Context, o options, cfg string, env []string, logTo io.Writer, extra ...string) (runResult, error) {
	args := append([]string{"run", "--force", "--config", cfg, "--log-format", "json"}, extra...)
	res, err := measure(ctx, 15*time.Minute, env, logTo, o.keyroll, args...)
	if err != nil || res.code != 0 {
		return res, fmt.Errorf("keyroll run (exit %d): %v\nstdout:\n%s\nstderr (tail):\n%s", res.code, err, res.stdout, tail(res.stderr, 2000))
	}
	for _, row := range resultRows(res.stdout) {
		if row.outcome != "rotated" && row.outcome != "resumed" {
			return res, fmt.Errorf("keyroll run: target %s: %s", row.target, row.outcome)
		}
	}
	return res, nil
}

// runKeyrollRetry is runKeyroll, run once more after a failed attempt, which is reported:
// a rotation that failed (e.g. its test delivery did not reach the listener) is resumed by
// the next run, as in production.
func runKeyrollRetry(ctx context.Context, o options, r *report, s *sim, what, cfg string, env []string, logTo io.Writer, extra ...string) (runResult, error) {
	res, err := runKeyroll(ctx, o, cfg, env, logTo, extra...)
	if err == nil || !r.again(ctx, s, what, err) {
		return res, err
	}
	return runKeyroll(ctx, o, cfg, env, logTo, extra...)
}

// resumeFailed reports a failed measured run and resumes its rotation with one more run,
// whose result is not kept: the caller measures again. It returns an error when the
// driver should give up.
func (r *report) resumeFailed(ctx context.Context, o options, s *sim, what, cfg string, env []string, logTo io.Writer, runErr error, extra ...string) error {
	if !r.again(ctx, s, what, runErr) {
		return runErr
	}
	_, err := runKeyroll(ctx, o, cfg, env, logTo, extra...)
	return err
}

// again records a failed measured run, to be measured again after a run that resumes it;
// false when the driver has already seen too many failures to go on.
func (r *report) again(ctx context.Context, s *sim, what string, err error) bool {
	if ctx.Err() != nil || len(r.transient) >= 3 {
		return false
	}
	msg := failureText(ctx, s, err)
	r.transient = append(r.transient, what+": "+msg)
	logf("%s failed; resuming it and measuring again: %s", what, msg)
	return true
}

// failureText is the simulator's failed deliveries, if any, and the end of keyroll's error.
func failureText(ctx context.Context, s *sim, err error) string {
	msg := "keyroll: " + oneLine(err.Error())
	if fd := s.failedDeliveries(ctx); fd != "" {
		msg = tail(fd, 400) + "; " + msg
	}
	return msg
}

type resultRow struct {
	target, outcome string
	dur             time.Duration
}

var cols = regexp.MustCompile(`\s{2,}`)

// resultRows parses keyroll run's summary table.
func resultRows(stdout string) []resultRow {
	var rows []resultRow
	for _, line := range strings.Split(stdout, "\n") {
		f := cols.Split(strings.TrimSpace(line), -1)
		if len(f) < 4 || f[0] == "TARGET" {
			continue
		}
		d, _ := time.ParseDuration(f[3])
		rows = append(rows, resultRow{target: f[0], outcome: f[1], dur: d})
	}
	return rows
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// single measures one clean rotation by keyroll and by the manual script, alternately.
func single(ctx context.Context, o options, r *report, v *vaultServer, lis *okListener) error {
	key := "bench-single-" + randHex(12)
	s, err := startSim(ctx, &ps, o.keyroll, o.out, "sim-single", "--api-key", key, "--accounts", "2",
		"--endpoint", lis.url, "--allow-http-endpoints")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	defer ps.Stop(s.proc, stopGrace)
	cfg := config(o, v, s.url, "single", []string{"  - name: bench\n    vault_path: keyroll/bench/single\n"})
	env := keyrollEnv(v, "DIGICERT_API_KEY", key+"-1")
	scriptEnv := withEnv(keyrollEnv(v), "VAULT_BIN", o.vaultBin, "DC_URL", s.url, "DC_API_KEY", key+"-2",
		"KV_MOUNT", "secret", "KV_PATH", "keyroll/bench/manual", "OVERLAP_SECONDS", "3600")
	logFile, err := os.Create(filepath.Join(o.out, "single-keyroll.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	scriptLog, err := os.Create(filepath.Join(o.out, "single-script.log"))
	if err != nil {
		return err
	}
	defer scriptLog.Close()

	logf("single rotation: warm-up (first rotation of each document)")
	if _, err := runKeyrollRetry(ctx, o, r, s, "single rotation warm-up", cfg, env, logFile); err != nil {
		return err
	}
	if res, err := measure(ctx, time.Minute, scriptEnv, scriptLog, "bash", o.manual); err != nil || res.code != 0 {
		return fmt.Errorf("manual script (exit %d): %v\n%s", res.code, err, tail(res.stderr, 2000))
	}
	logf("single rotation: %d runs each of keyroll and the manual script, alternately", o.runs)
	var rss []int64
	for i := 0; i < o.runs; i++ {
		v.audit.skip()
		before, err := s.stats(ctx)
		if err != nil {
			return err
		}
		dl := lis.n.Load()
		res, err := runKeyroll(ctx, o, cfg, env, logFile)
		if err != nil {
			if err := r.resumeFailed(ctx, o, s, "single rotation run", cfg, env, logFile, err); err != nil {
				return err
			}
			i--
			continue
		}
		if before, err = r.singleKeyroll(ctx, v, s, before, res); err != nil {
			return err
		}
		rss = append(rss, res.maxRSS)
		r.deliveries = int(lis.n.Load() - dl)
		if err := r.singleScript(ctx, o, v, s, before, scriptEnv, scriptLog); err != nil {
			return err
		}
	}
	r.krWall, r.scriptWall, r.krCPU = median(r.krWalls), median(r.scriptWalls), median(r.krCPUs)
	r.scriptCPU /= time.Duration(o.runs)
	r.krRSS = slices.Max(rss)
	return nil
}

// singleKeyroll records keyroll's run res of the single-rotation benchmark and its
// requests since before; it returns the simulator's stats after it.
func (r *report) singleKeyroll(ctx context.Context, v *vaultServer, s *sim, before simStats, res runResult) (simStats, error) {
	after, err := s.stats(ctx)
	if err != nil {
		return after, err
	}
	ops, err := v.audit.read()
	if err != nil {
		return after, err
	}
	r.krWalls = append(r.krWalls, res.wall)
	r.krCPUs = append(r.krCPUs, res.cpu())
	r.krVault, r.krDC = ops, diffStats(before, after)
	return after, nil
}

// singleScript runs and records the manual rotation script once.
func (r *report) singleScript(ctx context.Context, o options, v *vaultServer, s *sim, before simStats, scriptEnv []string, scriptLog io.Writer) error {
	res, err := measure(ctx, time.Minute, scriptEnv, scriptLog, "bash", o.manual)
	if err != nil || res.code != 0 {
		return fmt.Errorf("manual script (exit %d): %v\n%s", res.code, err, tail(res.stderr, 2000))
	}
	after, err := s.stats(ctx)
	if err != nil {
		return err
	}
	ops, err := v.audit.read()
	if err != nil {
		return err
	}
	r.scriptWalls = append(r.scriptWalls, res.wall)
	r.scriptCPU += res.cpu()
	r.scriptVault, r.scriptDC = ops, diffStats(before, after)
	return nil
}

func fleetTargets(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("  - name: t%d\n    vault_path: keyroll/bench/fleet/t%d\n    certcentral: {api_key_env: DC_KEY_%d}\n", i+1, i+1, i+1)
	}
	return out
}

// fleetsPerKey measures the one-target critical path and the fleets whose targets each
// have their own account and API key.
func fleetsPerKey(ctx context.Context, o options, r *report, v *vaultServer, lis *okListener) error {
	maxN := slices.Max(o.fleets)
	key := "bench-fleet-" + randHex(12)
	s, err := startSim(ctx, &ps, o.keyroll, o.out, "sim-fleet", "--api-key", key, "--accounts", itoa(max(maxN, 2)),
		"--latency", o.latency.String(), "--endpoint", lis.url, "--allow-http-endpoints")
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	defer ps.Stop(s.proc, stopGrace)
	env := keyrollEnv(v)
	for i := 1; i <= max(maxN, 2); i++ {
		env = withEnv(env, fmt.Sprintf("DC_KEY_%d", i), fmt.Sprintf("%s-%d", key, i))
	}
	all := fleetTargets(maxN)
	logFile, err := os.Create(filepath.Join(o.out, "fleet-keyroll.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	logf("fleets: warm-up rotation of all %d documents", maxN)
	warm := config(o, v, s.url, fmt.Sprintf("fleet-%d", maxN), all)
	if _, err := runKeyrollRetry(ctx, o, r, s, "fleet warm-up", warm, env, logFile, "--parallel", itoa(o.parallel)); err != nil {
		return err
	}

	logf("fleets: one target at %s latency, %d runs (the per-target critical path)", o.latency, o.critRuns)
	if err := r.criticalPath(ctx, o, s, config(o, v, s.url, "fleet-1", all[:1]), env, logFile); err != nil {
		return err
	}
	for _, n := range o.fleets {
		cfg := config(o, v, s.url, fmt.Sprintf("fleet-%d", n), all[:n])
		logf("fleet of %d targets (one API key each), --parallel %d, %d runs", n, o.parallel, o.fleetRuns)
		fr, err := r.fleet(ctx, o, v, s, n, cfg, env, logFile)
		if err != nil {
			return err
		}
		r.fleets = append(r.fleets, fr)
	}

	logf("fleet of %d targets again, with --cpu-profile", maxN)
	r.profile = filepath.Join(o.out, fmt.Sprintf("fleet%d.cpu.pprof", maxN))
	res, err := runKeyrollRetry(ctx, o, r, s, "profiled fleet run", warm, env, logFile, "--parallel", itoa(o.parallel), "--cpu-profile", r.profile)
	if err != nil {
		return err
	}
	r.profileWall = res.wall
	return nil
}

// criticalPath measures one target's run o.critRuns times: wall time, the rotation alone
// (as keyroll reports it) and CPU.
func (r *report) criticalPath(ctx context.Context, o options, s *sim, one string, env []string, logFile io.Writer) error {
	var walls, rots, cpus []time.Duration
	for i := 0; i < o.critRuns; i++ {
		res, err := runKeyroll(ctx, o, one, env, logFile)
		if err != nil {
			if err := r.resumeFailed(ctx, o, s, "one-target run", one, env, logFile, err); err != nil {
				return err
			}
			i--
			continue
		}
		walls = append(walls, res.wall)
		cpus = append(cpus, res.cpu())
		rows := resultRows(res.stdout)
		if len(rows) != 1 {
			return fmt.Errorf("one-target run printed %d result rows", len(rows))
		}
		rots = append(rots, rows[0].dur)
	}
	r.critWall, r.critRot, r.critCPU = median(walls), median(rots), median(cpus)
	return nil
}

// fleet measures a fleet of n targets o.fleetRuns times.
func (r *report) fleet(ctx context.Context, o options, v *vaultServer, s *sim, n int, cfg string, env []string, logFile io.Writer) (fleetResult, error) {
	fr := fleetResult{n: n, parallel: o.parallel}
	var cpus []time.Duration
	for i := 0; i < o.fleetRuns; i++ {
		v.audit.skip()
		before, err := s.stats(ctx)
		if err != nil {
			return fr, err
		}
		res, err := runKeyroll(ctx, o, cfg, env, logFile, "--parallel", itoa(o.parallel))
		if err != nil {
			if err := r.resumeFailed(ctx, o, s, fmt.Sprintf("fleet %d run", n), cfg, env, logFile, err, "--parallel", itoa(o.parallel)); err != nil {
				return fr, err
			}
			i--
			continue
		}
		after, err := s.stats(ctx)
		if err != nil {
			return fr, err
		}
		fr.vault, _ = v.audit.read()
		fr.dc = diffStats(before, after)
		fr.walls = append(fr.walls, res.wall)
		cpus = append(cpus, res.cpu())
		fr.rss = max(fr.rss, res.maxRSS)
	}
	fr.wall, fr.cpu = median(fr.walls), median(cpus)
	fr.ideal = latencyIdeal(n, o.parallel, r.critWall, r.critRot)
	return fr, nil
}

// latencyIdeal is ceil(n/parallel) rounds of one target's rotation plus, once, what a
// one-target process spends outside its rotation (start-up, config, Vault login).
func latencyIdeal(n, parallel int, critWall, critRot time.Duration) time.Duration {
	rounds := (n + parallel - 1) / parallel
	return time.Duration(rounds)*critRot + max(critWall-critRot, 0)
}

// fleetOneKey measures n targets whose webhooks all sit on one account (one API key). An
// attempt that fails (a transient failure, e.g. a test delivery that did not reach the
// listener) is reported and the scenario runs once more from scratch, on a fresh
// simulator, because the failed attempt's requests still fill the old one's windows.
func fleetOneKey(ctx context.Context, o options, r *report, v *vaultServer, lis *okListener, n int) error {
	for attempt := 1; ; attempt++ {
		fr, err := oneKeyAttempt(ctx, o, r, v, lis, n, attempt)
		if err != nil {
			return err
		}
		if fr.failed != "" && attempt < 2 {
			r.transient = append(r.transient, fmt.Sprintf("one-key fleet %d, attempt %d: %s", n, attempt, fr.failed))
			continue
		}
		r.oneKey = append(r.oneKey, fr)
		return nil
	}
}

func oneKeyAttempt(ctx context.Context, o options, r *report, v *vaultServer, lis *okListener, n, attempt int) (fleetResult, error) {
	fr := fleetResult{n: n, parallel: o.parallel}
	key := fmt.Sprintf("bench-onekey%d-%s", n, randHex(12))
	name := fmt.Sprintf("onekey-%d", n)
	if attempt > 1 {
		name += fmt.Sprintf("-attempt%d", attempt)
	}
	s, err := startSim(ctx, &ps, o.keyroll, o.out, "sim-"+name, "--api-key", key, "--accounts", "1",
		"--webhooks-per-account", itoa(n), "--latency", o.latency.String(), "--endpoint", lis.url, "--allow-http-endpoints")
	if err != nil {
		return fr, fmt.Errorf("simulator: %w", err)
	}
	defer ps.Stop(s.proc, stopGrace)
	if len(s.ids) != n {
		return fr, fmt.Errorf("simulator listed %d webhook ids, want %d:\n%s", len(s.ids), n, s.stdio)
	}
	dir := "keyroll/bench/onekey" + itoa(n) + "-" + randHex(4) // first rotation of fresh documents
	targets := make([]string, n)
	for i := range targets {
		targets[i] = fmt.Sprintf("  - name: w%d\n    vault_path: %s/w%d\n    webhook_id: %d\n", i+1, dir, i+1, s.ids[i])
	}
	cfg := config(o, v, s.url, name, targets)
	env := keyrollEnv(v, "DIGICERT_API_KEY", key)
	logFile, err := os.Create(filepath.Join(o.out, name+"-keyroll.log"))
	if err != nil {
		return fr, err
	}
	defer logFile.Close()

	est := rateBound(4*n, defaultWindows)
	logf("fleet of %d targets on ONE API key, --parallel %d (first rotation of each document; rate-limit bound %s)", n, o.parallel, est.Round(time.Millisecond))
	v.audit.skip()
	before, err := s.stats(ctx)
	if err != nil {
		return fr, err
	}
	res, err := runKeyroll(ctx, o, cfg, env, logFile, "--parallel", itoa(o.parallel))
	if err != nil {
		fr.failed = failureText(ctx, s, err)
		logf("one-key fleet %d failed: %s", n, fr.failed)
	}
	after, err := s.stats(ctx)
	if err != nil {
		return fr, err
	}
	fr.vault, _ = v.audit.read()
	fr.dc = diffStats(before, after)
	fr.wall, fr.walls, fr.rss, fr.cpu = res.wall, []time.Duration{res.wall}, res.maxRSS, res.cpu()
	fr.rateBound = rateBound(fr.dc.total, defaultWindows)
	fr.ideal = latencyIdeal(n, o.parallel, r.critWall, r.critRot)
	return fr, nil
}

type window struct {
	n int
	p time.Duration
}

// defaultWindows are DigiCert's documented limits per API key.
var defaultWindows = []window{{100, 5 * time.Second}, {1000, 3 * time.Minute}}

// rateBound is the earliest time, counted from the first request, at which the last of
// n requests can be sent under every window (at most w.n requests in any interval of
// length w.p, the simulator's rule): request k goes no earlier than request k-w.n plus
// w.p for each window. Any client needs at least this long for n requests.
func rateBound(n int, ws []window) time.Duration {
	if n <= 0 {
		return 0
	}
	t := make([]time.Duration, n)
	for k := range t {
		for _, w := range ws {
			if k >= w.n {
				t[k] = max(t[k], t[k-w.n]+w.p)
			}
		}
		if k > 0 {
			t[k] = max(t[k], t[k-1])
		}
	}
	return t[n-1]
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// goBenchmarks runs the Go benchmarks of the hot paths and keeps their result lines.
func goBenchmarks(ctx context.Context, o options, r *report) {
	listenerPkg := "./listener/"
	verify := "Verify"
	if _, err := os.Stat(filepath.Join(o.repo, "listener")); err != nil {
		listenerPkg, verify = "./keyset/", "Accepts"
	}
	runs := []struct{ pkg, pattern string }{
		{"./rotate/", "^BenchmarkRotate$"},
		{"./keyset/", "^Benchmark(Generate|Fingerprint|Accepts)$"},
		{"./certcentral/", "^Benchmark(LimiterWait|DecodeList)"},
		{listenerPkg, verify},
	}
	for _, b := range runs {
		logf("go test -bench %s %s", b.pattern, b.pkg)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		cmd := exec.CommandContext(cctx, "go", "test", "-run", "^$", "-bench", b.pattern, "-benchmem", "-count", "1", b.pkg)
		cmd.Dir = o.repo
		out, err := cmd.CombinedOutput()
		cancel()
		mustWrite(filepath.Join(o.out, "gobench-"+strings.Trim(strings.ReplaceAll(b.pkg, "/", "-"), ".-")+".txt"), string(out))
		if err != nil {
			r.benchNote += fmt.Sprintf("`go test -bench %s %s` failed: %v. ", b.pattern, b.pkg, firstLine(string(out)))
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "Benchmark") || !strings.Contains(line, "ns/op") {
				continue
			}
			line = strings.Join(strings.Fields(line), " ")
			r.benchLines = append(r.benchLines, line)
			if strings.HasPrefix(line, "BenchmarkRotate-") || strings.HasPrefix(line, "BenchmarkRotate ") {
				r.benchRotate = line
			}
			if r.benchVerify == "" && strings.Contains(line, verify) {
				r.benchVerify = line
			}
		}
	}
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// nsPerOp extracts the ns/op of a benchmark line.
func nsPerOp(line string) float64 {
	f := strings.Fields(line)
	for i := 1; i < len(f); i++ {
		if f[i] == "ns/op" {
			var v float64
			fmt.Sscan(f[i-1], &v)
			return v
		}
	}
	return math.NaN()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}
