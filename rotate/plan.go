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
		}
		if s.Kind == StepStage || s.Kind == StepMeta {
			l.maxSet = true
		}
	}
	rotation := d.Refusal == RefuseNone
	if rotation {
		out = append(out, Step{Kind: StepMeta})
	}
	if st, ok := Retirement(l.history(), l.version, l.trimmed, in.Keep, in.Now); ok && l.n > 0 {
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

// History is the documents a run knows of, by version: those it read or wrote (Seen), and
// those its plan will write after version From (Wrote[0] is From+1, and so on).
type History struct {
	Seen  map[int]keyset.Document
	From  int
	Wrote []keyset.Document
}

// Doc returns the document of version v, if known.
func (h History) Doc(v int) (keyset.Document, bool) {
	if i := v - h.From - 1; i >= 0 && i < len(h.Wrote) {
		return h.Wrote[i], true
	}
	d, ok := h.Seen[v]
	return d, ok
}

// ledger follows the versions a plan writes, as the executor follows the ones it writes.
type ledger struct {
	h               History // without Wrote: see history
	wrote           []keyset.Document
	n               int // of wrote
	version         int
	doc             keyset.Document
	maxSet, trimmed bool
}

func newLedger(in Input) ledger {
	l := ledger{h: History{Seen: in.Seen, From: in.Version}, version: in.Version, doc: in.Doc}
	if _, ok := in.Seen[in.Version]; in.Exists && !ok {
		l.h.Seen = maps.Clone(in.Seen) // only when the caller did not record its read
		if l.h.Seen == nil {
			l.h.Seen = map[int]keyset.Document{}
		}
		l.h.Seen[in.Version] = in.Doc
	}
	l.maxSet = in.Keep > 0 && in.MaxVersions == in.Keep
	l.trimmed = l.maxSet
	return l
}

func (l *ledger) write(doc keyset.Document) {
	l.wrote = append(l.wrote, doc)
	l.n++
	l.version++
	l.doc = doc
	l.trimmed = l.maxSet
}

// history is what the ledger knows, its writes included.
func (l *ledger) history() History {
	h := l.h
	h.Wrote = l.wrote[:l.n]
	return h
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
// documents of h hold outside the latest one's accept set at now, and the versions to
// destroy. When trimmed (the store kept at most keep versions at that write), that is the
// version before latest if it may hold such a key; otherwise every older version. ok is
// false when there is nothing to record.
func Retirement(h History, latest int, trimmed bool, keep int, now time.Time) (Step, bool) {
	doc, _ := h.Doc(latest)
	var retired []string
	retire := func(d keyset.Document) {
		for _, k := range d.KeysOutside(doc, now) {
			if fp := keyset.Fingerprint(k); !slices.Contains(retired, fp) {
				retired = append(retired, fp)
			}
		}
	}
	for v, d := range h.Seen {
		if v <= h.From {
			retire(d)
		}
	}
	for _, d := range h.Wrote {
		retire(d)
	}
	slices.Sort(retired)
	st := Step{Kind: StepDestroy, Retired: retired, MaxVersions: keep}
	if trimmed {
		if prev := latest - 1; prev >= 1 {
			if d, ok := h.Doc(prev); !ok || len(d.KeysOutside(doc, now)) > 0 {
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
