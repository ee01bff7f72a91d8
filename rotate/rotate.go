package rotate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/clock"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
)

// Policy is the rotation policy of the configuration (rotation.*).
type Policy struct {
	SecretLength     int
	Overlap          time.Duration
	PropagationDelay time.Duration
	MinInterval      time.Duration
	VerifyListener   bool
	// MaxAge is the cryptoperiod: the age past which a current key is overdue. No
	// decision reads it; `keyroll status`, the metrics and the alerts do.
	MaxAge time.Duration
}

// Target is one webhook to rotate and the API that reaches it.
type Target struct {
	Name      string
	VaultPath string
	WebhookID int // 0: the account's one webhook
	// Host is the CertCentral host (of certcentral.url) the document is bound to.
	Host string
	API  WebhookAPI
	// Keys, when set, makes this an API-key target: the document at VaultPath holds the
	// issuer's API key, which Keys rotates (API and WebhookID are then unused).
	Keys KeysAPI
	// Key is the API-key kind's policy; used when Keys is set.
	Key KeyPolicy
	// Policy, when set, replaces the run's policy for this target (an API-key target's own
	// min_interval, overlap and max_age).
	Policy *Policy
}

// Options are the per-run switches of `keyroll run`.
type Options struct {
	Force   bool           // rotate before min_interval, or inside the overlap window (cutting it short)
	DryRun  bool           // read and plan, write nothing
	Overlap *time.Duration // overrides Policy.Overlap for this run; 0 drops the old key at promote
	Trigger evidence.Trigger
	Actor   string
	// Rebind moves a document bound to another webhook or CertCentral host to this run's.
	Rebind bool
	// AdoptDrift keeps a live key DigiCert holds that is neither current nor pending as
	// previous, and rotates.
	AdoptDrift bool
	// RetireOnly: rotate nothing, resume nothing; only retire an expired previous key (the
	// scheduler's run at the end of an overlap window).
	RetireOnly bool
	// RevokeInUse revokes an expired previous API key even though it was used after its
	// successor's promote (the hold policy's way out, for one run: --revoke-in-use).
	RevokeInUse bool
}

// Engine runs rotations. Its zero value is not usable: set Store; the rest has defaults.
type Engine struct {
	Store    KeyStore
	Recorder Recorder    // nil: evidence is only returned in Result
	Clock    clock.Clock // nil: clock.System
	Log      zerolog.Logger
	// NewKey mints a key of n characters; nil: keyset.Generate.
	NewKey func(n int) (string, error)
	// NewID returns a fresh rotation id; nil: a UUIDv7.
	NewID func() string
	// AfterStep, when set, is called after each completed step; an error stops the run
	// there, as a crash would. For tests and instrumentation.
	AfterStep func(ctx context.Context, target string, step StepKind) error

	slots chan struct{} // RotateAll's work slots; nil: unbounded
}

// Result is what one rotation of one target did.
type Result struct {
	Target     string
	Outcome    evidence.Outcome
	RotationID string
	OldFP      string   // fingerprint of the key replaced (or to be replaced)
	NewFP      string   // fingerprint of the new key
	Plan       []string // the decision as printed (Decision.Lines), for dry runs and refusals
	Record     evidence.Record
	Duration   time.Duration
	Err        error // nil, or an *Error
}

// Rotate runs one rotation of t and returns what happened: of its API key when t.Keys is
// set (t.Policy, when set, replacing p), of its webhook's secret otherwise. It never
// panics on bad answers; every failure is in Result.Err as an *Error.
func (e *Engine) Rotate(ctx context.Context, t Target, p Policy, o Options) Result {
	return e.rotate(ctx, t, p, o, false)
}

// rotate is Rotate; holding says the caller holds one of e.slots, released at the end.
func (e *Engine) rotate(ctx context.Context, t Target, p Policy, o Options, holding bool) Result {
	if holding {
		defer func() { <-e.slots }()
	}
	if t.Policy != nil {
		p = *t.Policy
	}
	r := &run{e: e, t: t, p: p, o: o, log: e.Log.With().Str("target", t.Name).Logger()}
	start := e.clock().Now()
	r.rec = evidence.Record{
		// A fresh id for this attempt; a run that resumes a staged rotation takes its id.
		RotationID: r.newID(),
		Target:     t.Name,
		WebhookID:  t.WebhookID,
		Trigger:    o.Trigger,
		Actor:      o.Actor,
		StartedAt:  start.UTC(),
		DryRun:     o.DryRun,
		Steps:      []evidence.Step{},
	}
	if r.rec.Trigger == "" {
		r.rec.Trigger = evidence.TriggerManual
	}
	do := r.do
	if t.Keys != nil {
		r.rec.Kind, r.rec.WebhookID = evidence.KindAPIKey, 0
		do = r.doKeys
	}
	outcome, err := do(ctx)
	if err != nil {
		outcome, err = evidence.OutcomeFailed, r.failed(err)
	}
	r.rec.Outcome = outcome
	r.rec.FinishedAt = e.clock().Now().UTC()
	if r.rec.OldFingerprint == "" {
		r.rec.OldFingerprint = keyset.Fingerprint(r.doc.Current)
	}
	res := Result{Target: t.Name, Outcome: outcome, RotationID: r.rec.RotationID, Err: err,
		OldFP: r.rec.OldFingerprint, NewFP: r.rec.NewFingerprint, Duration: r.rec.FinishedAt.Sub(start)}
	if o.DryRun || r.d.Refusal != RefuseNone {
		res.Plan = r.d.Lines()
	}
	if !o.DryRun && e.Recorder != nil {
		if rerr := e.Recorder.Emit(context.WithoutCancel(ctx), r.rec); rerr != nil {
			r.log.Error().Err(rerr).Msg("evidence could not be recorded")
			if res.Err == nil {
				res.Err = &Error{Target: t.Name, Step: "record", Kind: recordFailure(rerr), Err: fmt.Errorf("rotation %s but evidence not recorded: %w", outcome, rerr)}
			}
		}
	}
	res.Record = r.rec
	return res
}

// recordFailure is the kind of a failure to record evidence: a record written but not
// anchored is retryable (the next record's anchor covers it); a record not written at all
// has its cause's kind (a signer refusing the token or policy needs a human), retryable at
// least.
func recordFailure(err error) failure.Kind {
	if errors.Is(err, evidence.ErrNotAnchored) {
		return failure.Retryable
	}
	return max(failure.Retryable, failure.Of(err))
}

func (e *Engine) clock() clock.Clock {
	if e.Clock == nil {
		return clock.System
	}
	return e.Clock
}
