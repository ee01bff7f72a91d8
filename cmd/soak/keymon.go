package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// keyMonitor follows every version of the API key's document and checks invariant 8
// against the simulator: the key in current authenticates (is active) while its version is
// in force, no key is revoked while a version in force holds it as current or pending,
// and the previous key is not revoked before previous_until.
type keyMonitor struct {
	h        *harness
	mu       sync.Mutex
	versions []docVersion
	promotes int
	lastProm time.Time
	stuck    bool
	held     map[int]bool         // ids some version held as current, pending or previous
	replaced map[string]time.Time // fingerprint of a key → when a promote replaced it
	revDone  int                  // revocations checked
	reported map[string]bool
}

func (m *keyMonitor) rotations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.promotes
}

func (m *keyMonitor) versionCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.versions)
}

func (m *keyMonitor) revocationsChecked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revDone
}

func (m *keyMonitor) heldIDs() map[int]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]bool, len(m.held))
	for id := range m.held {
		out[id] = true
	}
	return out
}

// lateUse is the longest time between a promote and the end of the last request made
// with the key it replaced: how much of the overlap the soak's runs needed.
func (m *keyMonitor) lateUse() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var late time.Duration
	for fp, at := range m.replaced {
		if d := m.h.dc.keys.lastUsed(fp).Sub(at); d > late {
			late = d
		}
	}
	return late
}

// once reports whether a violation about what is new.
func (m *keyMonitor) once(what string) bool {
	if m.reported == nil {
		m.reported = map[string]bool{}
	}
	if m.reported[what] {
		return false
	}
	m.reported[what] = true
	return true
}

// run polls Vault until ctx ends.
func (m *keyMonitor) run(ctx context.Context) {
	m.mu.Lock()
	m.lastProm = time.Now()
	m.mu.Unlock()
	t := time.NewTicker(m.h.s.monitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.poll(ctx)
	}
}

// poll reads the versions written since the last poll, checks the latest one's current
// and the revocations made before the poll started.
func (m *keyMonitor) poll(ctx context.Context) {
	start := time.Now()
	c := m.h.vault.Client()
	meta, err := c.Logical().ReadWithContext(ctx, m.h.s.kvMount+"/metadata/"+m.h.s.apiDocPath)
	if err != nil || meta == nil {
		m.checkLiveness(start)
		return
	}
	cur := vault.Int(meta.Data["current_version"])
	m.mu.Lock()
	last := 0
	if n := len(m.versions); n > 0 {
		last = m.versions[n-1].n
	}
	m.mu.Unlock()
	for n := last + 1; n <= cur; n++ {
		v, err := readDocVersion(ctx, m.h, m.h.s.apiDocPath, n)
		if err != nil {
			return
		}
		m.add(v)
	}
	m.checkCurrent()
	m.checkRevocations(start)
	m.checkLiveness(start)
}

// add appends version v.
func (m *keyMonitor) add(v docVersion) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var prev *docVersion
	for i := len(m.versions) - 1; i >= 0; i-- {
		if !m.versions[i].missing {
			prev = &m.versions[i]
			break
		}
	}
	m.versions = append(m.versions, v)
	if v.missing {
		m.h.events.add("vault: API key document version %d not readable (destroyed or deleted)", v.n)
		return
	}
	d := v.doc
	if m.held == nil {
		m.held = map[int]bool{}
	}
	for _, id := range []string{d.CurrentID, d.PendingID, d.PreviousID} {
		if id != "" {
			m.held[atoi(id)] = true
		}
	}
	m.h.events.add("vault: API key document version %d %s", v.n, describeKey(d))
	if prev != nil && d.Current != "" && !same(prev.doc.Current, d.Current) {
		if m.replaced == nil {
			m.replaced = map[string]time.Time{}
		}
		m.replaced[certcentraltest.Fingerprint(prev.doc.Current)] = v.created
		m.promotes++
		m.lastProm = time.Now()
		m.stuck = false
	}
}

// checkCurrent checks that the latest version's current key is an active key of the
// account (the simulator authenticates it).
func (m *keyMonitor) checkCurrent() {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.versions)
	if n == 0 || m.versions[n-1].missing {
		return
	}
	v := m.versions[n-1]
	fp := certcentraltest.Fingerprint(v.doc.Current)
	for _, k := range m.h.dc.acct.Keys() {
		if k.Fingerprint == fp {
			if k.Status != certcentraltest.KeyActive && m.once(fmt.Sprintf("current/%d", v.n)) {
				m.h.violation(invKeyDoc, fmt.Sprintf("API key document version %d: its current key %d (%s) is %s at DigiCert", v.n, k.ID, keyset.Fingerprint(v.doc.Current), k.Status))
			}
			return
		}
	}
	if m.once(fmt.Sprintf("current/%d", v.n)) {
		m.h.violation(invKeyDoc, fmt.Sprintf("API key document version %d: its current key %s is no key of the account", v.n, keyset.Fingerprint(v.doc.Current)))
	}
}

// checkRevocations checks each key revoked before before (every version written before
// it is read by then) against the version in force when it was revoked: not its
// current or pending key, and not its previous key before previous_until.
func (m *keyMonitor) checkRevocations(before time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.h.dc.keys.revocationsSince(m.revDone) {
		if !r.at.Before(before.Add(-m.h.s.clockSlack)) {
			return
		}
		m.revDone++
		v := m.inForce(r.at)
		if v == nil {
			continue
		}
		d, id := v.doc, fmt.Sprint(r.id)
		switch {
		case d.CurrentID == id:
			m.h.violation(invKeyDoc, fmt.Sprintf("key %d revoked at %s while version %d holds it as current", r.id, r.at.UTC().Format("15:04:05.000"), v.n))
		case d.PendingID == id:
			m.h.violation(invKeyDoc, fmt.Sprintf("key %d revoked at %s while version %d holds it staged (pending)", r.id, r.at.UTC().Format("15:04:05.000"), v.n))
		case d.PreviousID == id && r.at.Before(d.PreviousUntil.Add(-m.h.s.clockSlack)):
			m.h.violation(invKeyDoc, fmt.Sprintf("the old key %d revoked at %s, before its overlap ended at %s (version %d)",
				r.id, r.at.UTC().Format("15:04:05.000"), d.PreviousUntil.UTC().Format("15:04:05.000"), v.n))
		}
	}
}

// inForce is the last readable version written before t; m.mu is held.
func (m *keyMonitor) inForce(t time.Time) *docVersion {
	for i := len(m.versions) - 1; i >= 0; i-- {
		v := &m.versions[i]
		if !v.missing && !v.created.After(t) {
			return v
		}
	}
	return nil
}

// checkLiveness reports a soak in which the API key stopped rotating although Vault was up.
func (m *keyMonitor) checkLiveness(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	limit := 2*m.h.s.stuckAfter + m.h.s.apiOverlap
	if m.stuck || now.Sub(m.lastProm) < limit || !m.h.rotating.Load() || m.h.vault.outageWithin(now.Add(-limit/2), now) {
		return
	}
	m.stuck = true
	m.h.violation(invKeyDoc, fmt.Sprintf("no API-key rotation completed for %s", now.Sub(m.lastProm).Round(time.Second)))
}

// describeKey describes a version of the API key's document by ids and fingerprints.
func describeKey(d keyset.Document) string {
	s := fmt.Sprintf("current %s #%s", fpOr(d.Current), d.CurrentID)
	if d.Creating != "" {
		s += fmt.Sprintf(", creating %q", d.Creating)
	}
	if d.Pending != "" {
		s += fmt.Sprintf(", pending %s #%s", keyset.Fingerprint(d.Pending), d.PendingID)
	}
	if d.Previous != "" {
		s += fmt.Sprintf(", previous %s #%s until %s", keyset.Fingerprint(d.Previous), d.PreviousID, d.PreviousUntil.UTC().Format("15:04:05.000"))
	}
	return s
}
