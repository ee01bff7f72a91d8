package keyset

import (
	"fmt"
	"time"
)

// Field names of the document's data in Vault (docs/design.md, "The Vault document").
const (
	FieldCurrent       = "current"
	FieldCurrentSince  = "current_since"
	FieldPending       = "pending"
	FieldPendingSince  = "pending_since"
	FieldPrevious      = "previous"
	FieldPreviousUntil = "previous_until"
	FieldRotationID    = "rotation_id"

	// The API-key kind's fields.
	FieldCurrentID         = "current_id"
	FieldPendingID         = "pending_id"
	FieldPreviousID        = "previous_id"
	FieldCreating          = "creating"
	FieldCreatingSince     = "creating_since"
	FieldPreviousHeldSince = "previous_held_since"
)

// Data encodes the document as the KV v2 data map. Absent fields are left out.
func (d Document) Data() map[string]any {
	m := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	putTime := func(k string, t time.Time) {
		if !t.IsZero() {
			m[k] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	put(FieldCurrent, d.Current)
	putTime(FieldCurrentSince, d.CurrentSince)
	put(FieldPending, d.Pending)
	putTime(FieldPendingSince, d.PendingSince)
	put(FieldPrevious, d.Previous)
	putTime(FieldPreviousUntil, d.PreviousUntil)
	put(FieldRotationID, d.RotationID)
	put(FieldCurrentID, d.CurrentID)
	put(FieldPendingID, d.PendingID)
	put(FieldPreviousID, d.PreviousID)
	put(FieldCreating, d.Creating)
	putTime(FieldCreatingSince, d.CreatingSince)
	putTime(FieldPreviousHeldSince, d.PreviousHeldSince)
	return m
}

// FromData decodes a KV v2 data map. Unknown fields are ignored; a field of the wrong type
// or a time that is not RFC 3339 is an error naming the field (never its value).
func FromData(m map[string]any) (Document, error) {
	var d Document
	var err error
	str := func(k string) string {
		v, ok := m[k]
		if !ok || v == nil || err != nil {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			err = fmt.Errorf("keyset: field %q is %T, want string", k, v)
		}
		return s
	}
	tm := func(k string) time.Time {
		s := str(k)
		if s == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339, s)
		if perr != nil {
			err = fmt.Errorf("keyset: field %q is not an RFC 3339 time", k)
		}
		return t.UTC()
	}
	d.Current = str(FieldCurrent)
	d.CurrentSince = tm(FieldCurrentSince)
	d.Pending = str(FieldPending)
	d.PendingSince = tm(FieldPendingSince)
	d.Previous = str(FieldPrevious)
	d.PreviousUntil = tm(FieldPreviousUntil)
	d.RotationID = str(FieldRotationID)
	d.CurrentID = str(FieldCurrentID)
	d.PendingID = str(FieldPendingID)
	d.PreviousID = str(FieldPreviousID)
	d.Creating = str(FieldCreating)
	d.CreatingSince = tm(FieldCreatingSince)
	d.PreviousHeldSince = tm(FieldPreviousHeldSince)
	if err != nil {
		return Document{}, err
	}
	return d, nil
}

// Metadata returns the non-secret custom_metadata kept beside the document for readers with
// metadata-only access: state, rotation_id, current_fingerprint and rotated_at (the last
// promote). Vault rejects empty values, so unknown ones are left out.
func (d Document) Metadata() map[string]string {
	m := map[string]string{"state": d.State()}
	if d.RotationID != "" {
		m["rotation_id"] = d.RotationID
	}
	if d.Current != "" {
		m["current_fingerprint"] = Fingerprint(d.Current)
	}
	if !d.CurrentSince.IsZero() {
		m["rotated_at"] = d.CurrentSince.UTC().Format(time.RFC3339)
	}
	return m
}
