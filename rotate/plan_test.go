package rotate_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// opLog is the list of the changes a run made: writes with their check-and-set version,
// metadata writes, destroys with their versions, DigiCert's test events and pushes.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, fmt.Sprintf(format, args...))
}

// loggingStore records the changes made through it.
type loggingStore struct {
	rotate.KeyStore
	log *opLog
}

func (s loggingStore) Write(ctx context.Context, path string, doc keyset.Document, cas int) (int, error) {
	s.log.add("write(cas=%d)", cas)
	return s.KeyStore.Write(ctx, path, doc, cas)
}

func (s loggingStore) WriteMetadata(ctx context.Context, path string, meta map[string]string) error {
	s.log.add("metadata")
	return s.KeyStore.WriteMetadata(ctx, path, meta)
}

func (s loggingStore) Destroy(ctx context.Context, path string, versions []int) error {
	s.log.add("destroy%v", versions)
	return s.KeyStore.Destroy(ctx, path, versions)
}

// fakeWebhook is an in-memory WebhookAPI: its live state, with the pushed secret once
// pushed.
type fakeWebhook struct {
	mu   sync.Mutex
	live rotate.Live
	log  *opLog
}

func (f *fakeWebhook) GetWebhook(context.Context, int) (rotate.Live, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, nil
}

func (f *fakeWebhook) UpdateWebhook(_ context.Context, id int, u rotate.Update) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log.add("push(%d)", id)
	f.live.Secret = u.Secret
	return nil
}

func (f *fakeWebhook) TestEndpoint(context.Context, string, string) error {
	f.log.add("test")
	return nil
}

// planned is the list of changes the plan's steps make, in order.
func planned(d rotate.Decision, dryRun bool) []string {
	var out []string
	if dryRun {
		return out
	}
	for _, s := range d.Steps {
		switch s.Kind {
		case rotate.StepStage, rotate.StepAdopt, rotate.StepPromote, rotate.StepRetire:
			out = append(out, fmt.Sprintf("write(cas=%d)", s.CAS))
		case rotate.StepMeta:
			out = append(out, "metadata")
		case rotate.StepDestroy:
			if len(s.Versions) > 0 {
				out = append(out, fmt.Sprintf("destroy%v", s.Versions))
			}
		case rotate.StepTest:
			out = append(out, "test")
		case rotate.StepPush:
			out = append(out, fmt.Sprintf("push(%d)", s.WebhookID))
		}
	}
	return out
}

// TestPlanWalk runs every row of the decision table through the executor, on the
// in-memory store and an in-memory webhook: every change the run makes is a step of the
// plan (Plan: the decision with its metadata writes and destroys), with the plan's
// versions, in the plan's order, and nothing else.
func TestPlanWalk(t *testing.T) {
	for _, kept := range []int{0, 2} { // max_versions not yet set; set (Vault's 2)
		for _, tt := range decisionTable() {
			t.Run(fmt.Sprintf("%s, max_versions %d", tt.name, kept), func(t *testing.T) { walkRow(t, tt, kept) })
		}
	}
}

// walkRow runs one row, with max_versions kept as recorded in the document's metadata.
func walkRow(t *testing.T, tt decisionRow, kept int) {
	const path = "keyroll/walk"
	mem := newMemStore()
	if tt.version > 0 {
		mem.docs[path] = make([]keyset.Document, tt.version)
		mem.docs[path][tt.version-1] = tt.doc
		mem.deleted = map[string]bool{path: !tt.exists}
		mem.meta[path] = map[string]string{}
		if kept > 0 {
			mem.meta[path]["max_versions"] = fmt.Sprint(kept)
		}
		if !tt.bound.IsZero() {
			mem.meta[path][rotate.MetaWebhookID], mem.meta[path][rotate.MetaHost] = fmt.Sprint(tt.bound.WebhookID), tt.bound.Host
		}
	}
	log := &opLog{}
	api := &fakeWebhook{live: tt.live, log: log}
	eng := &rotate.Engine{Store: loggingStore{KeyStore: mem, log: log}, Clock: certcentraltest.NewFakeClock(t0), Log: zerolog.Nop()}
	in := rotate.Input{Doc: tt.doc, Version: tt.version, Exists: tt.exists, Live: tt.live, Policy: tt.pol,
		Options: tt.opts, Now: t0, Reread: tt.reread, Keep: mem.MaxVersions(), MaxVersions: kept, Bound: tt.bound, Host: tableHost}
	if tt.version == 0 {
		in.MaxVersions = 0
	}
	plan := rotate.Plan(in)
	if plan.Refusal == rotate.RefuseReadAgain {
		in.Reread = true // the executor reads again, and finds the same
		plan = rotate.Plan(in)
	}
	if d := rotate.Decide(in); len(plan.Steps) < len(d.Steps) {
		t.Fatalf("the plan has fewer steps than the decision: %v < %v", plan.Steps, d.Steps)
	}
	res := eng.Rotate(context.Background(), rotate.Target{Name: "walk", VaultPath: path, WebhookID: tt.live.ID, Host: tableHost, API: api}, tt.pol, tt.opts)
	want := planned(plan, tt.opts.DryRun)
	if got := log.ops; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the run did %v\nthe plan lists %v (outcome %s, err %v)", got, want, res.Outcome, res.Err)
	}
	if res.Err == nil && plan.Refusal.Failure() != 0 {
		t.Errorf("refusal %v, yet the run succeeded", plan.Refusal)
	}
}

// ExamplePlan: a forced rotation inside the overlap window of the last one, on a document
// at version 7 whose store keeps two versions: the plan names the versions it writes
// (cas 7 and 8) and the one it destroys (8, which still holds the dropped previous key).
func ExamplePlan() {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	current, previous := strings.Repeat("a", 48), strings.Repeat("b", 48)
	d := rotate.Plan(rotate.Input{
		Doc: keyset.Document{Current: current, CurrentSince: now.Add(-10 * time.Minute),
			Previous: previous, PreviousUntil: now.Add(50 * time.Minute)},
		Version: 7, Exists: true,
		Live:    rotate.Live{ID: 12, Endpoint: "https://hooks.example/digicert", Status: "active", Active: true, Secret: current, SecretReturned: true},
		Policy:  rotate.Policy{SecretLength: 48, Overlap: time.Hour, PropagationDelay: 2 * time.Minute, MinInterval: time.Hour, VerifyListener: true},
		Options: rotate.Options{Force: true},
		Now:     now, MaxVersions: 2, Keep: 2,
	})
	for _, line := range d.Lines() {
		fmt.Println(line)
	}
	// Output:
	// force: rotated early: last rotation 10m0s ago, min_interval 1h0m0s (--force)
	// force: cut the overlap window of sha256:720228e4b7b018b5 short (was until 2026-11-26T03:50:00Z) (--force)
	// stage: mint a 48-character key, write it as pending (cas 7)
	// metadata: write custom_metadata: state, fingerprints, the binding, max_versions
	// wait: propagation_delay 2m0s from pending_since
	// test: POST /webhook/test-endpoint to https://hooks.example/digicert with the new key
	// push: PUT /webhook/12 with the new key, the endpoint unchanged, events omitted, settings as read
	// verify: GET /webhook/12: endpoint, events and status unchanged, secret the new key
	// promote: the new key becomes current; keep sha256:97daac0ee9998dfc as previous for 1h0m0s; sha256:720228e4b7b018b5 leaves the accept set before its window ends (cas 8)
	// metadata: write custom_metadata: state, fingerprints, the binding, max_versions
	// destroy: retired sha256:720228e4b7b018b5; destroyed versions 8; versions up to 7 removed by max_versions 2
}
