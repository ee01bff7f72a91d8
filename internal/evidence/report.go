package evidence

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ReportOptions bound and judge a Report.
type ReportOptions struct {
	// Since and Until bound the period; zero Since: from the first record; zero Until: Now.
	Since, Until time.Time
	// MaxAge is the cryptoperiod of a key (rotation.max_age): the longest it may stay the
	// current key.
	MaxAge time.Duration
	// TargetMaxAge, when it names a target, is that target's own cryptoperiod in place of
	// MaxAge (an api_key target's api_key.max_age).
	TargetMaxAge map[string]time.Duration
	// Now is when the report is made; zero: time.Now.
	Now time.Time
	// Trust is what verifying the file found (chain, signatures, anchor, timestamps). When
	// it is Broken, no target is judged: every verdict says so and none says PASS.
	Trust Trust
	// Header describes the file and who made the report.
	Header Header
	// Next, when set, is the rotation schedule (rotation.schedule): the first run time
	// after a time. Every scheduled time in the period with no record is a missing run.
	Next func(time.Time) time.Time
	// Scope lists the configured targets: each gets a section, records or not.
	Scope []string
}

// Trust is what the checks of an evidence file found, in the order they ran.
type Trust struct {
	Broken  bool
	Finding string // the first break: "line N: reason"; "" when none
	Checks  []Check
}

// Check is one check of the file: Status is "ok", "broken" or "not checked".
type Check struct {
	Name, Status, Detail string
}

// Verified reports whether every check ran and held.
func (t Trust) Verified() bool {
	if t.Broken || len(t.Checks) == 0 {
		return false
	}
	for _, c := range t.Checks {
		if c.Status != "ok" {
			return false
		}
	}
	return true
}

// Header is what the report's header says about the file and its making.
type Header struct {
	File      string    // the evidence file as named
	SHA256    string    // of the whole file, lowercase hex
	Generated time.Time // when the report was made
	Version   string    // keyroll's version
	Actor     string    // who made it (host or pod, user)
	Schedule  string    // rotation.schedule, when the report checks runs against it
}

// Report is what an evidence file says about a period: per target, each key's life, every
// run, the failures and how long recovery took, scheduled runs without a record, and
// whether every key stayed within its cryptoperiod. Build it with BuildReport; render it
// with WriteMarkdown, WriteCSV or WriteHTML.
type Report struct {
	Since, Until time.Time
	MaxAge       time.Duration
	Records      int // records read
	Trust        Trust
	Header       Header
	Targets      []*TargetReport
	Repairs      []Record // repair records in the period
	scheduled    bool
}

// TargetReport is one target's part of a Report.
type TargetReport struct {
	Target string
	// Kind is KindAPIKey when the target's records rotate an API key, "" for a webhook.
	Kind string
	// MaxAge is the cryptoperiod the target's keys are judged by.
	MaxAge    time.Duration
	Webhooks  []int       // the webhook ids its records name
	Keys      []*KeyLife  // in order of promotion
	Runs      []Run       // every attempt in the period, skips and forced cuts included
	Missing   []time.Time // scheduled times in the period without a run (with ReportOptions.Next)
	Failures  []*Failure
	MaxKeyAge time.Duration // the oldest a key got while current, in the period
	OldestKey string        // its fingerprint
	// Over lists the keys that stayed current longer than MaxAge; empty means the verdict
	// is that every key stayed within its cryptoperiod.
	Over   []*KeyLife
	broken bool // the file is broken: no verdict
}

// Run is one attempt of a target as its record tells it.
type Run struct {
	Seq               int64
	Started, Finished time.Time
	Trigger           Trigger
	Outcome           Outcome
	Actor             string
	Forced            bool   // --force: a cut overlap window, an adopted key or a rebinding
	Note              string // why it skipped, what failed, what was cut or retired
}

// KeyLife is the life of one key of a target, as far as the records tell it.
type KeyLife struct {
	Fingerprint string
	// KeyID is an API key's id at the issuer (0: a webhook's key, or not recorded).
	KeyID int
	// Revoked is when a revoke step revoked this API key at the issuer (zero: not in the
	// records); it stayed usable until then, whatever its overlap said.
	Revoked time.Time
	// Promoted is when it became the current key; zero when that was before the first
	// record (then Age counts from the first record and is a lower bound).
	Promoted time.Time
	// Replaced is when the next key was promoted and this one entered the overlap; zero
	// while it is current.
	Replaced time.Time
	// OverlapUntil is when the overlap window was to end, as recorded at promote.
	OverlapUntil time.Time
	// AcceptedUntil is when listeners actually stopped accepting it: the end of the
	// window, or earlier when a forced rotation cut the window short or it was retired.
	AcceptedUntil time.Time
	// Retired and Destroyed are the times of the retirement steps that named it, when the
	// records have them; DestroyedVersions says what the retire step destroyed.
	Retired, Destroyed time.Time
	DestroyedVersions  string
	CutShort           time.Time // when a forced rotation ended its window early
	// Age is how long it was current: Promoted (or the first record) to Replaced (or Until).
	Age         time.Duration
	AgeIsBound  bool // Promoted is unknown: Age is at least this
	Current     bool // still current at Until
	OverMaxAge  bool
	firstRecord time.Time
}

// Failure is a run of failed attempts of a target and the attempt that ended it.
type Failure struct {
	Started   time.Time // when the first failed attempt finished
	Attempts  int
	Code      string // the first attempt's error code and message
	Message   string
	Recovered time.Time     // the first later attempt that did not fail; zero: not yet
	Recovery  time.Duration // Recovered - Started
}

// ReadRecords decodes every line of an evidence file. It does not verify the chain: use
// Verify for that.
func ReadRecords(r io.Reader) ([]Record, error) {
	var recs []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxLineSize)
	for n := 1; sc.Scan(); n++ {
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("evidence: line %d: %w", n, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("evidence: read records: %w", err)
	}
	return recs, nil
}

var (
	fingerprintIn = regexp.MustCompile(`sha256:[0-9a-f]{16}`)
	cutRE         = regexp.MustCompile(`cut the overlap window of (sha256:[0-9a-f]{16}) short`)
	destroyedRE   = regexp.MustCompile(`destroyed versions ([0-9,\-]+)`)
	removedRE     = regexp.MustCompile(`versions up to (\d+) removed by max_versions`)
)

// destroyedIn says what a retirement step destroyed: the versions it names, or those
// max_versions removed; "" when nothing.
func destroyedIn(name, detail string) string {
	var parts []string
	if m := destroyedRE.FindStringSubmatch(detail); m != nil {
		parts = append(parts, "versions "+m[1])
	}
	if m := removedRE.FindStringSubmatch(detail); m != nil {
		parts = append(parts, "versions up to "+m[1]+" by max_versions")
	}
	if len(parts) == 0 && name == "destroy" {
		parts = append(parts, "destroyed")
	}
	return strings.Join(parts, "; ")
}

// BuildReport makes the report of recs, in file order, for the period of o.
func BuildReport(recs []Record, o ReportOptions) *Report {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Until.IsZero() {
		o.Until = o.Now
	}
	rep := &Report{Since: o.Since, Until: o.Until.UTC(), MaxAge: o.MaxAge, Records: len(recs), Trust: o.Trust, Header: o.Header, scheduled: o.Next != nil}
	if rep.Header.Generated.IsZero() {
		rep.Header.Generated = o.Now.UTC()
	}
	byName := map[string]*TargetReport{}
	target := func(name string) *TargetReport {
		tr := byName[name]
		if tr == nil {
			tr = &TargetReport{Target: name, MaxAge: o.MaxAge, broken: o.Trust.Broken}
			if d, ok := o.TargetMaxAge[name]; ok {
				tr.MaxAge = d
			}
			byName[name] = tr
			rep.Targets = append(rep.Targets, tr)
		}
		return tr
	}
	for _, name := range o.Scope {
		target(name)
	}
	for _, rec := range recs {
		if rec.FinishedAt.After(o.Until) {
			continue
		}
		if rec.Type == TypeRepair {
			if !rec.FinishedAt.Before(o.Since) {
				rep.Repairs = append(rep.Repairs, rec)
			}
			continue
		}
		if rec.Type != "" || rec.Target == "" || rec.DryRun {
			continue
		}
		tr := target(rec.Target)
		tr.add(rec)
		if !rec.FinishedAt.Before(o.Since) {
			tr.Runs = append(tr.Runs, runOf(rec))
			if rec.WebhookID != 0 && !slices.Contains(tr.Webhooks, rec.WebhookID) {
				tr.Webhooks = append(tr.Webhooks, rec.WebhookID)
			}
		}
	}
	if rep.Since.IsZero() && len(recs) > 0 {
		rep.Since = recs[0].StartedAt.UTC()
	}
	for _, tr := range rep.Targets {
		tr.finish(rep.Since, rep.Until)
		if o.Next != nil {
			tr.Missing = missingRuns(tr.Runs, o.Next, rep.Since, rep.Until)
		}
	}
	slices.SortFunc(rep.Targets, func(a, b *TargetReport) int { return strings.Compare(a.Target, b.Target) })
	return rep
}

// runOf is the Run a record tells.
func runOf(rec Record) Run {
	r := Run{Seq: rec.Seq, Started: rec.StartedAt.UTC(), Finished: rec.FinishedAt.UTC(), Trigger: rec.Trigger, Outcome: rec.Outcome, Actor: rec.Actor}
	var notes []string
	if rec.Error != nil {
		notes = append(notes, rec.Error.Code+": "+rec.Error.Message)
	}
	for _, s := range rec.Steps {
		forced := s.Outcome == "forced" || strings.Contains(s.Detail, "--force")
		r.Forced = r.Forced || forced
		switch {
		case s.Name == "reconcile" && s.Outcome == "skipped", forced, s.Name == "retire", s.Name == "revoke", s.Name == "hold", s.Name == "revoke-orphan":
			notes = append(notes, s.Name+": "+s.Detail)
		}
	}
	r.Note = strings.Join(notes, "; ")
	return r
}

// maxScheduled bounds how many scheduled times a report checks (a schedule every minute
// over years would be millions).
const maxScheduled = 100000

// missingRuns lists the scheduled times in [since, until) that no run started at or after
// (less a minute of clock skew) before the next scheduled time. A time less than an hour
// before until is left out: its run may still be going.
func missingRuns(runs []Run, next func(time.Time) time.Time, since, until time.Time) []time.Time {
	var missing []time.Time
	t := next(since.Add(-time.Nanosecond))
	for i := 0; i < maxScheduled && !t.IsZero() && t.Add(time.Hour).Before(until); i++ {
		after := next(t)
		covered := false
		for _, r := range runs {
			if !r.Started.Before(t.Add(-time.Minute)) && (after.IsZero() || r.Started.Before(after)) {
				covered = true
				break
			}
		}
		if !covered {
			missing = append(missing, t.UTC())
		}
		t = after
	}
	return missing
}

// key returns the life of fingerprint fp, starting one when it is new.
func (tr *TargetReport) key(fp string, seen time.Time) *KeyLife {
	for _, k := range tr.Keys {
		if k.Fingerprint == fp {
			return k
		}
	}
	k := &KeyLife{Fingerprint: fp, firstRecord: seen}
	tr.Keys = append(tr.Keys, k)
	return k
}

// add applies one rotation record to the target's history.
func (tr *TargetReport) add(rec Record) {
	if n := len(tr.Failures); rec.Outcome == OutcomeFailed {
		if n > 0 && tr.Failures[n-1].Recovered.IsZero() {
			tr.Failures[n-1].Attempts++
		} else {
			f := &Failure{Started: rec.FinishedAt.UTC(), Attempts: 1}
			if rec.Error != nil {
				f.Code, f.Message = rec.Error.Code, rec.Error.Message
			}
			tr.Failures = append(tr.Failures, f)
		}
	} else if n > 0 && tr.Failures[n-1].Recovered.IsZero() {
		f := tr.Failures[n-1]
		f.Recovered = rec.FinishedAt.UTC()
		f.Recovery = f.Recovered.Sub(f.Started)
	}
	if rec.Kind == KindAPIKey {
		tr.Kind = KindAPIKey
	}
	if rec.OldFingerprint != "" && len(tr.Keys) == 0 {
		tr.key(rec.OldFingerprint, rec.StartedAt.UTC()).KeyID = rec.OldKeyID
	}
	for _, s := range rec.Steps {
		if s.Name == "revoke" && s.Outcome != "failed" {
			for _, k := range tr.named(s.Detail) {
				if k.Revoked.IsZero() {
					k.Revoked = s.Time.UTC()
				}
			}
		}
		if s.Outcome != "ok" {
			continue
		}
		switch s.Name {
		case "promote":
			tr.promoted(rec, s)
		case "retire", "destroy":
			destroyed := destroyedIn(s.Name, s.Detail)
			for _, k := range tr.retiring(s.Detail) {
				if s.Name == "retire" && k.Retired.IsZero() {
					k.Retired = s.Time.UTC()
				}
				if destroyed != "" && k.Destroyed.IsZero() {
					k.Destroyed, k.DestroyedVersions = s.Time.UTC(), destroyed
				}
			}
		}
	}
}

// promoted applies a promote step s of rec: the new key becomes current, the others enter
// their overlap, and a window the step says it cut short ends there.
func (tr *TargetReport) promoted(rec Record, s Step) {
	if rec.NewFingerprint == "" {
		return
	}
	nk := tr.key(rec.NewFingerprint, s.Time.UTC())
	if !nk.Promoted.IsZero() {
		return // "already promoted by a concurrent run"
	}
	nk.Promoted = s.Time.UTC()
	if rec.NewKeyID != 0 {
		nk.KeyID = rec.NewKeyID
	}
	for _, k := range tr.Keys {
		if k != nk && k.Replaced.IsZero() {
			k.Replaced = s.Time.UTC()
			if rec.OverlapUntil != nil && k.Fingerprint == rec.OldFingerprint {
				k.OverlapUntil = rec.OverlapUntil.UTC()
			} else {
				k.OverlapUntil = s.Time.UTC()
			}
		}
	}
	if m := cutRE.FindStringSubmatch(s.Detail); m != nil {
		for _, k := range tr.Keys {
			if k.Fingerprint == m[1] && k.CutShort.IsZero() {
				k.CutShort = s.Time.UTC()
			}
		}
	}
}

// retiring returns the keys a retirement step names in its detail, or else the replaced
// keys not yet retired.
func (tr *TargetReport) retiring(detail string) []*KeyLife {
	if out := tr.named(detail); len(out) > 0 || fingerprintIn.MatchString(detail) {
		return out
	}
	var out []*KeyLife
	for _, k := range tr.Keys {
		if !k.Replaced.IsZero() && k.Retired.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// named returns the keys whose fingerprints a step's detail names.
func (tr *TargetReport) named(detail string) []*KeyLife {
	var out []*KeyLife
	fps := fingerprintIn.FindAllString(detail, -1)
	for _, k := range tr.Keys {
		if slices.Contains(fps, k.Fingerprint) {
			out = append(out, k)
		}
	}
	return out
}

// Label is the key as the report shows it: its fingerprint, and an API key's id.
func (k *KeyLife) Label() string {
	if k.KeyID == 0 {
		return k.Fingerprint
	}
	return fmt.Sprintf("%s #%d", k.Fingerprint, k.KeyID)
}

// KindName is the target's kind as the report names it.
func (tr *TargetReport) KindName() string {
	if tr.Kind == KindAPIKey {
		return "API key"
	}
	return "webhook secret"
}

// finish computes ages and the verdict, keeping the keys and failures of the period.
func (tr *TargetReport) finish(since, until time.Time) {
	maxAge := tr.MaxAge
	var keys []*KeyLife
	for _, k := range tr.Keys {
		end := k.Replaced
		if end.IsZero() {
			end, k.Current = until, true
		}
		start := k.Promoted
		if start.IsZero() {
			start, k.AgeIsBound = k.firstRecord, true
		}
		k.Age = end.Sub(start)
		k.AcceptedUntil = k.OverlapUntil
		for _, t := range []time.Time{k.CutShort, k.Retired} {
			if !t.IsZero() && (k.AcceptedUntil.IsZero() || t.Before(k.AcceptedUntil)) && !k.Replaced.IsZero() {
				k.AcceptedUntil = t
			}
		}
		if !k.Revoked.IsZero() {
			k.AcceptedUntil = k.Revoked // an API key works until the issuer revokes it
		}
		last := end
		if k.OverlapUntil.After(last) {
			last = k.OverlapUntil
		}
		if last.Before(since) || start.After(until) {
			continue // outside the period
		}
		keys = append(keys, k)
		if maxAge > 0 && k.Age > maxAge {
			k.OverMaxAge = true
			tr.Over = append(tr.Over, k)
		}
		if k.Age > tr.MaxKeyAge {
			tr.MaxKeyAge, tr.OldestKey = k.Age, k.Fingerprint
		}
	}
	tr.Keys = keys
	var fails []*Failure
	for _, f := range tr.Failures {
		if f.Recovered.IsZero() || !f.Recovered.Before(since) { // it touched the period
			fails = append(fails, f)
		}
	}
	tr.Failures = fails
}

// Verdict says whether every key of the target stayed within its cryptoperiod and, with a
// schedule, whether every scheduled run left a record. On a broken file there is no
// verdict: it says NOT JUDGED, never PASS.
func (tr *TargetReport) Verdict(maxAge time.Duration) string {
	if tr.broken {
		return "NOT JUDGED: the evidence file is BROKEN (see the top); nothing in it can be relied on"
	}
	var fails []string
	if len(tr.Over) > 0 {
		s := "over max_age " + days(maxAge) + ":"
		for _, k := range tr.Over {
			s += fmt.Sprintf(" %s (%s)", k.Fingerprint, days(k.Age))
		}
		fails = append(fails, s)
	}
	if n := len(tr.Missing); n > 0 {
		fails = append(fails, fmt.Sprintf("%d scheduled run(s) left no record", n))
	}
	if len(fails) > 0 {
		return "FAIL: " + strings.Join(fails, "; ")
	}
	return fmt.Sprintf("PASS: every key within its cryptoperiod (max_age %s)", days(maxAge))
}

// Pass reports whether the target's verdict is PASS.
func (tr *TargetReport) Pass() bool { return !tr.broken && len(tr.Over) == 0 && len(tr.Missing) == 0 }

// days formats d in days and hours, the unit of cryptoperiods.
func days(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	if d < 24*time.Hour {
		s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		if s == "" {
			s = "0s"
		}
		return s
	}
	d = d.Round(time.Hour)
	dd, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", dd)
	}
	return fmt.Sprintf("%dd%dh", dd, h)
}

// LastOutcomes returns the outcome of the last attempt of each target in the evidence file
// at path (dry runs and repair records left out): what a new process needs to tell a
// recovery from a plain success. A missing file gives an empty map; lines that do not
// decode (a torn tail, which the next append repairs) are skipped.
func LastOutcomes(path string) (map[string]Outcome, error) {
	out := map[string]Outcome{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, MaxLineSize)
	for sc.Scan() {
		var rec struct {
			Type    string  `json:"type"`
			Target  string  `json:"target"`
			Outcome Outcome `json:"outcome"`
			DryRun  bool    `json:"dry_run"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Type != "" || rec.DryRun || rec.Target == "" {
			continue
		}
		out[rec.Target] = rec.Outcome
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("evidence: read %s: %w", path, err)
	}
	return out, nil
}
