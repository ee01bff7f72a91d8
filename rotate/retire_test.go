package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/testenv"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// TestRetirementLeavesOnlyAcceptedKeys rotates several times with a short overlap, then
// runs once more when no rotation is due but the last overlap has ended. Against the real
// Vault, every version the path's history keeps then holds only keys of the accept set,
// or is destroyed; the evidence names the retired key and the versions destroyed; and the
// retiring run costs three Vault requests.
func TestRetirementLeavesOnlyAcceptedKeys(t *testing.T) {
	ctx := context.Background()
	srv := testenv.SharedVault(t)
	store := vault.NewStore(srv.Client(t), "secret")
	f := newFixture(t, vault.RotateStore{Store: store})
	pol := policy()
	pol.Overlap, pol.MinInterval = 30*time.Minute, 2*time.Hour
	var keys []string // every key the document ever held
	for i := 0; i < 4; i++ {
		res := f.engine().Rotate(ctx, f.target(), pol, rotate.Options{})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("rotation %d: %s %v", i, res.Outcome, res.Err)
		}
		d := f.doc().Doc
		keys = append(keys, d.Current, d.Previous)
		f.clock.Advance(3 * time.Hour)
	}
	// Rotate again at once with a window open: a skip, the window respected.
	f.clock.Advance(-3*time.Hour + 10*time.Minute)
	if res := f.engine().Rotate(ctx, f.target(), pol, rotate.Options{}); res.Outcome != evidence.OutcomeSkipped || res.Err != nil {
		t.Fatalf("run inside the overlap: %s %v, want skipped", res.Outcome, res.Err)
	}
	before := f.doc()
	retired := before.Doc.Previous
	if retired == "" {
		t.Fatal("no previous key to retire")
	}
	f.clock.Advance(time.Hour) // the overlap (30m) is over, min_interval (2h) is not
	counting := &countingStore{KeyStore: vault.RotateStore{Store: store}}
	e := f.engine()
	e.Store = counting
	res := e.Rotate(ctx, f.target(), pol, rotate.Options{})
	if res.Err != nil || res.Outcome != evidence.OutcomeSkipped {
		t.Fatalf("not-due run: %s %v, want skipped", res.Outcome, res.Err)
	}
	if n := counting.reads + counting.writes + counting.meta + counting.destroys; n > 3 {
		t.Errorf("the retiring run made %d Vault requests (%d reads, %d writes, %d metadata, %d destroys), want at most 3",
			n, counting.reads, counting.writes, counting.meta, counting.destroys)
	}
	after := f.doc()
	if after.Doc.Previous != "" || after.Doc.Current != before.Doc.Current {
		t.Fatalf("document after retirement: previous %s, current %s", keyset.Fingerprint(after.Doc.Previous), keyset.Fingerprint(after.Doc.Current))
	}

	// Every version Vault keeps holds only accepted keys, or is destroyed.
	hist, maxv, err := store.History(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	if maxv != vault.MaxVersions {
		t.Errorf("max_versions %d, want %d", maxv, vault.MaxVersions)
	}
	now := f.clock.Now()
	for _, v := range hist {
		if v.Destroyed {
			continue
		}
		d, err := store.ReadVersion(ctx, f.path, v.Number)
		if err != nil {
			t.Fatalf("version %d: %v", v.Number, err)
		}
		if out := d.KeysOutside(after.Doc, now); len(out) > 0 {
			t.Errorf("version %d still holds %d retired key(s)", v.Number, len(out))
		}
	}
	for i, k := range keys {
		if k == "" || k == after.Doc.Current {
			continue
		}
		for n := 1; n <= after.Version; n++ {
			d, err := store.ReadVersion(ctx, f.path, n)
			if errors.Is(err, vault.ErrNotFound) {
				continue
			}
			if strings.Contains(fmt.Sprint(d.Data()), k) {
				t.Errorf("retired key %d is still readable at version %d", i, n)
			}
		}
	}

	// The evidence names the retired key and the versions destroyed.
	var step *evidence.Step
	for i, s := range res.Record.Steps {
		if s.Name == string(rotate.StepRetire) {
			step = &res.Record.Steps[i]
		}
	}
	if step == nil {
		t.Fatalf("no retire step in %+v", res.Record.Steps)
	}
	want := fmt.Sprintf("retired %s; destroyed versions %d", keyset.Fingerprint(retired), before.Version)
	if !strings.HasPrefix(step.Detail, want) || step.Outcome != "ok" {
		t.Errorf("retire step %q (%s), want it to start with %q", step.Detail, step.Outcome, want)
	}
	t.Logf("retire step: %s", step.Detail)
	f.checkSafe("after retirement")
	f.checkNoLeak(keys...)
}

// TestRetireAfterPromoteWithoutOverlap: with overlap 0 the replaced key is retired, and
// the version that held it destroyed, right after promote.
func TestRetireAfterPromoteWithoutOverlap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if res := f.rotate(ctx, rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.clock.Advance(2 * time.Hour)
		old := f.doc().Doc.Current
		zero := time.Duration(0)
		res := f.rotate(ctx, rotate.Options{Overlap: &zero})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("rotation: %s %v", res.Outcome, res.Err)
		}
		last := res.Record.Steps[len(res.Record.Steps)-1]
		if last.Name != string(rotate.StepRetire) || !strings.Contains(last.Detail, keyset.Fingerprint(old)) ||
			!strings.Contains(last.Detail, fmt.Sprintf("destroyed versions %d", f.doc().Version-1)) {
			t.Errorf("last step %+v, want retire naming %s and the stage version", last, keyset.Fingerprint(old))
		}
		f.checkSafe("after rotation")
	})
}

// TestForcedRotationInOverlapRecordsTheCut: --force inside the window goes ahead and
// says in the evidence which key's window it cut short.
func TestForcedRotationInOverlapRecordsTheCut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		pol := policy()
		pol.Overlap = 3 * time.Hour // longer than min_interval (1h)
		run := func(o rotate.Options) rotate.Result { return f.engine().Rotate(ctx, f.target(), pol, o) }
		if res := run(rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.clock.Advance(4 * time.Hour)
		if res := run(rotate.Options{}); res.Err != nil {
			t.Fatal(res.Err)
		}
		f.clock.Advance(90 * time.Minute)
		prev := f.doc().Doc.Previous
		res := run(rotate.Options{})
		if res.Outcome != evidence.OutcomeSkipped || !strings.Contains(strings.Join(res.Plan, " "), "in overlap") {
			t.Fatalf("run inside the window: %s %v", res.Outcome, res.Plan)
		}
		res = run(rotate.Options{Force: true})
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Fatalf("forced rotation: %s %v", res.Outcome, res.Err)
		}
		found := false
		for _, s := range res.Record.Steps {
			if s.Name == string(rotate.StepPromote) && strings.Contains(s.Detail, "cut the overlap window of "+keyset.Fingerprint(prev)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no promote step records the cut: %+v", res.Record.Steps)
		}
	})
}
