package rotate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyroll/keyroll/keyset"
)

// PlanAPIKey is DecideAPIKey's decision with the writes it implies, as Plan is Decide's:
// a metadata write after the stage and after the promote (or after a write of a document
// from before max_versions), and the destroy of the versions that hold retired keys.
func PlanAPIKey(in KeyInput) Decision {
	d := DecideAPIKey(in)
	if len(d.Steps) == 0 {
		return d
	}
	doc := in.Doc
	if d.AdoptID != 0 {
		doc.CurrentID = strconv.Itoa(d.AdoptID)
	}
	l := newLedger(Input{Doc: doc, Version: in.Version, Exists: in.Exists, Seen: in.Seen, MaxVersions: in.MaxVersions, Keep: in.Keep})
	mint := CreatedKey{APIKey: APIKey{ID: -1}, Key: planned}
	out := make([]Step, 0, len(d.Steps)+3)
	for _, s := range d.Steps {
		out = append(out, s)
		if !s.keyWrites() {
			continue
		}
		l.write(s.applyKey(l.doc, in.Now, mint, in.RotationID))
		if s.Kind == StepStage || s.Kind == StepPromote {
			out = append(out, Step{Kind: StepMeta})
			l.maxSet = true
		}
	}
	if st, ok := Retirement(l.history(), l.version, l.trimmed, in.Keep, in.Now); ok && l.n > 0 {
		out = append(out, st)
	}
	if !l.maxSet && l.n > 0 {
		out = append(out, Step{Kind: StepMeta}) // a document from before max_versions
	}
	d.Steps = out
	return d
}

// applyKey returns the document API-key step s writes over doc at now: created is the key
// the create step made, rotationID the id a new intent records.
func (s Step) applyKey(doc keyset.Document, now time.Time, created CreatedKey, rotationID string) keyset.Document {
	nd := doc
	switch s.Kind {
	case StepHold:
		nd.PreviousHeldSince = now
	case StepIntent:
		nd.Creating, nd.CreatingSince = s.KeyName, now
		if !s.TakeOver {
			nd.RotationID = rotationID
		}
		if s.Retire != "" {
			nd = withoutPrevious(nd)
		}
	case StepStage:
		nd.Pending, nd.PendingID, nd.PendingSince = created.Key, strconv.Itoa(created.ID), now
		nd.Creating, nd.CreatingSince = "", time.Time{}
	case StepPromote:
		nd = keyset.Document{Current: doc.Pending, CurrentID: doc.PendingID, CurrentSince: now, RotationID: doc.RotationID,
			Previous: s.Previous, PreviousID: s.PreviousID}
		if s.Previous != "" {
			nd.PreviousUntil = now.Add(s.PreviousFor)
		}
	case StepRetire:
		nd = withoutPrevious(nd)
	case StepUnstage:
		nd.Pending, nd.PendingID, nd.PendingSince = "", "", time.Time{}
	}
	return nd
}

func withoutPrevious(d keyset.Document) keyset.Document {
	d.Previous, d.PreviousID, d.PreviousUntil, d.PreviousHeldSince = "", "", time.Time{}, time.Time{}
	return d
}

// keyString prints an API-key step: ids, names and fingerprints, never a key.
func (s Step) keyString() string {
	var b strings.Builder
	b.WriteString(string(s.Kind) + ": ")
	switch s.Kind {
	case StepRevokeOrphan, StepRevoke:
		fmt.Fprintf(&b, "PUT /key/%d/status revoked: %s", s.KeyID, s.revokeDetail())
	case StepHold:
		fmt.Fprintf(&b, "keep key %d active, write previous_held_since: %s", s.KeyID, s.useDetail())
	case StepAdopt:
		fmt.Fprintf(&b, "write current_id %d (api_key.key_id)", s.KeyID)
	case StepIntent:
		fmt.Fprintf(&b, "write creating %q", s.KeyName)
		if s.TakeOver {
			b.WriteString(", taking over an earlier run's intent")
		}
		if s.Retire != "" {
			fmt.Fprintf(&b, "; leave out the revoked previous key %d %s", s.KeyID, keyset.Fingerprint(s.Retire))
		}
	case StepCreate:
		fmt.Fprintf(&b, "POST /key/user/%d name %q, %s", s.UserID, s.KeyName, roleName(s.RoleID))
	case StepStage:
		b.WriteString("write the created key as pending, with its id")
	case StepAuthenticate:
		fmt.Fprintf(&b, "GET /key/%s authenticated with %s (up to %d attempts)", idOr(s.KeyID, "{new id}"), fpOr(s.Key, "the new key"), authAttempts)
	case StepPromote:
		fmt.Fprintf(&b, "%s becomes current; keep key %s %s as previous for %s", fpOr(s.Key, "the new key"), s.PreviousID, keyset.Fingerprint(s.Previous), s.PreviousFor)
	case StepRetire:
		fmt.Fprintf(&b, "leave out the revoked previous key %d %s", s.KeyID, keyset.Fingerprint(s.Retire))
	case StepUnstage:
		fmt.Fprintf(&b, "leave out the staged key %d %s, revoked at the issuer", s.KeyID, keyset.Fingerprint(s.Retire))
	}
	if s.keyWrites() {
		fmt.Fprintf(&b, " (cas %d)", s.CAS)
	}
	return b.String()
}

// revokeDetail names the key a revoke step revokes and why: never the key itself.
func (s Step) revokeDetail() string {
	if s.Kind == StepRevokeOrphan {
		return fmt.Sprintf("key %d %q: made by keyroll for this target, active, not in the document; last used %s", s.KeyID, s.KeyName, usedAt(s.LastUsed))
	}
	detail := fmt.Sprintf("the previous key %d %s", s.KeyID, keyset.Fingerprint(s.Retire))
	if s.InUse {
		detail += ": still in use"
	}
	detail += ", " + s.useDetail()
	if s.Why != "" {
		detail += " (" + s.Why + ")"
	}
	return detail
}

// useDetail says when the key was last used.
func (s Step) useDetail() string { return "last used " + usedAt(s.LastUsed) }

func usedAt(t time.Time) string {
	if t.IsZero() {
		return "never (or not said)"
	}
	return t.UTC().Format(time.RFC3339)
}

func roleName(id int) string {
	if id == 0 {
		return "unrestricted (as the current key)"
	}
	return fmt.Sprintf("restricted to role %d (as the current key)", id)
}

func idOr(id int, none string) string {
	if id <= 0 {
		return none
	}
	return strconv.Itoa(id)
}

func fpOr(key, none string) string {
	if key == "" {
		return none
	}
	return keyset.Fingerprint(key)
}
