package listener

import (
	"time"

	"github.com/keyroll/keyroll/internal/soakbug"
	"github.com/keyroll/keyroll/keyset"
)

// snapshot is one read of the key document, immutable once built. Verifiers swap whole
// snapshots through an atomic pointer, so a request never sees half of an update.
type snapshot struct {
	set *keyset.AcceptSet

	// base is the clock reading taken when the read started, the instant set was taken
	// at; with the system clock it carries a monotonic reading, so elapsed times need a
	// single cheap clock read.
	base time.Time

	// For Status and logs only; never the keys themselves.
	version       int
	rotationID    string
	state         string
	fingerprints  [len(roles)]string // by the order of roles
	hasWindow     bool               // previous and previous_until are set
	previousUntil time.Time
}

func newSnapshot(vv Versioned, base time.Time) *snapshot {
	d := vv.Doc
	if soakbug.IgnorePending {
		d.Pending = "" // an injected bug for the soak's self-test; never in a shipped build
	}
	s := &snapshot{
		set:           d.AcceptSet(base),
		base:          base,
		version:       vv.Version,
		rotationID:    d.RotationID,
		state:         d.State(),
		hasWindow:     d.Previous != "" && !d.PreviousUntil.IsZero(),
		previousUntil: d.PreviousUntil,
	}
	for i, k := range [len(roles)]string{d.Current, d.Pending, d.Previous} {
		s.fingerprints[i] = keyset.Fingerprint(k)
	}
	return s
}

// match says which role key holds elapsed after s.base. A key equal to the previous one
// outside its window is ReasonExpiredKey.
func (s *snapshot) match(key []byte, elapsed time.Duration) (keyset.Role, Reason) {
	m := s.set.Match(key, elapsed)
	switch {
	case m.Role != keyset.RoleNone:
		return m.Role, ReasonNone
	case m.Expired:
		return keyset.RoleNone, ReasonExpiredKey
	}
	return keyset.RoleNone, ReasonWrongKey
}
