package rotate_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// forEachBackend runs fn once against the in-memory store and once against real Vault.
func forEachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			fn(t, newFixture(t, mk(t)))
		})
	}
}

func TestFirstRotationAdoptsLiveSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		old := f.acct.Webhook().Secret
		res := f.rotate(ctx, rotate.Options{})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("Rotate = %s, %v", res.Outcome, res.Err)
		}
		vv := f.doc()
		live := f.acct.Webhook().Secret
		if vv.Doc.Current != live || vv.Doc.Pending != "" || vv.Doc.Previous != old || len(live) != 48 {
			t.Fatalf("document after first rotation: current=%s live=%s previous=%s (old %s) pending=%q",
				keyset.Fingerprint(vv.Doc.Current), keyset.Fingerprint(live), keyset.Fingerprint(vv.Doc.Previous), keyset.Fingerprint(old), keyset.Fingerprint(vv.Doc.Pending))
		}
		if vv.Version != 2 {
			t.Errorf("versions written = %d, want 2 (stage, promote)", vv.Version)
		}
		if !vv.Doc.PreviousUntil.Equal(vv.Doc.CurrentSince.Add(policy().Overlap)) {
			t.Errorf("previous_until %s, want current_since + overlap", vv.Doc.PreviousUntil)
		}
		if f.minted.Load() != 1 {
			t.Errorf("minted %d keys, want 1", f.minted.Load())
		}
		// The propagation delay was waited for, on the injected clock.
		if s := f.clock.Sleeps(); len(s) != 1 || s[0] != 2*time.Minute {
			t.Errorf("sleeps = %v, want [2m]", s)
		}
		rec := res.Record
		if rec.OldFingerprint != keyset.Fingerprint(old) || rec.NewFingerprint != keyset.Fingerprint(live) ||
			rec.EndpointUnchanged == nil || !*rec.EndpointUnchanged || rec.EventsUnchanged == nil || !*rec.EventsUnchanged ||
			rec.OverlapUntil == nil || rec.RotationID == "" || rec.RotationID != vv.Doc.RotationID || rec.WebhookID != f.hookID {
			t.Errorf("evidence record incomplete: %+v", rec)
		}
		var names []string
		for _, s := range rec.Steps {
			if s.Name != string(rotate.StepMeta) {
				names = append(names, s.Name)
			}
		}
		want := []string{"read", "get", "stage", "wait", "test", "push", "verify", "promote"}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Errorf("steps %v, want %v", names, want)
		}
		if len(f.records.all()) != 1 {
			t.Errorf("%d evidence records, want 1", len(f.records.all()))
		}
		f.checkSafe("after rotation")
		f.checkNoLeak(old)
	})
}

func TestCleanRotationRequestCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if res := f.rotate(ctx, rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.clock.Advance(2 * time.Hour)
		f.sim.ResetLog()
		counting := &countingStore{KeyStore: f.store}
		e := f.engine()
		e.Store = counting
		res := e.Rotate(ctx, f.target(), policy(), rotate.Options{})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("second rotation: %s %v", res.Outcome, res.Err)
		}
		st := f.sim.Stats()
		total := 0
		for _, n := range st.Requests {
			total += n
		}
		// GET (reconcile), POST test-endpoint, PUT, GET (verify).
		if total != 4 {
			t.Errorf("DigiCert requests = %d (%v), want 4", total, st.Requests)
		}
		// Read, stage, promote, and custom_metadata after stage and after promote. The
		// first rotation's previous key, expired by now, leaves with the stage and its
		// version with the promote (max_versions): no destroy.
		if counting.reads != 1 || counting.writes != 2 || counting.meta != 2 || counting.destroys != 0 {
			t.Errorf("Vault requests: %d reads, %d writes, %d metadata writes, %d destroys; want 1, 2, 2, 0",
				counting.reads, counting.writes, counting.meta, counting.destroys)
		}
		f.checkSafe("after second rotation")
	})
}

func TestNotDueSkips(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if res := f.rotate(ctx, rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		before := f.doc()
		res := f.rotate(ctx, rotate.Options{})
		if res.Err != nil || res.Outcome != evidence.OutcomeSkipped {
			t.Fatalf("second run = %s, %v; want skipped", res.Outcome, res.Err)
		}
		if f.doc().Version != before.Version || len(f.pushedSecrets()) != 1 {
			t.Error("a skipped run wrote something")
		}
		res = f.rotate(ctx, rotate.Options{Force: true})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("forced run = %s, %v", res.Outcome, res.Err)
		}
		after := f.doc()
		if after.Doc.Previous != before.Doc.Current {
			t.Error("forced rotation must keep the replaced key as previous")
		}
		f.checkSafe("after forced rotation")
	})
}

func TestOverlapZeroDropsOldKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		zero := time.Duration(0)
		res := f.rotate(ctx, rotate.Options{Overlap: &zero})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		vv := f.doc()
		if vv.Doc.Previous != "" || len(vv.Doc.AcceptSet(f.clock.Now()).Roles(0)) != 1 {
			t.Errorf("--overlap 0 must leave only the new key in the accept set")
		}
		if res.Record.OverlapUntil != nil {
			t.Errorf("overlap_until must be absent with --overlap 0")
		}
	})
}

func TestDryRunWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		res := f.rotate(ctx, rotate.Options{DryRun: true})
		if res.Err != nil || len(res.Plan) < 5 {
			t.Fatalf("dry run: %v, plan %v", res.Err, res.Plan)
		}
		if _, err := f.store.Read(ctx, f.path); !errors.Is(err, rotate.ErrNotFound) {
			t.Errorf("dry run created the document: %v", err)
		}
		for _, r := range f.sim.Requests() {
			if r.Method != http.MethodGet {
				t.Errorf("dry run sent %s %s", r.Method, r.Path)
			}
		}
		if len(f.records.all()) != 0 || f.minted.Load() != 0 {
			t.Error("dry run recorded evidence or minted a key")
		}
	})
}

func TestDrift(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if res := f.rotate(ctx, rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.clock.Advance(2 * time.Hour)
		rogue, _ := keyset.Generate(40)
		if err := f.acct.SetSecret(rogue); err != nil {
			t.Fatal(err)
		}
		before := f.doc()
		res := f.rotate(ctx, rotate.Options{})
		if !errors.Is(res.Err, rotate.ErrDrift) || !(failure.Of(res.Err) == failure.NeedsHuman) {
			t.Fatalf("Rotate with drift = %v, want ErrDrift needing a human", res.Err)
		}
		if f.doc().Version != before.Version {
			t.Error("drift must not change the document")
		}
		if res.Record.Outcome != evidence.OutcomeFailed || res.Record.Error == nil || res.Record.Error.Code != "drift" {
			t.Errorf("evidence: %+v", res.Record.Error)
		}
		f.checkNoLeak(rogue)

		// --adopt-drift adopts the live key as previous and rotates.
		res = f.rotate(ctx, rotate.Options{AdoptDrift: true})
		if res.Err != nil {
			t.Fatalf("--adopt-drift: %v", res.Err)
		}
		vv := f.doc()
		if vv.Doc.Previous != rogue || vv.Doc.Current != f.acct.Webhook().Secret {
			t.Error("--adopt-drift must keep the drifted live key as previous")
		}
		f.checkSafe("after forced drift rotation")
	})
}

func TestWebhookNotActive(t *testing.T) {
	for _, status := range []string{certcentraltest.StatusInactive, certcentraltest.StatusPending} {
		t.Run(status, func(t *testing.T) {
			f := newFixture(t, newMemStore())
			if err := f.acct.SetStatus(status); err != nil {
				t.Fatal(err)
			}
			res := f.rotate(context.Background(), rotate.Options{Force: true})
			if !errors.Is(res.Err, rotate.ErrNotActive) || !(failure.Of(res.Err) == failure.NeedsHuman) {
				t.Fatalf("Rotate = %v, want ErrNotActive", res.Err)
			}
			if _, err := f.store.Read(context.Background(), f.path); !errors.Is(err, rotate.ErrNotFound) {
				t.Error("an inactive webhook must not be staged")
			}
		})
	}
}

func TestHiddenSecret(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.acct.HideSecret(true)
		old := f.acct.Webhook().Secret
		res := f.rotate(ctx, rotate.Options{})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		vv := f.doc()
		// The first rotation could not adopt the unseen key: it has no previous.
		if vv.Doc.Current != f.acct.Webhook().Secret || vv.Doc.Previous != "" {
			t.Errorf("hidden-secret rotation: unexpected document")
		}
		f.clock.Advance(2 * time.Hour)
		if res := f.rotate(ctx, rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.checkSafe("after rotations with a hidden secret")
		f.checkNoLeak(old)
	})
}

func TestListenerRejectsTestEvent(t *testing.T) {
	f := newFixture(t, newMemStore())
	ctx := context.Background()
	// The engine stages in a store the listener does not read: the listener rejects the
	// new key, as one that never learned it would.
	res := (&rotate.Engine{Store: newMemStore(), Clock: f.clock}).Rotate(ctx, f.target(), policy(), rotate.Options{})
	if !errors.Is(res.Err, rotate.ErrListenerRejected) || (failure.Of(res.Err) == failure.NeedsHuman) {
		t.Fatalf("Rotate = %v, want ErrListenerRejected (retryable)", res.Err)
	}
	if len(f.pushedSecrets()) != 0 {
		t.Error("nothing may be pushed when the listener rejects the new key")
	}
}

// TestListenerRejectsUpdateContact: DigiCert contacts the endpoint with the new key before
// applying an update; a listener that does not accept it (here: one that never learned
// it; in life: one failing closed while Vault is out) makes the push fail with
// webhook_endpoint_error, which is retryable like a rejected test event.
func TestListenerRejectsUpdateContact(t *testing.T) {
	f := newFixture(t, newMemStore())
	before := f.acct.Webhook().Secret
	p := policy()
	p.VerifyListener = false
	res := (&rotate.Engine{Store: newMemStore(), Clock: f.clock}).Rotate(context.Background(), f.target(), p, rotate.Options{})
	if !errors.Is(res.Err, rotate.ErrListenerRejected) || (failure.Of(res.Err) == failure.NeedsHuman) {
		t.Fatalf("Rotate = %v, want ErrListenerRejected (retryable)", res.Err)
	}
	if f.acct.Webhook().Secret != before {
		t.Error("DigiCert applied an update whose contact the listener rejected")
	}
}

func TestConcurrentRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		var wg sync.WaitGroup
		results := make([]rotate.Result, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = f.rotate(ctx, rotate.Options{})
			}()
		}
		wg.Wait()
		for i, r := range results {
			if r.Err != nil {
				t.Errorf("run %d: %v", i, r.Err)
			}
		}
		pushed := f.pushedSecrets()
		if len(pushed) != 1 {
			t.Errorf("PUTs carried %d distinct keys, want 1", len(pushed))
		}
		vv := f.doc()
		if _, ok := pushed[vv.Doc.Current]; !ok || vv.Doc.Pending != "" {
			t.Error("final document is not the pushed key, promoted")
		}
		f.checkSafe("after 8 concurrent runs")
	})
}

func TestMetadataWritten(t *testing.T) {
	f := newFixture(t, backends(t)["vault"](t))
	res := f.rotate(context.Background(), rotate.Options{})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, s := range res.Record.Steps {
		if s.Name == string(rotate.StepMeta) {
			t.Errorf("metadata step failed: %s", s.Detail)
		}
	}
	meta := testenv.SharedVault(t).CustomMetadata(t, "secret", f.path)
	vv := f.doc()
	if meta["state"] != "idle" || meta["current_fingerprint"] != keyset.Fingerprint(vv.Doc.Current) ||
		meta["rotation_id"] != vv.Doc.RotationID || meta["rotated_at"] == "" {
		t.Errorf("custom_metadata = %v", meta)
	}
}

// countingStore counts the key store requests a rotation makes.
type countingStore struct {
	rotate.KeyStore
	mu                            sync.Mutex
	reads, writes, meta, destroys int
}

func (c *countingStore) Destroy(ctx context.Context, path string, versions []int) error {
	c.mu.Lock()
	c.destroys++
	c.mu.Unlock()
	return c.KeyStore.Destroy(ctx, path, versions)
}

func (c *countingStore) Read(ctx context.Context, path string) (rotate.Versioned, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.KeyStore.Read(ctx, path)
}

func (c *countingStore) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.KeyStore.Write(ctx, path, doc, cas)
}

func (c *countingStore) WriteMetadata(ctx context.Context, path string, meta map[string]string) error {
	c.mu.Lock()
	c.meta++
	c.mu.Unlock()
	return c.KeyStore.WriteMetadata(ctx, path, meta)
}

func TestNoOrAmbiguousWebhookNeedsHuman(t *testing.T) {
	f := newFixture(t, newMemStore())
	f.acct.AddWebhook(certcentraltest.Webhook{Endpoint: "https://other.invalid/hook", Status: certcentraltest.StatusActive})
	res := f.rotate(context.Background(), rotate.Options{})
	if !errors.Is(res.Err, certcentral.ErrAmbiguousWebhook) || !(failure.Of(res.Err) == failure.NeedsHuman) {
		t.Errorf("two webhooks and webhook_id 0: %v, want ambiguous, needing a human", res.Err)
	}
	f.acct.RemoveWebhook()
	res = f.rotate(context.Background(), rotate.Options{})
	if !errors.Is(res.Err, certcentral.ErrNoWebhook) || !(failure.Of(res.Err) == failure.NeedsHuman) {
		t.Errorf("no webhook: %v, want ErrNoWebhook, needing a human", res.Err)
	}
}

func TestRotationIDs(t *testing.T) {
	f := newFixture(t, newMemStore())
	ctx := context.Background()
	e := f.engine()
	e.AfterStep = crashAt(rotate.StepPush)
	first := e.Rotate(ctx, f.target(), policy(), rotate.Options{})
	resumed := f.rotate(ctx, rotate.Options{})
	skipped := f.rotate(ctx, rotate.Options{})
	if first.RotationID == "" || resumed.RotationID != first.RotationID || f.doc().Doc.RotationID != first.RotationID {
		t.Errorf("a resumed rotation keeps the staged rotation's id: %s, %s, doc %s", first.RotationID, resumed.RotationID, f.doc().Doc.RotationID)
	}
	if skipped.Outcome != evidence.OutcomeSkipped || skipped.RotationID == "" || skipped.RotationID == first.RotationID {
		t.Errorf("a skipped attempt gets its own id: %s (%s)", skipped.RotationID, skipped.Outcome)
	}
}
