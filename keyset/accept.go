package keyset

import (
	"crypto/subtle"
	"encoding/binary"
	"math"
	"time"
)

// Slots of an accept set, in order of precedence.
const (
	slotCurrent = iota
	slotPending
	slotPrevious
	numSlots
)

// slotRoles maps a slot to the role a key matching it holds.
var slotRoles = [numSlots]Role{RoleCurrent, RolePending, RolePrevious}

// AcceptSet is the set of keys a listener accepts, taken from one document: current,
// pending when set, and previous until previous_until. It is immutable and safe for
// concurrent use. Time is measured as the time elapsed after the instant the set was
// taken at, so a caller holding that instant from the system clock (with its monotonic
// reading) needs only one cheap clock read per check.
type AcceptSet struct {
	keys [numSlots][]byte // nil when the slot is empty
	// prevFor is how long after the set's instant the previous key stays accepted;
	// hasWindow is false when there is no previous key or no previous_until.
	prevFor   time.Duration
	hasWindow bool
}

// Match is the verdict on one presented key.
type Match struct {
	// Role is the slot the key matched; RoleNone when it is not accepted.
	Role Role
	// Expired: the key is the previous one, past its window.
	Expired bool
}

// AcceptSet returns the accept set of d taken at the instant at.
func (d Document) AcceptSet(at time.Time) *AcceptSet {
	s := &AcceptSet{}
	for i, k := range [numSlots]string{d.Current, d.Pending, d.Previous} {
		if k != "" {
			s.keys[i] = []byte(k)
		}
	}
	switch {
	case d.Previous != "" && d.PreviousID != "":
		// An API key (docs/design.md, "The API key") stays valid at the issuer until it is
		// revoked, and keyroll leaves it in the document until then: past its overlap it
		// is waiting to be revoked, or held because still in use, not retired.
		s.hasWindow = true
		s.prevFor = math.MaxInt64
	case d.Previous != "" && !d.PreviousUntil.IsZero():
		s.hasWindow = true
		s.prevFor = d.PreviousUntil.Sub(at)
	}
	return s
}

// Match says which role key holds elapsed after the set's instant. Every slot is compared,
// always all of them and in constant time, so the time taken does not depend on which slot
// (if any) matched. An empty key matches nothing.
func (s *AcceptSet) Match(key []byte, elapsed time.Duration) Match {
	if len(key) == 0 {
		return Match{}
	}
	cur := ctEqual(key, s.keys[slotCurrent])
	pen := ctEqual(key, s.keys[slotPending])
	prev := ctEqual(key, s.keys[slotPrevious])
	switch {
	case cur == 1:
		return Match{Role: RoleCurrent}
	case pen == 1:
		return Match{Role: RolePending}
	case prev == 1 && s.previousOpen(elapsed):
		return Match{Role: RolePrevious}
	case prev == 1:
		return Match{Expired: true}
	}
	return Match{}
}

// Accepting reports whether the slot of role r holds a key that is accepted elapsed after
// the set's instant.
func (s *AcceptSet) Accepting(r Role, elapsed time.Duration) bool {
	for i, sr := range slotRoles {
		if sr != r || s.keys[i] == nil {
			continue
		}
		return i != slotPrevious || s.previousOpen(elapsed)
	}
	return false
}

// Roles lists the roles whose keys are accepted elapsed after the set's instant.
func (s *AcceptSet) Roles(elapsed time.Duration) []Role {
	var out []Role
	for _, r := range slotRoles {
		if s.Accepting(r, elapsed) {
			out = append(out, r)
		}
	}
	return out
}

func (s *AcceptSet) previousOpen(elapsed time.Duration) bool {
	return s.hasWindow && elapsed < s.prevFor
}

// ctEqual returns 1 when a and b are equal and 0 otherwise. For inputs of equal length
// its time depends only on that length, never on their contents: like
// subtle.ConstantTimeCompare, but it XORs eight bytes at a time, which makes the three
// comparisons of a check several times faster. Inputs of different lengths (an empty
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
