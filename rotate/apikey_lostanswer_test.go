package rotate_test

import (
	"context"
	"testing"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// landedConflict applies write number n and answers ErrConflict, as a Vault client does
// when a write landed, its answer was lost and its retry met the version it wrote.
type landedConflict struct {
	rotate.KeyStore
	n, seen int
}

func (w *landedConflict) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	w.seen++
	v, err := w.KeyStore.Write(ctx, path, doc, cas)
	if err == nil && w.seen == w.n {
		return 0, rotate.ErrConflict
	}
	return v, err
}

// TestAPIKeyStageLandedAnswerLost: the stage write lands and the run sees a check-and-set
// conflict: the key it created is the document's pending key, so it is not revoked, and
// the same run resumes it.
func TestAPIKeyStageLandedAnswerLost(t *testing.T) {
	f := newKeyFixture(t, true)
	e := f.engine()
	e.Store = &landedConflict{KeyStore: e.Store, n: 2} // intent, then stage
	res := f.run(e, rotate.Options{})
	if res.Err != nil {
		t.Fatalf("run: %v (steps %s)", res.Err, stepNames(res.Record))
	}
	for _, s := range res.Record.Steps {
		if s.Name == string(rotate.StepRevokeOrphan) {
			t.Errorf("the run revoked the key it staged: %s", s.Detail)
		}
	}
	f.checkRotated("after a stage whose answer was lost")
	if n := len(f.created()); n != 1 {
		t.Errorf("%d keys created, want 1", n)
	}
}
