package listener

import (
	"crypto/subtle"
	"encoding/binary"
	"time"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// Slots of a snapshot's keys, in order of precedence.
const (
	slotCurrent = iota
	slotPending
	slotPrevious
	numSlots
)

// snapshot is one read of the key document, immutable once built. Verifiers swap whole
// snapshots through an atomic pointer, so a request never sees half of an update.
type snapshot struct {
	keys [numSlots][]byte // nil when the slot is empty

	// base is the clock reading taken when the read started; with the system clock it
	// carries a monotonic reading, so elapsed times need a single cheap clock read.
	base time.Time
	// prevFor is how long after base the previous key stays accepted (previous_until -
	// base); hasWindow is false when there is no previous key or no previous_until.
	prevFor   time.Duration
	hasWindow bool

	// For Status and logs only; never the keys themselves.
	version       int
	rotationID    string
	state         string
	fingerprints  [numSlots]string
	previousUntil time.Time
}

func newSnapshot(vv vault.Versioned, base time.Time) *snapshot {
	d := vv.Doc
	s := &snapshot{
		base:          base,
		version:       vv.Version,
		rotationID:    d.RotationID,
		state:         d.State(),
		previousUntil: d.PreviousUntil,
	}
	for i, k := range [numSlots]string{d.Current, d.Pending, d.Previous} {
		if k != "" {
			s.keys[i] = []byte(k)
			s.fingerprints[i] = keyset.Fingerprint(k)
		}
	}
	if d.Previous != "" && !d.PreviousUntil.IsZero() {
		s.hasWindow = true
		s.prevFor = d.PreviousUntil.Sub(base)
	}
	return s
}

// match compares key with every slot, always all of them, and says which role it holds
// elapsed after s.base. A key equal to the previous one outside its window is
// ReasonExpiredKey.
func (s *snapshot) match(key []byte, elapsed time.Duration) (keyset.Role, Reason) {
	cur := ctEqual(key, s.keys[slotCurrent])
	pen := ctEqual(key, s.keys[slotPending])
	prev := ctEqual(key, s.keys[slotPrevious])
	active := s.hasWindow && elapsed < s.prevFor
	switch {
	case cur == 1:
		return keyset.RoleCurrent, ReasonNone
	case pen == 1:
		return keyset.RolePending, ReasonNone
	case prev == 1 && active:
		return keyset.RolePrevious, ReasonNone
	case prev == 1:
		return keyset.RoleNone, ReasonExpiredKey
	}
	return keyset.RoleNone, ReasonWrongKey
}

// accepting reports whether slot i is in the accept set elapsed after s.base.
func (s *snapshot) accepting(i int, elapsed time.Duration) bool {
	if s.keys[i] == nil {
		return false
	}
	if i == slotPrevious {
		return s.hasWindow && elapsed < s.prevFor
	}
	return true
}

// ctEqual returns 1 when a and b are equal and 0 otherwise. For inputs of equal length
// its time depends only on that length, never on their contents: like
// subtle.ConstantTimeCompare, but it XORs eight bytes at a time, which makes the three
// comparisons of a request several times faster. Inputs of different lengths (an empty
// slot included) give 0 at once.
func ctEqual(a, b []byte) int {
	if len(a) != len(b) {
		return 0
	}
	var v uint64
	i := 0
	for ; i+8 <= len(a); i += 8 {
		v |= binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:])
	}
	for ; i < len(a); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	v |= v >> 32
	v |= v >> 16
	v |= v >> 8
	return subtle.ConstantTimeByteEq(uint8(v), 0)
}
