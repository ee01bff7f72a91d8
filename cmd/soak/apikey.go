package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
)

// The API key's fault kinds, as counted in the summary.
const (
	fKeyLost       = "key-create-response-lost"
	fKey5xx        = "key-endpoint-5xx"
	fKeyKill       = "key-sigkill"
	fKeyTerm       = "key-sigterm"
	fKeyConcurrent = "key-concurrent-runs"
)

// apiFaults join the run phase's mix in the runs that rotate the API key.
var apiFaults = []weighted{{fKeyLost, 3}, {fKey5xx, 2}, {fKeyKill, 3}, {fKeyTerm, 1}, {fKeyConcurrent, 2}}

// The invariants on the API key (README, "Reliability"; the webhook's are 1 to 5).
const (
	invRefused = 6 // no request keyroll sends is refused (401/403): the overlap covers every consumer
	invOrphan  = 7 // no active key named "keyroll …" that no document holds, but one in flight
	invKeyDoc  = 8 // the document's current authenticates; previous until its overlap ends; pending never revoked
)

// orphanPrefix names every key keyroll creates (rotate.KeyName).
const orphanPrefix = "keyroll "

// apiCredential is the certcentral block's credential line: the API key document's current.
func (h *harness) apiCredential() string {
	if !h.s.apiKeys {
		return "api_key_env: DIGICERT_API_KEY"
	}
	return fmt.Sprintf("api_key_vault: {path: %s, field: current}", h.s.apiDocPath)
}

// apiTargetConfig is the API-key target's entry in targets ("" without -api-keys).
func (h *harness) apiTargetConfig() string {
	if !h.s.apiKeys {
		return ""
	}
	return fmt.Sprintf(`  - name: %s
    kind: api_key
    vault_path: %s
    api_key: {max_age: 1s, min_interval: 0s, overlap: %s, grace: %s, in_use: hold}
`, h.s.apiTarget, h.s.apiDocPath, h.s.apiOverlap, h.s.apiGrace)
}

// seedAPIKey stores the simulator account's initial key in the API key's document, as an
// operator adopting keyroll would: current and current_id.
func (h *harness) seedAPIKey(ctx context.Context) error {
	if !h.s.apiKeys {
		return nil
	}
	_, err := h.vault.Client().KVv2(h.s.kvMount).Put(ctx, h.s.apiDocPath, map[string]any{
		"current": h.dc.apiKey, "current_id": strconv.Itoa(h.dc.acct.KeyID())})
	if err != nil {
		return fmt.Errorf("vault: seed the API key's document: %w", err)
	}
	h.events.add("vault: API key document seeded with key %d (%s)", h.dc.acct.KeyID(), keyset.Fingerprint(h.dc.apiKey))
	return nil
}

// apiDoc reads the latest API key document with the root token.
func (h *harness) apiDoc(ctx context.Context) (keyset.Document, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := h.vault.Client().KVv2(h.s.kvMount).Get(ctx, h.s.apiDocPath)
	if err != nil {
		return keyset.Document{}, err
	}
	return keyset.FromData(s.Data)
}

// apiDue reports whether the next run may force the API key's rotation: its previous key
// is gone or past its overlap, so that --force cuts no overlap short. (A forced run never
// runs beside another run of the API key: a concurrent promote would give it a previous
// key in overlap, which --force revokes early.)
func (h *harness) apiDue(ctx context.Context) bool {
	if !h.s.apiKeys {
		return false
	}
	d, err := h.apiDoc(ctx)
	return err == nil && (d.Previous == "" || time.Now().After(d.PreviousUntil.Add(50*time.Millisecond)))
}

// webhookOnly are the arguments of a run of the webhook target alone.
func (h *harness) webhookOnly(verify bool) []string {
	return []string{"run", "--force", "--target", "soak", "--config", h.configFile(verify)}
}

// apiOnly are the arguments of an unforced run of the API key's target alone: it rotates
// only when the previous key's overlap has ended, so it can run beside anything.
func (h *harness) apiOnly(verify bool) []string {
	return []string{"run", "--target", h.s.apiTarget, "--config", h.configFile(verify)}
}

// secondRun are the arguments of a run started beside another: never one forcing the API
// key (see apiDue).
func (h *harness) secondRun(rng *rand.Rand, firstRotatesKey bool) (args []string, api bool) {
	if firstRotatesKey || !h.s.apiKeys || rng.IntN(2) == 0 {
		return h.webhookOnly(rng.IntN(2) == 0), false
	}
	return h.apiOnly(rng.IntN(2) == 0), true
}

// applyKeyFault arms a fault of the key endpoints, or the crash hook that kills p at a
// point of the API key's rotation (disarmed after the run: keyTrace.setHook(nil)).
func (h *harness) applyKeyFault(rng *rand.Rand, fault string, p *keyrollProc) {
	switch fault {
	case fKeyLost:
		status := []int{0, 502, 504}[rng.IntN(3)]
		h.dc.sim.LoseNextKeyCreate(status)
		h.events.add("fault: DigiCert creates the next API key and loses its answer (%s)", map[bool]string{true: "connection closed", false: strconv.Itoa(status)}[status == 0])
	case fKey5xx:
		ep := []struct{ method, path, what string }{
			{http.MethodGet, "/key", "list"}, {http.MethodGet, "/key/*", "info"},
			{http.MethodPut, "/key/*", "status"}, {http.MethodPost, "/key/user/*", "create (not applied)"},
		}[rng.IntN(4)]
		status := []int{500, 502, 503}[rng.IntN(3)]
		f := certcentraltest.Fault{Method: ep.method, Path: ep.path, Status: status, Count: 1 + rng.IntN(3)}
		h.dc.sim.Inject(f)
		h.events.add("fault: DigiCert answers %d to the next %d API-key %s requests", status, f.Count, ep.what)
	case fKeyKill, fKeyTerm:
		if p == nil {
			return
		}
		sig := syscall.SIGKILL
		if fault == fKeyTerm {
			sig = syscall.SIGTERM
		}
		point := keyPoints[rng.IntN(len(keyPoints))]
		// A step of the API key takes a few ms: half the crashes come at once, in the hook
		// (before DigiCert creates the key, or before its answer reaches keyroll).
		delay := time.Duration(0)
		if rng.IntN(2) == 0 {
			delay = uniform(rng, 0, 4*time.Millisecond)
		}
		var once sync.Once
		h.dc.keys.setHook(func(kp keyPoint, before bool) {
			if kp != point || before != (point == kpCreateSent) {
				return
			}
			once.Do(func() {
				if delay == 0 {
					h.events.add("fault: %s %s at the API key's %s", sig, p.Name, point)
					p.Signal(sig)
					return
				}
				go func() {
					if sleepUntil(p.Done(), delay) {
						h.events.add("fault: %s %s %s after the API key's %s", sig, p.Name, delay.Round(time.Millisecond), point)
						p.Signal(sig)
					}
				}()
			})
		})
	}
}

// orphanWatch follows the orphans seen at the end of runs until a later completed run
// of the API key's target revokes them.
type orphanWatch struct {
	mu      sync.Mutex
	seen    map[int]time.Time // orphan id → when first seen at the end of a run
	checks  int
	maxSeen int
	final   bool // the last check, after a clean run at the end, found none
}

// checkOrphans checks the orphan invariant after a run ended and no other runs: at most
// one active key named "keyroll …" that the document does not hold, and when a run of
// the API key's target that started at completedFrom (non-zero) exited 0, none of the
// orphans seen before it started is still active.
func (h *harness) checkOrphans(ctx context.Context, completedFrom time.Time, why string) []certcentraltest.Key {
	if !h.s.apiKeys {
		return nil
	}
	doc, err := h.apiDoc(ctx)
	if err != nil {
		h.events.add("orphan check skipped (%s): %v", why, err)
		return nil
	}
	keys := h.dc.acct.Keys()
	unknown := certcentraltest.UnknownKeys(keys, orphanPrefix, atoi(doc.CurrentID), atoi(doc.PendingID), atoi(doc.PreviousID))
	w := &h.orphans
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checks++
	w.maxSeen = max(w.maxSeen, len(unknown))
	if len(unknown) > 1 {
		h.violation(invOrphan, fmt.Sprintf("%d active keys named %q that the document does not hold after %s (one may be in flight): %s",
			len(unknown), orphanPrefix+"…", why, describeKeys(unknown)))
	}
	active := map[int]bool{}
	for _, k := range keys {
		active[k.ID] = k.Status == certcentraltest.KeyActive
	}
	if w.seen == nil {
		w.seen = map[int]time.Time{}
	}
	for id, at := range w.seen {
		switch {
		case !active[id]:
			delete(w.seen, id)
		case !completedFrom.IsZero() && at.Before(completedFrom):
			h.violation(invOrphan, fmt.Sprintf("orphan key %d, seen at %s, is still active after the next completed run of %s (%s)",
				id, at.UTC().Format("15:04:05.000"), h.s.apiTarget, why))
			delete(w.seen, id)
		}
	}
	for _, k := range unknown {
		if _, ok := w.seen[k.ID]; !ok {
			w.seen[k.ID] = time.Now()
			h.events.add("orphan: key %d (%s) active and in no document after %s", k.ID, k.Name, why)
		}
	}
	return unknown
}

func describeKeys(ks []certcentraltest.Key) string {
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d %q", k.ID, k.Name)
	}
	return s
}

// finalKeyRun runs the API key's target once more without faults at the end: a completed
// run after which no orphan may be left at all.
func (h *harness) finalKeyRun(ctx context.Context) {
	if !h.s.apiKeys {
		return
	}
	for attempt := 1; attempt <= 3; attempt++ {
		p, err := h.startKeyroll("final-key-run", nil, h.apiOnly(false)...)
		if err != nil {
			h.events.add("final-key-run: %v", err)
			return
		}
		if code := h.waitKeyroll(ctx, p, "run"); code == 0 {
			left := h.checkOrphans(ctx, p.Started, "the final run")
			h.orphans.mu.Lock()
			h.orphans.final = len(left) == 0
			h.orphans.mu.Unlock()
			if len(left) > 0 {
				h.violation(invOrphan, fmt.Sprintf("after the final completed run, active keys in no document: %s", describeKeys(left)))
			}
			return
		}
		sleepCtx(ctx, time.Second)
	}
	h.violation(3, "the final run of the API key's target did not complete in 3 attempts")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// keyFigures are the API key's figures for the summary.
type keyFigures struct {
	rotations, created, held, orphans, orphansRevoked, orphansActive, lost, lostRevoked int
	revoked, refused, requests                                                          int
}

// keyFigures counts what happened to the API keys: every key named "keyroll …" the
// account has, whether a document version ever held it, and whether it is revoked.
func (h *harness) keyFigures() keyFigures {
	var f keyFigures
	f.rotations = h.keyMon.rotations()
	held := h.keyMon.heldIDs()
	lost := h.dc.keys.lostCreates()
	f.refused, f.requests = h.dc.keys.counts()
	for _, k := range h.dc.acct.Keys() {
		if k.Status == certcentraltest.KeyRevoked {
			f.revoked++
		}
		if len(k.Name) < len(orphanPrefix) || k.Name[:len(orphanPrefix)] != orphanPrefix {
			continue
		}
		f.created++
		if held[k.ID] {
			f.held++
			continue
		}
		f.orphans++
		gone := k.Status == certcentraltest.KeyRevoked
		if gone {
			f.orphansRevoked++
		} else {
			f.orphansActive++
		}
		if lost[k.ID] {
			f.lost++
			if gone {
				f.lostRevoked++
			}
		}
	}
	return f
}

// printKeySummary prints the API key's figures; h.mu is held.
func (h *harness) printKeySummary() {
	if !h.s.apiKeys {
		fmt.Fprintf(h.out, "  API key: not rotated (-api-keys=false)\n")
		return
	}
	f := h.keyFigures()
	h.orphans.mu.Lock()
	checks, maxSeen, final := h.orphans.checks, h.orphans.maxSeen, h.orphans.final
	h.orphans.mu.Unlock()
	fmt.Fprintf(h.out, "  API key (target %s, overlap %s, grace %s): %d rotations (promotes seen in Vault), %d document versions\n",
		h.s.apiTarget, h.s.apiOverlap, h.s.apiGrace, f.rotations, h.keyMon.versionCount())
	fmt.Fprintf(h.out, "    keys keyroll created: %d; held by a document: %d; orphans (never in a document): %d, %d of them revoked, %d active\n",
		f.created, f.held, f.orphans, f.orphansRevoked, f.orphansActive)
	fmt.Fprintf(h.out, "    created by a request whose answer was lost: %d, %d of them revoked by a later run\n", f.lost, f.lostRevoked)
	fmt.Fprintf(h.out, "    an old key was used up to %s after the promote that replaced it (overlap %s)\n", h.keyMon.lateUse().Round(time.Millisecond), h.s.apiOverlap)
	fmt.Fprintf(h.out, "    orphan checks after runs: %d, at most %d orphan at once; none left after the final run: %t\n", checks, maxSeen, final)
	fmt.Fprintf(h.out, "    key revocations checked against the document in force: %d; requests to the key endpoints: %d; answers 401/403 to any request: %d\n",
		h.keyMon.revocationsChecked(), f.requests, f.refused)
	nf := 0
	for _, w := range apiFaults {
		nf += h.faults[w.kind]
	}
	fmt.Fprintf(h.out, "soak: API key: %d rotations, %d faults on its rotation, %d orphans created (%d by a lost create), %d revoked, %d requests refused\n",
		f.rotations, nf, f.orphans, f.lost, f.orphansRevoked, f.refused)
}
