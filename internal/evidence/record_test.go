package evidence

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The schema of docs/design.md, "The evidence" plus dry_run and the chain fields: nothing else may
// appear in a record.
var (
	recordKeys = []string{
		"rotation_id", "target", "kind", "webhook_id", "old_key_id", "new_key_id", "trigger", "actor", "started_at", "finished_at",
		"outcome", "steps", "old_fingerprint", "new_fingerprint", "overlap_until",
		"endpoint_unchanged", "events_unchanged", "error", "dry_run", "prev_hash", "hash",
	}
	requiredKeys = []string{
		"rotation_id", "target", "webhook_id", "trigger", "actor", "started_at", "finished_at",
		"outcome", "steps", "old_fingerprint", "new_fingerprint", "endpoint_unchanged",
		"events_unchanged",
	}
	stepKeys  = []string{"name", "time", "outcome", "vault_version", "http_status", "detail"}
	errorKeys = []string{"code", "message"}
)

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func TestRecordJSONSchema(t *testing.T) {
	full := sample(0)
	full.Outcome = OutcomeFailed
	full.Error = &ErrorInfo{Code: "vault_permission_denied", Message: "write secret/data/keyroll/digicert/prod-us: 403"}
	full.DryRun = true
	full.Kind, full.OldKeyID, full.NewKeyID = KindAPIKey, 184, 185
	full.PrevHash = GenesisHash
	full.Hash = strings.Repeat("a", 64)

	tests := []struct {
		name string
		rec  Record
		want []string // exactly these top-level keys
	}{
		{"full", full, recordKeys},
		{"minimal", Record{}, requiredKeys},
		// A webhook's record has no kind and no key ids: records from before the API-key
		// kind encode, and hash, as they did.
		{"sample", sample(1), slices.Concat(requiredKeys, []string{"overlap_until"})},
		{"api key", apiKeySample(), slices.Concat(requiredKeys, []string{"kind", "old_key_id", "new_key_id", "overlap_until"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			m := decodeMap(t, b)
			if got, want := sortedKeys(m), slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
				t.Errorf("keys = %v\nwant   %v", got, want)
			}
			steps, ok := m["steps"].([]any)
			if !ok {
				t.Fatalf("steps = %#v, want an array", m["steps"])
			}
			for i, s := range steps {
				for k := range s.(map[string]any) {
					if !slices.Contains(stepKeys, k) {
						t.Errorf("steps[%d] has key %q outside the schema", i, k)
					}
				}
			}
			if e, ok := m["error"].(map[string]any); ok {
				if got := sortedKeys(e); !slices.Equal(got, errorKeys) {
					t.Errorf("error keys = %v, want %v", got, errorKeys)
				}
			}
		})
	}
}

func TestRecordJSONValues(t *testing.T) {
	east := time.FixedZone("UTC+5", 5*3600)
	rec := sample(0)
	rec.StartedAt = time.Date(2025, 3, 3, 8, 0, 0, 500, east)
	rec.Steps[0].Time = rec.StartedAt
	rec.OverlapUntil = Time(rec.StartedAt.Add(24 * time.Hour))
	rec.EventsUnchanged = nil
	rec.Steps[1].Detail = "<&>"
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	m := decodeMap(t, b)
	for key, want := range map[string]any{
		"started_at":         "2025-03-03T03:00:00.0000005Z",
		"overlap_until":      "2025-03-04T03:00:00.0000005Z",
		"webhook_id":         4711.0,
		"trigger":            "cronjob",
		"outcome":            "rotated",
		"endpoint_unchanged": true,
		"events_unchanged":   nil,
	} {
		if !reflect.DeepEqual(m[key], want) {
			t.Errorf("%s = %#v, want %#v", key, m[key], want)
		}
	}
	step0 := m["steps"].([]any)[0].(map[string]any)
	if step0["time"] != "2025-03-03T03:00:00.0000005Z" || step0["vault_version"] != 7.0 {
		t.Errorf("steps[0] = %v", step0)
	}
	if raw, _ := rec.MarshalJSON(); !bytes.Contains(raw, []byte(`"detail":"<&>"`)) {
		t.Errorf("MarshalJSON escapes HTML: %s", raw)
	}
	if rec.StartedAt.Location() != east || rec.Steps[0].Time.Location() != east {
		t.Error("MarshalJSON modified the record")
	}
	// A nil Steps slice is an empty array, never null.
	if b, _ := json.Marshal(Record{}); !bytes.Contains(b, []byte(`"steps":[]`)) {
		t.Errorf("empty record: %s", b)
	}
	// The JSON form decodes back into an equal record.
	var back Record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.StartedAt.Equal(rec.StartedAt) || back.Steps[1].Detail != "<&>" || back.EventsUnchanged != nil || !*back.EndpointUnchanged {
		t.Errorf("round trip: %+v", back)
	}
}

func TestRecordLog(t *testing.T) {
	failed := sample(2)
	failed.Outcome = OutcomeFailed
	failed.Error = &ErrorInfo{Code: "drift", Message: "live secret sha256:1111111111111111 is neither current nor pending"}
	failed.EndpointUnchanged, failed.EventsUnchanged, failed.OverlapUntil = nil, nil, nil
	chained := sample(3)
	chained.PrevHash, chained.Hash, chained.DryRun = GenesisHash, strings.Repeat("b", 64), true

	tests := []struct {
		name      string
		rec       Record
		wantLevel string
	}{
		{"rotated", sample(1), "info"},
		{"failed", failed, "error"},
		{"chained", chained, "info"},
		{"api key", apiKeySample(), "info"},
		{"empty", Record{}, "info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.rec.Log(zerolog.New(&buf))
			if n := bytes.Count(buf.Bytes(), []byte("\n")); n != 1 {
				t.Fatalf("Log wrote %d lines: %s", n, buf.Bytes())
			}
			got := decodeMap(t, buf.Bytes())
			for key, want := range map[string]any{"evidence": true, "level": tt.wantLevel, "message": LogMessage} {
				if got[key] != want {
					t.Errorf("%s = %v, want %v", key, got[key], want)
				}
				delete(got, key)
			}
			b, _ := json.Marshal(tt.rec)
			if want := decodeMap(t, b); !reflect.DeepEqual(got, want) {
				t.Errorf("log fields differ from the JSON record\n got %v\nwant %v", got, want)
			}
		})
	}
	// A logger above info drops the line; an error-level record still passes a warn filter.
	var buf bytes.Buffer
	failed.Log(zerolog.New(&buf).Level(zerolog.WarnLevel))
	if buf.Len() == 0 {
		t.Error("failed record dropped at warn level")
	}
}

func TestValidate(t *testing.T) {
	secret := "Zx9" + strings.Repeat("k", 45) // looks like a minted key
	tests := []struct {
		name    string
		mutate  func(*Record)
		wantErr []string
	}{
		{"valid", func(*Record) {}, nil},
		{"valid failed", func(r *Record) {
			r.Outcome, r.Error = OutcomeFailed, &ErrorInfo{Code: "x", Message: "y"}
		}, nil},
		{"valid first rotation", func(r *Record) { r.OldFingerprint = "" }, nil},
		{"empty", func(r *Record) { *r = Record{} }, []string{
			"rotation_id is empty", "target is empty", "actor is empty", `trigger ""`, `outcome ""`, "started_at is zero",
		}},
		{"bad trigger", func(r *Record) { r.Trigger = "cron" }, []string{`trigger "cron"`}},
		{"finished before start", func(r *Record) { r.FinishedAt = r.StartedAt.Add(-time.Second) }, []string{"finished_at is before"}},
		{"failed without error", func(r *Record) { r.Outcome = OutcomeFailed }, []string{"without error"}},
		{"error on success", func(r *Record) { r.Error = &ErrorInfo{Code: "x"} }, []string{`error set on outcome "rotated"`}},
		{"secret as fingerprint", func(r *Record) { r.NewFingerprint = secret }, []string{"new_fingerprint is not a fingerprint"}},
		{"unnamed step", func(r *Record) { r.Steps[2].Name = "" }, []string{"steps[2].name is empty"}},
		{"valid api key", func(r *Record) { *r = apiKeySample() }, nil},
		{"unknown kind", func(r *Record) { r.Kind = "certificate" }, []string{`kind "certificate"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := sample(0)
			tt.mutate(&rec)
			err := rec.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate: no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestParseTrigger(t *testing.T) {
	tests := []struct {
		in      string
		want    Trigger
		wantErr bool
	}{
		{"manual", TriggerManual, false},
		{"schedule", TriggerSchedule, false},
		{"cronjob", TriggerCronJob, false},
		{"CronJob", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		got, err := ParseTrigger(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseTrigger(%q) = %q, %v", tt.in, got, err)
		}
	}
	for _, tr := range []Trigger{TriggerManual, TriggerSchedule, TriggerCronJob} {
		if !tr.Valid() {
			t.Errorf("%q not valid", tr)
		}
	}
	for _, o := range []Outcome{OutcomeRotated, OutcomeResumed, OutcomeSkipped, OutcomeFailed} {
		if !o.Valid() {
			t.Errorf("%q not valid", o)
		}
	}
	if Outcome("ok").Valid() {
		t.Error(`"ok" is a valid outcome`)
	}
}

// apiKeySample is a record of an API-key rotation: its kind and both key ids.
func apiKeySample() Record {
	r := sample(4)
	r.Kind, r.WebhookID, r.OldKeyID, r.NewKeyID = KindAPIKey, 0, 184, 185
	r.EndpointUnchanged, r.EventsUnchanged = nil, nil
	r.Steps = []Step{
		{Name: "intent", Time: r.StartedAt, Outcome: "ok", VaultVersion: 7, Detail: `creating "keyroll digicert-api-key 01J"`},
		{Name: "create", Time: r.StartedAt, Outcome: "ok", HTTPStatus: 201, Detail: "key 185"},
		{Name: "promote", Time: r.StartedAt, Outcome: "ok", VaultVersion: 9},
	}
	return r
}
