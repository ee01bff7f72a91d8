// Command soak runs keyroll for hundreds of rotations under randomized faults and checks
// its invariants continuously (`make soak`, scripts/soak.sh).
//
// It starts a real Vault server with file storage (initialised and unsealed here), the
// CertCentral simulator in this process, several `keyroll listen` replicas, and rotations
// one after another: `keyroll run --force` processes, and phases of `keyroll schedule`.
// Faults come from a random source seeded with -seed, so that a run can be replayed:
// SIGKILL of keyroll (also during the propagation wait), Vault killed and restarted or
// sealed for a few seconds, DigiCert answering 500, 429 with Retry-After, too slowly, or
// dropping the response after applying a change, a listener replica restarted, and a
// second keyroll started while one runs. Deliveries go to every replica all along with
// the secret DigiCert holds at that instant, plus retries with older keys within their
// overlap. It also rotates the DigiCert API key (an api_key target whose document is every
// webhook run's credential), with lost creates, 5xx on the key endpoints, crashes at its
// steps and concurrent runs, and checks the orphan invariant after every run. The
// invariants are listed in docs/reliability.md.
//
// The last line of its output is
//
//	soak: N rotations, F faults, D deliveries, R rejected, V invariant violations, seed S
//
// and it exits 1 when R or V is not zero (with -expect-violation: when V is zero).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyroll/keyroll/internal/tsatest"
)

// settings are the soak's knobs; the timings make one rotation take about a second.
type settings struct {
	rotations int
	seed      uint64
	replicas  int
	failFast  bool
	faultRate float64
	timeout   time.Duration
	// updateContact: whether the simulator's PUT contacts the endpoint ("always", "never",
	// or "random": drawn from the seed).
	updateContact string

	refresh time.Duration // listener.refresh
	// maxStaleness is listener.max_staleness: shorter than propagation by more than a stage
	// write takes, so that a replica that missed a staged key because Vault went away
	// fails closed (503) before DigiCert can send the key, instead of rejecting it (README).
	maxStaleness time.Duration
	propagation  time.Duration // rotation.propagation_delay
	overlap      time.Duration // rotation.overlap (≤ propagation: no rotation ends an overlap early)
	dcTimeout    time.Duration // certcentral.timeout

	deliveryEvery time.Duration
	monitorEvery  time.Duration
	retryMargin   time.Duration // retries use keys replaced less than overlap - retryMargin ago
	staleSlack    time.Duration // a 503 is an outage's if Vault was out within max_staleness + this
	clockSlack    time.Duration
	stuckAfter    time.Duration // no promote for this long (Vault up) is a violation
	slowVault     time.Duration // a monitor read of Vault slower than this marks Vault unresponsive

	kvMount, docPath string

	// apiKeys: the soak also rotates the DigiCert API key (target apiTarget, document
	// apiDocPath), which every webhook run reads as its credential.
	apiKeys    bool
	apiTarget  string
	apiDocPath string
	// apiOverlap is the API key's overlap: longer than any run that read the old key
	// before a promote goes on using it (a webhook run under faults). apiGrace < apiOverlap.
	apiOverlap, apiGrace time.Duration
}

func defaultSettings() settings {
	return settings{
		replicas:      3,
		faultRate:     0.6,
		refresh:       150 * time.Millisecond,
		maxStaleness:  700 * time.Millisecond,
		propagation:   time.Second,
		overlap:       time.Second,
		dcTimeout:     time.Second,
		deliveryEvery: 40 * time.Millisecond,
		monitorEvery:  50 * time.Millisecond,
		retryMargin:   150 * time.Millisecond,
		staleSlack:    time.Second,
		clockSlack:    10 * time.Millisecond,
		stuckAfter:    45 * time.Second,
		slowVault:     300 * time.Millisecond,
		kvMount:       "secret",
		docPath:       "keyroll/digicert/soak",
		apiKeys:       true,
		apiTarget:     "soak-api-key",
		apiDocPath:    "keyroll/digicert/soak-api-key",
		apiOverlap:    10 * time.Second,
		apiGrace:      9 * time.Second,
	}
}

// harness is one soak.
type harness struct {
	s       settings
	dir     string
	keyroll string // the keyroll binary under test
	repo    string // the repository, for the shipped Vault policies
	out     io.Writer

	events   *eventLog
	sink     *logSink
	vault    *vaultServer
	dc       *digicert
	front    *front
	tsa      *tsatest.TSA // the evidence's Time-Stamp Authority
	replicas []*replica
	mon      *monitor
	keyMon   *keyMonitor // the API key's document
	orphans  orphanWatch
	ds       deliveryStats

	jobToken, listenerToken string
	rotating                atomic.Bool // rotations are under way (liveness is checked)
	vaultBusy               atomic.Bool // a Vault fault is in progress
	cancel                  context.CancelFunc

	mu         sync.Mutex
	faults     map[string]int
	exits      map[string]int // keyroll exit outcomes by "run exit 0", "schedule killed"…
	evLogged   []string       // hashes of the evidence records keyroll logged
	killedRuns int            // keyroll processes ended by SIGKILL (each may leave a record unlogged)
	tornTails  int            // torn last lines of the evidence file, each to be repaired once
	violations int
	dumps      int
	evChecks   int
}

func main() {
	s := defaultSettings()
	var expectViolation bool
	var keyrollBin, vaultBin, dir, repo string
	flag.IntVar(&s.rotations, "rotations", 30, "rotations to complete")
	flag.Uint64Var(&s.seed, "seed", 0, "seed of the fault schedule (0: from the clock)")
	flag.IntVar(&s.replicas, "replicas", s.replicas, "keyroll listen replicas")
	flag.Float64Var(&s.faultRate, "fault-rate", s.faultRate, "share of rotations that get a fault")
	flag.StringVar(&s.updateContact, "update-contact", "random", "whether DigiCert's PUT contacts the endpoint first: always, never or random (from the seed)")
	only := flag.String("only", "", "comma-separated fault kinds to inject (default: the whole mix)")
	flag.BoolVar(&s.apiKeys, "api-keys", s.apiKeys, "also rotate the DigiCert API key (an api_key target whose document every webhook run reads its key from)")
	flag.DurationVar(&s.apiOverlap, "api-key-overlap", s.apiOverlap, "the API key's overlap (grace is 1 s shorter)")
	flag.BoolVar(&s.failFast, "fail-fast", false, "stop at the first invariant violation")
	flag.DurationVar(&s.timeout, "timeout", 0, "give up after this long (default: 10 s per rotation + 2 min)")
	flag.BoolVar(&expectViolation, "expect-violation", false, "exit 0 only if a violation was found (self-test with an injected bug)")
	flag.StringVar(&keyrollBin, "keyroll", "", "keyroll binary under test (required)")
	flag.StringVar(&vaultBin, "vault", "", "Vault server binary (required)")
	flag.StringVar(&dir, "dir", "", "work directory for data and logs (required)")
	flag.StringVar(&repo, "repo", ".", "the keyroll repository (for deploy/kubernetes/vault policies)")
	flag.Parse()
	if keyrollBin == "" || vaultBin == "" || dir == "" || s.rotations < 1 {
		fmt.Fprintln(os.Stderr, "soak: -keyroll, -vault and -dir are required, -rotations must be positive")
		os.Exit(2)
	}
	if *only != "" {
		if err := onlyFaults(strings.Split(*only, ",")); err != nil {
			fmt.Fprintln(os.Stderr, "soak: -only:", err)
			os.Exit(2)
		}
	}
	s.apiGrace = max(s.apiOverlap-time.Second, s.apiOverlap/2)
	if !s.apiKeys {
		apiFaults = nil
		scheduleFaults = slices.DeleteFunc(scheduleFaults, func(w weighted) bool { return w.kind == fKeyLost || w.kind == fKey5xx })
		if len(scheduleFaults) == 0 {
			scheduleFaults = []weighted{{fSchedTerm, 1}}
		}
	}
	if s.seed == 0 {
		s.seed = uint64(time.Now().UnixNano()%1_000_000_000) + 1
	}
	if s.timeout == 0 {
		s.timeout = time.Duration(s.rotations)*10*time.Second + 2*time.Minute
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{s: s, dir: dir, keyroll: keyrollBin, repo: repo, out: os.Stdout,
		faults: map[string]int{}, exits: map[string]int{}}
	v, r, err := h.run(ctx, vaultBin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v (seed %d; logs in %s)\n", err, s.seed, dir)
		os.Exit(2)
	}
	ok := v == 0 && r == 0
	if expectViolation {
		ok = v > 0
	}
	if !ok {
		os.Exit(1)
	}
}

// run sets everything up, rotates until s.rotations promotes, and prints the summary. It
// returns the number of violations and of rejected deliveries.
func (h *harness) run(parent context.Context, vaultBin string) (int, int64, error) {
	start := time.Now()
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return 0, 0, err
	}
	evf, err := os.Create(filepath.Join(h.dir, "events.log"))
	if err != nil {
		return 0, 0, err
	}
	defer evf.Close()
	klog, err := os.Create(filepath.Join(h.dir, "keyroll.log"))
	if err != nil {
		return 0, 0, err
	}
	defer klog.Close()
	h.events = newEventLog(50, start, evf)
	h.sink = &logSink{w: klog}
	ctx, cancel := context.WithTimeout(parent, h.s.timeout)
	defer cancel()
	h.cancel = cancel
	fmt.Fprintf(h.out, "soak: seed %d, %d rotations, %d listener replicas, logs in %s\n", h.s.seed, h.s.rotations, h.s.replicas, h.dir)

	stopAll, err := h.setup(ctx, vaultBin)
	defer stopAll()
	if err != nil && (h.mon == nil || h.violationCount() == 0) {
		return 0, 0, err
	}
	if err != nil { // a violation while setting up (an injected bug can break the first rotation)
		fmt.Fprintf(h.out, "soak: setup stopped: %v\n", err)
		return h.summary(time.Since(start))
	}
	rng := newRand(h.s.seed)
	h.rotating.Store(true)
	h.rotate(ctx, rng)
	h.rotating.Store(false)
	if parent.Err() != nil {
		return 0, 0, parent.Err()
	}
	if ctx.Err() != nil && h.mon.rotations() < h.s.rotations {
		h.violation(3, fmt.Sprintf("only %d of %d rotations within %s", h.mon.rotations(), h.s.rotations, h.s.timeout))
	}
	h.waitQuiet()
	h.finalKeyRun(context.WithoutCancel(ctx))
	h.checkEvidence(context.WithoutCancel(ctx))
	return h.summary(time.Since(start))
}

// rotate alternates phases of `keyroll run` processes (20 rotations) and of `keyroll
// schedule` (5 rotations) until the soak has its rotations.
func (h *harness) rotate(ctx context.Context, rng *rand.Rand) {
	for ctx.Err() == nil && h.mon.rotations() < h.s.rotations {
		h.runPhase(ctx, rng, min(h.s.rotations, h.mon.rotations()+20))
		h.schedulePhase(ctx, rng, min(h.s.rotations, h.mon.rotations()+5))
	}
}

// waitQuiet waits for a Vault fault in progress to end.
func (h *harness) waitQuiet() {
	for i := 0; i < 200 && h.vaultBusy.Load(); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// violation reports a broken invariant: the first few with the seed and the last events.
func (h *harness) violation(inv int, msg string) {
	h.mu.Lock()
	h.violations++
	dump := h.dumps < 3
	if dump {
		h.dumps++
	}
	h.mu.Unlock()
	h.events.add("VIOLATION invariant %d: %s", inv, msg)
	fmt.Fprintf(h.out, "VIOLATION (invariant %d): %s\n", inv, msg)
	if dump {
		fmt.Fprintf(h.out, "  seed %d: replay with SOAK_SEED=%d SOAK_ROTATIONS=%d make soak\n  last events:\n", h.s.seed, h.s.seed, h.s.rotations)
		for _, e := range h.events.last() {
			fmt.Fprintf(h.out, "    %s\n", e)
		}
	}
	if h.s.failFast {
		h.cancel()
	}
}

func (h *harness) violationCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.violations
}

func (h *harness) count(m map[string]int, k string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m[k]++
}

// summary prints the figures and, last, the summary line.
func (h *harness) summary(wall time.Duration) (int, int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	nf := 0
	for _, n := range h.faults {
		nf += n
	}
	fmt.Fprintf(h.out, "\nsoak summary (seed %d, wall time %s)\n", h.s.seed, wall.Round(time.Second))
	fmt.Fprintf(h.out, "  rotations (promotes seen in Vault): %d; DigiCert secret changes: %d; document versions: %d\n",
		h.mon.rotations(), h.dc.changes(), h.mon.versionCount())
	fmt.Fprintf(h.out, "  faults: %d\n", nf)
	for _, k := range sortedKeys(h.faults) {
		fmt.Fprintf(h.out, "    %-24s %d\n", k, h.faults[k])
	}
	fmt.Fprintf(h.out, "  keyroll processes:\n")
	for _, k := range sortedKeys(h.exits) {
		fmt.Fprintf(h.out, "    %-24s %d\n", k, h.exits[k])
	}
	n, d := h.vault.outageTotal()
	fmt.Fprintf(h.out, "  Vault outages: %d, %s in all\n", n, d.Round(time.Millisecond))
	n, d = h.vault.slowTotal()
	fmt.Fprintf(h.out, "  Vault unresponsive outside them (a read took over %s or failed, or the machine stalled as long): %d times, %s in all\n", h.s.slowVault, n, d.Round(time.Millisecond))
	fmt.Fprintf(h.out, "  deliveries: %d sent, %d accepted, %d rejected, %d answered 503 by a replica failing closed while Vault was out (%d of them while it was unresponsive),\n",
		h.ds.sent.Load(), h.ds.accepted.Load(), h.ds.rejected.Load(), h.ds.outage503.Load()+h.ds.slow503.Load(), h.ds.slow503.Load())
	fmt.Fprintf(h.out, "    %d retries with an older key (%d answered 401 after its overlap had ended), %d not delivered (replica restarting)\n",
		h.ds.retries.Load(), h.ds.late.Load(), h.ds.unreachable.Load())
	restarts := 0
	for _, r := range h.replicas {
		r.mu.Lock()
		restarts += r.restarts
		r.mu.Unlock()
	}
	fmt.Fprintf(h.out, "  listener replicas: %d, restarted %d times\n", len(h.replicas), restarts)
	if h.mon.retires() {
		fmt.Fprintf(h.out, "  retirement: %d keys found destroyed from the whole version history after their window\n", h.mon.retiredKeys())
	} else {
		fmt.Fprintf(h.out, "  retirement: not checked (invariant 4): this keyroll does not set max_versions, so it does not retire keys\n")
	}
	h.printKeySummary()
	fmt.Fprintf(h.out, "  evidence: %d records logged, %d torn tails, signed chain and anchor verified %d times\n", len(h.evLogged), h.tornTails, h.evChecks)
	fmt.Fprintf(h.out, "soak: %d rotations, %d faults, %d deliveries, %d rejected, %d invariant violations, seed %d\n",
		h.mon.rotations(), nf, h.ds.sent.Load(), h.ds.rejected.Load(), h.violations, h.s.seed)
	return h.violations, h.ds.rejected.Load(), nil
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonField extracts a string field from a JSON log line without decoding all of it.
func jsonField(line, field string) string {
	_, rest, ok := strings.Cut(line, `"`+field+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
