package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
)

// keyPoint is a moment of an API-key rotation as DigiCert sees it: where the soak kills
// keyroll (keyKill) and what it records.
type keyPoint string

const (
	kpNone         keyPoint = ""
	kpCreateSent   keyPoint = "create sent"         // POST /key/user/{id} received, not yet served
	kpCreated      keyPoint = "create answered"     // the new key created and shown
	kpAuthenticate keyPoint = "authenticate"        // GET /key/{id} with key id itself, answered
	kpRevoked      keyPoint = "status change"       // PUT /key/{id}/status answered
	kpList         keyPoint = "list or info served" // GET /key or GET /key/{id} with another key
)

// keyPoints are the points a crash fault picks from.
var keyPoints = []keyPoint{kpCreateSent, kpCreated, kpAuthenticate, kpRevoked}

// keyTrace is what the soak's front of the simulator records about the API keys: every
// answer 401 or 403 (a key refused: invariant 6), every key revoked and when, and every
// key created by a request whose answer was lost. Keys appear by id and fingerprint only.
type keyTrace struct {
	mu       sync.Mutex
	refused  int
	revoked  []revocation
	lost     map[int]bool // ids of keys created by a request whose answer was lost
	hook     func(p keyPoint, before bool)
	requests int                  // requests to the key endpoints
	lastUse  map[string]time.Time // key fingerprint → the end of its last request
}

// revocation is a key found revoked after a status change at t.
type revocation struct {
	id int
	at time.Time
}

// statusWriter remembers the status of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// classify says which key point request r is (before it is served).
func (d *digicert) classify(r *http.Request) keyPoint {
	p := strings.TrimPrefix(r.URL.Path, certcentraltest.BasePath)
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/key/user/"):
		return kpCreateSent
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/key/") && strings.HasSuffix(p, "/status"):
		return kpRevoked
	case r.Method == http.MethodGet && p == "/key":
		return kpList
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/key/"):
		id, err := strconv.Atoi(strings.TrimPrefix(p, "/key/"))
		if err != nil {
			return kpList
		}
		if k, ok := d.acct.Key(id); ok && k.Fingerprint == certcentraltest.Fingerprint(r.Header.Get("X-DC-DEVKEY")) {
			return kpAuthenticate
		}
		return kpList
	}
	return kpNone
}

// serveTraced serves r through serve, recording what invariant 6 and the orphan figures
// need, and calling the crash hook before and after the key points.
func (d *digicert) serveTraced(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	kp := d.classify(r)
	sw := &statusWriter{ResponseWriter: w}
	var before int
	var name string
	if kp != kpNone {
		d.keys.fire(kp, true)
		if kp == kpCreateSent {
			ks := d.acct.Keys()
			before, name = ks[len(ks)-1].ID, createName(r)
		}
	}
	defer func() { // also after a dropped answer, which aborts the handler
		d.noteAnswer(r, sw.status, kp, before, name)
		if kp == kpCreateSent {
			kp = kpCreated
		}
		if kp != kpNone && sw.status < 300 && sw.status != 0 {
			d.keys.fire(kp, false)
		}
	}()
	serve(sw, r)
}

// createName is the name a create request asks for; it leaves the body readable.
func createName(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		Name string `json:"name"`
	}
	if err != nil || json.Unmarshal(body, &req) != nil {
		return ""
	}
	return req.Name
}

// noteAnswer records a refused key, a revocation and a create whose answer was lost: a
// key named as asked (name) made since key lastID although the answer was not 201.
func (d *digicert) noteAnswer(r *http.Request, status int, kp keyPoint, lastID int, name string) {
	t := &d.keys
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		fp := certcentraltest.Fingerprint(r.Header.Get("X-DC-DEVKEY"))
		d.events.add("digicert: %s %s answered %d for key %s", r.Method, r.URL.Path, status, fp)
		if d.onRefused != nil {
			d.onRefused(r.Method+" "+r.URL.Path, status, fp)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastUse == nil {
		t.lastUse = map[string]time.Time{}
	}
	t.lastUse[certcentraltest.Fingerprint(r.Header.Get("X-DC-DEVKEY"))] = time.Now()
	if kp != kpNone {
		t.requests++
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		t.refused++
	}
	switch kp {
	case kpRevoked:
		p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, certcentraltest.BasePath+"/key/"), "/status")
		if id, err := strconv.Atoi(p); err == nil {
			if k, ok := d.acct.Key(id); ok && k.Status == certcentraltest.KeyRevoked {
				t.revoked = append(t.revoked, revocation{id: id, at: time.Now()})
			}
		}
	case kpCreateSent:
		if status == http.StatusCreated {
			return
		}
		for _, k := range d.acct.Keys() {
			if k.ID > lastID && k.Name == name {
				if t.lost == nil {
					t.lost = map[int]bool{}
				}
				t.lost[k.ID] = true
				d.events.add("digicert: key %d (%s) created, its answer lost (status %d)", k.ID, k.Name, status)
			}
		}
	}
}

// fire calls the crash hook at p; a hook fires once.
func (t *keyTrace) fire(p keyPoint, before bool) {
	t.mu.Lock()
	h := t.hook
	t.mu.Unlock()
	if h != nil {
		h(p, before)
	}
}

// setHook arms (nil: disarms) the crash hook.
func (t *keyTrace) setHook(h func(p keyPoint, before bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hook = h
}

// revocationsSince returns the revocations from the i-th on.
func (t *keyTrace) revocationsSince(i int) []revocation {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i >= len(t.revoked) {
		return nil
	}
	return append([]revocation(nil), t.revoked[i:]...)
}

// lostCreates returns the ids of the keys created by requests whose answer was lost.
func (t *keyTrace) lostCreates() map[int]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int]bool{}
	for id := range t.lost {
		out[id] = true
	}
	return out
}

// lastUsed is when a request with the key of fingerprint fp last ended.
func (t *keyTrace) lastUsed(fp string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastUse[fp]
}

func (t *keyTrace) counts() (refused, requests int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refused, t.requests
}
