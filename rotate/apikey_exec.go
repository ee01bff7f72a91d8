package rotate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
)

// authAttempts is how often authenticate tries the new key, authBackoff the wait before
// the second try (doubling after): the issuer may take a moment before a new key works.
const (
	authAttempts = 4
	authBackoff  = time.Second
	// conflictPause bounds the random pause before observing again after a lost
	// check-and-set, doubled after each.
	conflictPause = 250 * time.Millisecond
)

// doKeys is do for an API-key target: observe, plan, carry out; a lost check-and-set
// observes and plans again.
func (r *run) doKeys(ctx context.Context) (evidence.Outcome, error) {
	for i := range maxReconcile {
		if i > 0 {
			// Runs that keep taking each other's intent over would each create a key and
			// lose it; a random pause lets the one ahead stage its key, which the next
			// observation resumes.
			pause := rand.N(conflictPause << (i - 1))
			if err := r.idle(func() error { return r.e.clock().Sleep(ctx, pause) }); err != nil {
				return "", r.fail(stepReconcile, err)
			}
		}
		in, err := r.observeKeys(ctx)
		if err != nil {
			return "", err
		}
		r.d = PlanAPIKey(in)
		r.created = CreatedKey{}
		outcome, err := r.carryOutKeys(ctx)
		if errors.Is(err, ErrConflict) {
			continue // another run wrote first: observe again, likely resuming its key
		}
		return outcome, err
	}
	return "", r.fail(stepReconcile, ErrContention)
}

// observeKeys reads the document, describes its current key (authenticated with it) and
// lists the key's user's keys, then reads the document again: a key created by a run in
// flight before the list is named in the second read (creating or pending_id), so the
// sweep never revokes it.
func (r *run) observeKeys(ctx context.Context) (KeyInput, error) {
	if err := r.read(ctx); err != nil {
		return KeyInput{}, err
	}
	in := r.keyInput()
	id, refusal := keyIdentity(in)
	if refusal.Refusal != RefuseNone {
		return in, nil
	}
	cur, err := r.t.Keys.Key(ctx, id)
	if errors.Is(err, ErrKeyRejected) {
		r.step(StepGet, "rejected", 0, httpStatus(err), fmt.Sprintf("key %d: the issuer refused the stored key", id))
		in.Rejected = true
		return in, nil
	}
	if err != nil {
		return in, r.fail(StepGet, err)
	}
	r.step(StepGet, "ok", 0, 200, keyDetail(cur))
	if err := r.after(ctx, StepGet); err != nil || !cur.Active {
		in.Current = cur
		return in, err
	}
	keys, err := r.t.Keys.Keys(ctx, cur.UserID)
	if err != nil {
		return in, r.fail(StepList, err)
	}
	r.step(StepList, "ok", 0, 200, fmt.Sprintf("user %d: %d keys, %d of them active and named %q", cur.UserID, len(keys), len(Orphans(r.t.Name, keyset.Document{}, keys)), KeyNamePrefix(r.t.Name)+"…"))
	if err := r.after(ctx, StepList); err != nil {
		return in, err
	}
	if err := r.read(ctx); err != nil {
		return in, err
	}
	in = r.keyInput()
	in.Current, in.Keys = cur, keys
	return in, nil
}

// keyInput is the decision's input from what the run read.
func (r *run) keyInput() KeyInput {
	return KeyInput{Target: r.t.Name, Doc: r.doc, Version: r.version, Exists: r.exists, Key: r.t.Key,
		Policy: r.p, Options: r.o, Now: r.now(), RotationID: r.rec.RotationID,
		Seen: r.seen, MaxVersions: r.kept, Keep: r.e.Store.MaxVersions()}
}

func keyDetail(k APIKey) string {
	return fmt.Sprintf("key %d: status %s, user %d, %s, last used %s", k.ID, orNone(k.Status), k.UserID, roleName(k.RoleID), usedAt(k.LastUsed))
}

// carryOutKeys records what the decision is and carries out its steps. A refusal that
// fails the run (held) still carries out its steps first: the sweep, the hold's write.
func (r *run) carryOutKeys(ctx context.Context) (evidence.Outcome, error) {
	r.replanned = false
	r.beginKeys()
	outcome, k := evidence.OutcomeRotated, r.d.Refusal
	fails := k.Failure() != failure.None
	switch {
	case k == RefuseNone && r.d.Resume:
		outcome = evidence.OutcomeResumed
	case k == RefuseNone:
	case !fails:
		r.step(stepReconcile, "skipped", 0, 0, k.String()+": "+r.d.Reason)
		outcome = evidence.OutcomeSkipped
	case len(r.d.Steps) == 0 || r.o.DryRun:
		return "", r.failAs(stepReconcile, fmt.Errorf("%w: %s", refusalErrs[k], r.d.Reason), k.Failure())
	}
	if r.o.DryRun {
		return evidence.OutcomeSkipped, nil
	}
	if err := r.execute(ctx, keyExecutors, keyHooked); err != nil {
		return "", err
	}
	if fails {
		return "", r.failAs(stepReconcile, fmt.Errorf("%w: %s", refusalErrs[k], r.d.Reason), k.Failure())
	}
	return outcome, nil
}

// beginKeys records the keys of the decision and what adoption and --force changed.
func (r *run) beginKeys() {
	if r.d.AdoptID != 0 {
		r.doc.CurrentID = strconv.Itoa(r.d.AdoptID)
	}
	if r.d.AdoptID != 0 && !slices.ContainsFunc(r.d.Steps, func(s Step) bool { return s.Kind == StepAdopt }) {
		r.step(StepAdopt, "adopted", 0, 0, fmt.Sprintf("current_id %d from the target's api_key.key_id (first adoption), written with the run's first write", r.d.AdoptID))
	}
	if len(r.d.Forced) > 0 {
		r.step(StepForce, "forced", 0, 0, fmt.Sprint(r.d.Forced)+" (--force)")
	}
	r.rec.OldKeyID = atoi(r.doc.CurrentID)
	r.rec.OldFingerprint = keyset.Fingerprint(r.doc.Current)
	if r.d.New != "" {
		r.rec.NewKeyID = atoi(r.doc.PendingID)
		r.rec.NewFingerprint = keyset.Fingerprint(r.doc.Pending)
	}
}

// keyExecutors carry out each kind of step an API-key plan orders; the store's steps
// (metadata, destroy) are the webhook's.
var keyExecutors = map[StepKind]func(*run, context.Context, Step) error{
	StepRevokeOrphan: (*run).revokeKey,
	StepRevoke:       (*run).revokeKey,
	StepAdopt:        (*run).keyWrite,
	StepHold:         (*run).keyWrite,
	StepIntent:       (*run).keyWrite,
	StepRetire:       (*run).keyWrite,
	StepUnstage:      (*run).keyWrite,
	StepCreate:       (*run).create,
	StepStage:        (*run).stageKey,
	StepAuthenticate: (*run).authenticate,
	StepPromote:      (*run).promoteKey,
	StepMeta:         (*run).writeMetadata,
	StepDestroy:      (*run).destroy,
}

// keyHooked says after which of the API key's steps the AfterStep hook runs: every step but
// the metadata writes and the destroy.
func keyHooked(k StepKind) bool { return k != StepMeta && k != StepDestroy }

// revokeKey revokes an orphan, or the previous key.
func (r *run) revokeKey(ctx context.Context, s Step) error {
	if err := r.t.Keys.Revoke(ctx, s.KeyID); err != nil {
		return r.fail(s.Kind, err)
	}
	r.step(s.Kind, "revoked", 0, 204, s.revokeDetail())
	return nil
}

// keyWrite writes the document a step changes (adopt, hold, intent, retire) with
// check-and-set. The retire's evidence is the destroy step's, as for the webhook.
func (r *run) keyWrite(ctx context.Context, s Step) error {
	if err := r.write(ctx, s.Kind, s.applyKey(r.doc, r.now(), CreatedKey{}, r.rec.RotationID)); err != nil {
		return err
	}
	var detail string
	switch s.Kind {
	case StepRetire:
		return nil
	case StepAdopt:
		detail = fmt.Sprintf("current_id %d", s.KeyID)
	case StepUnstage:
		detail = fmt.Sprintf("the staged key %d %s is revoked at the issuer: left out", s.KeyID, keyset.Fingerprint(s.Retire))
	case StepHold:
		detail = fmt.Sprintf("the previous key %d %s: still in use, %s (in_use: hold)", s.KeyID, keyset.Fingerprint(s.Retire), s.useDetail())
	case StepIntent:
		detail = fmt.Sprintf("creating %q", s.KeyName)
		if s.TakeOver {
			detail += ", taken over from an earlier run"
		}
		if s.Retire != "" {
			detail += fmt.Sprintf("; the revoked previous key %d %s left out", s.KeyID, keyset.Fingerprint(s.Retire))
		}
	}
	r.step(s.Kind, "ok", r.version, 0, detail)
	return nil
}

// create asks the issuer for the new key, named after the intent.
func (r *run) create(ctx context.Context, s Step) error {
	k, err := r.t.Keys.CreateKey(ctx, s.UserID, s.KeyName, s.RoleID)
	if err != nil {
		return r.fail(StepCreate, err)
	}
	r.created = k
	r.rec.NewKeyID, r.rec.NewFingerprint = k.ID, keyset.Fingerprint(k.Key)
	r.step(StepCreate, "ok", 0, 201, fmt.Sprintf("key %d %q for user %d, %s, %s", k.ID, k.Name, s.UserID, roleName(k.RoleID), r.rec.NewFingerprint))
	return nil
}

// stageKey writes the created key as pending. A lost check-and-set revokes the key (best
// effort: otherwise it is an orphan the next run's sweep revokes) and plans again.
func (r *run) stageKey(ctx context.Context, s Step) error {
	if r.created.Key == "" {
		return r.fail(StepStage, errors.New("no key created to stage"))
	}
	err := r.write(ctx, StepStage, s.applyKey(r.doc, r.now(), r.created, ""))
	if errors.Is(err, ErrConflict) {
		id, name := r.created.ID, r.created.Name
		r.created = CreatedKey{}
		if r.stagedAlready(ctx, id) {
			r.step(StepStage, "ok", 0, 0, fmt.Sprintf("pending key %d: the document holds it (the write landed, its answer was lost); reading again", id))
			return err
		}
		detail := fmt.Sprintf("key %d %q, created by this run: its stage lost to another writer", id, name)
		if rerr := r.t.Keys.Revoke(ctx, id); rerr != nil {
			r.step(StepRevokeOrphan, "failed", 0, httpStatus(rerr), detail+"; left to the next run's sweep")
		} else {
			r.step(StepRevokeOrphan, "revoked", 0, 204, detail)
		}
		return err
	}
	if err != nil {
		return err
	}
	r.step(StepStage, "ok", r.version, 0, fmt.Sprintf("pending key %s %s", r.doc.PendingID, keyset.Fingerprint(r.doc.Pending)))
	return nil
}

// stagedAlready says whether the document now holds key id as pending: a stage write that
// landed and whose answer was lost, retried by the Vault client into a check-and-set
// conflict with itself. That key is not revoked: the observation that follows resumes it.
func (r *run) stagedAlready(ctx context.Context, id int) bool {
	vv, err := r.e.Store.Read(ctx, r.t.VaultPath)
	return err == nil && vv.Doc.PendingID == strconv.Itoa(id)
}

// authenticate makes a call with the pending key, trying a few times with backoff; then
// it fails retryable, and the next run resumes with the same key.
func (r *run) authenticate(ctx context.Context, _ Step) error {
	id := atoi(r.doc.PendingID)
	var err error
	for i := range authAttempts {
		if i > 0 {
			if serr := r.idle(func() error { return r.e.clock().Sleep(ctx, authBackoff<<(i-1)) }); serr != nil {
				return r.fail(StepAuthenticate, serr)
			}
		}
		var k APIKey
		if k, err = r.t.Keys.Authenticate(ctx, r.doc.Pending, id); err == nil && k.ID == id {
			r.step(StepAuthenticate, "ok", 0, 200, fmt.Sprintf("key %d %s authenticates (attempt %d)", id, keyset.Fingerprint(r.doc.Pending), i+1))
			return nil
		}
		if err == nil {
			err = fmt.Errorf("the issuer described key %d, not %d", k.ID, id)
		}
	}
	return r.failAs(StepAuthenticate, fmt.Errorf("%w: key %d after %d attempts: %w", ErrNotAuthenticated, id, authAttempts, err), failure.Retryable)
}

// promoteKey makes the pending key current, the current one previous for the overlap. A
// lost check-and-set reads again: another run may have promoted this very key.
func (r *run) promoteKey(ctx context.Context, s Step) error {
	id := r.doc.PendingID
	for range maxReconcile {
		nd := s.applyKey(r.doc, r.now(), CreatedKey{}, "")
		v, err := r.e.Store.Write(ctx, r.t.VaultPath, nd, r.version)
		if err == nil {
			r.doc, r.version = nd, v
			r.saw(v, nd)
			r.rec.OverlapUntil = evidence.Time(nd.PreviousUntil)
			r.step(StepPromote, "ok", v, 0, fmt.Sprintf("current key %s %s; previous key %s %s until %s", id, keyset.Fingerprint(nd.Current),
				nd.PreviousID, keyset.Fingerprint(nd.Previous), nd.PreviousUntil.UTC().Format(time.RFC3339)))
			return nil
		}
		if !errors.Is(err, ErrConflict) {
			return r.fail(StepPromote, err)
		}
		r.replanned = true
		vv, err := r.e.Store.Read(ctx, r.t.VaultPath)
		if err != nil {
			return r.fail(StepPromote, err)
		}
		r.doc, r.version = vv.Doc, vv.Version
		r.saw(vv.Version, vv.Doc)
		switch {
		case vv.Doc.CurrentID == id:
			r.step(StepPromote, "ok", vv.Version, 0, "already promoted by a concurrent run")
			return nil
		case vv.Doc.PendingID != id:
			return r.fail(StepPromote, fmt.Errorf("%w: the staged key %s is neither current nor pending any more", ErrContention, id))
		}
		r.step(StepPromote, "conflict", 0, 0, "document changed; promoting on the new version")
	}
	return r.fail(StepPromote, ErrContention)
}
