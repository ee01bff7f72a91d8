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
	// Now is when the report is made; zero: time.Now.
	Now time.Time
}

// Report is what an evidence file says about a period: per target, each key's life, the
// failures and how long recovery took, and whether every key stayed within its
// cryptoperiod. Build it with BuildReport; render it with WriteMarkdown, WriteCSV or
// WriteHTML.
type Report struct {
	Since, Until time.Time
	MaxAge       time.Duration
	Records      int    // records read
	Chain        string // the result of the chain check, e.g. "intact, 42 records"
	Targets      []*TargetReport
	Repairs      []Record // repair records in the period
}

// TargetReport is one target's part of a Report.
type TargetReport struct {
	Target    string
	Keys      []*KeyLife // in order of promotion
	Failures  []*Failure
	MaxKeyAge time.Duration // the oldest a key got while current, in the period
	OldestKey string        // its fingerprint
	// Over lists the keys that stayed current longer than MaxAge; empty means the verdict
	// is that every key stayed within its cryptoperiod.
	Over []*KeyLife
}

// KeyLife is the life of one key of a target, as far as the records tell it.
type KeyLife struct {
	Fingerprint string
	// Promoted is when it became the current key; zero when that was before the first
	// record (then Age counts from the first record and is a lower bound).
	Promoted time.Time
	// Replaced is when the next key was promoted and this one entered the overlap; zero
	// while it is current.
	Replaced time.Time
	// OverlapUntil is when the overlap ends (listeners stop accepting it), as recorded.
	OverlapUntil time.Time
	// Retired and Destroyed are the times of the retirement steps that named it (or the
	// key in overlap), when the records have them.
	Retired, Destroyed time.Time
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

var fingerprintIn = regexp.MustCompile(`sha256:[0-9a-f]{16}`)

// BuildReport makes the report of recs, in file order, for the period of o.
func BuildReport(recs []Record, o ReportOptions) *Report {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Until.IsZero() {
		o.Until = o.Now
	}
	rep := &Report{Since: o.Since, Until: o.Until.UTC(), MaxAge: o.MaxAge, Records: len(recs)}
	byName := map[string]*TargetReport{}
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
		tr := byName[rec.Target]
		if tr == nil {
			tr = &TargetReport{Target: rec.Target}
			byName[rec.Target] = tr
			rep.Targets = append(rep.Targets, tr)
		}
		tr.add(rec)
	}
	if rep.Since.IsZero() && len(recs) > 0 {
		rep.Since = recs[0].StartedAt.UTC()
	}
	for _, tr := range rep.Targets {
		tr.finish(rep.Since, rep.Until, o.MaxAge)
	}
	slices.SortFunc(rep.Targets, func(a, b *TargetReport) int {
		if a.Target < b.Target {
			return -1
		}
		return 1
	})
	return rep
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
	if rec.OldFingerprint != "" && len(tr.Keys) == 0 {
		tr.key(rec.OldFingerprint, rec.StartedAt.UTC())
	}
	for _, s := range rec.Steps {
		if s.Outcome != "ok" {
			continue
		}
		switch s.Name {
		case "promote":
			if rec.NewFingerprint == "" {
				continue
			}
			nk := tr.key(rec.NewFingerprint, s.Time.UTC())
			if !nk.Promoted.IsZero() {
				continue // "already promoted by a concurrent run"
			}
			nk.Promoted = s.Time.UTC()
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
		case "retire", "destroy":
			for _, k := range tr.retiring(s.Detail) {
				if s.Name == "retire" && k.Retired.IsZero() {
					k.Retired = s.Time.UTC()
				}
				if s.Name == "destroy" && k.Destroyed.IsZero() {
					k.Destroyed = s.Time.UTC()
				}
			}
		}
	}
}

// retiring returns the keys a retirement step names in its detail, or else the replaced
// keys not yet retired.
func (tr *TargetReport) retiring(detail string) []*KeyLife {
	var out []*KeyLife
	if fps := fingerprintIn.FindAllString(detail, -1); len(fps) > 0 {
		for _, k := range tr.Keys {
			if slices.Contains(fps, k.Fingerprint) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, k := range tr.Keys {
		if !k.Replaced.IsZero() && k.Retired.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// finish computes ages and the verdict, keeping the keys and failures of the period.
func (tr *TargetReport) finish(since, until time.Time, maxAge time.Duration) {
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

// Verdict says whether every key of the target stayed within its cryptoperiod.
func (tr *TargetReport) Verdict(maxAge time.Duration) string {
	if len(tr.Over) == 0 {
		return fmt.Sprintf("PASS: every key within its cryptoperiod (max_age %s)", days(maxAge))
	}
	s := "FAIL: over max_age " + days(maxAge) + ":"
	for _, k := range tr.Over {
		s += fmt.Sprintf(" %s (%s)", k.Fingerprint, days(k.Age))
	}
	return s
}

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
