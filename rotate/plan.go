package rotate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

// Plan is everything one run does for one target: Decide's steps with the writes they
// imply around them — the metadata write after the stage and after the promote (or, for a
// document from before max_versions, after a retire-only write), and the destroy of the
// versions that hold retired keys, with their numbers. A check-and-set write on version v
// makes version v+1, so the numbers are exact unless another writer wins; the executor then
// reads and plans again. It is pure, like Decide: Input.Seen, Input.MaxVersions and
// Input.Keep say what the store keeps.
func Plan(in Input) Decision {
	d := Decide(in)
	if len(d.Steps) == 0 {
		return d
	}
	l := newLedger(in)
	out := make([]Step, 0, len(d.Steps)+3)
	for _, s := range d.Steps {
		if s.Kind == StepPromote {
			s.CAS = l.version
		}
		out = append(out, s)
		if s.writes() {
			l.write(s.apply(l.doc, in.Now, planned, l.doc.RotationID))
		}
		if s.Kind == StepStage {
			out = append(out, Step{Kind: StepMeta})
			l.maxSet = true
		}
	}
	rotation := d.Refusal == RefuseNone
	if rotation {
		out = append(out, Step{Kind: StepMeta})
	}
	if st, ok := Retirement(l.seen, l.version, l.trimmed, in.Keep, in.Now); ok {
		out = append(out, st)
	}
	if !rotation && !l.maxSet {
		out = append(out, Step{Kind: StepMeta}) // a document from before max_versions
	}
	d.Steps = out
	return d
}

// planned stands for the key a stage mints when the plan is made: it is not known yet,
// and it is never a retired key.
const planned = "\x00the new key"

// ledger follows the versions a plan writes, as the executor follows the ones it writes.
type ledger struct {
	seen            map[int]keyset.Document
	version         int
	doc             keyset.Document
	maxSet, trimmed bool
}

func newLedger(in Input) *ledger {
	l := &ledger{seen: maps.Clone(in.Seen), version: in.Version, doc: in.Doc}
	if l.seen == nil {
		l.seen = map[int]keyset.Document{}
	}
	if in.Exists {
		l.seen[in.Version] = in.Doc
	}
	l.maxSet = in.Keep > 0 && in.MaxVersions == in.Keep
	l.trimmed = l.maxSet
	return l
}

func (l *ledger) write(doc keyset.Document) {
	l.version++
	l.doc = doc
	l.seen[l.version] = doc
	l.trimmed = l.maxSet
}

// writes says whether the step writes the document (with check-and-set).
func (s Step) writes() bool {
	switch s.Kind {
	case StepStage, StepAdopt, StepPromote, StepRetire:
		return true
	}
	return false
}

// apply returns the document step s writes over doc at now: newKey is the key a stage
// mints (when s.Key is not already the pending one), rotationID the id a stage records.
func (s Step) apply(doc keyset.Document, now time.Time, newKey, rotationID string) keyset.Document {
	nd := doc
	switch s.Kind {
	case StepStage:
		if s.Current != "" {
			nd.Current = s.Current
		}
		if s.Previous != "" {
			nd.Previous, nd.PreviousUntil = s.Previous, now.Add(s.PreviousFor)
		} else if s.Retire != "" {
			// The expired previous key leaves the document with this write; the promote's
			// write then drops the version that still holds it (max_versions).
			nd.Previous, nd.PreviousUntil = "", time.Time{}
		}
		nd.Pending, nd.PendingSince, nd.RotationID = newKey, now, rotationID
	case StepAdopt:
		nd.Previous, nd.PreviousUntil = s.Previous, now.Add(s.PreviousFor)
	case StepPromote:
		pending := doc.Pending
		nd = keyset.Document{Current: pending, CurrentSince: now, RotationID: doc.RotationID}
		if s.Previous != "" {
			nd.Previous, nd.PreviousUntil = s.Previous, now.Add(s.PreviousFor)
		}
	case StepRetire:
		nd.Previous, nd.PreviousUntil = "", time.Time{}
	}
	return nd
}

// Retirement is the destroy step after the latest write, version latest: the keys the
// documents seen (by version) hold outside the latest one's accept set at now, and the
// versions to destroy. When trimmed (the store kept at most keep versions at that write),
// that is the version before latest if it may hold such a key; otherwise every older
// version. ok is false when there is nothing to record.
func Retirement(seen map[int]keyset.Document, latest int, trimmed bool, keep int, now time.Time) (Step, bool) {
	doc := seen[latest]
	var retired []string
	for _, d := range seen {
		for _, k := range d.KeysOutside(doc, now) {
			if fp := keyset.Fingerprint(k); !slices.Contains(retired, fp) {
				retired = append(retired, fp)
			}
		}
	}
	slices.Sort(retired)
	st := Step{Kind: StepDestroy, Retired: retired, MaxVersions: keep}
	if trimmed {
		if prev := latest - 1; prev >= 1 {
			if d, ok := seen[prev]; !ok || len(d.KeysOutside(doc, now)) > 0 {
				st.Versions = []int{prev}
			}
		}
		if latest-keep >= 1 {
			st.RemovedUpTo = latest - keep
		}
	} else {
		for v := 1; v < latest; v++ {
			st.Versions = append(st.Versions, v)
		}
	}
	return st, len(retired) > 0 || len(st.Versions) > 0
}

// destroyDetail is the evidence detail of a destroy step.
func (s Step) destroyDetail() string {
	detail := "retired " + orNone(strings.Join(s.Retired, ", ")) + "; destroyed versions " + versionList(s.Versions)
	if s.RemovedUpTo > 0 {
		detail += fmt.Sprintf("; versions up to %d removed by max_versions %d", s.RemovedUpTo, s.MaxVersions)
	}
	return detail
}
