package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// Fault kinds, as counted in the summary.
const (
	fKill        = "keyroll-sigkill"
	fKillWait    = "keyroll-sigkill-in-wait"
	fTerm        = "keyroll-sigterm"
	fConcurrent  = "keyroll-concurrent-run"
	fVaultKill   = "vault-kill-restart"
	fVaultSeal   = "vault-seal"
	f500         = "digicert-5xx"
	f429         = "digicert-429-retry-after"
	fTimeout     = "digicert-timeout"
	fLost        = "digicert-response-lost"
	fReplica     = "listener-restart"
	fTorn        = "evidence-torn-tail"
	fSchedKill   = "schedule-sigkill"
	fSchedTerm   = "schedule-sigterm"
	runFaultKind = "run"
)

// runFaults and scheduleFaults are the mixes of the two phases, with weights.
var (
	runFaults = []weighted{
		{fKill, 3}, {fKillWait, 3}, {fTerm, 1}, {fConcurrent, 2}, {fVaultKill, 1}, {fVaultSeal, 1},
		{f500, 2}, {f429, 2}, {fTimeout, 1}, {fLost, 2}, {fReplica, 2}, {fTorn, 1},
	}
	scheduleFaults = []weighted{
		{fSchedKill, 2}, {fSchedTerm, 1}, {fConcurrent, 1}, {fVaultSeal, 1}, {f500, 1}, {f429, 1},
		{fLost, 1}, {fReplica, 1}, {fKeyLost, 1}, {fKey5xx, 1},
	}
)

// onlyFaults narrows the mixes to kinds.
func onlyFaults(kinds []string) error {
	keep := func(ws []weighted) []weighted {
		var out []weighted
		for _, w := range ws {
			for _, k := range kinds {
				if w.kind == k {
					out = append(out, w)
				}
			}
		}
		return out
	}
	runFaults, scheduleFaults, apiFaults = keep(runFaults), keep(scheduleFaults), keep(apiFaults)
	if len(runFaults) == 0 && len(apiFaults) > 0 {
		onlyKeyFaults = true
		runFaults = []weighted{{f500, 1}} // the runs that do not rotate the API key
	}
	if len(runFaults) == 0 {
		return fmt.Errorf("no fault of the run phase among %q", kinds)
	}
	if len(scheduleFaults) == 0 {
		scheduleFaults = []weighted{{fSchedTerm, 1}}
	}
	return nil
}

// onlyKeyFaults: -only named faults of the API key's rotation alone; every run that
// rotates the API key then gets one.
var onlyKeyFaults bool

type weighted struct {
	kind   string
	weight int
}

func pick(rng *rand.Rand, ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += w.weight
	}
	n := rng.IntN(total)
	for _, w := range ws {
		if n < w.weight {
			return w.kind
		}
		n -= w.weight
	}
	return ws[len(ws)-1].kind
}

// newRand returns the random source of one part of the soak: the fault schedule (seed),
// the load balancer in front of the replicas (seed+1), the deliveries (seed+2).
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// uniform returns a duration in [lo, hi).
func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// keyrollProc is a keyroll run or schedule process; waiting is closed when it logs that
// it waits for the listeners (the propagation wait).
type keyrollProc struct {
	*child
	waiting chan struct{}
	keyOnly bool // a run of the API key's target alone: it retires no webhook key
}

// startKeyroll starts keyroll with args, counting the evidence records it logs.
func (h *harness) startKeyroll(name string, env []string, args ...string) (*keyrollProc, error) {
	kp := &keyrollProc{waiting: make(chan struct{}), keyOnly: slices.Contains(args, h.s.apiTarget)}
	var closed bool
	onLine := func(line string) {
		if strings.Contains(line, `"evidence":true`) {
			if x := jsonField(line, "hash"); x != "" {
				h.mu.Lock()
				h.evLogged = append(h.evLogged, x)
				h.mu.Unlock()
			}
		}
		if !closed && strings.Contains(line, "waiting for listeners") {
			closed = true
			close(kp.waiting)
		}
	}
	if env == nil {
		env = withEnv("VAULT_TOKEN", h.jobToken, "DIGICERT_API_KEY", h.dc.apiKey)
	}
	c, err := spawn(h.sink, name, env, onLine, h.keyroll, append(args, "--log-level", "info")...)
	if err != nil {
		return nil, err
	}
	kp.child = c
	h.events.add("%s: started (pid %d) %s", name, c.Pid(), strings.Join(args, " "))
	return kp, nil
}

// waitKeyroll waits for p (killing it if it hangs) and counts how it ended. Exit codes
// 2 and 3 are violations: under these faults the state must always stay resumable.
func (h *harness) waitKeyroll(ctx context.Context, p *keyrollProc, kind string) int {
	select {
	case <-p.Done():
	case <-time.After(2 * time.Minute):
		h.violation(3, fmt.Sprintf("%s did not end within 2 minutes", p.Name))
		p.Signal(syscall.SIGKILL)
	}
	code := p.ExitCode()
	killed := p.Killed()
	if code == 0 && kind == "run" && !p.keyOnly {
		h.mon.checkRetired(ctx, p.Started)
	}
	outcome := fmt.Sprintf("%s exit %d", kind, code)
	switch {
	case killed:
		outcome = kind + " killed (SIGKILL)"
		h.mu.Lock()
		h.killedRuns++
		h.mu.Unlock()
	case code < 0:
		outcome = kind + " ended by a signal"
	case code == 2 || code == 3:
		h.violation(3, fmt.Sprintf("%s exited %d: needs a human or a fix, although the soak only injects recoverable faults (see keyroll.log)", p.Name, code))
	}
	h.count(h.exits, outcome)
	h.events.add("%s: %s after %s", p.Name, outcome, time.Since(p.Started).Round(time.Millisecond))
	return code
}

// runPhase runs `keyroll run --force` processes one after another, each with a fault
// drawn from rng or none, until the soak has target rotations.
func (h *harness) runPhase(ctx context.Context, rng *rand.Rand, target int) {
	for i := 0; ctx.Err() == nil && h.mon.rotations() < target; i++ {
		api := h.apiDue(ctx) // this run rotates the API key too
		fault := ""
		if rng.Float64() < h.s.faultRate {
			mix := runFaults
			if api && len(apiFaults) > 0 && (onlyKeyFaults || rng.IntN(2) == 0) {
				mix = apiFaults // half the faults of a run that rotates the API key are on its rotation
			}
			fault = pick(rng, mix)
			if (fault == fVaultKill || fault == fVaultSeal) && h.vaultBusy.Load() {
				fault = f500
			}
		}
		code := h.runOnce(ctx, rng, fault, api)
		h.dc.sim.ClearFaults()
		h.dc.keys.setHook(nil)
		if i%10 == 9 && !h.vaultBusy.Load() {
			h.checkEvidence(ctx)
		}
		if code != 0 {
			sleepCtx(ctx, 200*time.Millisecond) // a failed run's successor comes a little later, as a CronJob's retry would
		}
	}
}

// runOnce runs one `keyroll run --force` with fault and returns its exit code. With api,
// the run forces the API key's rotation too (apiDue), but for fKeyConcurrent: then the
// webhook's forced run has two unforced runs of the API key beside it.
func (h *harness) runOnce(ctx context.Context, rng *rand.Rand, fault string, api bool) int {
	verify := rng.IntN(2) == 0
	args := h.webhookOnly(verify)
	if api && fault != fKeyConcurrent {
		args = []string{"run", "--force", "--config", h.configFile(verify)}
	}
	if fault != "" {
		h.count(h.faults, fault)
	}
	h.applyDigicertFault(rng, fault)
	if fault == fTorn && !h.tornTail() {
		if err := h.tearTail(); err != nil {
			h.events.add("fault: %v", err)
		} else {
			h.noteTornTail("injected")
		}
	}
	p, err := h.startKeyroll("run", nil, args...)
	if err != nil {
		h.events.add("run: %v", err)
		return -1
	}
	h.applyKeyFault(rng, fault, p)
	started := p.Started
	var others []*keyrollProc
	apiRuns := map[*keyrollProc]bool{p: api && fault != fKeyConcurrent}
	switch fault {
	case fKill:
		d := uniform(rng, 0, 1500*time.Millisecond)
		go func() {
			if sleepUntil(p.Done(), d) {
				h.events.add("fault: SIGKILL %s after %s", p.Name, d.Round(time.Millisecond))
				p.Signal(syscall.SIGKILL)
			}
		}()
	case fKillWait, fTerm:
		d := uniform(rng, 0, h.s.propagation)
		sig := syscall.SIGKILL
		if fault == fTerm {
			sig = syscall.SIGTERM
		}
		go func() {
			select {
			case <-p.waiting:
			case <-p.Done():
				return
			}
			if sleepUntil(p.Done(), d) {
				h.events.add("fault: %s %s %s into the propagation wait", sig, p.Name, d.Round(time.Millisecond))
				p.Signal(sig)
			}
		}()
	case fConcurrent:
		if sleepCtx(ctx, uniform(rng, 0, 1200*time.Millisecond)) {
			args, withKey := h.secondRun(rng, apiRuns[p])
			if q, err := h.startKeyroll("run-2", nil, args...); err == nil {
				others, apiRuns[q] = append(others, q), withKey
			}
		}
	case fKeyConcurrent:
		for i := range 2 {
			if !sleepCtx(ctx, uniform(rng, 0, 300*time.Millisecond)) {
				break
			}
			if q, err := h.startKeyroll(fmt.Sprintf("key-run-%d", i+1), nil, h.apiOnly(rng.IntN(2) == 0)...); err == nil {
				others, apiRuns[q] = append(others, q), true
			}
		}
	case fVaultKill, fVaultSeal, fReplica:
		h.applyAsyncFault(ctx, rng, fault)
	}
	code := h.waitKeyroll(ctx, p, "run")
	completed := time.Time{} // the start of the earliest run of the API key that exited 0
	if apiRuns[p] && code == 0 {
		completed = started
	}
	for _, q := range others {
		if h.waitKeyroll(ctx, q, "run") == 0 && apiRuns[q] && (completed.IsZero() || q.Started.Before(completed)) {
			completed = q.Started
		}
	}
	h.noteTornTail("left by a killed keyroll")
	if len(apiRuns) > 1 || apiRuns[p] {
		h.checkOrphans(ctx, completed, "a run")
	}
	return code
}

// applyDigicertFault arms a simulator fault for the next matching requests.
func (h *harness) applyDigicertFault(rng *rand.Rand, fault string) {
	methods := []string{"", http.MethodGet, http.MethodPut, http.MethodPost}
	switch fault {
	case f500:
		status := []int{500, 502, 503}[rng.IntN(3)]
		f := certcentraltest.Fault{Method: methods[rng.IntN(len(methods))], Status: status, Count: 1 + rng.IntN(3)}
		h.dc.sim.Inject(f)
		h.events.add("fault: DigiCert answers %d to the next %d %s requests", status, f.Count, orAny(f.Method))
	case f429:
		n := 1 + rng.IntN(3)
		h.dc.sim.Burst429(n, time.Second)
		h.events.add("fault: DigiCert answers 429 with Retry-After: 1 to the next %d requests", n)
	case fTimeout:
		f := certcentraltest.Fault{Method: methods[rng.IntN(len(methods))], Latency: h.s.dcTimeout + 500*time.Millisecond}
		h.dc.sim.Inject(f)
		h.events.add("fault: DigiCert answers the next %s request after %s (timeout %s)", orAny(f.Method), f.Latency, h.s.dcTimeout)
	case fLost:
		h.dc.sim.DropNextResponse(http.MethodPut, "")
		h.events.add("fault: DigiCert applies the next PUT and drops its response")
	case fKeyLost, fKey5xx:
		h.applyKeyFault(rng, fault, nil)
	}
}

func orAny(m string) string {
	if m == "" {
		return "(any)"
	}
	return m
}

// applyAsyncFault starts a Vault or listener fault at a random moment of the next second.
func (h *harness) applyAsyncFault(ctx context.Context, rng *rand.Rand, fault string) {
	delay := uniform(rng, 0, 1200*time.Millisecond)
	switch fault {
	case fVaultKill, fVaultSeal:
		if !h.vaultBusy.CompareAndSwap(false, true) {
			return
		}
		down := uniform(rng, 200*time.Millisecond, 2*time.Second)
		if fault == fVaultSeal {
			down = uniform(rng, time.Second, 3*time.Second)
		}
		go func() {
			defer h.vaultBusy.Store(false)
			if !sleepCtx(ctx, delay) {
				return
			}
			var err error
			if fault == fVaultKill {
				h.events.add("fault: Vault SIGKILL, restart in %s", down.Round(time.Millisecond))
				err = h.vault.restart(ctx, down)
			} else {
				h.events.add("fault: Vault sealed for %s", down.Round(time.Millisecond))
				err = h.vault.sealFor(ctx, down)
			}
			if errors.Is(err, errNotApplied) {
				h.events.add("fault not applied: %v", err)
				return
			}
			if err != nil && ctx.Err() == nil {
				h.events.add("vault: %v", err)
				h.violation(3, fmt.Sprintf("Vault did not come back after %s: %v", fault, err))
				return
			}
			h.events.add("vault: unsealed and active again")
		}()
	case fReplica:
		r := h.replicas[rng.IntN(len(h.replicas))]
		graceful := rng.IntN(2) == 0
		go func() {
			// Prefer the moment a key is staged: the new replica must learn it from Vault.
			deadline := time.Now().Add(delay + time.Second)
			for !h.mon.hasPending() && time.Now().Before(deadline) && sleepCtx(ctx, 20*time.Millisecond) {
			}
			h.events.add("fault: restart %s (graceful %t, key staged %t)", r.name, graceful, h.mon.hasPending())
			r.restart(graceful)
		}()
	}
}

// schedulePhase runs `keyroll schedule` until the soak has target rotations, with faults
// drawn from rng every second or two, the scheduler itself killed or stopped among them.
func (h *harness) schedulePhase(ctx context.Context, rng *rand.Rand, target int) {
	if h.mon.rotations() >= target {
		return
	}
	start := func() *keyrollProc {
		p, err := h.startKeyroll("schedule", nil, "schedule", "--grace", "5s", "--config", h.configFile(rng.IntN(2) == 0))
		if err != nil {
			h.events.add("schedule: %v", err)
		}
		return p
	}
	p := start()
	for ctx.Err() == nil && h.mon.rotations() < target && p != nil {
		sleepCtx(ctx, uniform(rng, 500*time.Millisecond, 2*time.Second))
		select {
		case <-p.Done():
			h.waitKeyroll(ctx, p, "schedule")
			p = start()
			continue
		default:
		}
		if rng.Float64() >= h.s.faultRate {
			continue
		}
		fault := pick(rng, scheduleFaults)
		if fault == fVaultSeal && h.vaultBusy.Load() {
			fault = f500
		}
		h.count(h.faults, fault)
		switch fault {
		case fSchedKill, fSchedTerm:
			sig := syscall.SIGKILL
			if fault == fSchedTerm {
				sig = syscall.SIGTERM
			}
			h.events.add("fault: %s the scheduler", sig)
			p.Signal(sig)
			h.waitKeyroll(ctx, p, "schedule")
			h.noteTornTail("left by a killed scheduler")
			p = start()
		case fConcurrent:
			args, _ := h.secondRun(rng, false)
			if q, err := h.startKeyroll("run-2", nil, args...); err == nil {
				h.waitKeyroll(ctx, q, "run")
			}
		case fVaultSeal, fReplica:
			h.applyAsyncFault(ctx, rng, fault)
		default:
			h.applyDigicertFault(rng, fault)
		}
	}
	if p != nil {
		p.Stop(15 * time.Second)
		h.waitKeyroll(ctx, p, "schedule")
	}
	h.dc.sim.ClearFaults()
	h.checkOrphans(ctx, time.Time{}, "a scheduler phase")
}
