package rotate

import (
	"fmt"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

// Next answers "when next?" for one document under one policy: the rules about time
// that Decide applies, for `keyroll status`, the scheduler's timers at the end of overlap
// windows, the metrics and `keyroll run --dry-run`. Nothing else computes them.
type Next struct {
	// NotDueUntil is when the current key is min_interval old: a run before it skips as
	// not due, unless it resumes a staged rotation (zero: no promotion recorded).
	NotDueUntil time.Time
	// WindowEnd is when the previous key's overlap window ends: a run before it skips as
	// in overlap (zero: no window open at the time asked).
	WindowEnd time.Time
	// Retire is when the previous key leaves the accept set for good, so a run retires it
	// and the versions that hold it become destroyable: the window's end, or the time
	// asked once it has passed (zero: no previous key).
	Retire time.Time
}

// When returns what Next says about doc under p at now. It is pure.
func When(doc keyset.Document, p Policy, now time.Time) Next {
	var n Next
	if !doc.CurrentSince.IsZero() {
		n.NotDueUntil = doc.CurrentSince.Add(p.MinInterval)
	}
	if doc.PreviousActive(now) {
		n.WindowEnd = doc.PreviousUntil
	}
	if doc.Previous != "" {
		n.Retire = now
		if doc.PreviousActive(now) {
			n.Retire = doc.PreviousUntil
		}
	}
	return n
}

// Due is the first scheduled time at which a run rotates: tick(t) is the schedule's first
// time after t, and a run inside min_interval or inside the overlap window skips, so the
// rotation waits for the first tick after both.
func (n Next) Due(tick func(time.Time) time.Time, now time.Time) time.Time {
	next := tick(now)
	if n.NotDueUntil.After(next) {
		next = tick(n.NotDueUntil)
	}
	if n.WindowEnd.After(next) {
		next = tick(n.WindowEnd) // a run inside the window skips
	}
	return next
}

// HoldsRetired reports whether doc, a version of a document whose latest version is
// latest, holds a key outside latest's accept set at now: a retired key, whose version
// is to be destroyed.
func HoldsRetired(doc, latest keyset.Document, now time.Time) bool {
	return len(doc.KeysOutside(latest, now)) > 0
}

// timeRules applies When's rules to a run of either kind that would start a rotation of
// doc under p at now: inside min_interval it skips as not due, inside the previous key's
// window as in overlap (with the reason inWindow), unless force, which then says what it
// overrode (cutWindow when the window is cut short, and cut is true).
func timeRules(doc keyset.Document, p Policy, force bool, now time.Time, inWindow, cutWindow string) (skip Decision, forced []string, cut bool) {
	next := When(doc, p, now)
	if now.Before(next.NotDueUntil) {
		reason := fmt.Sprintf("last rotation %s ago, min_interval %s", now.Sub(doc.CurrentSince).Round(time.Second), p.MinInterval)
		if !force {
			return refuse(RefuseNotDue, reason), nil, false
		}
		forced = append(forced, "rotated early: "+reason)
	}
	if !next.WindowEnd.IsZero() {
		if !force {
			return refuse(RefuseInOverlap, inWindow), nil, false
		}
		forced, cut = append(forced, cutWindow), true
	}
	return Decision{}, forced, cut
}

// retireOnlyReason is the skip reason of a retire-only run (Options.RetireOnly), of
// either kind.
const retireOnlyReason = "a run to retire keys, not to rotate"
