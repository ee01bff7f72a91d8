// Package keyset holds the Vault document that keyroll writes and webhook listeners read
// (DESIGN.md section 1): the current, pending and previous webhook keys, the accept set
// derived from them, key generation and key fingerprints.
package keyset

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Alphabet is the set of characters every minted key is drawn from.
const Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// DefaultLength is the length of a minted key unless configured otherwise.
const DefaultLength = 48

// MinLength is DigiCert's minimum secret length.
const MinLength = 32

// Role says which slot of the document a key matched.
type Role int

// The roles a key can hold in the accept set.
const (
	RoleNone Role = iota
	RoleCurrent
	RolePending
	RolePrevious
)

// String returns the role's name as used in logs and metrics.
func (r Role) String() string {
	switch r {
	case RoleCurrent:
		return "current"
	case RolePending:
		return "pending"
	case RolePrevious:
		return "previous"
	default:
		return "none"
	}
}

// Document is one target's key document, stored as a KV v2 secret.
// Empty strings and zero times mean the field is absent.
type Document struct {
	Current       string
	CurrentSince  time.Time
	Pending       string
	PendingSince  time.Time
	Previous      string
	PreviousUntil time.Time
	RotationID    string
}

// Staged reports whether a rotation is in progress (a pending key is staged).
func (d Document) Staged() bool { return d.Pending != "" }

// State returns "staged" while a pending key exists, "idle" otherwise.
func (d Document) State() string {
	if d.Staged() {
		return "staged"
	}
	return "idle"
}

// PreviousActive reports whether the previous key is still inside its overlap window at now.
func (d Document) PreviousActive(now time.Time) bool {
	return d.Previous != "" && now.Before(d.PreviousUntil)
}

// Accepts reports whether key is in the accept set at now and which role it matched.
// Every slot is compared in constant time and all of them are always compared, so the
// time taken does not depend on which slot (if any) matched.
func (d Document) Accepts(key string, now time.Time) (Role, bool) {
	cur := Equal(key, d.Current) & nonEmpty(d.Current)
	pen := Equal(key, d.Pending) & nonEmpty(d.Pending)
	prev := Equal(key, d.Previous) & nonEmpty(d.Previous)
	if !d.PreviousActive(now) {
		prev = 0
	}
	switch {
	case cur == 1:
		return RoleCurrent, true
	case pen == 1:
		return RolePending, true
	case prev == 1:
		return RolePrevious, true
	}
	return RoleNone, false
}

// AcceptSet returns the keys a listener must accept at now: current, pending when set,
// and previous while its window is open. Empty slots are left out.
func (d Document) AcceptSet(now time.Time) []string {
	var set []string
	if d.Current != "" {
		set = append(set, d.Current)
	}
	if d.Pending != "" {
		set = append(set, d.Pending)
	}
	if d.PreviousActive(now) {
		set = append(set, d.Previous)
	}
	return set
}

// Equal compares two keys in constant time (for keys of equal length) and returns 1 when
// they are equal, 0 otherwise.
func Equal(a, b string) int {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b))
}

func nonEmpty(s string) int {
	return subtle.ConstantTimeEq(int32(min(len(s), 1)), 1)
}

// Fingerprint identifies a key without revealing it: "sha256:" followed by the first 16
// hex digits of the SHA-256 of the key. The empty key has the empty fingerprint.
func Fingerprint(key string) string {
	if key == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// ErrLength is returned by Generate for a length below MinLength.
var ErrLength = errors.New("keyset: key length below DigiCert's minimum of 32")

// Generate mints a key of n characters from Alphabet using crypto/rand. Bytes that would
// bias the choice (>= 248, the largest multiple of 62 below 256) are discarded.
func Generate(n int) (string, error) {
	if n < MinLength {
		return "", fmt.Errorf("%w: %d", ErrLength, n)
	}
	const limit = 256 - 256%len(Alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("keyset: read random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, Alphabet[int(b)%len(Alphabet)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}
