package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

var errCrash = errors.New("injected crash")

// crashAt returns an AfterStep hook that fails the run right after step.
func crashAt(step rotate.StepKind) func(context.Context, string, rotate.StepKind) error {
	return func(_ context.Context, _ string, s rotate.StepKind) error {
		if s == step {
			return errCrash
		}
		return nil
	}
}

// cancellingClock cancels the run's context when it is asked to wait, as a SIGTERM
// during the propagation wait would.
type cancellingClock struct {
	*certcentraltest.FakeClock
	cancel context.CancelFunc
}

func (c cancellingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.cancel()
	return c.FakeClock.Sleep(ctx, d)
}

// TestCrashPoints stops a first run at every step boundary, checks that the webhook's live
// secret is still in the accept set, then checks that a second run converges with exactly
// one new key.
func TestCrashPoints(t *testing.T) {
	type point struct {
		name  string
		setup func(f *fixture, e *rotate.Engine, cancel context.CancelFunc)
		// resumed: the second run finds the staged key
		resumed bool
	}
	points := []point{
		{"after stage", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepStage) }, true},
		{"during wait", func(f *fixture, e *rotate.Engine, cancel context.CancelFunc) {
			e.Clock = cancellingClock{FakeClock: f.clock, cancel: cancel}
		}, true},
		{"after wait", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepWait) }, true},
		{"after test event", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepTest) }, true},
		{"PUT failed", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) {
			f.sim.Inject(certcentraltest.Fault{Method: http.MethodPut, Path: fmt.Sprintf("/webhook/%d", f.hookID), Status: 503, Count: 3})
		}, true},
		{"PUT applied, response lost", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) {
			for i := 0; i < 3; i++ {
				f.sim.DropNextResponse(http.MethodPut, fmt.Sprintf("/webhook/%d", f.hookID))
			}
		}, true},
		{"after push", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepPush) }, true},
		{"verify GET failed", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) {
			e.AfterStep = func(_ context.Context, _ string, s rotate.StepKind) error {
				if s == rotate.StepPush {
					f.sim.Inject(certcentraltest.Fault{Method: http.MethodGet, Path: "/webhook", Status: 500, Count: 3})
				}
				return nil
			}
		}, true},
		{"after verify", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepVerify) }, true},
		{"promote write failed", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) {
			e.Store = &failingWrites{KeyStore: e.Store, after: 1} // stage succeeds, promote fails
		}, true},
		{"after promote", func(f *fixture, e *rotate.Engine, _ context.CancelFunc) { e.AfterStep = crashAt(rotate.StepPromote) }, false},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, f *fixture) {
				// Rotate once so there is a current key and a previous one to keep.
				if res := f.rotate(context.Background(), rotate.Options{}); res.Err != nil {
					t.Fatal(res.Err)
				}
				f.clock.Advance(2 * time.Hour)
				minted := f.minted.Load()
				first := f.doc()

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				e := f.engine()
				p.setup(f, e, cancel)
				res := e.Rotate(ctx, f.target(), policy(), rotate.Options{})
				if p.name != "after promote" && res.Err == nil {
					t.Fatalf("first run did not stop")
				}
				if failure.Of(res.Err) == failure.NeedsHuman {
					t.Errorf("a crash must not need a human: %v", res.Err)
				}
				f.checkSafe("after the crash")
				f.sim.ClearFaults()

				res = f.rotate(context.Background(), rotate.Options{})
				if res.Err != nil {
					t.Fatalf("second run: %v", res.Err)
				}
				wantOutcome := evidence.OutcomeResumed
				if !p.resumed {
					wantOutcome = evidence.OutcomeSkipped
				}
				if res.Outcome != wantOutcome {
					t.Errorf("second run outcome %s, want %s", res.Outcome, wantOutcome)
				}
				f.checkSafe("after the second run")
				vv := f.doc()
				if vv.Doc.Pending != "" || vv.Doc.Current != f.acct.Webhook().Secret {
					t.Error("the second run did not converge: pending left or current is not the live key")
				}
				if vv.Doc.Previous != first.Doc.Current {
					t.Error("the replaced key is not kept as previous")
				}
				if n := f.minted.Load() - minted; n != 1 {
					t.Errorf("%d keys minted for the rotation, want exactly 1", n)
				}
				if n := len(f.pushedSecrets()); n != 2 {
					t.Errorf("PUTs carried %d distinct keys over both rotations, want 2", n)
				}
				f.checkNoLeak()
			})
		})
	}
}

// failingWrites lets the first `after` writes through, then fails every write as an
// unreachable Vault would.
type failingWrites struct {
	rotate.KeyStore
	after int
	n     int
}

func (w *failingWrites) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	w.n++
	if w.n > w.after {
		return 0, errors.New("connection refused")
	}
	return w.KeyStore.Write(ctx, path, doc, cas)
}

// TestPromoteLostCAS covers the two ways a promote can lose its check-and-set: another
// run finished the same rotation (success), or merely rewrote the staged document (retry).
func TestPromoteLostCAS(t *testing.T) {
	tests := []struct {
		name  string
		other func(d keyset.Document) keyset.Document
	}{
		{"other run promoted the same key", func(d keyset.Document) keyset.Document {
			return keyset.Document{Current: d.Pending, CurrentSince: d.PendingSince, Previous: d.Current,
				PreviousUntil: d.PendingSince.Add(24 * time.Hour), RotationID: d.RotationID}
		}},
		{"other run rewrote the staged document", func(d keyset.Document) keyset.Document { return d }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, f *fixture) {
				ctx := context.Background()
				e := f.engine()
				e.AfterStep = func(ctx context.Context, _ string, step rotate.StepKind) error {
					if step != rotate.StepVerify {
						return nil
					}
					vv := f.doc()
					_, err := f.store.Write(ctx, f.path, tt.other(vv.Doc), vv.Version)
					return err
				}
				res := e.Rotate(ctx, f.target(), policy(), rotate.Options{})
				if res.Err != nil {
					t.Fatalf("Rotate = %v, want success", res.Err)
				}
				vv := f.doc()
				if vv.Doc.Pending != "" || vv.Doc.Current != f.acct.Webhook().Secret {
					t.Error("not converged")
				}
				f.checkSafe("after a lost promote race")
			})
		})
	}
}

// slowWrites advances the clock by lag during each write, as a write that Vault's client
// retried through a restart lands well after the run built it.
type slowWrites struct {
	rotate.KeyStore
	clock *certcentraltest.FakeClock
	lag   time.Duration
}

func (w *slowWrites) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	w.clock.Advance(w.lag)
	return w.KeyStore.Write(ctx, path, doc, cas)
}

// TestWaitCountsFromWhenVaultHeldTheKey checks that the propagation wait starts when the
// run knew Vault held the pending key, never at pending_since, which is set before the
// write: listeners cannot read a key that has not landed.
func TestWaitCountsFromWhenVaultHeldTheKey(t *testing.T) {
	const delay = 2 * time.Minute // policy().PropagationDelay
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"stage write landed late", func(t *testing.T, f *fixture) {
			e := f.engine()
			e.Store = &slowWrites{KeyStore: f.store, clock: f.clock, lag: 90 * time.Second}
			if res := e.Rotate(context.Background(), f.target(), policy(), rotate.Options{}); res.Err != nil {
				t.Fatal(res.Err)
			}
		}},
		{"resumed a minute after the stage", func(t *testing.T, f *fixture) {
			e := f.engine()
			e.AfterStep = crashAt(rotate.StepStage)
			if res := e.Rotate(context.Background(), f.target(), policy(), rotate.Options{}); res.Err == nil {
				t.Fatal("first run did not stop")
			}
			f.clock.Advance(time.Minute)
			if res := f.rotate(context.Background(), rotate.Options{}); res.Err != nil || res.Outcome != evidence.OutcomeResumed {
				t.Fatalf("resumed run: %s %v", res.Outcome, res.Err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, f *fixture) {
				tt.run(t, f)
				if s := f.clock.Sleeps(); len(s) != 1 || s[0] != delay {
					t.Errorf("sleeps = %v, want [%s] after Vault held the key", s, delay)
				}
				f.checkSafe("after the rotation")
			})
		})
	}
}
