package rotate_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// Keys of the decision table, by the label describe prints for them.
var (
	keyCur   = strings.Repeat("C", 48) // the document's current key
	keyPen   = strings.Repeat("P", 48) // the document's pending key
	keyOld   = strings.Repeat("O", 48) // the document's previous key
	keyLive  = strings.Repeat("L", 48) // DigiCert's key when there is no document yet
	keyRogue = strings.Repeat("X", 48) // DigiCert's key, unknown to the document
	labels   = map[string]string{keyCur: "C", keyPen: "P", keyOld: "O", keyLive: "L", keyRogue: "X", "": "new"}
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

// Document states of the decision table.
var (
	docNone        = keyset.Document{}
	docIdle        = keyset.Document{Current: keyCur, CurrentSince: t0.Add(-48 * time.Hour), RotationID: "r1"}
	docIdleRecent  = keyset.Document{Current: keyCur, CurrentSince: t0.Add(-10 * time.Minute), RotationID: "r1"}
	docPrevOpen    = with(docIdle, func(d *keyset.Document) { d.Previous, d.PreviousUntil = keyOld, t0.Add(time.Hour) })
	docPrevExpired = with(docIdle, func(d *keyset.Document) { d.Previous, d.PreviousUntil = keyOld, t0.Add(-time.Hour) })
	docStaged      = with(docIdle, func(d *keyset.Document) { d.Pending, d.PendingSince, d.RotationID = keyPen, t0.Add(-time.Minute), "r2" })
	docStagedFresh = with(docIdleRecent, func(d *keyset.Document) { d.Pending, d.PendingSince, d.RotationID = keyPen, t0.Add(-time.Minute), "r2" })
)

func with(d keyset.Document, f func(*keyset.Document)) keyset.Document {
	f(&d)
	return d
}

// Live webhook states of the decision table.
func live(secret string) rotate.Live {
	return rotate.Live{ID: 7, Endpoint: "https://hooks.example/digicert", Status: certcentral.StatusActive, Active: true,
		Events: []string{"certificate_issued"}, Secret: secret, SecretReturned: true}
}

var (
	liveCurrent  = live(keyCur)
	livePending  = live(keyPen)
	liveUnknown  = live(keyRogue)
	liveNew      = live(keyLive) // the first rotation's live key
	liveEmpty    = live("")
	liveHidden   = rotate.Live{ID: 7, Endpoint: "https://hooks.example/digicert", Status: certcentral.StatusActive, Active: true, Events: []string{"certificate_issued"}}
	liveInactive = func() rotate.Live { w := live(keyCur); w.Status, w.Active = "inactive", false; return w }()
)

func overlap(d time.Duration) *time.Duration { return &d }

// decisionRow is a row of the decision table.
type decisionRow struct {
	name    string
	doc     keyset.Document
	version int
	exists  bool
	live    rotate.Live
	pol     rotate.Policy
	opts    rotate.Options
	reread  bool
	want    string
	bound   rotate.Binding // the binding in the document's metadata (zero: none)
}

// tableHost is the CertCentral host of the decision table's runs.
const tableHost = "www.digicert.com"

// tablePolicy is the policy of the decision table's rows.
var tablePolicy = rotate.Policy{SecretLength: 48, Overlap: 24 * time.Hour, PropagationDelay: 2 * time.Minute, MinInterval: time.Hour, VerifyListener: true}

// decisionTable is the decision table: every document state against every live state it
// can meet, and the switches (--force, --dry-run, an overlap override, 0 included). Each
// row's want is describe's summary of the decision. TestDecide checks Decide against it
// and TestPlanWalk runs every row through the executor.
func decisionTable() []decisionRow {
	pol := tablePolicy
	noVerify := pol
	noVerify.VerifyListener = false
	const rotation = "wait(2m0s) test push verify "
	return []decisionRow{
		// No document yet: the first rotation keeps DigiCert's key as current, then previous.
		{"none, live key", docNone, 0, false, liveNew, pol, rotate.Options{}, false, "stage(cas=0,current=L) " + rotation + "promote(new,previous=L/24h0m0s)", rotate.Binding{}},
		{"none, live key, --dry-run", docNone, 0, false, liveNew, pol, rotate.Options{DryRun: true}, false, "stage(cas=0,current=L) " + rotation + "promote(new,previous=L/24h0m0s)", rotate.Binding{}},
		{"none, secret hidden", docNone, 0, false, liveHidden, pol, rotate.Options{}, false, "stage(cas=0) " + rotation + "promote(new,previous=none)", rotate.Binding{}},
		{"none, no secret", docNone, 0, false, liveEmpty, pol, rotate.Options{}, false, "stage(cas=0) " + rotation + "promote(new,previous=none)", rotate.Binding{}},
		{"none, inactive", docNone, 0, false, liveInactive, pol, rotate.Options{}, false, `refuse:webhook not active(status is "inactive")`, rotate.Binding{}},
		{"latest version deleted", docNone, 4, false, liveNew, pol, rotate.Options{}, false, "stage(cas=4,current=L) " + rotation + "promote(new,previous=L/24h0m0s)", rotate.Binding{}},

		// Idle: a new rotation when due.
		{"idle, live current", docIdle, 3, true, liveCurrent, pol, rotate.Options{}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"idle, live current, --dry-run", docIdle, 3, true, liveCurrent, pol, rotate.Options{DryRun: true}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"idle, not due", docIdleRecent, 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)", rotate.Binding{}},
		{"idle, not due, --force", docIdleRecent, 3, true, liveCurrent, pol, rotate.Options{Force: true}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"idle, not due, --dry-run", docIdleRecent, 3, true, liveCurrent, pol, rotate.Options{DryRun: true}, false, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)", rotate.Binding{}},
		{"idle, --overlap 0", docIdle, 3, true, liveCurrent, pol, rotate.Options{Overlap: overlap(0)}, false, "stage(cas=3) " + rotation + "promote(new,previous=none)", rotate.Binding{}},
		{"idle, --overlap 2h", docIdle, 3, true, liveCurrent, pol, rotate.Options{Overlap: overlap(2 * time.Hour)}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/2h0m0s)", rotate.Binding{}},
		{"idle, verify_listener off", docIdle, 3, true, liveCurrent, noVerify, rotate.Options{}, false, "stage(cas=3) wait(2m0s) push verify promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"idle, live pending (none staged) reads again", docIdle, 3, true, livePending, pol, rotate.Options{}, false, "refuse:read again(live sha256:,current sha256:,pending none)", rotate.Binding{}},
		{"idle, live unknown reads again", docIdle, 3, true, liveUnknown, pol, rotate.Options{}, false, "refuse:read again(live sha256:,current sha256:,pending none)", rotate.Binding{}},
		{"idle, live unknown twice is drift", docIdle, 3, true, liveUnknown, pol, rotate.Options{}, true, "refuse:drift(live sha256:,current sha256:,pending none)", rotate.Binding{}},
		{"idle, live unknown twice, --dry-run", docIdle, 3, true, liveUnknown, pol, rotate.Options{DryRun: true}, true, "refuse:drift(live sha256:,current sha256:,pending none)", rotate.Binding{}},
		{"idle, live unknown twice, --force alone is drift", docIdle, 3, true, liveUnknown, pol, rotate.Options{Force: true}, true, "refuse:drift(live sha256:,current sha256:,pending none; --force does not adopt a drifted key: use --adopt-drift)", rotate.Binding{}},
		{"idle, live unknown twice, --adopt-drift adopts", docIdle, 3, true, liveUnknown, pol, rotate.Options{AdoptDrift: true}, true, "adopt:X stage(cas=3,previous=X/25h2m0s) " + rotation + "promote(new,previous=X/24h0m0s)", rotate.Binding{}},
		{"idle, secret hidden", docIdle, 3, true, liveHidden, pol, rotate.Options{}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"idle, inactive", docIdle, 3, true, liveInactive, pol, rotate.Options{}, false, `refuse:webhook not active(status is "inactive")`, rotate.Binding{}},

		// Idle with a previous key: in its window a run skips (--force drops it early);
		// expired, it is retired, by the stage or, when no rotation is due, on its own.
		{"previous open, live current", docPrevOpen, 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:in overlap(the previous key sha256: is accepted until 2026-11-26T04:00:00Z; rotating now would drop it early (--force to rotate anyway))", rotate.Binding{}},
		{"previous open, --force", docPrevOpen, 3, true, liveCurrent, pol, rotate.Options{Force: true}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s,drops=O)", rotate.Binding{}},
		{"previous open, --overlap 0, --force", docPrevOpen, 3, true, liveCurrent, pol, rotate.Options{Overlap: overlap(0), Force: true}, false, "stage(cas=3) " + rotation + "promote(new,previous=none,drops=O)", rotate.Binding{}},
		{"previous open, not due", with(docPrevOpen, func(d *keyset.Document) { d.CurrentSince = t0.Add(-time.Minute) }), 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:not due(last rotation 1m0s ago,min_interval 1h0m0s)", rotate.Binding{}},
		{"previous expired, live current", docPrevExpired, 3, true, liveCurrent, pol, rotate.Options{}, false, "stage(cas=3,retire=O) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"previous expired, secret hidden", docPrevExpired, 3, true, liveHidden, pol, rotate.Options{}, false, "stage(cas=3,retire=O) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{}},
		{"previous expired, not due", with(docPrevExpired, func(d *keyset.Document) { d.CurrentSince = t0.Add(-time.Minute) }), 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:not due(last rotation 1m0s ago,min_interval 1h0m0s) retire(cas=3,O)", rotate.Binding{}},
		{"previous expired, retire only", docPrevExpired, 3, true, liveCurrent, pol, rotate.Options{RetireOnly: true}, false, "refuse:not due(a run to retire keys,not to rotate) retire(cas=3,O)", rotate.Binding{}},
		{"previous open, retire only", docPrevOpen, 3, true, liveCurrent, pol, rotate.Options{RetireOnly: true}, false, "refuse:not due(a run to retire keys,not to rotate)", rotate.Binding{}},
		{"staged, previous expired", with(docStaged, func(d *keyset.Document) { d.Previous, d.PreviousUntil = keyOld, t0.Add(-time.Hour) }), 5, true, livePending, pol, rotate.Options{}, false, "resume pushed verify(P) promote(P,previous=C/24h0m0s)", rotate.Binding{}},

		// Staged, not pushed: resume with the staged key, due or not.
		{"staged, live current", docStaged, 5, true, liveCurrent, pol, rotate.Options{}, false, "resume " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, live current, not due", docStagedFresh, 5, true, liveCurrent, pol, rotate.Options{}, false, "resume " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, live current, --dry-run", docStaged, 5, true, liveCurrent, pol, rotate.Options{DryRun: true}, false, "resume " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, live current, --overlap 0", docStaged, 5, true, liveCurrent, pol, rotate.Options{Overlap: overlap(0)}, false, "resume " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=none)", rotate.Binding{}},
		{"staged, secret hidden", docStaged, 5, true, liveHidden, pol, rotate.Options{}, false, "resume " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, inactive", docStaged, 5, true, liveInactive, pol, rotate.Options{}, false, `refuse:webhook not active(status is "inactive")`, rotate.Binding{}},

		// Staged and pushed: DigiCert has the staged key; verify and promote.
		{"staged, live pending", docStaged, 5, true, livePending, pol, rotate.Options{}, false, "resume pushed verify(P) promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, live pending, --force", docStaged, 5, true, livePending, pol, rotate.Options{Force: true}, false, "resume pushed verify(P) promote(P,previous=C/24h0m0s)", rotate.Binding{}},
		{"staged, live pending, --overlap 0", docStaged, 5, true, livePending, pol, rotate.Options{Overlap: overlap(0)}, false, "resume pushed verify(P) promote(P,previous=none)", rotate.Binding{}},

		// Staged while DigiCert holds an unknown key.
		{"staged, live unknown reads again", docStaged, 5, true, liveUnknown, pol, rotate.Options{}, false, "refuse:read again(live sha256:,current sha256:,pending sha256:)", rotate.Binding{}},
		{"staged, live unknown twice is drift", docStaged, 5, true, liveUnknown, pol, rotate.Options{}, true, "refuse:drift(live sha256:,current sha256:,pending sha256:)", rotate.Binding{}},
		{"staged, live unknown twice, --force alone is drift", docStaged, 5, true, liveUnknown, pol, rotate.Options{Force: true}, true, "refuse:drift(live sha256:,current sha256:,pending sha256:; --force does not adopt a drifted key: use --adopt-drift)", rotate.Binding{}},
		{"staged, live unknown twice, --adopt-drift adopts", docStaged, 5, true, liveUnknown, pol, rotate.Options{AdoptDrift: true}, true, "resume adopt:X adopt(cas=5,previous=X/25h2m0s) " + strings.ReplaceAll(rotation, " ", "(P) ") + "promote(P,previous=X/24h0m0s)", rotate.Binding{}},

		// Bound to a webhook: this run's, or another (DigiCert host www.digicert.com, webhook 7).
		{"idle, bound to this webhook", docIdle, 3, true, liveCurrent, pol, rotate.Options{}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{WebhookID: 7, Host: tableHost}},
		{"idle, bound to another webhook", docIdle, 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:bound to another webhook(the document belongs to webhook 8 at www.digicert.com,this run resolves webhook 7 at www.digicert.com (--rebind moves it))", rotate.Binding{WebhookID: 8, Host: tableHost}},
		{"idle, bound to another host", docIdle, 3, true, liveCurrent, pol, rotate.Options{}, false, "refuse:bound to another webhook(the document belongs to webhook 7 at certcentral.digicert.eu,this run resolves webhook 7 at www.digicert.com (--rebind moves it))", rotate.Binding{WebhookID: 7, Host: "certcentral.digicert.eu"}},
		{"idle, bound to another webhook, --force alone", docIdle, 3, true, liveCurrent, pol, rotate.Options{Force: true}, false, "refuse:bound to another webhook(the document belongs to webhook 8 at www.digicert.com,this run resolves webhook 7 at www.digicert.com (--rebind moves it); --force does not rebind: use --rebind)", rotate.Binding{WebhookID: 8, Host: tableHost}},
		{"idle, bound to another webhook, --rebind", docIdle, 3, true, liveCurrent, pol, rotate.Options{Rebind: true}, false, "rebind:8 stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s)", rotate.Binding{WebhookID: 8, Host: tableHost}},
		{"idle, not due, bound to another webhook, --rebind", docIdleRecent, 3, true, liveCurrent, pol, rotate.Options{Rebind: true}, false, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) metadata", rotate.Binding{WebhookID: 8, Host: tableHost}},
		{"idle, not due, live unknown twice, --adopt-drift adopts", docIdleRecent, 3, true, liveUnknown, pol, rotate.Options{AdoptDrift: true}, true, "adopt:X stage(cas=3,previous=X/25h2m0s) " + rotation + "promote(new,previous=X/24h0m0s)", rotate.Binding{}},
		{"previous open, live unknown twice, --adopt-drift adopts", docPrevOpen, 3, true, liveUnknown, pol, rotate.Options{AdoptDrift: true}, true, "adopt:X stage(cas=3,previous=X/25h2m0s) " + rotation + "promote(new,previous=X/24h0m0s,drops=O)", rotate.Binding{}},
		{"previous open, not due, --force", with(docPrevOpen, func(d *keyset.Document) { d.CurrentSince = t0.Add(-time.Minute) }), 3, true, liveCurrent, pol, rotate.Options{Force: true}, false, "stage(cas=3) " + rotation + "promote(new,previous=C/24h0m0s,drops=O)", rotate.Binding{}},
	}
}

// TestDecide checks Decide against the decision table.
func TestDecide(t *testing.T) {
	tests := decisionTable()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := rotate.Input{Doc: tt.doc, Version: tt.version, Exists: tt.exists, Live: tt.live, Policy: tt.pol,
				Options: tt.opts, Now: t0, Reread: tt.reread, Bound: tt.bound, Host: tableHost}
			d := rotate.Decide(in)
			if got := describe(d); got != tt.want {
				t.Errorf("decision\n got %s\nwant %s", got, tt.want)
			}
			if again := rotate.Decide(in); describe(again) != describe(d) {
				t.Error("the same input decided twice gives two decisions")
			}
			for _, line := range d.Lines() {
				for k := range labels {
					if k != "" && strings.Contains(line, k) {
						t.Errorf("printed decision holds key %s: %s", labels[k], line)
					}
				}
			}
		})
	}
	t.Logf("decision table: %d rows", len(tests))
}

// describe summarizes a decision with the keys by label and fingerprints cut to their
// prefix, so that table rows stay readable.
func describe(d rotate.Decision) string {
	if d.Refusal != rotate.RefuseNone {
		reason := strings.ReplaceAll(d.Reason, ", ", ",")
		for k := range labels {
			if k != "" {
				reason = strings.ReplaceAll(reason, keyset.Fingerprint(k), "sha256:")
			}
		}
		out := "refuse:" + d.Refusal.String() + "(" + reason + ")"
		for _, s := range d.Steps {
			out += " " + describeStep(s)
		}
		return out
	}
	var parts []string
	if d.Resume {
		parts = append(parts, "resume")
	}
	if d.Pushed {
		parts = append(parts, "pushed")
	}
	if d.Adopt != "" {
		parts = append(parts, "adopt:"+labels[d.Adopt])
	}
	if !d.Rebind.IsZero() {
		parts = append(parts, fmt.Sprintf("rebind:%d", d.Rebind.WebhookID))
	}

	for _, s := range d.Steps {
		parts = append(parts, describeStep(s))
	}
	return strings.Join(parts, " ")
}

func describeStep(s rotate.Step) string {
	prev := "none"
	if s.Previous != "" {
		prev = fmt.Sprintf("%s/%s", labels[s.Previous], s.PreviousFor)
	}
	switch s.Kind {
	case rotate.StepStage:
		out := fmt.Sprintf("stage(cas=%d", s.CAS)
		if s.Current != "" {
			out += ",current=" + labels[s.Current]
		}
		if s.Previous != "" {
			out += ",previous=" + prev
		}
		if s.Retire != "" {
			out += ",retire=" + labels[s.Retire]
		}
		return out + ")"
	case rotate.StepRetire:
		return fmt.Sprintf("retire(cas=%d,%s)", s.CAS, labels[s.Retire])
	case rotate.StepAdopt:
		return fmt.Sprintf("adopt(cas=%d,previous=%s)", s.CAS, prev)
	case rotate.StepWait:
		return fmt.Sprintf("wait(%s)", s.Delay) + keyOf(s)
	case rotate.StepPromote:
		out := fmt.Sprintf("promote(%s,previous=%s", labels[s.Key], prev)
		if s.Drops != "" {
			out += ",drops=" + labels[s.Drops]
		}
		return out + ")"
	}
	return string(s.Kind) + keyOf(s)
}

// keyOf is "(P)" for a step on the staged key and "" for one on the key this run mints.
func keyOf(s rotate.Step) string {
	if s.Key == "" {
		return ""
	}
	return "(" + labels[s.Key] + ")"
}

func TestRefusalFailureKinds(t *testing.T) {
	for k, want := range map[rotate.RefusalKind]failure.Kind{
		rotate.RefuseNone: failure.None, rotate.RefuseNotDue: failure.None, rotate.RefuseReadAgain: failure.Retryable,
		rotate.RefuseNotActive: failure.NeedsHuman, rotate.RefuseDrift: failure.NeedsHuman,
		rotate.RefuseInOverlap: failure.None, rotate.RefuseBinding: failure.NeedsHuman,
	} {
		if got := k.Failure(); got != want {
			t.Errorf("%v.Failure() = %v, want %v", k, got, want)
		}
	}
}

// TestDecideBinding: a document bound to another webhook or host is refused, needing a
// human, before anything is written; --rebind moves it, --force alone does not.
func TestDecideBinding(t *testing.T) {
	pol := rotate.Policy{SecretLength: 48, Overlap: 24 * time.Hour, PropagationDelay: 2 * time.Minute, MinInterval: time.Hour, VerifyListener: true}
	in := rotate.Input{Doc: docIdle, Version: 3, Exists: true, Live: liveCurrent, Policy: pol, Now: t0, Host: "www.digicert.com"}
	for _, tt := range []struct {
		name   string
		bound  rotate.Binding
		rebind bool
		want   rotate.RefusalKind
	}{
		{"never bound", rotate.Binding{}, false, rotate.RefuseNone},
		{"same", rotate.Binding{WebhookID: 7, Host: "www.digicert.com"}, false, rotate.RefuseNone},
		{"other webhook", rotate.Binding{WebhookID: 8, Host: "www.digicert.com"}, false, rotate.RefuseBinding},
		{"other host", rotate.Binding{WebhookID: 7, Host: "certcentral.digicert.eu"}, false, rotate.RefuseBinding},
		{"other webhook, --force alone", rotate.Binding{WebhookID: 8, Host: "www.digicert.com"}, false, rotate.RefuseBinding},
		{"other webhook, --rebind", rotate.Binding{WebhookID: 8, Host: "www.digicert.com"}, true, rotate.RefuseNone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := in
			in.Bound, in.Options.Rebind, in.Options.Force = tt.bound, tt.rebind, tt.name == "other webhook, --force alone"
			d := rotate.Decide(in)
			if d.Refusal != tt.want {
				t.Fatalf("refusal %v (%s), want %v", d.Refusal, d.Reason, tt.want)
			}
			if tt.want == rotate.RefuseBinding && (len(d.Steps) > 0 || !strings.Contains(d.Reason, "webhook 8") && !strings.Contains(d.Reason, "digicert.eu")) {
				t.Errorf("refusal with steps %v or a reason that does not name the binding: %s", d.Steps, d.Reason)
			}
			if tt.rebind && d.Rebind != tt.bound {
				t.Errorf("--rebind: Rebind = %v, want %v", d.Rebind, tt.bound)
			}
		})
	}
}

func ExampleDecide() {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	current := strings.Repeat("a", 48)
	d := rotate.Decide(rotate.Input{
		Doc:     keyset.Document{Current: current, CurrentSince: now.Add(-7 * 24 * time.Hour)},
		Version: 3, Exists: true,
		Live:   rotate.Live{ID: 12, Endpoint: "https://hooks.example/digicert", Status: "active", Active: true, Secret: current, SecretReturned: true},
		Policy: rotate.Policy{SecretLength: 48, Overlap: 24 * time.Hour, PropagationDelay: 2 * time.Minute, MinInterval: time.Hour, VerifyListener: true},
		Now:    now,
	})
	for _, line := range d.Lines() {
		fmt.Println(line)
	}
	// Output:
	// stage: mint a 48-character key, write it as pending (cas 3)
	// wait: propagation_delay 2m0s from pending_since
	// test: POST /webhook/test-endpoint to https://hooks.example/digicert with the new key
	// push: PUT /webhook/12 with the new key, the endpoint unchanged, events omitted, settings as read
	// verify: GET /webhook/12: endpoint, events and status unchanged, secret the new key
	// promote: the new key becomes current; keep sha256:97daac0ee9998dfc as previous for 24h0m0s
}

// TestDecideForce: --force says what it overrode, one entry each (the evidence records them
// as force steps); it changes nothing when nothing was in the way.
func TestDecideForce(t *testing.T) {
	notDueOpen := with(docPrevOpen, func(d *keyset.Document) { d.CurrentSince = t0.Add(-time.Minute) })
	for _, tt := range []struct {
		name string
		doc  keyset.Document
		want []string
	}{
		{"due", docIdle, nil},
		{"not due", docIdleRecent, []string{"rotated early: last rotation 10m0s ago, min_interval 1h0m0s"}},
		{"in overlap", docPrevOpen, []string{"cut the overlap window of " + keyset.Fingerprint(keyOld) + " short (was until 2026-11-26T04:00:00Z)"}},
		{"not due, in overlap", notDueOpen, []string{"rotated early: last rotation 1m0s ago, min_interval 1h0m0s",
			"cut the overlap window of " + keyset.Fingerprint(keyOld) + " short (was until 2026-11-26T04:00:00Z)"}},
		{"staged", docStagedFresh, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := rotate.Decide(rotate.Input{Doc: tt.doc, Version: 3, Exists: true, Live: liveCurrent, Policy: tablePolicy, Options: rotate.Options{Force: true}, Now: t0})
			if d.Refusal != rotate.RefuseNone || strings.Join(d.Forced, "|") != strings.Join(tt.want, "|") {
				t.Errorf("refusal %v, Forced %q, want %q", d.Refusal, d.Forced, tt.want)
			}
		})
	}
}
