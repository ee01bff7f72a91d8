package rotate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral/certcentraltest"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
)

// stepNames lists a record's step names.
func stepNames(rec evidence.Record) string {
	var names []string
	for _, s := range rec.Steps {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

// TestAPIKeyRotation: a first adoption (the id from the configuration) and a full
// rotation, a run inside the overlap, and the run after it that revokes the old key.
func TestAPIKeyRotation(t *testing.T) {
	f := newKeyFixture(t, false)
	first := f.doc().Doc.Current

	dry := f.run(nil, rotate.Options{DryRun: true})
	if dry.Err != nil || dry.Outcome != evidence.OutcomeSkipped || len(f.ops.ops) != 0 {
		t.Fatalf("dry run: %s %v, changes %v", dry.Outcome, dry.Err, f.ops.ops)
	}
	t.Logf("dry-run plan:\n%s", strings.Join(dry.Plan, "\n"))

	res := f.run(nil, rotate.Options{Actor: "test", Trigger: evidence.TriggerSchedule})
	if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
		t.Fatalf("rotation: %s %v", res.Outcome, res.Err)
	}
	rec, _ := json.MarshalIndent(res.Record, "", "  ")
	t.Logf("evidence record:\n%s", rec)
	vv := f.doc()
	d := vv.Doc
	if d.CurrentID != "1001" || d.PreviousID != "100" || d.Previous != first || d.Pending != "" || d.Creating != "" ||
		!d.PreviousUntil.Equal(t0.Add(24*time.Hour)) || !d.CurrentSince.Equal(t0) {
		t.Fatalf("document after the rotation: current %s, previous %s until %s, pending %q, creating %q", d.CurrentID, d.PreviousID, d.PreviousUntil, d.PendingID, d.Creating)
	}
	r := res.Record
	if r.Kind != evidence.KindAPIKey || r.OldKeyID != 100 || r.NewKeyID != 1001 || r.WebhookID != 0 ||
		r.OldFingerprint != keyset.Fingerprint(first) || r.NewFingerprint != keyset.Fingerprint(d.Current) {
		t.Errorf("record: kind %q, keys %d → %d, fingerprints %s → %s", r.Kind, r.OldKeyID, r.NewKeyID, r.OldFingerprint, r.NewFingerprint)
	}
	if got, want := stepNames(r), "read get list read adopt intent create stage authenticate promote"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
	if err := r.Validate(); err != nil {
		t.Error(err)
	}
	f.checkKeys("after the rotation", 0)

	f.clock.Advance(time.Hour)
	if res := f.run(nil, rotate.Options{}); res.Err != nil || res.Outcome != evidence.OutcomeSkipped {
		t.Fatalf("run in the overlap: %s %v", res.Outcome, res.Err)
	}
	if !f.keys.byID(100).Active {
		t.Fatal("the old key was revoked inside its overlap")
	}
	f.clock.Advance(24 * time.Hour)
	res = f.run(nil, rotate.Options{})
	if res.Err != nil || res.Outcome != evidence.OutcomeSkipped {
		t.Fatalf("run after the overlap: %s %v", res.Outcome, res.Err)
	}
	if f.keys.byID(100).Active || f.doc().Doc.Previous != "" {
		t.Errorf("after the overlap: old key active %v, previous %s", f.keys.byID(100).Active, keyset.Fingerprint(f.doc().Doc.Previous))
	}
	if got := stepNames(res.Record); !strings.Contains(got, "revoke retire") {
		t.Errorf("retiring run's steps %q: no revoke and retire", got)
	}
	f.checkKeys("after the retirement", 0)
	f.checkNoLeak(dry, res)
}

// TestAPIKeyRefusals: no key, no id, a rejected key: exit 3, nothing written, nothing
// asked of the issuer beyond the read that found the key rejected.
func TestAPIKeyRefusals(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  func(f *keyFixture)
		code   string
		reason string
	}{
		{"no id", func(f *keyFixture) { f.kp.KeyID = 0 }, "api_key_unknown", "api_key.key_id or current_id"},
		{"no key", func(f *keyFixture) {
			_, _ = f.mem.Write(context.Background(), f.path, keyset.Document{}, 1)
		}, "api_key_unknown", "store the key as current"},
		{"key revoked", func(f *keyFixture) { f.keys.byID(100).Active = false }, "api_key_rejected", "no longer authenticates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newKeyFixture(t, false)
			tt.setup(f)
			before := f.doc().Version
			res := f.run(nil, rotate.Options{})
			var re *rotate.Error
			if res.Err == nil || failure.Of(res.Err) != failure.NeedsHuman {
				t.Fatalf("Rotate = %v, want needs a human", res.Err)
			}
			if re, _ = res.Err.(*rotate.Error); re == nil || re.Code() != tt.code || !strings.Contains(res.Err.Error(), tt.reason) {
				t.Errorf("error %v (code %v), want code %s naming %q", res.Err, re.Code(), tt.code, tt.reason)
			}
			if f.doc().Version != before || len(f.ops.ops) != 0 {
				t.Errorf("a refusal changed something: %v", f.ops.ops)
			}
		})
	}
}

// TestRotateAllMixed: one fleet run rotates a webhook and an API key, each its own kind.
func TestRotateAllMixed(t *testing.T) {
	f := newKeyFixture(t, true)
	hook := &fakeWebhook{live: live(keyCur), log: &opOg}
	hookPath := "keyroll/digicert/prod-us"
	if _, err := f.mem.Write(context.Background(), hookPath, docIdle, 0); err != nil {
		t.Fatal(err)
	}
	e := f.engine()
	e.Clock = certcentraltest.NewFakeClock(t0)
	e.Log = zerolog.Nop()
	targets := []rotate.Target{{Name: "prod-us", VaultPath: hookPath, WebhookID: 7, API: hook}, f.target()}
	results := e.RotateAll(context.Background(), targets, tablePolicy, rotate.Options{}, 2, nil)
	for _, res := range results {
		if res.Err != nil || res.Outcome != evidence.OutcomeRotated {
			t.Errorf("%s: %s %v", res.Target, res.Outcome, res.Err)
		}
	}
	if results[0].Record.Kind != "" || results[1].Record.Kind != evidence.KindAPIKey {
		t.Errorf("kinds %q, %q", results[0].Record.Kind, results[1].Record.Kind)
	}
	f.checkKeys("after the fleet run", 0)
}

var opOg opLog

// TestCreatedKeyFormat: formatting a created key with any verb shows its fingerprint,
// never the key.
func TestCreatedKeyFormat(t *testing.T) {
	k := rotate.CreatedKey{APIKey: rotate.APIKey{ID: 184, UserID: 7, Name: "keyroll t r1"}, Key: keyPen}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, keyPen) || !strings.Contains(out, keyset.Fingerprint(keyPen)) || !strings.Contains(out, "184") {
			t.Errorf("%s: %s", verb, out)
		}
	}
}
