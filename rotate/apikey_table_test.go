package rotate_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// The API-key kind's decision table: its target is "api", its rotation id r9; keys by id
// (C 100 the current key, P 200 the pending one, O 50 the previous one) and the issuer's
// descriptions of them and of the user's other keys.
const tableKeyTarget = "api"

func desc(id int, name string, active bool, lastUsed time.Time) rotate.APIKey {
	status := "active"
	if !active {
		status = "revoked"
	}
	return rotate.APIKey{ID: id, UserID: keyUser, RoleID: keyRole, Name: name, Active: active, Status: status, LastUsed: lastUsed}
}

var (
	kCur       = desc(100, "ops key", true, t0)
	kPen       = desc(200, "keyroll api r2", true, time.Time{})
	kPenGone   = desc(200, "keyroll api r2", false, time.Time{})         // revoked by hand
	kOldUnused = desc(50, "keyroll api r0", true, t0.Add(-48*time.Hour)) // last used at the promote
	kOldInUse  = desc(50, "keyroll api r0", true, t0.Add(-2*time.Hour))  // after the promote plus grace
	kOldGone   = desc(50, "keyroll api r0", false, t0.Add(-48*time.Hour))
	kOrphan    = desc(300, "keyroll api r7", true, time.Time{})   // created, never stored
	kFlight    = desc(301, "keyroll api r8", true, time.Time{})   // named like the document's intent
	kRevoked   = desc(302, "keyroll api r6", false, time.Time{})  // an orphan revoked already
	kOther     = desc(303, "keyroll api-2 r1", true, time.Time{}) // another target's
)

// Documents of the API-key table (version 3).
var (
	kdIdle     = keyset.Document{Current: keyCur, CurrentID: "100", CurrentSince: t0.Add(-48 * time.Hour), RotationID: "r1"}
	kdNoID     = with(kdIdle, func(d *keyset.Document) { d.CurrentID = "" })
	kdRecent   = with(kdIdle, func(d *keyset.Document) { d.CurrentSince = t0.Add(-10 * time.Minute) })
	kdPrevOpen = with(kdIdle, func(d *keyset.Document) {
		d.Previous, d.PreviousID, d.PreviousUntil = keyOld, "50", t0.Add(time.Hour)
	})
	kdPrevExpired = with(kdIdle, func(d *keyset.Document) {
		d.Previous, d.PreviousID, d.PreviousUntil = keyOld, "50", t0.Add(-time.Hour)
	})
	kdPrevExpiredRecent = with(kdPrevExpired, func(d *keyset.Document) { d.CurrentSince = t0.Add(-10 * time.Minute) })
	kdHeld              = with(kdPrevExpired, func(d *keyset.Document) { d.PreviousHeldSince = t0.Add(-time.Hour) })
	kdStaged            = with(kdIdle, func(d *keyset.Document) {
		d.Pending, d.PendingID, d.PendingSince, d.RotationID = keyPen, "200", t0.Add(-time.Minute), "r2"
	})
	kdStagedRecent = with(kdStaged, func(d *keyset.Document) { d.CurrentSince = t0.Add(-10 * time.Minute) })
	kdCreating     = with(kdIdle, func(d *keyset.Document) {
		d.Creating, d.CreatingSince, d.RotationID = "keyroll api r8", t0.Add(-time.Minute), "r8"
	})
	kdCreatingRecent = with(kdCreating, func(d *keyset.Document) { d.CurrentSince = t0.Add(-10 * time.Minute) })
)

// keyTablePolicy is the API-key table's policy (an overlap of a day, min_interval an hour).
var keyTablePolicy = rotate.Policy{Overlap: 24 * time.Hour, MinInterval: time.Hour, MaxAge: 90 * 24 * time.Hour}

// keyRow is a row of the API-key decision table.
type keyRow struct {
	name     string
	doc      keyset.Document // Exists unless zero
	current  rotate.APIKey
	rejected bool
	keys     []rotate.APIKey // the user's keys but the current one
	kp       rotate.KeyPolicy
	opts     rotate.Options
	want     string
}

func (r keyRow) input() rotate.KeyInput {
	exists := r.doc != (keyset.Document{})
	version := 0
	if exists {
		version = 3
	}
	kp := r.kp
	kp.Grace = 15 * time.Minute
	return rotate.KeyInput{Target: tableKeyTarget, Doc: r.doc, Version: version, Exists: exists, Current: r.current, Rejected: r.rejected,
		Keys: append([]rotate.APIKey{r.current}, r.keys...), Key: kp, Policy: keyTablePolicy, Options: r.opts, Now: t0, RotationID: "r9"}
}

// keyTable is the API-key kind's decision table. TestDecideAPIKey checks DecideAPIKey
// against it, TestPlanWalkAPIKey runs every row through the executor, and the package
// documentation's table holds it after the webhook's.
func keyTable() []keyRow {
	const rot = "create(7/101) stage(cas=4) authenticate promote(cas=5,new,previous=100/24h0m0s)"
	revoked := desc(100, "ops key", false, t0)
	hold, revokeInUse := rotate.KeyPolicy{InUse: rotate.InUseHold}, rotate.KeyPolicy{InUse: rotate.InUseRevoke}
	return []keyRow{
		{"api key: no document", keyset.Document{}, kCur, false, nil, hold, rotate.Options{}, "refuse:API key unknown(the document holds no API key: store the key as current (CertCentral → Automation → API Keys))"},
		{"api key: no current_id, no key_id", kdNoID, kCur, false, nil, hold, rotate.Options{}, "refuse:API key unknown(the id of the API key in the document is unknown: set the target's api_key.key_id or current_id in the document (CertCentral → Automation → API Keys))"},
		{"api key: no current_id, key_id adopts", kdNoID, kCur, false, nil, rotate.KeyPolicy{KeyID: 100}, rotate.Options{}, "adopt:100 intent(cas=3,r9) " + rot},
		{"api key: current rejected", kdIdle, rotate.APIKey{}, true, nil, hold, rotate.Options{}, "refuse:API key rejected(the stored API key no longer authenticates: key 100 (sha256:) refused)"},
		{"api key: current revoked", kdIdle, revoked, false, nil, hold, rotate.Options{}, "refuse:API key rejected(the stored API key no longer authenticates: key 100 (sha256:) status revoked)"},
		{"api key: idle", kdIdle, kCur, false, nil, hold, rotate.Options{}, "intent(cas=3,r9) " + rot},
		{"api key: idle, --dry-run", kdIdle, kCur, false, nil, hold, rotate.Options{DryRun: true}, "intent(cas=3,r9) " + rot},
		{"api key: idle, orphans", kdIdle, kCur, false, []rotate.APIKey{kOrphan, kRevoked, kOther}, hold, rotate.Options{}, "revoke-orphan(300) intent(cas=3,r9) " + rot},
		{"api key: not due", kdRecent, kCur, false, nil, hold, rotate.Options{}, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s)"},
		{"api key: not due, orphan", kdRecent, kCur, false, []rotate.APIKey{kOrphan}, hold, rotate.Options{}, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) revoke-orphan(300)"},
		{"api key: not due, --force", kdRecent, kCur, false, nil, hold, rotate.Options{Force: true}, "intent(cas=3,r9) " + rot},
		{"api key: not due, key_id adopts", with(kdRecent, func(d *keyset.Document) { d.CurrentID = "" }), kCur, false, nil, rotate.KeyPolicy{KeyID: 100}, rotate.Options{},
			"refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) adopt:100 adopt(cas=3,100)"},
		{"api key: previous open", kdPrevOpen, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{}, "refuse:in overlap(the previous API key 50 sha256: is active until 2026-11-26T04:00:00Z; rotating now would revoke it early (--force to rotate anyway))"},
		{"api key: previous open, --force", kdPrevOpen, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{Force: true}, "revoke(50,--force: its overlap cut short) intent(cas=3,r9,retire=O) " + rot},
		{"api key: previous open, retire only", kdPrevOpen, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{RetireOnly: true}, "refuse:not due(a run to retire keys,not to rotate)"},
		{"api key: previous expired", kdPrevExpired, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{}, "revoke(50) intent(cas=3,r9,retire=O) " + rot},
		{"api key: previous expired, not due", kdPrevExpiredRecent, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{}, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) revoke(50) retire(cas=3,50)"},
		{"api key: previous expired, retire only", kdPrevExpired, kCur, false, []rotate.APIKey{kOldUnused}, hold, rotate.Options{RetireOnly: true}, "refuse:not due(a run to retire keys,not to rotate) revoke(50) retire(cas=3,50)"},
		{"api key: previous expired, revoked already", kdPrevExpiredRecent, kCur, false, []rotate.APIKey{kOldGone}, hold, rotate.Options{}, "refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) retire(cas=3,50)"},
		{"api key: previous in use, hold", kdPrevExpired, kCur, false, []rotate.APIKey{kOldInUse}, hold, rotate.Options{},
			"refuse:held(the previous API key 50 (sha256:) was last used 2026-11-26T01:00:00Z,after the promote at 2026-11-24T03:00:00Z plus grace 15m0s: a consumer still holds it (in_use: hold; --revoke-in-use revokes it once)) hold(cas=3,50)"},
		{"api key: previous in use, held already", kdHeld, kCur, false, []rotate.APIKey{kOldInUse}, hold, rotate.Options{},
			"refuse:held(the previous API key 50 (sha256:) was last used 2026-11-26T01:00:00Z,after the promote at 2026-11-24T03:00:00Z plus grace 15m0s: a consumer still holds it (in_use: hold; --revoke-in-use revokes it once))"},
		{"api key: previous in use, in_use revoke", kdPrevExpired, kCur, false, []rotate.APIKey{kOldInUse}, revokeInUse, rotate.Options{}, "revoke(50,in use,in_use: revoke) intent(cas=3,r9,retire=O) " + rot},
		{"api key: previous in use, --revoke-in-use", kdHeld, kCur, false, []rotate.APIKey{kOldInUse}, hold, rotate.Options{RevokeInUse: true}, "revoke(50,in use,--revoke-in-use) intent(cas=3,r9,retire=O) " + rot},
		{"api key: staged", kdStaged, kCur, false, []rotate.APIKey{kPen}, hold, rotate.Options{}, "resume authenticate(P) promote(cas=3,P,previous=100/24h0m0s)"},
		{"api key: staged, not due", kdStagedRecent, kCur, false, []rotate.APIKey{kPen}, hold, rotate.Options{}, "resume authenticate(P) promote(cas=3,P,previous=100/24h0m0s)"},
		{"api key: staged, --overlap 0", kdStaged, kCur, false, []rotate.APIKey{kPen}, hold, rotate.Options{Overlap: overlap(0)}, "resume authenticate(P) promote(cas=3,P,previous=100/0s)"},
		{"api key: staged, orphan", kdStaged, kCur, false, []rotate.APIKey{kPen, kOrphan}, hold, rotate.Options{}, "resume revoke-orphan(300) authenticate(P) promote(cas=3,P,previous=100/24h0m0s)"},
		{"api key: staged, pending revoked", kdStaged, kCur, false, []rotate.APIKey{kPenGone}, hold, rotate.Options{},
			"unstage(cas=3,200) intent(cas=4,r9) create(7/101) stage(cas=5) authenticate promote(cas=6,new,previous=100/24h0m0s)"},
		{"api key: staged, pending revoked, not due", kdStagedRecent, kCur, false, []rotate.APIKey{kPenGone}, hold, rotate.Options{},
			"refuse:not due(last rotation 10m0s ago,min_interval 1h0m0s) unstage(cas=3,200)"},
		{"api key: creating", kdCreating, kCur, false, []rotate.APIKey{kFlight}, hold, rotate.Options{}, "resume intent(cas=3,r8,takeover) revoke-orphan(301) " + rot},
		{"api key: creating, other orphan", kdCreating, kCur, false, []rotate.APIKey{kOrphan, kFlight}, hold, rotate.Options{}, "resume revoke-orphan(300) intent(cas=3,r8,takeover) revoke-orphan(301) " + rot},
		{"api key: creating, not due", kdCreatingRecent, kCur, false, []rotate.APIKey{kFlight}, hold, rotate.Options{}, "resume intent(cas=3,r8,takeover) revoke-orphan(301) " + rot},
		{"api key: creating, retire only", kdCreating, kCur, false, []rotate.APIKey{kFlight}, hold, rotate.Options{RetireOnly: true}, "refuse:not due(a run to retire keys,not to rotate)"},
	}
}

// describeKey summarizes an API-key decision as describe does a webhook's.
func describeKey(d rotate.Decision) string {
	var parts []string
	if d.Refusal != rotate.RefuseNone {
		reason := strings.ReplaceAll(d.Reason, ", ", ",")
		for k := range labels {
			if k != "" {
				reason = strings.ReplaceAll(reason, keyset.Fingerprint(k), "sha256:")
			}
		}
		parts = append(parts, "refuse:"+d.Refusal.String()+"("+reason+")")
	}
	if d.Resume {
		parts = append(parts, "resume")
	}
	if d.AdoptID != 0 {
		parts = append(parts, fmt.Sprintf("adopt:%d", d.AdoptID))
	}
	for _, s := range d.Steps {
		parts = append(parts, describeKeyStep(s))
	}
	return strings.Join(parts, " ")
}

func describeKeyStep(s rotate.Step) string {
	switch s.Kind {
	case rotate.StepRevokeOrphan:
		return fmt.Sprintf("revoke-orphan(%d)", s.KeyID)
	case rotate.StepRevoke:
		out := fmt.Sprintf("revoke(%d", s.KeyID)
		if s.InUse {
			out += ",in use"
		}
		if s.Why != "" {
			out += "," + s.Why
		}
		return out + ")"
	case rotate.StepHold, rotate.StepAdopt, rotate.StepRetire, rotate.StepUnstage:
		return fmt.Sprintf("%s(cas=%d,%d)", s.Kind, s.CAS, s.KeyID)
	case rotate.StepIntent:
		out := fmt.Sprintf("intent(cas=%d,%s", s.CAS, s.KeyName[strings.LastIndex(s.KeyName, " ")+1:])
		if s.TakeOver {
			out += ",takeover"
		}
		if s.Retire != "" {
			out += ",retire=" + labels[s.Retire]
		}
		return out + ")"
	case rotate.StepCreate:
		return fmt.Sprintf("create(%d/%d)", s.UserID, s.RoleID)
	case rotate.StepStage:
		return fmt.Sprintf("stage(cas=%d)", s.CAS)
	case rotate.StepPromote:
		return fmt.Sprintf("promote(cas=%d,%s,previous=%s/%s)", s.CAS, labels[s.Key], s.PreviousID, s.PreviousFor)
	}
	return string(s.Kind) + keyOf(s)
}

// TestDecideAPIKey checks DecideAPIKey against the API-key table.
func TestDecideAPIKey(t *testing.T) {
	for _, tt := range keyTable() {
		t.Run(tt.name, func(t *testing.T) {
			d := rotate.DecideAPIKey(tt.input())
			if got := describeKey(d); got != tt.want {
				t.Errorf("decision\n got %s\nwant %s", got, tt.want)
			}
			if again := rotate.DecideAPIKey(tt.input()); describeKey(again) != describeKey(d) {
				t.Error("the same input decided twice gives two decisions")
			}
			for _, line := range rotate.PlanAPIKey(tt.input()).Lines() {
				for k := range labels {
					if k != "" && strings.Contains(line, k) {
						t.Errorf("printed plan holds key %s: %s", labels[k], line)
					}
				}
			}
		})
	}
}

// plannedKey is the list of changes an API-key plan's steps make, in order.
func plannedKey(d rotate.Decision, dryRun bool) []string {
	var out []string
	for _, s := range d.Steps {
		switch {
		case dryRun:
		case s.Kind == rotate.StepRevokeOrphan || s.Kind == rotate.StepRevoke:
			out = append(out, fmt.Sprintf("revoke(%d)", s.KeyID))
		case s.Kind == rotate.StepCreate:
			out = append(out, "create")
		case s.Kind == rotate.StepMeta:
			out = append(out, "metadata")
		case s.Kind == rotate.StepDestroy && len(s.Versions) > 0:
			out = append(out, fmt.Sprintf("destroy%v", s.Versions))
		case s.Kind == rotate.StepAdopt, s.Kind == rotate.StepHold, s.Kind == rotate.StepIntent, s.Kind == rotate.StepStage,
			s.Kind == rotate.StepPromote, s.Kind == rotate.StepRetire, s.Kind == rotate.StepUnstage:
			out = append(out, fmt.Sprintf("write(cas=%d)", s.CAS))
		}
	}
	return out
}

// TestPlanWalkAPIKey runs every row of the API-key table through the executor, on the
// in-memory store and the fake issuer: every change the run makes is a step of the plan,
// in the plan's order, and nothing else.
func TestPlanWalkAPIKey(t *testing.T) {
	for _, kept := range []int{0, 2} {
		for _, tt := range keyTable() {
			t.Run(fmt.Sprintf("%s, max_versions %d", tt.name, kept), func(t *testing.T) { walkKeyRow(t, tt, kept) })
		}
	}
}

// secrets of the table's keys by id.
var tableSecrets = map[int]string{100: keyCur, 200: keyPen, 50: keyOld}

func walkKeyRow(t *testing.T, tt keyRow, kept int) {
	const path = "keyroll/walk-api-key"
	in := tt.input()
	mem := newMemStore()
	if in.Exists {
		mem.docs[path] = make([]keyset.Document, in.Version)
		mem.docs[path][in.Version-1] = tt.doc
		mem.meta[path] = map[string]string{}
		if kept > 0 {
			mem.meta[path]["max_versions"] = strconv.Itoa(kept)
		}
	}
	in.MaxVersions, in.Keep = kept, mem.MaxVersions()
	log := &opLog{}
	clock := certcentraltest.NewFakeClock(t0)
	fake := newFakeKeys(clock, log)
	for _, k := range in.Keys {
		secret := tableSecrets[k.ID]
		if secret == "" {
			secret, _ = keyset.Generate(40)
		}
		active := k.Active && !(k.ID == 100 && tt.rejected)
		fake.add(k.ID, k.UserID, k.RoleID, k.Name, secret, active)
		fake.byID(k.ID).LastUsed = k.LastUsed
	}
	eng := &rotate.Engine{Store: loggingStore{KeyStore: mem, log: log}, Clock: clock, Log: zerolog.Nop(), NewID: func() string { return "r9" }}
	pol := keyTablePolicy
	target := rotate.Target{Name: tableKeyTarget, VaultPath: path, Keys: fake.as(tt.doc.Current), Key: in.Key, Policy: &pol}
	res := eng.Rotate(context.Background(), target, rotate.Policy{}, tt.opts)
	plan := rotate.PlanAPIKey(in)
	if got, want := log.ops, plannedKey(plan, tt.opts.DryRun); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the run did %v\nthe plan lists %v (outcome %s, err %v)", got, want, res.Outcome, res.Err)
	}
	if (res.Err != nil) != (plan.Refusal.Failure() != 0) {
		t.Errorf("refusal %v, run error %v", plan.Refusal, res.Err)
	}
}
