package rotate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/clock"
	"github.com/keyroll/keyroll/evidence"
	"github.com/keyroll/keyroll/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/vault"
)

// Step names, as they appear in logs, evidence and the AfterStep hook.
const (
	StepRead    = "read"
	StepGet     = "get"
	StepAdopt   = "adopt"
	StepStage   = "stage"
	StepWait    = "wait"
	StepTest    = "test"
	StepPush    = "push"
	StepVerify  = "verify"
	StepPromote = "promote"
	StepMeta    = "metadata"
)

// maxReconcile bounds how often one run starts over after losing a check-and-set race.
const maxReconcile = 5

// Policy is the rotation policy of DESIGN.md section 4 (rotation.*).
type Policy struct {
	SecretLength     int
	Overlap          time.Duration
	PropagationDelay time.Duration
	MinInterval      time.Duration
	VerifyListener   bool
}

// Target is one webhook to rotate and the API that reaches it.
type Target struct {
	Name      string
	VaultPath string
	WebhookID int // 0: the account's one webhook
	API       WebhookAPI
}

// Options are the per-run switches of `keyroll run`.
type Options struct {
	Force   bool           // rotate even if not due; adopt a drifted live key
	DryRun  bool           // read and plan, write nothing
	Overlap *time.Duration // overrides Policy.Overlap for this run; 0 drops the old key at promote
	Trigger evidence.Trigger
	Actor   string
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
	AfterStep func(ctx context.Context, target, step string) error

	slots chan struct{} // RotateAll's work slots; nil: unbounded
}

// Result is what one rotation of one target did.
type Result struct {
	Target     string
	Outcome    evidence.Outcome
	RotationID string
	OldFP      string // fingerprint of the key replaced (or to be replaced)
	NewFP      string // fingerprint of the new key
	Plan       []string
	Record     evidence.Record
	Duration   time.Duration
	Err        error // nil, or an *Error
}

// run is the state of one rotation of one target.
type run struct {
	e   *Engine
	t   Target
	p   Policy
	o   Options
	log zerolog.Logger
	rec evidence.Record

	doc     keyset.Document // the document as last read or written
	version int             // its KV version (0: never written)
	exists  bool
	live    certcentral.Webhook

	adopt     string // a drifted live key kept as previous (--force)
	pushed    bool   // DigiCert already has the pending key
	resumed   bool
	drift     int    // re-reads done because the live key looked unknown
	newKey    string // minted once per run
	overlapTo time.Time
	plan      []string
}

// Rotate runs one rotation of t and returns what happened. It never panics on bad
// answers; every failure is in Result.Err as an *Error.
func (e *Engine) Rotate(ctx context.Context, t Target, p Policy, o Options) Result {
	return e.rotate(ctx, t, p, o, false)
}

// rotate is Rotate; holding says the caller holds one of e.slots, released at the end.
func (e *Engine) rotate(ctx context.Context, t Target, p Policy, o Options, holding bool) Result {
	if holding {
		defer func() { <-e.slots }()
	}
	clock := e.clock()
	start := clock.Now()
	r := &run{e: e, t: t, p: p, o: o}
	if o.Overlap != nil {
		r.p.Overlap = *o.Overlap
	}
	if r.p.SecretLength == 0 {
		r.p.SecretLength = keyset.DefaultLength
	}
	r.log = e.Log.With().Str("target", t.Name).Logger()
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

	outcome, err := r.do(ctx)
	res := Result{Target: t.Name, Plan: r.plan}
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			re = &Error{Target: t.Name, Step: "run", Kind: kindOf(err), Err: err}
		}
		err = re
		outcome = evidence.OutcomeFailed
		r.rec.Error = &evidence.ErrorInfo{Code: re.Code(), Message: re.Error()}
		r.log.Error().Str("rotation_id", r.rec.RotationID).Str("step", re.Step).Bool("needs_human", re.FailureKind() == failure.NeedsHuman).
			Str("code", re.Code()).Err(re.Err).Msg("rotation failed")
	}
	r.rec.Outcome = outcome
	r.rec.FinishedAt = clock.Now().UTC()
	if r.rec.OldFingerprint == "" {
		r.rec.OldFingerprint = keyset.Fingerprint(r.doc.Current)
	}
	res.Outcome, res.RotationID, res.Err = outcome, r.rec.RotationID, err
	res.OldFP, res.NewFP = r.rec.OldFingerprint, r.rec.NewFingerprint
	res.Duration = r.rec.FinishedAt.Sub(start)
	if !o.DryRun && e.Recorder != nil {
		if rerr := e.Recorder.Emit(context.WithoutCancel(ctx), r.rec); rerr != nil {
			r.log.Error().Err(rerr).Msg("evidence could not be recorded")
			if res.Err == nil {
				res.Err = &Error{Target: t.Name, Step: "record", Kind: failure.Retryable, Err: fmt.Errorf("rotation %s but evidence not recorded: %w", outcome, rerr)}
			}
		}
	}
	res.Record = r.rec
	return res
}

func (e *Engine) clock() clock.Clock {
	if e.Clock == nil {
		return clock.System
	}
	return e.Clock
}

func (r *run) now() time.Time { return r.e.clock().Now().UTC() }

// fail wraps err as the failure of step.
func (r *run) fail(step string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", errCanceled, err)
	}
	return r.failAs(step, err, kindOf(err))
}

// failAs is fail with an explicit kind.
func (r *run) failAs(step string, err error, kind failure.Kind) error {
	r.step(step, "failed", 0, httpStatus(err), "")
	return &Error{Target: r.t.Name, Step: step, Kind: kind, Err: err}
}

// step appends one step to the evidence record and logs it.
func (r *run) step(name, outcome string, vaultVersion, status int, detail string) {
	s := evidence.Step{Name: name, Time: r.now(), Outcome: outcome, VaultVersion: vaultVersion, HTTPStatus: status, Detail: detail}
	r.rec.Steps = append(r.rec.Steps, s)
	ev := r.log.Info()
	if outcome == "failed" {
		ev = r.log.Warn()
	}
	ev = ev.Str("rotation_id", r.rec.RotationID).Str("step", name).Str("outcome", outcome)
	if vaultVersion > 0 {
		ev = ev.Int("vault_version", vaultVersion)
	}
	if status > 0 {
		ev = ev.Int("http_status", status)
	}
	if detail != "" {
		ev = ev.Str("detail", detail)
	}
	ev.Msg("step")
}

// after runs the AfterStep hook.
func (r *run) after(ctx context.Context, step string) error {
	if r.e.AfterStep == nil {
		return nil
	}
	if err := r.e.AfterStep(ctx, r.t.Name, step); err != nil {
		return &Error{Target: r.t.Name, Step: step, Kind: kindOf(err), Err: err}
	}
	return nil
}

func httpStatus(err error) int {
	var ae *certcentral.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

type action int

const (
	actStage action = iota
	actResume
	actSkip
	actAgain
)

func (r *run) do(ctx context.Context) (evidence.Outcome, error) {
	var act action
	for attempt := 0; ; attempt++ {
		if attempt == maxReconcile {
			return "", r.fail("reconcile", ErrContention)
		}
		var err error
		act, err = r.reconcile(ctx)
		if err != nil {
			return "", err
		}
		if act == actAgain {
			continue
		}
		if act == actSkip {
			return evidence.OutcomeSkipped, nil
		}
		if r.o.DryRun {
			r.planRest(act)
			return evidence.OutcomeSkipped, nil
		}
		if act == actStage {
			err = r.stage(ctx)
		} else if r.adopt != "" {
			err = r.adoptLive(ctx)
		}
		if errors.Is(err, vault.ErrCASConflict) {
			continue // another run wrote first: read again, likely resuming its key
		}
		if err != nil {
			return "", err
		}
		break
	}
	if act == actStage {
		if err := r.after(ctx, StepStage); err != nil {
			return "", err
		}
	}
	if !r.pushed {
		if err := r.wait(ctx); err != nil {
			return "", err
		}
		if err := r.test(ctx); err != nil {
			return "", err
		}
		if err := r.push(ctx); err != nil {
			return "", err
		}
	}
	if err := r.verify(ctx); err != nil {
		return "", err
	}
	if err := r.promote(ctx); err != nil {
		return "", err
	}
	r.metadata(ctx)
	if r.resumed {
		return evidence.OutcomeResumed, nil
	}
	return evidence.OutcomeRotated, nil
}

// reconcile reads the document and the live webhook and decides what to do.
func (r *run) reconcile(ctx context.Context) (action, error) {
	vv, err := r.e.Store.Read(ctx, r.t.VaultPath)
	switch {
	case err == nil:
		r.exists = true
	case errors.Is(err, vault.ErrNotFound):
		r.exists = false
	default:
		return 0, r.fail(StepRead, err)
	}
	r.doc, r.version = vv.Doc, vv.Version
	if r.doc.Pending != "" && r.doc.RotationID != "" {
		r.rec.RotationID = r.doc.RotationID
	}
	r.step(StepRead, "ok", r.version, 0, "state "+r.doc.State())
	if err := r.after(ctx, StepRead); err != nil {
		return 0, err
	}

	live, err := r.t.API.GetWebhook(ctx, r.t.WebhookID)
	if err != nil {
		return 0, r.fail(StepGet, err)
	}
	r.live = live
	r.rec.WebhookID = live.ID
	r.step(StepGet, "ok", 0, 200, liveDetail(live))
	if err := r.after(ctx, StepGet); err != nil {
		return 0, err
	}
	if live.Status != certcentral.StatusActive {
		return 0, r.fail("reconcile", fmt.Errorf("%w: status is %q", ErrNotActive, live.Status))
	}

	r.adopt, r.pushed = "", false
	if live.SecretReturned && live.Secret != "" && r.exists {
		inCurrent := r.doc.Current != "" && keyset.Equal(live.Secret, r.doc.Current)
		inPending := r.doc.Pending != "" && keyset.Equal(live.Secret, r.doc.Pending)
		if !inCurrent && !inPending {
			if r.drift == 0 {
				// A concurrent run may have staged and pushed between our two reads.
				r.drift++
				return actAgain, nil
			}
			if !r.o.Force {
				return 0, r.fail("reconcile", fmt.Errorf("%w: live %s, current %s, pending %s", ErrDrift,
					keyset.Fingerprint(live.Secret), fpOrNone(r.doc.Current), fpOrNone(r.doc.Pending)))
			}
			r.adopt = live.Secret
			r.log.Warn().Str("live_fingerprint", keyset.Fingerprint(live.Secret)).Msg("drift: --force adopts the live key as previous")
		}
		r.pushed = inPending
	}

	if r.doc.Pending != "" {
		r.resumed = true
		r.rec.NewFingerprint = keyset.Fingerprint(r.doc.Pending)
		r.rec.OldFingerprint = keyset.Fingerprint(r.oldKey())
		r.log.Info().Str("rotation_id", r.doc.RotationID).Str("pending_fingerprint", r.rec.NewFingerprint).
			Bool("already_pushed", r.pushed).Msg("resuming staged rotation")
		return actResume, nil
	}
	if !r.o.Force && r.exists && !r.doc.CurrentSince.IsZero() && r.now().Sub(r.doc.CurrentSince) < r.p.MinInterval {
		r.step("reconcile", "skipped", 0, 0, fmt.Sprintf("not due: last rotation %s ago, min_interval %s",
			r.now().Sub(r.doc.CurrentSince).Round(time.Second), r.p.MinInterval))
		r.plan = append(r.plan, "skip: not due (use --force to rotate anyway)")
		return actSkip, nil
	}
	return actStage, nil
}

func fpOrNone(k string) string {
	if k == "" {
		return "none"
	}
	return keyset.Fingerprint(k)
}

func liveDetail(w certcentral.Webhook) string {
	s := "status " + w.Status
	switch {
	case !w.SecretReturned:
		s += ", secret not returned"
	case w.Secret == "":
		s += ", no secret"
	default:
		s += ", secret " + keyset.Fingerprint(w.Secret)
	}
	return s
}

// oldKey is the key the rotation replaces: the adopted live key, else the current one, else
// (first rotation) the live key.
func (r *run) oldKey() string {
	switch {
	case r.adopt != "":
		return r.adopt
	case r.doc.Current != "":
		return r.doc.Current
	case r.live.SecretReturned:
		return r.live.Secret
	}
	return ""
}

func (r *run) planRest(act action) {
	if act == actStage {
		r.plan = append(r.plan, fmt.Sprintf("stage: mint a %d-character key, write it as pending (cas %d)", r.p.SecretLength, r.version))
	} else {
		r.plan = append(r.plan, "resume: rotation "+r.doc.RotationID+" with the staged key "+keyset.Fingerprint(r.doc.Pending))
	}
	if r.adopt != "" {
		r.plan = append(r.plan, "adopt: keep the drifted live key "+keyset.Fingerprint(r.adopt)+" as previous")
	}
	if !r.pushed {
		r.plan = append(r.plan, fmt.Sprintf("wait: propagation_delay %s from pending_since", r.p.PropagationDelay))
		if r.p.VerifyListener {
			r.plan = append(r.plan, "test: POST /webhook/test-endpoint to "+r.live.Endpoint+" with the new key")
		}
		r.plan = append(r.plan, fmt.Sprintf("push: PUT /webhook/%d with the endpoint unchanged, events omitted, settings as read", r.live.ID))
	} else {
		r.plan = append(r.plan, "push: already done (DigiCert has the staged key)")
	}
	r.plan = append(r.plan, "verify: GET /webhook")
	prev := "drop the old key (overlap 0)"
	if r.p.Overlap > 0 {
		prev = fmt.Sprintf("keep %s as previous for %s", fpOrNone(r.oldKey()), r.p.Overlap)
	}
	r.plan = append(r.plan, "promote: pending becomes current; "+prev)
}

// stage writes a fresh pending key with cas on the version read.
func (r *run) stage(ctx context.Context) error {
	if r.newKey == "" {
		gen := r.e.NewKey
		if gen == nil {
			gen = keyset.Generate
		}
		k, err := gen(r.p.SecretLength)
		if err != nil {
			return r.fail(StepStage, err)
		}
		r.newKey = k
	}
	now := r.now()
	nd := r.doc
	if !r.exists && r.live.SecretReturned && r.live.Secret != "" {
		nd.Current = r.live.Secret // first rotation: listeners keep accepting the live key
	}
	if r.adopt != "" {
		nd.Previous = r.adopt
		nd.PreviousUntil = now.Add(r.p.PropagationDelay + r.p.Overlap + time.Hour)
	}
	nd.Pending, nd.PendingSince = r.newKey, now
	nd.RotationID = r.rec.RotationID
	v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
	if errors.Is(err, vault.ErrCASConflict) {
		r.step(StepStage, "conflict", 0, 0, "another writer won; reading again")
		return err
	}
	if err != nil {
		return r.fail(StepStage, err)
	}
	r.doc, r.version = nd, v
	r.rec.RotationID = nd.RotationID
	r.rec.OldFingerprint = keyset.Fingerprint(r.oldKey())
	r.rec.NewFingerprint = keyset.Fingerprint(nd.Pending)
	r.step(StepStage, "ok", v, 0, "pending "+r.rec.NewFingerprint)
	r.metadata(ctx)
	return nil
}

// adoptLive writes a drifted live key into previous while resuming (--force).
func (r *run) adoptLive(ctx context.Context) error {
	nd := r.doc
	nd.Previous = r.adopt
	nd.PreviousUntil = r.now().Add(r.p.PropagationDelay + r.p.Overlap + time.Hour)
	v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
	if errors.Is(err, vault.ErrCASConflict) {
		return err
	}
	if err != nil {
		return r.fail(StepAdopt, err)
	}
	r.doc, r.version = nd, v
	r.step(StepAdopt, "ok", v, 0, "previous "+keyset.Fingerprint(r.adopt))
	return nil
}

func (r *run) newID() string {
	if r.e.NewID != nil {
		return r.e.NewID()
	}
	return newUUIDv7(r.now())
}

// wait lets every listener learn the pending key before DigiCert may send it.
func (r *run) wait(ctx context.Context) error {
	until := r.doc.PendingSince.Add(r.p.PropagationDelay)
	d := until.Sub(r.now())
	if d > 0 {
		r.log.Info().Str("rotation_id", r.rec.RotationID).Dur("wait", d).Time("until", until).Msg("waiting for listeners to learn the new key")
		err := r.idle(ctx, func() error { return r.e.clock().Sleep(ctx, d) })
		if err != nil {
			return r.fail(StepWait, err)
		}
	}
	r.step(StepWait, "ok", 0, 0, fmt.Sprintf("propagation_delay %s", r.p.PropagationDelay))
	return r.after(ctx, StepWait)
}

// idle runs wait without holding a RotateAll work slot, and takes one back afterwards.
func (r *run) idle(ctx context.Context, wait func() error) error {
	if r.e.slots == nil {
		return wait()
	}
	<-r.e.slots
	err := wait()
	r.e.slots <- struct{}{} // the deferred release gives it back at the end
	return err
}

// test asks DigiCert to deliver a test event carrying the pending key.
func (r *run) test(ctx context.Context) error {
	if !r.p.VerifyListener {
		return nil
	}
	err := r.t.API.TestEndpoint(ctx, r.live.Endpoint, certcentral.SecretValue(r.doc.Pending))
	if err != nil {
		var ae *certcentral.APIError
		if errors.As(err, &ae) && ae.HasCode("webhook_endpoint_error") {
			err = fmt.Errorf("%w: %w", ErrListenerRejected, err)
		}
		return r.fail(StepTest, err)
	}
	r.step(StepTest, "ok", 0, 200, "test event accepted")
	return r.after(ctx, StepTest)
}

// push sends the pending key to DigiCert, leaving endpoint, events and settings as read.
func (r *run) push(ctx context.Context) error {
	req := certcentral.UpdateRequest{
		Endpoint: r.live.Endpoint,
		Secret:   certcentral.SecretValue(r.doc.Pending),
		Settings: r.live.Settings,
	}
	if err := r.t.API.UpdateWebhook(ctx, r.live.ID, req); err != nil {
		return r.fail(StepPush, err)
	}
	r.pushed = true
	r.step(StepPush, "ok", 0, 204, "secret "+keyset.Fingerprint(r.doc.Pending))
	return r.after(ctx, StepPush)
}

// verify reads the webhook back.
func (r *run) verify(ctx context.Context) error {
	after, err := r.t.API.GetWebhook(ctx, r.live.ID)
	if err != nil {
		return r.fail(StepVerify, err)
	}
	endpointSame := after.Endpoint == r.live.Endpoint
	eventsSame := sameSet(after.Events, r.live.Events)
	r.rec.EndpointUnchanged = evidence.Bool(endpointSame)
	r.rec.EventsUnchanged = evidence.Bool(eventsSame)
	var problems []string
	if !endpointSame {
		problems = append(problems, "endpoint changed")
	}
	if !eventsSame {
		problems = append(problems, "events changed")
	}
	if after.Status != certcentral.StatusActive {
		problems = append(problems, "status is "+after.Status)
	}
	if len(problems) > 0 {
		return r.failAs(StepVerify, fmt.Errorf("%w: %v", ErrVerify, problems), failure.NeedsHuman)
	}
	detail := "endpoint, events and status unchanged; secret not returned"
	if after.SecretReturned {
		if !keyset.Equal(after.Secret, r.doc.Pending) {
			err := fmt.Errorf("%w: live secret is %s, not the pushed %s", ErrVerify, fpOrNone(after.Secret), keyset.Fingerprint(r.doc.Pending))
			if after.Secret != "" && !keyset.Equal(after.Secret, r.doc.Current) {
				err = fmt.Errorf("%w (%w)", err, ErrDrift) // someone else changed it
			}
			return r.fail(StepVerify, err)
		}
		detail = "endpoint, events and status unchanged; secret is the new key"
	}
	r.step(StepVerify, "ok", 0, 200, detail)
	return r.after(ctx, StepVerify)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// promote makes the pushed key current, keeping the old one as previous for the overlap.
func (r *run) promote(ctx context.Context) error {
	pending := r.doc.Pending
	for attempt := 0; attempt < maxReconcile; attempt++ {
		now := r.now()
		nd := keyset.Document{Current: pending, CurrentSince: now, RotationID: r.doc.RotationID}
		if r.doc.PreviousActive(now) && !keyset.Equal(r.doc.Previous, r.oldKey()) {
			// One previous slot: a rotation within the overlap of the last one ends that
			// key's window early. Deliveries DigiCert retries with it will be rejected.
			r.log.Warn().Str("rotation_id", r.doc.RotationID).Str("dropped_fingerprint", keyset.Fingerprint(r.doc.Previous)).
				Time("window_was_until", r.doc.PreviousUntil).Msg("rotating within the previous overlap: the older key leaves the accept set early")
		}
		if old := r.oldKey(); r.p.Overlap > 0 && old != "" && !keyset.Equal(old, pending) {
			nd.Previous, nd.PreviousUntil = old, now.Add(r.p.Overlap)
			r.overlapTo = nd.PreviousUntil
		}
		v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
		if err == nil {
			r.doc, r.version = nd, v
			if !r.overlapTo.IsZero() {
				r.rec.OverlapUntil = evidence.Time(r.overlapTo)
			}
			r.step(StepPromote, "ok", v, 0, "current "+keyset.Fingerprint(pending))
			return r.after(ctx, StepPromote)
		}
		if !errors.Is(err, vault.ErrCASConflict) {
			return r.fail(StepPromote, err)
		}
		vv, rerr := r.e.Store.Read(ctx, r.t.VaultPath)
		if rerr != nil {
			return r.fail(StepPromote, rerr)
		}
		switch {
		case keyset.Equal(vv.Doc.Current, pending):
			// Another run finished this very rotation: success.
			r.doc, r.version = vv.Doc, vv.Version
			if vv.Doc.PreviousActive(now) {
				r.rec.OverlapUntil = evidence.Time(vv.Doc.PreviousUntil)
			}
			r.step(StepPromote, "ok", vv.Version, 0, "already promoted by a concurrent run")
			return nil
		case keyset.Equal(vv.Doc.Pending, pending):
			r.doc, r.version = vv.Doc, vv.Version // same rotation, a newer version: try again
			r.step(StepPromote, "conflict", 0, 0, "document changed; promoting on the new version")
		default:
			return r.fail(StepPromote, fmt.Errorf("%w: the staged key %s is neither current nor pending any more",
				ErrContention, keyset.Fingerprint(pending)))
		}
	}
	return r.fail(StepPromote, ErrContention)
}

// metadata writes the non-secret custom_metadata; a failure is logged, not fatal, because
// the document itself (what listeners read) is already right.
func (r *run) metadata(ctx context.Context) {
	if err := r.e.Store.WriteMetadata(ctx, r.t.VaultPath, r.doc.Metadata()); err != nil {
		r.step(StepMeta, "failed", 0, 0, "custom_metadata not updated: "+err.Error())
		return
	}
}
