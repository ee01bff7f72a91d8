package rotate

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
)

// StepKind names a step of a rotation, as it appears in the decision, in logs, in
// evidence and in the AfterStep hook. The steps a decision orders are StepAdopt,
// StepStage, StepWait, StepTest, StepPush, StepVerify, StepPromote and StepRetire; Plan
// adds StepMeta and StepDestroy; StepRead and StepGet are the reads before deciding.
type StepKind string

// The step kinds.
const (
	StepRead    StepKind = "read"     // read the document
	StepGet     StepKind = "get"      // read the live webhook
	StepAdopt   StepKind = "adopt"    // keep a drifted live key as previous while resuming (--adopt-drift)
	StepStage   StepKind = "stage"    // mint a key and write it as pending
	StepWait    StepKind = "wait"     // let listeners learn the pending key (propagation_delay)
	StepTest    StepKind = "test"     // DigiCert's test event with the pending key
	StepPush    StepKind = "push"     // PUT the pending key to DigiCert
	StepVerify  StepKind = "verify"   // read the webhook back
	StepPromote StepKind = "promote"  // pending becomes current, the old key previous
	StepRetire  StepKind = "retire"   // retired keys leave the document and its history
	StepMeta    StepKind = "metadata" // the document's custom_metadata
	StepBind    StepKind = "bind"     // the document's binding moved to this webhook (--rebind)
	// StepAdoptDrift and StepForce record what --adopt-drift and --force changed.
	StepAdoptDrift StepKind = "adopt-drift"
	StepForce      StepKind = "force"
	// StepDestroy destroys the versions that hold retired keys; its evidence step is
	// named "retire", with the keys retired and the versions destroyed.
	StepDestroy StepKind = "destroy"

	// The API-key kind's steps (StepRead, StepGet, StepAdopt, StepStage, StepPromote,
	// StepRetire, StepMeta and StepDestroy are shared; see DecideAPIKey).
	StepList         StepKind = "list"          // list the user's keys
	StepRevokeOrphan StepKind = "revoke-orphan" // revoke a key keyroll made that the document does not hold
	StepIntent       StepKind = "intent"        // write creating: the name of the key about to be created
	StepCreate       StepKind = "create"        // the issuer creates the key
	StepAuthenticate StepKind = "authenticate"  // a call authenticated with the pending key
	StepHold         StepKind = "hold"          // keep a previous key still in use active (in_use: hold)
	StepRevoke       StepKind = "revoke"        // revoke the previous key
	StepUnstage      StepKind = "unstage"       // leave out a staged key revoked at the issuer
)

// RefusalKind says why a decision orders no step.
type RefusalKind int

// The refusals. Each has one failure kind (see Failure); RefuseNotDue is no failure.
const (
	// RefuseNone: the decision has steps.
	RefuseNone RefusalKind = iota
	// RefuseNotDue: the last rotation is younger than min_interval (and no --force).
	RefuseNotDue
	// RefuseReadAgain: DigiCert holds a key that is neither current nor pending, at the
	// first read of this run. A concurrent run may have staged and pushed between the two
	// reads: read both again and decide again.
	RefuseReadAgain
	// RefuseNotActive: the webhook is not active at DigiCert.
	RefuseNotActive
	// RefuseDrift: DigiCert still holds an unknown key at the second read, and no
	// --adopt-drift.
	RefuseDrift
	// RefuseInOverlap: the previous key's overlap window is still open (and no --force):
	// rotating now would drop it from the accept set early.
	RefuseInOverlap
	// RefuseBinding: the document belongs to another webhook or CertCentral host than the
	// one this run resolves (and no --rebind).
	RefuseBinding
	// RefuseKeyUnknown: an API-key target's document holds no key, or no id for it and
	// none is configured.
	RefuseKeyUnknown
	// RefuseKeyRejected: the issuer refuses the document's current API key, or says it is
	// revoked.
	RefuseKeyRejected
	// RefuseHeld: the expired previous API key is still in use and the policy holds it.
	RefuseHeld
)

// String names the refusal as the printed decision shows it.
func (k RefusalKind) String() string {
	switch k {
	case RefuseNone:
		return "none"
	case RefuseNotDue:
		return "not due"
	case RefuseReadAgain:
		return "read again"
	case RefuseNotActive:
		return "webhook not active"
	case RefuseDrift:
		return "drift"
	case RefuseInOverlap:
		return "in overlap"
	case RefuseBinding:
		return "bound to another webhook"
	case RefuseKeyUnknown:
		return "API key unknown"
	case RefuseKeyRejected:
		return "API key rejected"
	case RefuseHeld:
		return "held"
	}
	return "unknown"
}

// Failure is the failure kind of a refusal: None for RefuseNone, RefuseNotDue and
// RefuseInOverlap (skips), Retryable for RefuseReadAgain, NeedsHuman for the rest.
func (k RefusalKind) Failure() failure.Kind {
	switch k {
	case RefuseNone, RefuseNotDue, RefuseInOverlap:
		return failure.None
	case RefuseReadAgain:
		return failure.Retryable
	}
	return failure.NeedsHuman
}

// Input is everything a decision depends on: values read and configured, no clients.
type Input struct {
	Doc     keyset.Document
	Version int  // the document's KV version (0: never written)
	Exists  bool // false: never written, or its latest version is deleted
	Live    Live
	Policy  Policy
	Options Options
	Now     time.Time
	// Reread: this run already read again because DigiCert's key looked unknown.
	Reread bool
	// Bound is the binding recorded in the document's custom_metadata (zero: none yet);
	// Host is the CertCentral host of this run. The webhook is Live.ID.
	Bound Binding
	Host  string
	// For Plan: Seen holds the documents this run read or wrote, by version (nil: Doc at
	// Version); MaxVersions is the store's MaxVersions as read and Keep its
	// KeyStore.MaxVersions.
	Seen        map[int]keyset.Document
	MaxVersions int
	Keep        int
}

// Binding ties a document to the webhook it holds the keys of.
type Binding struct {
	WebhookID int
	Host      string
}

// Custom_metadata keys of the binding.
const (
	MetaWebhookID = "webhook_id"
	MetaHost      = "certcentral_host"
)

// BindingOf reads the binding from a document's custom_metadata (zero when absent).
func BindingOf(meta map[string]string) Binding {
	id, _ := strconv.Atoi(meta[MetaWebhookID])
	return Binding{WebhookID: id, Host: meta[MetaHost]}
}

// IsZero reports whether no binding is recorded.
func (b Binding) IsZero() bool { return b.WebhookID == 0 && b.Host == "" }

// String names the binding, e.g. "webhook 12 at www.digicert.com".
func (b Binding) String() string { return fmt.Sprintf("webhook %d at %s", b.WebhookID, b.Host) }

// Decision is what a run does for one target: the ordered steps, or a refusal.
type Decision struct {
	Steps   []Step
	Refusal RefusalKind
	// Reason explains a refusal, naming keys by fingerprint only.
	Reason string
	// Resume: a staged rotation is finished, not a new one started. Pushed: DigiCert
	// already holds the staged key, so wait, test and push are left out.
	Resume bool
	Pushed bool
	// Old is the key being replaced and New the pending one ("" when this run mints it).
	Old, New string
	// Adopt is the drifted live key --adopt-drift keeps as previous ("" when none).
	Adopt string
	// Rebind is the binding --rebind replaces (zero: the binding stays, or is recorded for
	// the first time).
	Rebind Binding
	BindTo Binding // the binding --rebind records instead: this run's
	// Forced says what --force overrode: rotating before min_interval, cutting an overlap
	// window short (empty: nothing).
	Forced []string
	// Retire is the expired previous key this run leaves out of the document ("" when none).
	Retire string
	// AdoptID is the API key id a first adoption records as current_id (0: none).
	AdoptID int
}

// Step is one step of a decision with the keys it involves. The keys are secrets: print a
// Step (String), never its fields.
type Step struct {
	Kind StepKind
	// CAS is the document version a write checks against (StepStage, StepAdopt,
	// StepRetire; StepPromote in a Plan).
	CAS int
	// Length is the length of the key StepStage mints.
	Length int
	// Current is the live key StepStage writes as current when the document is new, so
	// listeners keep accepting what DigiCert sends; "" when none.
	Current string
	// Previous is the key StepStage or StepAdopt writes as previous until
	// PreviousFor after the write, and the key StepPromote keeps as previous for
	// PreviousFor ("" to keep none).
	Previous    string
	PreviousFor time.Duration
	// Key is the pending key (StepWait, StepTest, StepPush, StepVerify, StepPromote); ""
	// when the StepStage of the same decision mints it.
	Key string
	// Drops is the previous key StepPromote ends inside its window ("" when none): the
	// document has one previous slot.
	Drops string
	// Retire is the expired previous key StepStage or StepRetire leaves out of the
	// document ("" when none).
	Retire string
	// Delay is StepWait's propagation delay, counted from pending_since.
	Delay time.Duration
	// Endpoint and WebhookID address DigiCert's webhook (StepTest, StepPush, StepVerify).
	Endpoint  string
	WebhookID int
	// Versions are the versions StepDestroy destroys and Retired the fingerprints of the
	// keys it retires; RemovedUpTo is the last version the store's MaxVersions already
	// removed (0: none).
	Versions    []int
	Retired     []string
	RemovedUpTo int
	MaxVersions int

	// APIKey marks a step of the API-key kind (DecideAPIKey). KeyID is the issuer's id of
	// the key the step concerns (the key revoked, adopted, held or authenticated), KeyName
	// the name of that key or the one create gives, UserID and RoleID whom create makes
	// the key for (RoleID 0: unrestricted). LastUsed is when the issuer last saw the key
	// a revoke or hold concerns, InUse that this was after its successor's promote plus
	// the grace, Why what made a revoke go ahead anyway. TakeOver says an intent takes
	// over an earlier run's; PreviousID is the id promote keeps as previous.
	APIKey     bool
	KeyID      int
	KeyName    string
	UserID     int
	RoleID     int
	LastUsed   time.Time
	InUse      bool
	Why        string
	TakeOver   bool
	PreviousID string
}

// adoptMargin is how much longer than the rotation itself an adopted drifted key stays in
// the accept set: until promote replaces it as previous.
const adoptMargin = time.Hour

// Decide decides what one run does for one target. It is a pure function of its input:
// no I/O, no clock. The table in the package documentation lists its cases.
func Decide(in Input) Decision {
	p := in.Policy
	if in.Options.Overlap != nil {
		p.Overlap = *in.Options.Overlap
	}
	if p.SecretLength == 0 {
		p.SecretLength = keyset.DefaultLength
	}
	doc, live := in.Doc, in.Live
	if !live.Active {
		return refuse(RefuseNotActive, fmt.Sprintf("status is %q", live.Status))
	}
	d := Decision{Resume: doc.Staged(), New: doc.Pending}
	r, ok := rebind(in)
	if !ok {
		return r
	}
	d.Rebind, d.BindTo = r.Rebind, r.BindTo
	if doc.Previous != "" && !doc.PreviousActive(in.Now) {
		d.Retire = doc.Previous
	}
	if liveKnown := live.SecretReturned && live.Secret != ""; liveKnown && in.Exists {
		switch doc.LiveRole(live.Secret) {
		case keyset.RolePending:
			d.Pushed = true
		case keyset.RoleNone:
			if r := drift(in); r.Refusal != RefuseNone {
				return r
			}
			d.Adopt = live.Secret
		}
	}
	d.Old = oldKey(d.Adopt, doc, live)
	if in.Options.RetireOnly {
		return retireOnly(refuse(RefuseNotDue, retireOnlyReason), d.Retire, in)
	}
	if urgent := d.Resume || d.Adopt != ""; !urgent && in.Exists { // not a staged rotation to finish, a drift to resolve
		until := doc.PreviousUntil.UTC().Format(time.RFC3339)
		skip, forced, _ := timeRules(doc, p, in.Options.Force, in.Now,
			fmt.Sprintf("the previous key %s is accepted until %s; rotating now would drop it early (--force to rotate anyway)", keyset.Fingerprint(doc.Previous), until),
			fmt.Sprintf("cut the overlap window of %s short (was until %s)", keyset.Fingerprint(doc.Previous), until))
		switch skip.Refusal {
		case RefuseNotDue:
			return rebindOnly(retireOnly(skip, d.Retire, in), d)
		case RefuseInOverlap:
			return rebindOnly(skip, d)
		}
		d.Forced = append(d.Forced, forced...)
	}
	d.Steps = steps(d, in, p)
	return d
}

// rebind checks the document's binding against this run's webhook: ok with the binding
// --rebind replaces (zero when it stays or is recorded for the first time), or not ok with
// the refusal. --force alone does not rebind.
func rebind(in Input) (Decision, bool) {
	want := Binding{WebhookID: in.Live.ID, Host: in.Host}
	if in.Bound.IsZero() || in.Bound == want {
		return Decision{}, true
	}
	if in.Options.Rebind {
		return Decision{Rebind: in.Bound, BindTo: want}, true
	}
	reason := fmt.Sprintf("the document belongs to %s, this run resolves %s (--rebind moves it)", in.Bound, want)
	if in.Options.Force {
		reason += "; --force does not rebind: use --rebind"
	}
	return refuse(RefuseBinding, reason), false
}

// drift decides on a live key that is neither current nor pending: read again at the
// first read; at the second, refuse unless --adopt-drift (no refusal: adopt it). --force
// alone does not adopt.
func drift(in Input) Decision {
	doc, live := in.Doc, in.Live
	reason := fmt.Sprintf("live %s, current %s, pending %s", keyset.Fingerprint(live.Secret), fpOrNone(doc.Current), fpOrNone(doc.Pending))
	switch {
	case !in.Reread:
		return refuse(RefuseReadAgain, reason)
	case in.Options.AdoptDrift:
		return Decision{}
	case in.Options.Force:
		reason += "; --force does not adopt a drifted key: use --adopt-drift"
	}
	return refuse(RefuseDrift, reason)
}

// steps orders the steps of decision d (its keys decided) for input in under policy p.
func steps(d Decision, in Input, p Policy) []Step {
	doc, live := in.Doc, in.Live
	out := make([]Step, 0, 7) // the most a decision orders
	adoptFor := p.PropagationDelay + p.Overlap + adoptMargin
	switch {
	case !d.Resume:
		st := Step{Kind: StepStage, CAS: in.Version, Length: p.SecretLength}
		if !in.Exists && live.SecretReturned {
			st.Current = live.Secret // first rotation: listeners keep accepting the live key
		}
		if d.Adopt != "" {
			st.Previous, st.PreviousFor = d.Adopt, adoptFor
		} else {
			st.Retire = d.Retire
		}
		out = append(out, st)
	case d.Adopt != "":
		out = append(out, Step{Kind: StepAdopt, CAS: in.Version, Previous: d.Adopt, PreviousFor: adoptFor})
	}
	if !d.Pushed {
		out = append(out, Step{Kind: StepWait, Key: d.New, Delay: p.PropagationDelay})
		if p.VerifyListener {
			out = append(out, Step{Kind: StepTest, Key: d.New, Endpoint: live.Endpoint})
		}
		out = append(out, Step{Kind: StepPush, Key: d.New, Endpoint: live.Endpoint, WebhookID: live.ID})
	}
	out = append(out, Step{Kind: StepVerify, Key: d.New, WebhookID: live.ID})
	promote := Step{Kind: StepPromote, Key: d.New}
	if p.Overlap > 0 && d.Old != "" && !keyset.Equal(d.Old, d.New) {
		promote.Previous, promote.PreviousFor = d.Old, p.Overlap
	}
	if doc.PreviousActive(in.Now) && !keyset.Equal(doc.Previous, d.Old) {
		promote.Drops = doc.Previous
	}
	return append(out, promote)
}

func refuse(k RefusalKind, reason string) Decision {
	return Decision{Refusal: k, Reason: reason}
}

// retireOnly adds to a skip the one step a run takes even when no rotation is due: leaving
// the expired previous key out of the document (and destroying the versions holding it).
func retireOnly(d Decision, retire string, in Input) Decision {
	if retire != "" {
		d.Retire = retire
		d.Steps = []Step{{Kind: StepRetire, CAS: in.Version, Retire: retire}}
	}
	return d
}

// rebindOnly adds to a skip what --rebind asks even when no rotation is due: the metadata
// write that records this run's binding.
func rebindOnly(skip, d Decision) Decision {
	if !d.Rebind.IsZero() {
		skip.Rebind, skip.BindTo = d.Rebind, d.BindTo
		skip.Steps = append(skip.Steps, Step{Kind: StepMeta})
	}
	return skip
}

// oldKey is the key a rotation replaces: the adopted live key, else the current one, else
// (first rotation) the live key.
func oldKey(adopt string, doc keyset.Document, live Live) string {
	switch {
	case adopt != "":
		return adopt
	case doc.Current != "":
		return doc.Current
	case live.SecretReturned:
		return live.Secret
	}
	return ""
}

// Lines is the decision as `keyroll run --dry-run` prints it, one line a step.
func (d Decision) Lines() []string {
	switch d.Refusal {
	case RefuseNone:
	case RefuseNotDue:
		out := []string{"skip: not due (" + d.Reason + "; use --force to rotate anyway)"}
		for _, s := range d.Steps {
			out = append(out, s.String())
		}
		return out
	case RefuseInOverlap:
		return d.withSteps("skip: in overlap (" + d.Reason + ")")
	default:
		return d.withSteps("refuse: " + d.Refusal.String() + " (" + d.Reason + ")")
	}
	var out []string
	if !d.Rebind.IsZero() {
		out = append(out, "rebind: from "+d.Rebind.String()+" to "+d.BindTo.String()+" (--rebind)")
	}
	if d.Adopt != "" {
		out = append(out, "adopt-drift: keep DigiCert's live key "+keyset.Fingerprint(d.Adopt)+" as previous (--adopt-drift)")
	}
	for _, f := range d.Forced {
		out = append(out, "force: "+f+" (--force)")
	}
	if d.AdoptID != 0 {
		out = append(out, fmt.Sprintf("adopt: the current API key's id is %d (api_key.key_id), recorded as current_id with the first write", d.AdoptID))
	}
	if d.Resume {
		out = append(out, d.resumeLine())
	}
	if d.Pushed {
		out = append(out, "push: already done (DigiCert has the staged key)")
	}
	for _, s := range d.Steps {
		out = append(out, s.String())
	}
	return out
}

// withSteps is a refusal's first line followed by its steps (a skip's sweep, retire or
// metadata write; a hold's write).
func (d Decision) withSteps(first string) []string {
	out := []string{first}
	for _, s := range d.Steps {
		out = append(out, s.String())
	}
	return out
}

// resumeLine says what a resumed decision finishes.
func (d Decision) resumeLine() string {
	switch {
	case d.New != "":
		return "resume: the staged key " + keyset.Fingerprint(d.New)
	case len(d.Steps) > 0 && d.Steps[0].APIKey:
		return "resume: an earlier run's intent to create a key"
	}
	return "resume"
}

// String prints the step, naming keys by fingerprint.
func (s Step) String() string {
	if s.APIKey {
		return s.keyString()
	}
	key := "the new key"
	if s.Key != "" {
		key = keyset.Fingerprint(s.Key)
	}
	var b strings.Builder
	b.WriteString(string(s.Kind) + ": ")
	switch s.Kind {
	case StepStage:
		fmt.Fprintf(&b, "mint a %d-character key, write it as pending (cas %d)", s.Length, s.CAS)
		if s.Current != "" {
			fmt.Fprintf(&b, "; keep the live key %s as current", keyset.Fingerprint(s.Current))
		}
		if s.Previous != "" {
			fmt.Fprintf(&b, "; keep the drifted live key %s as previous", keyset.Fingerprint(s.Previous))
		}
		if s.Retire != "" {
			fmt.Fprintf(&b, "; leave out the expired previous key %s", keyset.Fingerprint(s.Retire))
		}
	case StepRetire:
		fmt.Fprintf(&b, "leave out the expired previous key %s (cas %d)", keyset.Fingerprint(s.Retire), s.CAS)
	case StepAdopt:
		fmt.Fprintf(&b, "keep the drifted live key %s as previous (cas %d)", keyset.Fingerprint(s.Previous), s.CAS)
	case StepMeta:
		b.WriteString("write custom_metadata: state, fingerprints, the binding, max_versions")
	case StepDestroy:
		b.WriteString(s.destroyDetail())
	case StepWait:
		fmt.Fprintf(&b, "propagation_delay %s from pending_since", s.Delay)
	case StepTest:
		fmt.Fprintf(&b, "POST /webhook/test-endpoint to %s with %s", s.Endpoint, key)
	case StepPush:
		fmt.Fprintf(&b, "PUT /webhook/%d with %s, the endpoint unchanged, events omitted, settings as read", s.WebhookID, key)
	case StepVerify:
		fmt.Fprintf(&b, "GET /webhook/%d: endpoint, events and status unchanged, secret %s", s.WebhookID, key)
	case StepPromote:
		fmt.Fprintf(&b, "%s becomes current; ", key)
		if s.Previous == "" {
			b.WriteString("no previous key (overlap 0 or none to keep)")
		} else {
			fmt.Fprintf(&b, "keep %s as previous for %s", keyset.Fingerprint(s.Previous), s.PreviousFor)
		}
		if s.Drops != "" {
			fmt.Fprintf(&b, "; %s leaves the accept set before its window ends", keyset.Fingerprint(s.Drops))
		}
		if s.CAS > 0 {
			fmt.Fprintf(&b, " (cas %d)", s.CAS) // a Plan's promote
		}
	}
	return b.String()
}

func fpOrNone(k string) string {
	if k == "" {
		return "none"
	}
	return keyset.Fingerprint(k)
}
