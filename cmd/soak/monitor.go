package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// docVersion is one version of the key document, as the monitor read it.
type docVersion struct {
	n       int
	created time.Time
	doc     keyset.Document
	missing bool // its data could not be read (destroyed or deleted before the monitor saw it)
}

// accepts reports whether key is in the accept set of d at t (the listener contract of
// the README: current; pending when non-empty; previous before previous_until).
func accepts(d keyset.Document, key string, t time.Time) bool {
	switch {
	case d.Current != "" && same(key, d.Current):
		return true
	case d.Pending != "" && same(key, d.Pending):
		return true
	case d.Previous != "" && same(key, d.Previous):
		return t.Before(d.PreviousUntil)
	}
	return false
}

// monitor follows every version of the key document and checks the invariants on the
// document against what DigiCert held:
//
//  2. the key DigiCert holds is, at every instant, in the document's accept set;
//  3. there is never more than one staged key, and no key DigiCert held leaves the
//     accept set before its overlap ends (overlap after DigiCert replaced it).
type monitor struct {
	h        *harness
	mu       sync.Mutex
	versions []docVersion
	promotes int       // versions whose current differs from the version before
	lastProm time.Time // when the last promote was seen
	pending  bool      // the latest version has a staged key
	stuck    bool      // a liveness violation was reported and no promote came since
	reported map[string]bool

	// Retirement (invariant 4), checked when the keyroll under test retires keys, which
	// it shows by setting the path's max_versions.
	maxVersions int
	holders     map[string][]int     // key fingerprint → versions holding it
	windowEnd   map[string]time.Time // key fingerprint → end of its overlap window
	retired     map[string]bool      // keys whose versions were all found destroyed
}

// once reports whether a violation of invariant inv by version n about key fp is new.
func (m *monitor) once(inv, n int, fp string) bool {
	k := fmt.Sprintf("%d/%d/%s", inv, n, fp)
	if m.reported[k] {
		return false
	}
	if m.reported == nil {
		m.reported = map[string]bool{}
	}
	m.reported[k] = true
	return true
}

func (m *monitor) rotations() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.promotes
}

func (m *monitor) versionCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.versions)
}

func (m *monitor) hasPending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending
}

// run polls Vault until ctx ends.
func (m *monitor) run(ctx context.Context) {
	m.mu.Lock()
	m.lastProm = time.Now()
	m.mu.Unlock()
	t := time.NewTicker(m.h.s.monitorEvery)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A tick this late means the whole machine stalled: listeners could not read Vault
		// either.
		if now := time.Now(); now.Sub(last) > m.h.s.slowVault {
			m.h.vault.unresponsive(last, now)
		}
		m.poll(ctx)
		last = time.Now()
	}
}

// poll reads the versions written since the last poll and checks them. A failed read
// (Vault down or sealed) is tried again at the next tick.
func (m *monitor) poll(ctx context.Context) {
	now := time.Now()
	c := m.h.vault.Client()
	meta, err := c.Logical().ReadWithContext(ctx, m.h.s.kvMount+"/metadata/"+m.h.s.docPath)
	if took := time.Since(now); (err != nil || took > m.h.s.slowVault) && ctx.Err() == nil {
		m.h.vault.unresponsive(now, now.Add(took))
	}
	if err != nil || meta == nil {
		m.checkLiveness(now)
		return
	}
	cur := vault.Int(meta.Data["current_version"])
	m.mu.Lock()
	m.maxVersions = vault.Int(meta.Data["max_versions"])
	last := 0
	if n := len(m.versions); n > 0 {
		last = m.versions[n-1].n
	}
	m.mu.Unlock()
	for n := last + 1; n <= cur; n++ {
		v, err := m.read(ctx, n)
		if err != nil {
			return
		}
		m.add(v)
	}
	m.mu.Lock()
	if n := len(m.versions); n > 0 {
		m.checkSpan(m.versions[n-1], now)
	}
	m.mu.Unlock()
	m.checkLiveness(now)
}

// read reads version n of the document.
func (m *monitor) read(ctx context.Context, n int) (docVersion, error) {
	return readDocVersion(ctx, m.h, m.h.s.docPath, n)
}

// readDocVersion reads version n of the document at path.
func readDocVersion(ctx context.Context, h *harness, path string, n int) (docVersion, error) {
	c := h.vault.Client()
	s, err := c.Logical().ReadWithDataWithContext(ctx, h.s.kvMount+"/data/"+path,
		map[string][]string{"version": {strconv.Itoa(n)}})
	if err != nil {
		return docVersion{}, err
	}
	v := docVersion{n: n, missing: true}
	if s == nil {
		return v, nil
	}
	if md, ok := s.Data["metadata"].(map[string]any); ok {
		if ts, ok := md["created_time"].(string); ok {
			v.created, _ = time.Parse(time.RFC3339Nano, ts)
		}
	}
	data, ok := s.Data["data"].(map[string]any)
	if !ok {
		return v, nil
	}
	doc, err := keyset.FromData(data)
	if err != nil {
		h.violation(3, fmt.Sprintf("version %d of %s does not decode: %v", n, path, err))
		return v, nil
	}
	v.doc, v.missing = doc, false
	return v, nil
}

// add appends v, checks the transition from the version before and the span of that
// version, which v closes.
func (m *monitor) add(v docVersion) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var prev *docVersion
	if n := len(m.versions); n > 0 {
		prev = &m.versions[n-1]
	}
	m.versions = append(m.versions, v)
	if v.missing {
		m.h.events.add("vault: version %d not readable (destroyed or deleted)", v.n)
		return
	}
	m.pending = v.doc.Pending != ""
	m.h.events.add("vault: version %d %s", v.n, describe(v.doc))
	m.noteHolders(v)
	if prev == nil || prev.missing {
		return
	}
	m.checkSpan(*prev, v.created)
	p, d := prev.doc, v.doc
	switch {
	case p.Pending != "" && d.Pending != "" && !same(p.Pending, d.Pending):
		m.h.violation(3, fmt.Sprintf("version %d stages %s while version %d had %s staged: two staged keys",
			v.n, keyset.Fingerprint(d.Pending), prev.n, keyset.Fingerprint(p.Pending)))
	case p.Pending != "" && d.Pending == "" && !same(d.Current, p.Pending):
		m.h.violation(3, fmt.Sprintf("version %d drops the staged key %s without promoting it", v.n, keyset.Fingerprint(p.Pending)))
	}
	if !same(p.Current, d.Current) && d.Current != "" {
		m.promotes++
		m.lastProm = time.Now()
		m.stuck = false
	}
}

// checkSpan checks version v over [v.created, until): every key DigiCert held then, and
// every key it replaced less than the overlap before, must be in v's accept set. m.mu is
// held.
func (m *monitor) checkSpan(v docVersion, until time.Time) {
	if v.missing {
		return
	}
	for _, k := range m.h.dc.history() {
		heldTo := k.to
		if heldTo.IsZero() {
			heldTo = until
		}
		// DigiCert held k over [k.from, heldTo); it may retry with k until heldTo + overlap.
		if k.from.Before(until) && heldTo.After(v.created) {
			at := minTime(until, heldTo)
			if !accepts(v.doc, k.key, at) && m.once(2, v.n, k.fp) {
				m.h.violation(2, fmt.Sprintf("version %d (%s) does not accept %s, which DigiCert held at %s",
					v.n, describe(v.doc), k.fp, at.UTC().Format("15:04:05.000")))
			}
		}
		if k.to.IsZero() {
			continue
		}
		end := k.to.Add(m.h.s.overlap - m.h.s.clockSlack)
		if k.to.Before(until) && end.After(v.created) {
			at := minTime(until, end)
			if !accepts(v.doc, k.key, at) && m.once(3, v.n, k.fp) {
				m.h.violation(3, fmt.Sprintf("version %d (%s) dropped %s at %s, less than the overlap %s after DigiCert replaced it",
					v.n, describe(v.doc), k.fp, at.UTC().Format("15:04:05.000"), m.h.s.overlap))
			}
		}
	}
}

// noteHolders records which keys version v holds and when each previous key's window ends.
func (m *monitor) noteHolders(v docVersion) {
	if m.holders == nil {
		m.holders, m.windowEnd, m.retired = map[string][]int{}, map[string]time.Time{}, map[string]bool{}
	}
	for _, k := range []string{v.doc.Current, v.doc.Pending, v.doc.Previous} {
		if k != "" {
			fp := keyset.Fingerprint(k)
			m.holders[fp] = append(m.holders[fp], v.n)
		}
	}
	if v.doc.Previous != "" {
		fp := keyset.Fingerprint(v.doc.Previous)
		if v.doc.PreviousUntil.After(m.windowEnd[fp]) {
			m.windowEnd[fp] = v.doc.PreviousUntil
		}
	}
}

// retires reports whether the keyroll under test retires keys (it sets max_versions).
func (m *monitor) retires() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxVersions > 0
}

// retiredKeys is how many keys were found destroyed from the whole version history.
func (m *monitor) retiredKeys() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.retired)
}

// checkRetired checks invariant 4 after a keyroll run that started at started completed:
// every key whose overlap window had ended by then (the documented bound for `keyroll
// run`: the first run after the window) is destroyed from every version that held it, or
// that version is gone (max_versions).
func (m *monitor) checkRetired(ctx context.Context, started time.Time) {
	if !m.retires() {
		return
	}
	meta, err := m.h.vault.Client().Logical().ReadWithContext(ctx, m.h.s.kvMount+"/metadata/"+m.h.s.docPath)
	if err != nil || meta == nil {
		return // Vault is out; the next run's check covers it
	}
	versions, _ := meta.Data["versions"].(map[string]any)
	m.mu.Lock()
	defer m.mu.Unlock()
	for fp, end := range m.windowEnd {
		if m.retired[fp] || !end.Before(started.Add(-m.h.s.clockSlack)) {
			continue
		}
		var left []int
		for _, n := range m.holders[fp] {
			if e, ok := versions[strconv.Itoa(n)].(map[string]any); ok && e["destroyed"] != true {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			m.retired[fp] = true
			continue
		}
		if m.once(4, left[0], fp) {
			m.h.violation(4, fmt.Sprintf("%s's window ended at %s and a run started at %s completed, but versions %v still hold it",
				fp, end.UTC().Format("15:04:05.000"), started.UTC().Format("15:04:05.000"), left))
		}
	}
}

// checkLiveness reports a soak in which no rotation completed for a long time although
// Vault was up.
func (m *monitor) checkLiveness(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stuck || now.Sub(m.lastProm) < m.h.s.stuckAfter || !m.h.rotating.Load() {
		return
	}
	if m.h.vault.outageWithin(now.Add(-m.h.s.stuckAfter/2), now) {
		return
	}
	m.stuck = true
	m.h.violation(3, fmt.Sprintf("no rotation completed for %s", now.Sub(m.lastProm).Round(time.Second)))
}

func describe(d keyset.Document) string {
	s := "current " + fpOr(d.Current)
	if d.Pending != "" {
		s += ", pending " + keyset.Fingerprint(d.Pending)
	}
	if d.Previous != "" {
		s += ", previous " + keyset.Fingerprint(d.Previous) + " until " + d.PreviousUntil.UTC().Format("15:04:05.000")
	}
	return s
}

func fpOr(k string) string {
	if k == "" {
		return "none"
	}
	return keyset.Fingerprint(k)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
