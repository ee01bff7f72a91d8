package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/rotate"
)

// created lists the keys keyroll created for the fixture's target, by id.
func (f *keyFixture) created() []rotate.APIKey {
	var out []rotate.APIKey
	for _, k := range f.keys.list() {
		if strings.HasPrefix(k.Name, rotate.KeyNamePrefix(keyTarget)) && k.ID > 1000 {
			out = append(out, k)
		}
	}
	return out
}

// checkRotated asserts that exactly one key was rotated in: the document's current is a
// key keyroll created, every other key it created is revoked, and the old key 100 is
// previous, active until the overlap ends.
func (f *keyFixture) checkRotated(stage string) {
	f.t.Helper()
	d := f.doc().Doc
	if d.Pending != "" || d.Creating != "" || d.PreviousID != "100" || d.Previous == "" || atoiT(d.CurrentID) <= 1000 {
		f.t.Errorf("%s: not converged: current %s, pending %q, creating %q, previous %s", stage, d.CurrentID, d.PendingID, d.Creating, d.PreviousID)
	}
	for _, k := range f.created() {
		if k.Active != (strconv.Itoa(k.ID) == d.CurrentID) {
			f.t.Errorf("%s: key %d %q active %v, current is %s", stage, k.ID, k.Name, k.Active, d.CurrentID)
		}
	}
	if !f.keys.byID(100).Active || !d.PreviousUntil.After(f.clock.Now()) {
		f.t.Errorf("%s: the old key must stay active until its overlap ends (%s)", stage, d.PreviousUntil)
	}
	f.checkKeys(stage, 0)
}

// TestAPIKeyCrashPoints stops a first run at every step boundary (or fails the step), then
// checks that a second run converges with exactly one new key and no orphan.
func TestAPIKeyCrashPoints(t *testing.T) {
	for _, p := range []struct {
		name    string
		setup   func(f *keyFixture, e *rotate.Engine)
		outcome evidence.Outcome // the second run's
	}{
		{"after intent", func(f *keyFixture, e *rotate.Engine) { e.AfterStep = crashAt(rotate.StepIntent) }, evidence.OutcomeResumed},
		{"create applied, response lost", func(f *keyFixture, e *rotate.Engine) { f.keys.loseCreate = 1 }, evidence.OutcomeResumed},
		{"after create", func(f *keyFixture, e *rotate.Engine) { e.AfterStep = crashAt(rotate.StepCreate) }, evidence.OutcomeResumed},
		{"stage write failed", func(f *keyFixture, e *rotate.Engine) { e.Store = &failingWrites{KeyStore: e.Store, after: 1} }, evidence.OutcomeResumed},
		{"after stage", func(f *keyFixture, e *rotate.Engine) { e.AfterStep = crashAt(rotate.StepStage) }, evidence.OutcomeResumed},
		{"new key not working yet", func(f *keyFixture, e *rotate.Engine) { f.keys.failAuth = 4 }, evidence.OutcomeResumed},
		{"after authenticate", func(f *keyFixture, e *rotate.Engine) { e.AfterStep = crashAt(rotate.StepAuthenticate) }, evidence.OutcomeResumed},
		{"promote write failed", func(f *keyFixture, e *rotate.Engine) { e.Store = &failingWrites{KeyStore: e.Store, after: 2} }, evidence.OutcomeResumed},
		{"after promote", func(f *keyFixture, e *rotate.Engine) { e.AfterStep = crashAt(rotate.StepPromote) }, evidence.OutcomeSkipped},
	} {
		t.Run(p.name, func(t *testing.T) {
			f := newKeyFixture(t, true)
			e := f.engine()
			p.setup(f, e)
			first := f.run(e, rotate.Options{})
			if p.outcome != evidence.OutcomeSkipped && first.Err == nil {
				t.Fatal("the first run did not stop")
			}
			if failure.Of(first.Err) == failure.NeedsHuman {
				t.Errorf("a crash must not need a human: %v", first.Err)
			}
			f.checkKeys("after the crash", 1)
			second := f.run(nil, rotate.Options{})
			if second.Err != nil || second.Outcome != p.outcome {
				t.Fatalf("second run: %s %v, want %s", second.Outcome, second.Err, p.outcome)
			}
			f.checkRotated("after the second run")
			if n := len(f.created()); n > 2 {
				t.Errorf("%d keys created, want one, or two when the first was never stored", n)
			}
			f.checkNoLeak(first, second)
		})
	}
}

// TestAPIKeyLostCreateRevokesOrphan: the orphan case as the evidence tells it: the create
// answered an error after making the key; the next run takes the intent over, revokes
// the key nobody holds, and creates again.
func TestAPIKeyLostCreateRevokesOrphan(t *testing.T) {
	f := newKeyFixture(t, true)
	f.keys.loseCreate = 1
	first := f.run(nil, rotate.Options{})
	if first.Err == nil || failure.Of(first.Err) != failure.Retryable {
		t.Fatalf("first run: %v, want a retryable failure", first.Err)
	}
	orphan := f.keys.byID(1001)
	if orphan == nil || !orphan.Active || f.doc().Doc.Creating != orphan.Name {
		t.Fatalf("no active orphan named by the intent: %+v, creating %q", orphan, f.doc().Doc.Creating)
	}
	second := f.run(nil, rotate.Options{})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	var revoked string
	for _, s := range second.Record.Steps {
		if s.Name == string(rotate.StepRevokeOrphan) {
			revoked = s.Detail
		}
	}
	if !strings.Contains(revoked, "key 1001") || f.keys.byID(1001).Active || f.doc().Doc.CurrentID != "1002" {
		t.Errorf("orphan 1001 not revoked (%q) or current %s is not the key created again", revoked, f.doc().Doc.CurrentID)
	}
	t.Logf("the orphan case: %s; steps %s; revoke-orphan: %s", first.Err, stepNames(second.Record), revoked)
	f.checkRotated("after the orphan's sweep")
}

// TestAPIKeyRetireCrash: a run that revoked the old key and stopped before its retire
// write leaves a revoked previous key, which the next run leaves out of the document.
func TestAPIKeyRetireCrash(t *testing.T) {
	f := newKeyFixture(t, true)
	if res := f.run(nil, rotate.Options{}); res.Err != nil {
		t.Fatal(res.Err)
	}
	f.clock.Advance(25 * time.Hour)
	e := f.engine()
	e.AfterStep = crashAt(rotate.StepRevoke)
	if res := f.run(e, rotate.Options{}); res.Err == nil || failure.Of(res.Err) == failure.NeedsHuman {
		t.Fatalf("crashing run: %v", res.Err)
	}
	if f.keys.byID(100).Active || f.doc().Doc.PreviousID != "100" {
		t.Fatal("the crash did not fall between the revoke and the retire write")
	}
	res := f.run(nil, rotate.Options{})
	if res.Err != nil || f.doc().Doc.Previous != "" || f.doc().Doc.PreviousID != "" {
		t.Fatalf("run after the crash: %v; previous %s", res.Err, f.doc().Doc.PreviousID)
	}
	f.checkKeys("after the retirement", 0)
}

// TestAPIKeyInterleaved runs a second run to its end at every step of a first one: exactly
// one key is rotated in, every other created key is revoked, the old key stays active.
func TestAPIKeyInterleaved(t *testing.T) {
	steps := []rotate.StepKind{rotate.StepRead, rotate.StepGet, rotate.StepList, rotate.StepIntent, rotate.StepCreate,
		rotate.StepStage, rotate.StepAuthenticate, rotate.StepPromote}
	for _, at := range steps {
		for _, nth := range []int{1, 2} { // StepRead happens twice before the decision
			if nth == 2 && at != rotate.StepRead {
				continue
			}
			t.Run(fmt.Sprintf("after %s #%d", at, nth), func(t *testing.T) {
				f := newKeyFixture(t, true)
				var second rotate.Result
				seen := 0
				e := f.engine()
				e.AfterStep = func(context.Context, string, rotate.StepKind) error { return nil }
				e.AfterStep = func(_ context.Context, _ string, s rotate.StepKind) error {
					if s == at {
						if seen++; seen == nth {
							second = f.run(nil, rotate.Options{})
							f.checkKeys("after the second run", 1)
						}
					}
					return nil
				}
				first := f.run(e, rotate.Options{})
				for i, res := range []rotate.Result{first, second} {
					if res.Err != nil {
						t.Errorf("run %d: %v", i+1, res.Err)
					}
				}
				if first.Outcome == second.Outcome && first.Outcome == evidence.OutcomeRotated {
					t.Error("both runs rotated")
				}
				f.checkRotated("after both runs")
				f.checkNoLeak(first, second)
			})
		}
	}
}

// TestAPIKeyConcurrent runs rotations at once, from goroutines: whatever the interleaving,
// no key is lost and at most one is in flight; a last run converges.
func TestAPIKeyConcurrent(t *testing.T) {
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			f := newKeyFixture(t, true)
			var wg sync.WaitGroup
			results := make([]rotate.Result, 3)
			for j := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[j] = f.run(nil, rotate.Options{Actor: strconv.Itoa(j)})
				}()
			}
			wg.Wait()
			for _, res := range results {
				if failure.Of(res.Err) == failure.NeedsHuman {
					t.Errorf("a concurrent run needs a human: %v", res.Err)
				}
			}
			f.checkKeys("after the concurrent runs", 1)
			if res := f.run(nil, rotate.Options{}); res.Err != nil {
				t.Fatal(res.Err)
			}
			f.checkRotated("after a last run")
			f.checkNoLeak(results...)
		})
	}
}

// TestAPIKeyInUse: the old key used after the promote plus grace is held (the default),
// revoked anyway (in_use: revoke), or revoked once with --revoke-in-use; the evidence
// says it was still in use, and when it was last used.
func TestAPIKeyInUse(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy rotate.InUse
	}{{"hold", rotate.InUseHold}, {"revoke", rotate.InUseRevoke}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newKeyFixture(t, true)
			f.kp.InUse = tt.policy
			if res := f.run(nil, rotate.Options{}); res.Err != nil {
				t.Fatal(res.Err)
			}
			f.clock.Advance(time.Hour) // a consumer that cached the old key uses it
			if _, err := f.keys.as(f.keys.secretOf(100)).Key(context.Background(), 100); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(24 * time.Hour)
			if tt.policy == rotate.InUseHold {
				checkHeld(t, f)
			}
			res := f.run(nil, rotate.Options{RevokeInUse: tt.policy == rotate.InUseHold})
			if res.Err != nil || f.keys.byID(100).Active || f.doc().Doc.Previous != "" {
				t.Fatalf("revoking run: %v; old key active %v", res.Err, f.keys.byID(100).Active)
			}
			detail := stepDetail(res.Record, rotate.StepRevoke)
			why := map[rotate.InUse]string{rotate.InUseHold: "--revoke-in-use", rotate.InUseRevoke: "in_use: revoke"}[tt.policy]
			if !strings.Contains(detail, "still in use") || !strings.Contains(detail, "last used "+t0.Add(time.Hour).Format(time.RFC3339)) || !strings.Contains(detail, why) {
				t.Errorf("revoke step %q: want still in use, last used and %q", detail, why)
			}
			f.checkKeys("after the revoke", 0)
			f.checkNoLeak(res)
		})
	}
}

// checkHeld runs twice with the hold policy: needs a human, the hold written once, the
// old key active.
func checkHeld(t *testing.T, f *keyFixture) {
	t.Helper()
	for i := range 2 {
		before := f.doc().Version
		res := f.run(nil, rotate.Options{})
		var re *rotate.Error
		if !errors.As(res.Err, &re) || re.Code() != "held" || failure.Of(res.Err) != failure.NeedsHuman {
			t.Fatalf("held run %d: %v, want needs a human (held)", i+1, res.Err)
		}
		wrote := f.doc().Version != before
		if wrote != (i == 0) || f.doc().Doc.PreviousHeldSince.IsZero() || !f.keys.byID(100).Active {
			t.Errorf("held run %d: wrote %v, held since %s, old key active %v", i+1, wrote, f.doc().Doc.PreviousHeldSince, f.keys.byID(100).Active)
		}
		if i == 0 && !strings.Contains(stepDetail(res.Record, rotate.StepHold), "still in use") {
			t.Errorf("hold step: %q", stepDetail(res.Record, rotate.StepHold))
		}
		f.checkKeys("held", 0)
	}
}

func stepDetail(rec evidence.Record, kind rotate.StepKind) string {
	for _, s := range rec.Steps {
		if s.Name == string(kind) {
			return s.Detail
		}
	}
	return ""
}

// TestAPIKeyListSeesKeyInFlight: a run lists the keys while another run has created its
// key but not stored it. The key is named by the intent the first run reads after the
// list, so the first run revokes nothing before its own write (taking the intent over);
// the other run, let go on at that point, loses its stage and revokes its own key. With a
// sweep from the read before the list, the first run would revoke the key in flight and
// the other would stage a revoked key that no later run could promote.
func TestAPIKeyListSeesKeyInFlight(t *testing.T) {
	f := newKeyFixture(t, true)
	paused, resume, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	other := f.engine()
	other.AfterStep = func(_ context.Context, _ string, s rotate.StepKind) error {
		if s == rotate.StepCreate && paused != nil {
			close(paused)
			paused = nil
			<-resume
		}
		return nil
	}
	var second rotate.Result
	started, resumed := false, false
	e := f.engine()
	e.AfterStep = func(_ context.Context, _ string, s rotate.StepKind) error {
		switch {
		case s == rotate.StepRead && !started:
			started = true
			p := paused
			go func() {
				defer close(done)
				second = f.run(other, rotate.Options{})
			}()
			<-p // the other run has written its intent and created its key
		case (s == rotate.StepRevokeOrphan || s == rotate.StepIntent) && !resumed:
			resumed = true
			close(resume) // the other run stages now, and finishes
			<-done
		}
		return nil
	}
	first := f.run(e, rotate.Options{})
	if !resumed {
		close(resume)
		<-done
	}
	for i, res := range []rotate.Result{first, second} {
		if res.Err != nil {
			t.Errorf("run %d: %s %v", i+1, res.Outcome, res.Err)
		}
	}
	f.checkRotated("after both runs")
	if res := f.run(nil, rotate.Options{}); res.Err != nil || res.Outcome != evidence.OutcomeSkipped {
		t.Errorf("third run: %s %v", res.Outcome, res.Err)
	}
	f.checkNoLeak(first, second)
}

// TestAPIKeyStagedKeyRevokedByHand: a staged key someone revoked at the issuer is left
// out, and the run rotates with a new one instead of retrying a key that cannot work.
func TestAPIKeyStagedKeyRevokedByHand(t *testing.T) {
	f := newKeyFixture(t, true)
	e := f.engine()
	e.AfterStep = crashAt(rotate.StepStage)
	if res := f.run(e, rotate.Options{}); res.Err == nil {
		t.Fatal("the first run did not stop")
	}
	if err := f.keys.as(f.doc().Doc.Current).Revoke(context.Background(), atoiT(f.doc().Doc.PendingID)); err != nil {
		t.Fatal(err)
	}
	res := f.run(nil, rotate.Options{})
	if res.Err != nil || res.Outcome != evidence.OutcomeRotated || !strings.HasPrefix(stepNames(res.Record), "read get list read unstage intent") {
		t.Fatalf("run after the revoke: %s %v, steps %s", res.Outcome, res.Err, stepNames(res.Record))
	}
	f.checkRotated("after the rotation")
}
