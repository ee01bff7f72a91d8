// Package keyset holds the Vault document keyroll writes and webhook listeners read
// (docs/design.md, "The Vault document"): the current, pending and previous webhook keys,
// key generation and key fingerprints.
//
// # The accept set
//
// A listener accepts exactly the current key, the pending key when set, and the previous
// key until previous_until. Document.AcceptSet takes that set from one read of the document;
// AcceptSet.Match says which role a presented key holds (or that it is the previous key past
// its window), comparing every slot in constant time. Document.LiveRole says which key of the
// document DigiCert's live secret is. The listener, the rotation and `keyroll status` all
// use these; no other package compares keys.
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

	// The API-key kind's fields (docs/design.md, "The API key"); empty in a webhook's
	// document. The issuer's ids of the three keys, as decimal strings:
	CurrentID  string
	PendingID  string
	PreviousID string
	// Creating is the name of a key a rotation is about to create (recorded before the
	// create, so that a key the issuer created but the document never received can be
	// found and revoked), with the time the intent was written.
	Creating      string
	CreatingSince time.Time
	// PreviousHeldSince is when a rotation found Previous still in use after its overlap
	// and kept it active (the hold policy); zero otherwise.
	PreviousHeldSince time.Time
}

// KeysOutside returns the keys of d that latest does not accept at now: in d's version
// of the document, the keys that are retired once latest is written.
func (d Document) KeysOutside(latest Document, now time.Time) []string {
	set := latest.AcceptSet(now)
	var out []string
	for _, k := range []string{d.Current, d.Pending, d.Previous} {
		if k != "" && set.Match([]byte(k), 0).Role == RoleNone {
			out = append(out, k)
		}
	}
	return out
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

// Accepts reports whether key is in the accept set at now and which role it matched
// (d.AcceptSet(now).Match at once).
func (d Document) Accepts(key string, now time.Time) (Role, bool) {
	m := d.AcceptSet(now).Match([]byte(key), 0)
	return m.Role, m.Role != RoleNone
}

// LiveRole says which key of d a secret DigiCert holds is: RoleCurrent, RolePending, or
// RoleNone when it is neither (or empty). Both slots are compared in constant time. The
// previous key is not a live key: DigiCert has moved on from it.
func (d Document) LiveRole(secret string) Role {
	if secret == "" {
		return RoleNone
	}
	cur := Equal(secret, d.Current) && d.Current != ""
	pen := Equal(secret, d.Pending) && d.Pending != ""
	switch {
	case cur:
		return RoleCurrent
	case pen:
		return RolePending
	}
	return RoleNone
}

// Equal reports whether two keys are equal, comparing them in constant time (for keys
// of equal length).
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
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
