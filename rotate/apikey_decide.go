package rotate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keyroll/keyroll/internal/soakbug"
	"github.com/keyroll/keyroll/keyset"
)

// KeyInput is everything the API-key kind's decision depends on: values read and
// configured, no clients.
type KeyInput struct {
	// Target names the target: the keys keyroll creates for it are named
	// "keyroll <Target> <rotation id>" (KeyName).
	Target  string
	Doc     keyset.Document
	Version int  // the document's KV version (0: never written)
	Exists  bool // false: never written, or its latest version is deleted
	// Current is the issuer's description of the document's current key (GET /key/{id},
	// authenticated with that key); Rejected says the issuer refused the key instead.
	Current  APIKey
	Rejected bool
	// Keys lists every key of Current's user, revoked ones included, as listed before
	// Doc was read (so that a key in flight is named by Doc's creating or pending_id).
	Keys    []APIKey
	Key     KeyPolicy
	Policy  Policy
	Options Options
	Now     time.Time
	// RotationID is the id this run records: a new key is named after it.
	RotationID string
	// For PlanAPIKey, as Input's.
	Seen        map[int]keyset.Document
	MaxVersions int
	Keep        int
}

// KeyNamePrefix is how the name of every key keyroll creates for target begins.
func KeyNamePrefix(target string) string { return "keyroll " + target + " " }

// KeyName is the name of the key the rotation rotationID of target creates.
func KeyName(target, rotationID string) string { return KeyNamePrefix(target) + rotationID }

// Orphans returns the active keys of keys that keyroll created for target (named with
// KeyNamePrefix) and doc does not hold: their id is none of current_id, pending_id and
// previous_id. A key named like doc's creating is among them: it may be in flight.
func Orphans(target string, doc keyset.Document, keys []APIKey) []APIKey {
	held := []string{doc.CurrentID, doc.PendingID, doc.PreviousID}
	var out []APIKey
	for _, k := range keys {
		if k.Active && strings.HasPrefix(k.Name, KeyNamePrefix(target)) && !slices.Contains(held, strconv.Itoa(k.ID)) {
			out = append(out, k)
		}
	}
	return out
}

// DecideAPIKey decides what one run does for one API-key target. It is pure, like Decide;
// the rows, first match wins (the package documentation's table lists them):
//
//  1. no current key, or no id for it (neither current_id nor KeyPolicy.KeyID): refuse,
//     needs a human; an id from KeyPolicy.KeyID is adopted (Decision.AdoptID);
//  2. the issuer refuses the current key or says it is revoked: refuse, needs a human;
//
// then every run revokes the orphans (Orphans, but the keys named like an intent another
// run may still be carrying out), and:
//
//  3. a staged key: authenticate it, promote it (but a staged key the issuer lists as
//     revoked is left out of the document, and the decision goes on as for an idle one);
//  4. an intent to create (creating) from an earlier run, no retire-only run: take it over
//     (write it again, keeping its name and rotation id), revoke the keys named by it,
//     create, stage, authenticate, promote;
//  5. an expired previous key: revoke it (the policy's hold when it was used after the
//     promote plus the grace: write previous_held_since once and refuse, needs a human),
//     and leave it out of the document with the next write;
//  6. a retire-only run, not due, in overlap: skip, as the webhook's decision does (When);
//  7. otherwise intent, create, stage, authenticate, promote.
func DecideAPIKey(in KeyInput) Decision {
	k, refusal := newKeyDecider(in)
	if refusal.Refusal != RefuseNone {
		return refusal
	}
	k.sweep(false)
	if k.doc.Staged() && !k.unstage() {
		return k.resume()
	}
	doc := k.doc
	switch {
	case doc.Creating != "" && !in.Options.RetireOnly:
		k.d.Resume = true
		if doc.Previous != "" && k.retirePrevious("") {
			return k.d
		}
		return k.rotation(doc.Creating, true)
	case doc.Previous != "" && !doc.PreviousActive(in.Now):
		if k.retirePrevious("") {
			return k.d
		}
	}
	return k.rotateOrSkip()
}

// keyDecider builds one API-key decision.
type keyDecider struct {
	in       KeyInput
	p        Policy
	doc      keyset.Document // in.Doc, with the adopted current_id
	d        Decision
	cas      int    // the version the next write checks against
	retiring string // the previous key the next write leaves out
}

// newKeyDecider checks rows 1 and 2: the decider, or the refusal.
func newKeyDecider(in KeyInput) (*keyDecider, Decision) {
	p := in.Policy
	if in.Options.Overlap != nil {
		p.Overlap = *in.Options.Overlap
	}
	k := &keyDecider{in: in, p: p, doc: in.Doc, cas: in.Version}
	k.d = Decision{Old: in.Doc.Current, New: in.Doc.Pending}
	id, refusal := keyIdentity(in)
	if refusal.Refusal != RefuseNone {
		return nil, refusal
	}
	if in.Doc.CurrentID == "" {
		k.d.AdoptID = id
		k.doc.CurrentID = strconv.Itoa(id)
	}
	if in.Rejected || !in.Current.Active {
		status := "refused"
		if !in.Rejected {
			status = "status " + orNone(in.Current.Status)
		}
		return nil, refuse(RefuseKeyRejected, fmt.Sprintf("the stored API key no longer authenticates: key %d (%s) %s", id, keyset.Fingerprint(in.Doc.Current), status))
	}
	return k, Decision{}
}

// keyIdentity is the id of the document's current key: current_id, else the configured
// one (first adoption); or the refusal saying where to find it.
func keyIdentity(in KeyInput) (int, Decision) {
	if !in.Exists || in.Doc.Current == "" {
		return 0, refuse(RefuseKeyUnknown, "the document holds no API key: store the key as current (CertCentral → Automation → API Keys)")
	}
	if in.Doc.CurrentID != "" {
		id, err := strconv.Atoi(in.Doc.CurrentID)
		if err != nil || id <= 0 {
			return 0, refuse(RefuseKeyUnknown, "current_id in the document is not a key id")
		}
		return id, Decision{}
	}
	if in.Key.KeyID > 0 {
		return in.Key.KeyID, Decision{}
	}
	return 0, refuse(RefuseKeyUnknown, "the id of the API key in the document is unknown: set the target's api_key.key_id or current_id in the document (CertCentral → Automation → API Keys)")
}

// add appends step s, with the check-and-set version of a write.
func (k *keyDecider) add(s Step) {
	s.APIKey = true
	if s.keyWrites() {
		s.CAS = k.cas
		k.cas++
	}
	k.d.Steps = append(k.d.Steps, s)
}

// keyWrites says whether an API-key step writes the document.
func (s Step) keyWrites() bool {
	switch s.Kind {
	case StepAdopt, StepHold, StepIntent, StepStage, StepPromote, StepRetire, StepUnstage:
		return true
	}
	return false
}

// sweep revokes the orphans: those named like the document's intent when creating (after
// this run took the intent over), the others otherwise.
func (k *keyDecider) sweep(creating bool) {
	if soakbug.KeepOrphans {
		return
	}
	for _, o := range Orphans(k.in.Target, k.doc, k.in.Keys) {
		if (k.doc.Creating != "" && o.Name == k.doc.Creating) == creating {
			k.add(Step{Kind: StepRevokeOrphan, KeyID: o.ID, KeyName: o.Name, LastUsed: o.LastUsed})
		}
	}
}

// unstage leaves a staged key out of the document when the issuer lists it as revoked
// (by hand: keyroll revokes no key a document holds but the expired previous one), so that
// the decision goes on as for an idle document instead of resuming with a key that cannot
// work. A staged key missing from the list is no reason: the list was taken before the
// read, and the key may have been created after it.
func (k *keyDecider) unstage() bool {
	id := atoi(k.doc.PendingID)
	i := slices.IndexFunc(k.in.Keys, func(a APIKey) bool { return a.ID == id })
	if id == 0 || i < 0 || k.in.Keys[i].Active {
		return false
	}
	k.add(Step{Kind: StepUnstage, KeyID: id, Retire: k.doc.Pending})
	k.doc.Pending, k.doc.PendingID, k.doc.PendingSince = "", "", time.Time{}
	k.d.New = ""
	return true
}

// resume finishes a staged rotation (row 3): authenticate, promote.
func (k *keyDecider) resume() Decision {
	k.d.Resume = true
	if k.doc.Previous != "" && k.retirePrevious("") {
		return k.d // a previous key beside a staged one: only by hand
	}
	id, _ := strconv.Atoi(k.doc.PendingID)
	k.add(Step{Kind: StepAuthenticate, KeyID: id, Key: k.doc.Pending})
	k.promote(k.doc.Pending)
	return k.d
}

// retirePrevious revokes the previous key (row 5), unless it is still in use and the
// policy holds it: then the decision is the hold, and held is true. why says what made
// the revoke go ahead anyway ("" to check the use).
func (k *keyDecider) retirePrevious(why string) (held bool) {
	doc, in := k.doc, k.in
	k.retiring = doc.Previous
	id, _ := strconv.Atoi(doc.PreviousID)
	i := slices.IndexFunc(in.Keys, func(a APIKey) bool { return a.ID == id })
	if id == 0 || i < 0 || !in.Keys[i].Active {
		return false // revoked already (a run stopped before its retire write), or gone
	}
	prev := in.Keys[i]
	s := Step{Kind: StepRevoke, KeyID: id, KeyName: prev.Name, LastUsed: prev.LastUsed, Retire: doc.Previous, Why: why}
	s.InUse = !prev.LastUsed.IsZero() && prev.LastUsed.After(doc.CurrentSince.Add(in.Key.Grace))
	switch {
	case !s.InUse || why != "":
	case in.Options.RevokeInUse:
		s.Why = "--revoke-in-use"
	case in.Key.InUse == InUseRevoke:
		s.Why = "in_use: revoke"
	default:
		if doc.PreviousHeldSince.IsZero() {
			k.add(Step{Kind: StepHold, KeyID: id, KeyName: prev.Name, LastUsed: prev.LastUsed, Retire: doc.Previous, InUse: true})
		}
		k.d.Refusal = RefuseHeld
		k.d.Reason = fmt.Sprintf("the previous API key %d (%s) was last used %s, after the promote at %s plus grace %s: a consumer still holds it (in_use: hold; --revoke-in-use revokes it once)",
			id, keyset.Fingerprint(doc.Previous), prev.LastUsed.UTC().Format(time.RFC3339), doc.CurrentSince.UTC().Format(time.RFC3339), in.Key.Grace)
		return true
	}
	k.add(s)
	return false
}

// rotateOrSkip is rows 6 and 7: the webhook's rules about time, then a new rotation.
func (k *keyDecider) rotateOrSkip() Decision {
	in, doc := k.in, k.doc
	if in.Options.RetireOnly {
		return k.skip(RefuseNotDue, retireOnlyReason)
	}
	prev := fmt.Sprintf("the previous API key %s %s", doc.PreviousID, keyset.Fingerprint(doc.Previous))
	until := doc.PreviousUntil.UTC().Format(time.RFC3339)
	skip, forced, cut := timeRules(doc, k.p, in.Options.Force, in.Now,
		fmt.Sprintf("%s is active until %s; rotating now would revoke it early (--force to rotate anyway)", prev, until),
		fmt.Sprintf("revoke %s before its overlap ends (was until %s)", prev, until))
	if skip.Refusal != RefuseNone {
		return k.skip(skip.Refusal, skip.Reason)
	}
	k.d.Forced = append(k.d.Forced, forced...)
	if cut {
		k.retirePrevious("--force: its overlap cut short")
	}
	return k.rotation(KeyName(in.Target, in.RotationID), false)
}

// skip ends a decision with no rotation: the retire write after a revoke, or the adopted
// id's write when there is no other.
func (k *keyDecider) skip(kind RefusalKind, reason string) Decision {
	k.d.Refusal, k.d.Reason = kind, reason
	switch {
	case k.retiring != "":
		k.add(Step{Kind: StepRetire, KeyID: atoi(k.doc.PreviousID), Retire: k.retiring})
	case k.d.AdoptID != 0:
		k.add(Step{Kind: StepAdopt, KeyID: k.d.AdoptID})
	}
	return k.d
}

// rotation is intent (or its take-over), create, stage, authenticate, promote.
func (k *keyDecider) rotation(name string, takeOver bool) Decision {
	k.add(Step{Kind: StepIntent, KeyName: name, TakeOver: takeOver, Retire: k.retiring, KeyID: atoi(k.doc.PreviousID)})
	if takeOver {
		k.sweep(true)
	}
	k.add(Step{Kind: StepCreate, KeyName: name, UserID: k.in.Current.UserID, RoleID: k.in.Current.RoleID})
	k.add(Step{Kind: StepStage})
	k.add(Step{Kind: StepAuthenticate})
	k.promote("")
	return k.d
}

// promote makes key (the pending key; "" for the one this run creates) current, keeping
// the current key as previous for the overlap: with overlap 0, previous until the
// promote itself, so that the next run revokes it, checking its use.
func (k *keyDecider) promote(key string) {
	k.add(Step{Kind: StepPromote, Key: key, Previous: k.doc.Current, PreviousID: k.doc.CurrentID, PreviousFor: k.p.Overlap})
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
