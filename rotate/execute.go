package rotate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/soakbug"
	"github.com/keyroll/keyroll/keyset"
)

// maxReconcile bounds how often one run reads and decides again: after a lost
// check-and-set, or once when DigiCert's key looked unknown.
const maxReconcile = 5

// run executes the decisions of one rotation of one target.
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
	live    Live     // the webhook as read before deciding
	d       Decision // the decision being executed
	newKey  string   // minted once per run
	bound   Binding  // the binding recorded in the document's custom_metadata

	// seen holds the documents of the versions this run read or wrote, by version;
	// maxSet says the store keeps at most Store.MaxVersions() versions, and trimmed that it
	// was at the latest write, so that the store keeps no version before the one
	// preceding it (Vault's max_versions 2). That is
	// what retirement needs to know which versions may hold retired keys.
	seen    map[int]keyset.Document
	maxSet  bool
	trimmed bool
	// kept is the store's max_versions as last read; replanned says the run left its
	// plan's versions (a metadata write failed, or a promote lost its check-and-set), so
	// the destroy is planned again from what the run saw.
	kept      int
	replanned bool

	// heldPending is the pending key this run knows Vault holds, and heldSince when it
	// first knew: its stage write was acknowledged, or a read returned it. The
	// propagation wait counts from heldSince, not from the document's pending_since,
	// which is taken before the write: a write that Vault's client retried through a
	// restart can land seconds after it, and listeners cannot read a key before it lands.
	heldPending string
	heldSince   time.Time

	// created is the key the API-key kind's create step made in this attempt (zero: none).
	created CreatedKey
}

// held notes that Vault holds doc, as of now.
func (r *run) held(doc keyset.Document) {
	if doc.Pending != "" && !keyset.Equal(doc.Pending, r.heldPending) {
		r.heldPending, r.heldSince = doc.Pending, r.now()
	}
}

// do reads, decides and executes until the decision is carried out or refused. A lost
// check-and-set makes it read and decide again.
func (r *run) do(ctx context.Context) (evidence.Outcome, error) {
	reread := false
	for range maxReconcile {
		if err := r.observe(ctx); err != nil {
			return "", err
		}
		r.d = Plan(Input{Doc: r.doc, Version: r.version, Exists: r.exists, Live: r.live,
			Policy: r.p, Options: r.o, Now: r.now(), Reread: reread, Bound: r.bound, Host: r.t.Host,
			Seen: r.seen, MaxVersions: r.kept, Keep: r.e.Store.MaxVersions()})
		r.replanned = false
		outcome := evidence.OutcomeRotated
		switch k := r.d.Refusal; k {
		case RefuseNone:
			r.begin()
			if r.d.Resume {
				outcome = evidence.OutcomeResumed
			}
		case RefuseReadAgain:
			reread = true // a concurrent run may have staged and pushed between our reads
			continue
		case RefuseNotDue, RefuseInOverlap:
			r.begin() // a skip may still move the binding (--rebind)
			r.step(stepReconcile, "skipped", 0, 0, k.String()+": "+r.d.Reason)
			outcome = evidence.OutcomeSkipped // its plan may still retire an expired key
		default:
			return "", r.failAs(stepReconcile, fmt.Errorf("%w: %s", refusalErrs[k], r.d.Reason), k.Failure())
		}
		if r.o.DryRun {
			return evidence.OutcomeSkipped, nil
		}
		err := r.execute(ctx, executors, webhookHooked)
		if errors.Is(err, ErrConflict) {
			continue // another run wrote first: read again, likely resuming its key
		}
		if err != nil {
			return "", err
		}
		return outcome, nil
	}
	return "", r.fail(stepReconcile, ErrContention)
}

// stepReconcile names failures and skips that come from the decision itself.
const stepReconcile StepKind = "reconcile"

// refusalErrs are the errors of the refusals that fail a run.
var refusalErrs = map[RefusalKind]error{
	RefuseNotActive: ErrNotActive,
	RefuseDrift:     ErrDrift,
	RefuseBinding:   ErrBinding,
	// The API-key kind's.
	RefuseKeyUnknown:  ErrKeyUnknown,
	RefuseKeyRejected: ErrKeyRejected,
	RefuseHeld:        ErrHeld,
}

// observe reads the document and the live webhook.
func (r *run) observe(ctx context.Context) error {
	if err := r.read(ctx); err != nil {
		return err
	}
	live, err := r.t.API.GetWebhook(ctx, r.t.WebhookID)
	if err != nil {
		return r.fail(StepGet, err)
	}
	r.live = live
	r.rec.WebhookID = live.ID
	r.step(StepGet, "ok", 0, 200, liveDetail(live))
	return r.after(ctx, StepGet)
}

// read reads the document: a staged one (or, of an API key, one with an intent to create)
// gives the run its rotation id.
func (r *run) read(ctx context.Context) error {
	vv, err := r.e.Store.Read(ctx, r.t.VaultPath)
	switch {
	case err == nil:
		r.exists = true
	case errors.Is(err, ErrNotFound):
		r.exists = false
	default:
		return r.fail(StepRead, err)
	}
	r.doc, r.version = vv.Doc, vv.Version
	r.held(r.doc)
	r.bound = BindingOf(vv.Meta)
	r.kept = vv.MaxVersions
	r.maxSet = vv.MaxVersions == r.e.Store.MaxVersions()
	r.trimmed = r.maxSet
	if r.exists {
		r.saw(r.version, r.doc)
	}
	if (r.doc.Staged() || r.doc.Creating != "") && r.doc.RotationID != "" {
		r.rec.RotationID = r.doc.RotationID
	}
	r.step(StepRead, "ok", r.version, 0, "state "+r.doc.State())
	return r.after(ctx, StepRead)
}

// begin logs what the decision resumes and records what each of --rebind, --adopt-drift
// and --force changed, as a step of its own, and the keys of a resumed rotation.
func (r *run) begin() {
	if !r.d.Rebind.IsZero() {
		r.log.Warn().Str("from", r.d.Rebind.String()).Str("to", r.d.BindTo.String()).Msg("--rebind moves the document to this webhook")
		r.step(StepBind, "rebound", 0, 0, "rebound from "+r.d.Rebind.String()+" to "+r.d.BindTo.String()+" (--rebind)")
	}
	if r.d.Adopt != "" {
		fp := keyset.Fingerprint(r.d.Adopt)
		r.log.Warn().Str("live_fingerprint", fp).Msg("drift: --adopt-drift keeps the live key as previous")
		r.step(StepAdoptDrift, "adopted", 0, 0, "the drifted live key "+fp+" kept as previous (--adopt-drift)")
	}
	if len(r.d.Forced) > 0 {
		r.step(StepForce, "forced", 0, 0, strings.Join(r.d.Forced, "; ")+" (--force)")
	}
	if r.d.Resume {
		r.rec.NewFingerprint = keyset.Fingerprint(r.d.New)
		r.rec.OldFingerprint = keyset.Fingerprint(r.d.Old)
		r.log.Info().Str("rotation_id", r.doc.RotationID).Str("pending_fingerprint", r.rec.NewFingerprint).
			Bool("already_pushed", r.d.Pushed).Msg("resuming staged rotation")
	}
}

// executors carry out each kind of step a decision orders.
var executors = map[StepKind]func(*run, context.Context, Step) error{
	StepStage:   (*run).stage,
	StepAdopt:   (*run).adopt,
	StepWait:    (*run).wait,
	StepTest:    (*run).test,
	StepPush:    (*run).push,
	StepVerify:  (*run).verify,
	StepPromote: (*run).promote,
	StepRetire:  (*run).retire,
	StepMeta:    (*run).writeMetadata,
	StepDestroy: (*run).destroy,
}

// webhookHooked says after which of the webhook's steps the AfterStep hook runs.
func webhookHooked(k StepKind) bool {
	switch k {
	case StepStage, StepWait, StepTest, StepPush, StepVerify, StepPromote:
		return true
	}
	return false
}

// execute carries out the plan's steps with the kind's executors, and nothing else,
// calling the AfterStep hook after each step hooked accepts; a stage's hook runs after the
// metadata write that follows it, once the document and its metadata are both written.
func (r *run) execute(ctx context.Context, executors map[StepKind]func(*run, context.Context, Step) error, hooked func(StepKind) bool) error {
	for i, s := range r.d.Steps {
		exec, ok := executors[s.Kind]
		if !ok {
			return r.fail(s.Kind, fmt.Errorf("no executor for step %q", s.Kind))
		}
		if err := exec(r, ctx, s); err != nil {
			return err
		}
		hook := s.Kind
		switch {
		case s.Kind == StepStage && i+1 < len(r.d.Steps) && r.d.Steps[i+1].Kind == StepMeta:
			continue // hooked after its metadata write
		case s.Kind == StepMeta && i > 0 && r.d.Steps[i-1].Kind == StepStage:
			hook = StepStage
		}
		if !hooked(hook) {
			continue
		}
		if err := r.after(ctx, hook); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) now() time.Time { return r.e.clock().Now().UTC() }

func (r *run) newID() string {
	if r.e.NewID != nil {
		return r.e.NewID()
	}
	return newUUIDv7(r.now())
}

// fail wraps err as the failure of step, of the kind kindOf decides.
func (r *run) fail(step StepKind, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", errCanceled, err)
	}
	return r.failAs(step, err, kindOf(err))
}

// failAs is fail with an explicit kind.
func (r *run) failAs(step StepKind, err error, kind failure.Kind) error {
	r.step(step, "failed", 0, httpStatus(err), "")
	return &Error{Target: r.t.Name, Step: string(step), Kind: kind, Err: err}
}

// failed makes err the run's *Error, records it in the evidence and logs it.
func (r *run) failed(err error) *Error {
	var re *Error
	if !errors.As(err, &re) {
		re = &Error{Target: r.t.Name, Step: "run", Kind: kindOf(err), Err: err}
	}
	r.rec.Error = &evidence.ErrorInfo{Code: re.Code(), Message: re.Error()}
	r.log.Error().Str("rotation_id", r.rec.RotationID).Str("step", re.Step).Bool("needs_human", re.FailureKind() == failure.NeedsHuman).
		Str("code", re.Code()).Err(re.Err).Msg("rotation failed")
	return re
}

// step appends one step to the evidence record and logs it.
func (r *run) step(name StepKind, outcome string, vaultVersion, status int, detail string) {
	s := evidence.Step{Name: string(name), Time: r.now(), Outcome: outcome, VaultVersion: vaultVersion, HTTPStatus: status, Detail: detail}
	r.rec.Steps = append(r.rec.Steps, s)
	ev := r.log.Info()
	if outcome == "failed" {
		ev = r.log.Warn()
	}
	ev = ev.Str("rotation_id", r.rec.RotationID).Str("step", string(name)).Str("outcome", outcome)
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
func (r *run) after(ctx context.Context, step StepKind) error {
	if r.e.AfterStep == nil {
		return nil
	}
	if err := r.e.AfterStep(ctx, r.t.Name, step); err != nil {
		return &Error{Target: r.t.Name, Step: string(step), Kind: kindOf(err), Err: err}
	}
	return nil
}

func httpStatus(err error) int {
	var h httpStatused
	if errors.As(err, &h) {
		return h.HTTPStatus()
	}
	return 0
}

func liveDetail(w Live) string {
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

// write stores nd with check-and-set on the version last read or written. A lost race is
// returned as is (the caller reads and decides again), after recording it for step.
func (r *run) write(ctx context.Context, step StepKind, nd keyset.Document) error {
	v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
	if errors.Is(err, ErrConflict) {
		r.step(step, "conflict", 0, 0, "another writer won; reading again")
		return err
	}
	if err != nil {
		return r.fail(step, err)
	}
	r.doc, r.version = nd, v
	r.held(nd)
	r.saw(v, nd)
	return nil
}

// saw records the document of version v, read or just written.
func (r *run) saw(v int, doc keyset.Document) {
	r.trimmed = r.maxSet
	if r.seen == nil {
		r.seen = map[int]keyset.Document{}
	}
	r.seen[v] = doc
}

// stage writes a fresh pending key, minted once per run.
func (r *run) stage(ctx context.Context, s Step) error {
	if r.newKey == "" {
		gen := r.e.NewKey
		if gen == nil {
			gen = keyset.Generate
		}
		k, err := gen(s.Length)
		if err != nil {
			return r.fail(StepStage, err)
		}
		r.newKey = k
	}
	nd := s.apply(r.doc, r.now(), r.newKey, r.rec.RotationID)
	if err := r.write(ctx, StepStage, nd); err != nil {
		return err
	}
	r.rec.OldFingerprint = keyset.Fingerprint(r.d.Old)
	r.rec.NewFingerprint = keyset.Fingerprint(nd.Pending)
	r.step(StepStage, "ok", r.version, 0, "pending "+r.rec.NewFingerprint)
	return nil
}

// adopt writes a drifted live key into previous while resuming (--force).
func (r *run) adopt(ctx context.Context, s Step) error {
	if err := r.write(ctx, StepAdopt, s.apply(r.doc, r.now(), "", "")); err != nil {
		return err
	}
	r.step(StepAdopt, "ok", r.version, 0, "previous "+keyset.Fingerprint(s.Previous))
	return nil
}

// wait lets every listener learn the pending key before DigiCert may send it: it lasts
// until the propagation delay has passed since this run knew Vault held the key (its
// stage write acknowledged, or, resuming, the read that found it). A resumed run thus
// waits the whole delay again: it cannot tell when the write it found landed.
func (r *run) wait(ctx context.Context, s Step) error {
	from := r.doc.PendingSince
	if keyset.Equal(r.doc.Pending, r.heldPending) && r.heldSince.After(from) {
		from = r.heldSince
	}
	until := from.Add(s.Delay)
	if soakbug.SkipWait {
		until = r.now() // an injected bug for the soak's self-test; never in a shipped build
	}
	if d := until.Sub(r.now()); d > 0 {
		r.log.Info().Str("rotation_id", r.rec.RotationID).Dur("wait", d).Time("until", until).Msg("waiting for listeners to learn the new key")
		if err := r.idle(func() error { return r.e.clock().Sleep(ctx, d) }); err != nil {
			return r.fail(StepWait, err)
		}
	}
	r.step(StepWait, "ok", 0, 0, fmt.Sprintf("propagation_delay %s", s.Delay))
	return nil
}

// idle runs wait without holding a RotateAll work slot, and takes one back afterwards.
func (r *run) idle(wait func() error) error {
	if r.e.slots == nil {
		return wait()
	}
	<-r.e.slots
	err := wait()
	r.e.slots <- struct{}{} // the deferred release gives it back at the end
	return err
}

// test asks DigiCert to deliver a test event carrying the pending key.
func (r *run) test(ctx context.Context, s Step) error {
	if err := r.t.API.TestEndpoint(ctx, s.Endpoint, r.doc.Pending); err != nil {
		return r.fail(StepTest, err)
	}
	r.step(StepTest, "ok", 0, 200, "test event accepted")
	return nil
}

// push sends the pending key to DigiCert, leaving endpoint, events and settings as read.
func (r *run) push(ctx context.Context, s Step) error {
	req := Update{Endpoint: s.Endpoint, Secret: r.doc.Pending, Settings: r.live.Settings}
	if err := r.t.API.UpdateWebhook(ctx, s.WebhookID, req); err != nil {
		// DigiCert may contact the endpoint with the new key before applying an update; a
		// listener that did not answer 2xx (down, or failing closed while Vault is out)
		// is as retryable as a failed test event: nothing changed at DigiCert.
		return r.fail(StepPush, err)
	}
	r.step(StepPush, "ok", 0, 204, "secret "+keyset.Fingerprint(r.doc.Pending))
	return nil
}

// verify reads the webhook back: endpoint, events and status as before the push, and the
// secret (when DigiCert returns it) the pushed one.
func (r *run) verify(ctx context.Context, s Step) error {
	after, err := r.t.API.GetWebhook(ctx, s.WebhookID)
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
	if !after.Active {
		problems = append(problems, "status is "+after.Status)
	}
	if len(problems) > 0 {
		return r.failAs(StepVerify, fmt.Errorf("%w: %v", ErrVerify, problems), failure.NeedsHuman)
	}
	detail := "endpoint, events and status unchanged; secret not returned"
	if after.SecretReturned {
		if role := r.doc.LiveRole(after.Secret); role != keyset.RolePending {
			err := fmt.Errorf("%w: live secret is %s, not the pushed %s", ErrVerify, fpOrNone(after.Secret), keyset.Fingerprint(r.doc.Pending))
			if after.Secret != "" && role != keyset.RoleCurrent {
				err = fmt.Errorf("%w (%w)", err, ErrDrift) // someone else changed it
			}
			return r.fail(StepVerify, err)
		}
		detail = "endpoint, events and status unchanged; secret is the new key"
	}
	r.step(StepVerify, "ok", 0, 200, detail)
	return nil
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// promote makes the pushed key current, keeping s.Previous as previous for the overlap.
// A lost check-and-set reads again: another run may have promoted this very key, or
// written a newer version of the same rotation.
func (r *run) promote(ctx context.Context, s Step) error {
	pending := r.doc.Pending
	if s.Drops != "" {
		// One previous slot: a rotation within the overlap of the last one ends that
		// key's window early. Deliveries DigiCert retries with it will be rejected.
		r.log.Warn().Str("rotation_id", r.doc.RotationID).Str("dropped_fingerprint", keyset.Fingerprint(s.Drops)).
			Time("window_was_until", r.doc.PreviousUntil).Msg("rotating within the previous overlap: the older key leaves the accept set early")
	}
	for range maxReconcile {
		now := r.now()
		nd := s.apply(r.doc, now, "", "")
		v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
		if err == nil {
			r.doc, r.version = nd, v
			r.saw(v, nd)
			if s.Previous != "" {
				r.rec.OverlapUntil = evidence.Time(nd.PreviousUntil)
			}
			detail := "current " + keyset.Fingerprint(pending)
			if s.Drops != "" {
				detail += fmt.Sprintf("; cut the overlap window of %s short (was until %s, --force)",
					keyset.Fingerprint(s.Drops), r.seenPreviousUntil(s.Drops).Format(time.RFC3339))
			}
			r.step(StepPromote, "ok", v, 0, detail)
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return r.fail(StepPromote, err)
		}
		r.replanned = true // the versions after this one are not the plan's
		done, err := r.promoteConflict(ctx, pending, now)
		if done || err != nil {
			return err
		}
	}
	return r.fail(StepPromote, ErrContention)
}

// promoteConflict reads the document after a lost promote: done when another run
// promoted pending already; nil error and not done to try again on the newer version.
func (r *run) promoteConflict(ctx context.Context, pending string, now time.Time) (bool, error) {
	vv, err := r.e.Store.Read(ctx, r.t.VaultPath)
	if err != nil {
		return false, r.fail(StepPromote, err)
	}
	switch vv.Doc.LiveRole(pending) {
	case keyset.RoleCurrent:
		// Another run finished this very rotation: success.
		r.doc, r.version = vv.Doc, vv.Version
		r.saw(vv.Version, vv.Doc)
		if vv.Doc.PreviousActive(now) {
			r.rec.OverlapUntil = evidence.Time(vv.Doc.PreviousUntil)
		}
		r.step(StepPromote, "ok", vv.Version, 0, "already promoted by a concurrent run")
		return true, nil
	case keyset.RolePending:
		r.doc, r.version = vv.Doc, vv.Version // same rotation, a newer version: try again
		r.saw(vv.Version, vv.Doc)
		r.step(StepPromote, "conflict", 0, 0, "document changed; promoting on the new version")
		return false, nil
	}
	return false, r.fail(StepPromote, fmt.Errorf("%w: the staged key %s is neither current nor pending any more",
		ErrContention, keyset.Fingerprint(pending)))
}

// metadata writes the non-secret custom_metadata, with the binding to this run's webhook
// (and max_versions); a failure is logged, not fatal, because the document itself (what
// listeners read) is already right.
func (r *run) metadata(ctx context.Context) {
	meta := r.doc.Metadata()
	if r.live.ID != 0 {
		meta[MetaWebhookID] = fmt.Sprint(r.live.ID)
	}
	if r.t.Host != "" {
		meta[MetaHost] = r.t.Host
	}
	if err := r.e.Store.WriteMetadata(ctx, r.t.VaultPath, meta); err != nil {
		r.step(StepMeta, "failed", 0, 0, "custom_metadata not updated: "+err.Error())
		r.replanned = true // max_versions may not be in force: destroy by what the run saw
		return
	}
	r.maxSet = true // the next write removes the versions before the last Store.MaxVersions()
}

// seenPreviousUntil is when the window of the previous key k was to end, as read.
func (r *run) seenPreviousUntil(k string) time.Time {
	for _, d := range r.seen {
		if d.Previous != "" && keyset.Equal(d.Previous, k) {
			return d.PreviousUntil.UTC()
		}
	}
	return time.Time{}
}

// writeMetadata is the executor of StepMeta: a failed metadata write is recorded, not
// fatal (see metadata).
func (r *run) writeMetadata(ctx context.Context, _ Step) error {
	r.metadata(ctx)
	return nil
}

// retire writes the document without its expired previous key (a run with no rotation
// due); the plan's destroy step then destroys the versions that still hold it.
func (r *run) retire(ctx context.Context, s Step) error {
	return r.write(ctx, StepRetire, s.apply(r.doc, r.now(), "", ""))
}

// destroy destroys the versions that may hold a key outside the latest version's accept
// set, and records the retirement: the keys retired and the versions destroyed (see
// Retirement). When the run left its plan, it plans the destroy again from what it saw. A
// failure is recorded and logged but does not fail the run: the document is right;
// `keyroll status` counts the versions that still hold retired keys.
func (r *run) destroy(ctx context.Context, s Step) error {
	if r.replanned {
		var ok bool
		if s, ok = Retirement(History{Seen: r.seen, From: r.version}, r.version, r.trimmed, r.e.Store.MaxVersions(), r.now()); !ok {
			return nil
		}
	}
	detail := s.destroyDetail()
	if len(s.Versions) > 0 {
		if err := r.e.Store.Destroy(ctx, r.t.VaultPath, s.Versions); err != nil {
			r.step(StepRetire, "failed", 0, 0, detail+": not destroyed: "+err.Error())
			r.log.Error().Err(err).Msg("retired keys not destroyed: `keyroll status` counts the versions that still hold them")
			return nil
		}
	}
	r.step(StepRetire, "ok", r.version, 0, detail)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// versionList prints versions compactly: "none", "7", "1-6".
func versionList(vs []int) string {
	switch {
	case len(vs) == 0:
		return "none"
	case len(vs) == 1:
		return fmt.Sprint(vs[0])
	case vs[len(vs)-1]-vs[0] == len(vs)-1:
		return fmt.Sprintf("%d-%d", vs[0], vs[len(vs)-1])
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ",")
}
