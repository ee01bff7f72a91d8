package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/rs/zerolog"
)

// Trigger says what started a rotation.
type Trigger string

// The triggers of docs/design.md, "The evidence".
const (
	TriggerManual   Trigger = "manual"   // an operator ran `keyroll run`
	TriggerSchedule Trigger = "schedule" // `keyroll schedule` fired
	TriggerCronJob  Trigger = "cronjob"  // the Kubernetes CronJob ran `keyroll run --trigger cronjob`
)

// Valid reports whether t is one of the Trigger constants.
func (t Trigger) Valid() bool {
	switch t {
	case TriggerManual, TriggerSchedule, TriggerCronJob:
		return true
	}
	return false
}

// ParseTrigger returns the Trigger named s, or an error listing the valid names.
func ParseTrigger(s string) (Trigger, error) {
	if t := Trigger(s); t.Valid() {
		return t, nil
	}
	return "", fmt.Errorf("evidence: unknown trigger %q (want manual, schedule or cronjob)", s)
}

// Outcome is how a rotation attempt ended.
type Outcome string

// The outcomes of docs/design.md, "The evidence".
const (
	OutcomeRotated Outcome = "rotated" // a new key was staged, pushed and promoted by this run
	OutcomeResumed Outcome = "resumed" // this run finished a rotation an earlier run had staged
	OutcomeSkipped Outcome = "skipped" // nothing was due (or a dry run); nothing changed
	OutcomeFailed  Outcome = "failed"  // the run stopped with an error; see Record.Error
)

// Valid reports whether o is one of the four outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeRotated, OutcomeResumed, OutcomeSkipped, OutcomeFailed:
		return true
	}
	return false
}

// KindAPIKey is Record.Kind for a rotation of an API key (rotate's API-key kind); a
// webhook secret's records leave Kind empty, so records written before the kind existed
// (and their hashes) are unchanged.
const KindAPIKey = "api_key"

// Record is the evidence of one rotation attempt of one target. Its JSON encoding is the
// schema of docs/design.md, "The evidence"; times are written in RFC 3339 in UTC whatever their location.
//
// Unknown is distinct from false: EndpointUnchanged and EventsUnchanged are nil (JSON null)
// when the run never got as far as verifying the webhook after the push.
//
// Seq, PrevHash, Hash and Signature belong to the hash-chained file: File.Append sets them,
// anything the caller put there is overwritten. They are empty (and omitted) in records
// that were never appended to a file. A repair record (Type TypeRepair) has only Seq, Type,
// Actor, the times, Repair and the chain fields.
type Record struct {
	Seq               int64      `json:"seq,omitempty"`
	Type              string     `json:"type,omitempty"` // "" for a rotation attempt, TypeRepair
	RotationID        string     `json:"rotation_id"`
	Target            string     `json:"target"`
	Kind              string     `json:"kind,omitempty"` // KindAPIKey; "" for a webhook secret
	WebhookID         int        `json:"webhook_id"`
	OldKeyID          int        `json:"old_key_id,omitempty"` // the API-key kind: the issuer's id of the key replaced
	NewKeyID          int        `json:"new_key_id,omitempty"` // and of the key created
	Trigger           Trigger    `json:"trigger"`
	Actor             string     `json:"actor"`
	StartedAt         time.Time  `json:"started_at"`
	FinishedAt        time.Time  `json:"finished_at"`
	Outcome           Outcome    `json:"outcome"`
	Steps             []Step     `json:"steps"`
	OldFingerprint    string     `json:"old_fingerprint"`
	NewFingerprint    string     `json:"new_fingerprint"`
	OverlapUntil      *time.Time `json:"overlap_until,omitempty"`
	EndpointUnchanged *bool      `json:"endpoint_unchanged"`
	EventsUnchanged   *bool      `json:"events_unchanged"`
	Error             *ErrorInfo `json:"error,omitempty"`
	DryRun            bool       `json:"dry_run,omitempty"`
	Repair            *Repair    `json:"repair,omitempty"`
	Timestamp         *Timestamp `json:"timestamp,omitempty"`
	PrevHash          string     `json:"prev_hash,omitempty"`
	Hash              string     `json:"hash,omitempty"`
	Signature         string     `json:"signature,omitempty"`
}

// repairRecord is the schema of a repair record: no rotation fields.
type repairRecord struct {
	Seq        int64     `json:"seq,omitempty"`
	Type       string    `json:"type"`
	Actor      string    `json:"actor"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Repair     *Repair   `json:"repair"`
	PrevHash   string    `json:"prev_hash,omitempty"`
	Hash       string    `json:"hash,omitempty"`
	Signature  string    `json:"signature,omitempty"`
}

// timestampRecord is the schema of a timestamp record: no rotation fields.
type timestampRecord struct {
	Seq        int64      `json:"seq,omitempty"`
	Type       string     `json:"type"`
	Actor      string     `json:"actor"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	Timestamp  *Timestamp `json:"timestamp"`
	PrevHash   string     `json:"prev_hash,omitempty"`
	Hash       string     `json:"hash,omitempty"`
	Signature  string     `json:"signature,omitempty"`
}

// Step is one step of the state machine (stage, wait, test, push, verify, promote, ...) as
// it happened in this run.
type Step struct {
	Name         string    `json:"name"`
	Time         time.Time `json:"time"`
	Outcome      string    `json:"outcome"`
	VaultVersion int       `json:"vault_version,omitempty"` // the KV version the step wrote
	HTTPStatus   int       `json:"http_status,omitempty"`   // DigiCert's answer to the step's request
	Detail       string    `json:"detail,omitempty"`        // never a secret
}

// ErrorInfo is why a run failed: a stable machine-readable Code and a human Message, neither
// of which may contain a secret.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Bool returns a pointer to b, for Record.EndpointUnchanged and Record.EventsUnchanged.
func Bool(b bool) *bool { return &b }

// Time returns a pointer to t, for Record.OverlapUntil.
func Time(t time.Time) *time.Time { return &t }

// record has Record's fields without its methods, so MarshalJSON can encode it.
type record Record

// MarshalJSON encodes r in the schema of docs/design.md, "The evidence": times in UTC, steps as an
// array (never null), and no HTML escaping, so that what a reader sees is what was hashed.
func (r Record) MarshalJSON() ([]byte, error) {
	n := r.normalized()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var v any = record(n)
	switch n.Type {
	case TypeRepair:
		v = repairRecord{Seq: n.Seq, Type: n.Type, Actor: n.Actor, StartedAt: n.StartedAt, FinishedAt: n.FinishedAt,
			Repair: n.Repair, PrevHash: n.PrevHash, Hash: n.Hash, Signature: n.Signature}
	case TypeTimestamp:
		v = timestampRecord{Seq: n.Seq, Type: n.Type, Actor: n.Actor, StartedAt: n.StartedAt, FinishedAt: n.FinishedAt,
			Timestamp: n.Timestamp, PrevHash: n.PrevHash, Hash: n.Hash, Signature: n.Signature}
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalized returns a copy of r with every time in UTC and non-nil Steps. It never modifies
// r's Steps slice or the values behind its pointers.
func (r Record) normalized() Record {
	r.StartedAt = r.StartedAt.UTC()
	r.FinishedAt = r.FinishedAt.UTC()
	if r.OverlapUntil != nil {
		r.OverlapUntil = Time(r.OverlapUntil.UTC())
	}
	steps := make([]Step, len(r.Steps))
	for i, s := range r.Steps {
		s.Time = s.Time.UTC()
		steps[i] = s
	}
	r.Steps = steps
	return r
}

var fingerprintRE = regexp.MustCompile(`^sha256:[0-9a-f]{16}$`)

// Validate reports every problem with r at once: a missing rotation id, target, start time
// or actor; an unknown trigger or outcome; a finish before the start; a failed record
// without an error or an error on a record that did not fail; and fingerprint fields that
// are neither empty nor a fingerprint. The writers do not call it — evidence of a
// malformed record is better than none — but the rotation engine's tests should.
func (r Record) Validate() error {
	var errs []error
	if r.RotationID == "" {
		errs = append(errs, errors.New("rotation_id is empty"))
	}
	if r.Target == "" {
		errs = append(errs, errors.New("target is empty"))
	}
	if r.Actor == "" {
		errs = append(errs, errors.New("actor is empty"))
	}
	if !r.Trigger.Valid() {
		errs = append(errs, fmt.Errorf("trigger %q is not manual, schedule or cronjob", r.Trigger))
	}
	if !r.Outcome.Valid() {
		errs = append(errs, fmt.Errorf("outcome %q is not rotated, resumed, skipped or failed", r.Outcome))
	}
	if r.StartedAt.IsZero() {
		errs = append(errs, errors.New("started_at is zero"))
	}
	if r.FinishedAt.Before(r.StartedAt) {
		errs = append(errs, errors.New("finished_at is before started_at"))
	}
	if r.Kind != "" && r.Kind != KindAPIKey {
		errs = append(errs, fmt.Errorf("kind %q is not empty or %s", r.Kind, KindAPIKey))
	}
	if r.Outcome == OutcomeFailed && r.Error == nil {
		errs = append(errs, errors.New("outcome failed without error"))
	}
	if r.Outcome != OutcomeFailed && r.Error != nil {
		errs = append(errs, fmt.Errorf("error set on outcome %q", r.Outcome))
	}
	for name, fp := range map[string]string{"old_fingerprint": r.OldFingerprint, "new_fingerprint": r.NewFingerprint} {
		if fp != "" && !fingerprintRE.MatchString(fp) {
			// Never echo the value: it may be the key itself.
			errs = append(errs, fmt.Errorf("%s is not a fingerprint (sha256: and 16 hex digits)", name))
		}
	}
	for i, s := range r.Steps {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("steps[%d].name is empty", i))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("evidence: invalid record: %w", err)
	}
	return nil
}

// LogMessage is the message of every evidence log line.
const LogMessage = "rotation evidence"

// Log writes r to logger as one log line with "evidence": true and every field of the JSON
// record, at info level, or error level when the outcome is failed. The line is emitted
// unless logger's level is above that (keep keyroll's log level at info or below to keep
// the evidence in the log). Give it a logger without context fields named like record
// fields, or the line repeats those keys.
func (r Record) Log(logger zerolog.Logger) {
	lvl := zerolog.InfoLevel
	if r.Outcome == OutcomeFailed {
		lvl = zerolog.ErrorLevel
	}
	logger.WithLevel(lvl).Bool("evidence", true).EmbedObject(r).Msg(LogMessage)
}

// MarshalZerologObject adds r's fields to e with the same names and values as its JSON
// encoding. It does not add "evidence": true; Log does.
func (r Record) MarshalZerologObject(e *zerolog.Event) {
	n := r.normalized()
	if n.Seq != 0 {
		e.Int64("seq", n.Seq)
	}
	if n.Type != "" {
		e.Str("type", n.Type)
	}
	e.Str("rotation_id", n.RotationID).
		Str("target", n.Target)
	if n.Kind != "" {
		e.Str("kind", n.Kind)
	}
	e.Int("webhook_id", n.WebhookID)
	if n.OldKeyID != 0 {
		e.Int("old_key_id", n.OldKeyID)
	}
	if n.NewKeyID != 0 {
		e.Int("new_key_id", n.NewKeyID)
	}
	e.Str("trigger", string(n.Trigger)).
		Str("actor", n.Actor).
		Str("started_at", n.StartedAt.Format(time.RFC3339Nano)).
		Str("finished_at", n.FinishedAt.Format(time.RFC3339Nano)).
		Str("outcome", string(n.Outcome)).
		Array("steps", steps(n.Steps)).
		Str("old_fingerprint", n.OldFingerprint).
		Str("new_fingerprint", n.NewFingerprint)
	if n.OverlapUntil != nil {
		e.Str("overlap_until", n.OverlapUntil.Format(time.RFC3339Nano))
	}
	optBool(e, "endpoint_unchanged", n.EndpointUnchanged)
	optBool(e, "events_unchanged", n.EventsUnchanged)
	if n.Error != nil {
		e.Object("error", n.Error)
	}
	if n.DryRun {
		e.Bool("dry_run", true)
	}
	if n.PrevHash != "" {
		e.Str("prev_hash", n.PrevHash)
	}
	if n.Hash != "" {
		e.Str("hash", n.Hash)
	}
	if n.Signature != "" {
		e.Str("signature", n.Signature)
	}
}

func optBool(e *zerolog.Event, key string, b *bool) {
	if b == nil {
		e.RawJSON(key, []byte("null"))
		return
	}
	e.Bool(key, *b)
}

// MarshalZerologObject adds the step's fields to e with the names of its JSON encoding.
func (s Step) MarshalZerologObject(e *zerolog.Event) {
	e.Str("name", s.Name).
		Str("time", s.Time.UTC().Format(time.RFC3339Nano)).
		Str("outcome", s.Outcome)
	if s.VaultVersion != 0 {
		e.Int("vault_version", s.VaultVersion)
	}
	if s.HTTPStatus != 0 {
		e.Int("http_status", s.HTTPStatus)
	}
	if s.Detail != "" {
		e.Str("detail", s.Detail)
	}
}

// MarshalZerologObject adds the error's code and message to e.
func (ei *ErrorInfo) MarshalZerologObject(e *zerolog.Event) {
	e.Str("code", ei.Code).Str("message", ei.Message)
}

type steps []Step

func (s steps) MarshalZerologArray(a *zerolog.Array) {
	for _, st := range s {
		a.Object(st)
	}
}
