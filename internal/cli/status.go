package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyroll/keyroll/certcentral"
	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/keyset"
	"github.com/keyroll/keyroll/rotate"
	"github.com/keyroll/keyroll/vault"
)

// TargetStatus is one row of `keyroll status`; its JSON form is an element of the array `status -o json` prints.
type TargetStatus struct {
	Target             string     `json:"target"`
	Kind               string     `json:"kind"`  // webhook or api_key
	State              string     `json:"state"` // idle, staged, creating, missing or error
	VaultVersion       int        `json:"vault_version,omitempty"`
	RotationID         string     `json:"rotation_id,omitempty"`
	CurrentFingerprint string     `json:"current_fingerprint,omitempty"`
	CurrentSince       *time.Time `json:"current_since,omitempty"`
	CurrentAge         string     `json:"current_age,omitempty"`
	MaxAge             string     `json:"max_age"` // the target's own cryptoperiod
	PendingFingerprint string     `json:"pending_fingerprint,omitempty"`
	PendingAge         string     `json:"pending_age,omitempty"`
	PreviousFP         string     `json:"previous_fingerprint,omitempty"`
	OverlapUntil       *time.Time `json:"overlap_until,omitempty"`
	WebhookID          int        `json:"webhook_id,omitempty"`
	WebhookStatus      string     `json:"webhook_status,omitempty"`
	LiveMatches        string     `json:"live_secret,omitempty"` // current, pending, unknown, not returned
	NextDue            *time.Time `json:"next_due,omitempty"`
	Overdue            bool       `json:"overdue"`
	Stuck              bool       `json:"stuck"`
	// RetiredVersions counts the versions Vault keeps of the document that hold a key
	// outside its accept set (readable with ?version=N); not 0 is an alert.
	RetiredVersions int `json:"retired_versions"`
	// The API-key kind (empty for a webhook): the issuer's ids of the document's keys, a
	// create in flight, and a previous key held because it is still in use.
	CurrentKeyID      string     `json:"current_key_id,omitempty"`
	PendingKeyID      string     `json:"pending_key_id,omitempty"`
	PreviousKeyID     string     `json:"previous_key_id,omitempty"`
	Creating          string     `json:"creating,omitempty"` // the name of a key being created
	CreatingSince     *time.Time `json:"creating_since,omitempty"`
	Held              bool       `json:"held"`
	PreviousHeldSince *time.Time `json:"previous_held_since,omitempty"`
	KeyStatus         string     `json:"key_status,omitempty"` // DigiCert's status of the current key: active, revoked, error
	Problems          []string   `json:"problems,omitempty"`
}

// statusFlags are the flags of `keyroll status`.
type statusFlags struct {
	common
	output
	targets stringList
	asJSON  bool // --json, the older spelling of --output json
}

func statusCmd(env *Env) *cobra.Command {
	f := &statusFlags{}
	c := &cobra.Command{
		Use:   "status",
		Short: "Show where each target stands",
		Long: "Show where each target stands: state, fingerprints, key ages, the overlap window's end,\n" +
			"versions still holding retired keys, DigiCert's status and live key, and the next run.\n" +
			"An api_key target shows its key ids, its age against its own max_age and a previous key\n" +
			"held because it is still in use (HELD).\n" +
			"Exit 1 when a target is overdue, stuck, held, unreadable or keeps retired keys.",
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return f.run(c.Context(), env) },
	}
	fs := c.Flags()
	f.common.register(fs)
	fs.Var(&f.targets, "target", "show only this target (repeatable)")
	f.output.register(fs)
	fs.BoolVar(&f.asJSON, "json", false, "same as --output json")
	return c
}

func (f *statusFlags) run(ctx context.Context, env *Env) error {
	if err := f.output.check(); err != nil {
		return err
	}
	cfg, err := f.start(env)
	if err != nil {
		return err
	}
	ts, err := selectTargets(cfg, f.targets)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, env, cfg)
	if err != nil {
		return err
	}
	rows := a.status(ctx, ts, time.Now().UTC())
	if f.asJSON || f.output.json() {
		if err := printJSON(env.Stdout, rows); err != nil {
			return err
		}
	} else {
		printStatus(env.Stdout, rows)
	}
	var bad []string
	for _, r := range rows {
		if r.Overdue || r.Stuck || r.Held || r.State == "error" || r.RetiredVersions > 0 {
			bad = append(bad, r.Target)
		}
	}
	if len(bad) > 0 {
		return failure.Wrap(failure.Retryable, fmt.Errorf("status: %d target(s) need attention: %v", len(bad), bad))
	}
	return nil
}

// status gathers where each target stands at now.
func (a *app) status(ctx context.Context, targets []config.Target, now time.Time) []TargetStatus {
	rows := make([]TargetStatus, 0, len(targets))
	for _, t := range targets {
		s := TargetStatus{Target: t.Name, Kind: t.KindName(), MaxAge: shortDuration(a.cfg.MaxAgeFor(t))}
		vv, err := a.store.Read(ctx, t.VaultPath)
		switch {
		case errors.Is(err, vault.ErrNotFound):
			s.State = "missing"
			s.Overdue = true
			s.Problems = append(s.Problems, "no key document yet: run `keyroll run`")
		case err != nil:
			s.State = "error"
			s.Problems = append(s.Problems, err.Error())
		default:
			s.document(vv, statusRules(a.cfg, t), now)
			if t.IsAPIKey() {
				s.apiKey(vv.Doc, a.cfg.Rotation.StuckAfter.D(), now)
			}
			a.history(ctx, &s, t.VaultPath, vv, now)
		}
		if t.IsAPIKey() {
			a.liveKey(ctx, &s, t, vv.Doc)
		} else {
			a.live(ctx, &s, t, vv.Doc)
		}
		rows = append(rows, s)
	}
	return rows
}

// statusRules is the rotation settings status judges target t by: rotation.*, with an
// api_key target's own max_age and min_interval.
func statusRules(cfg *config.Config, t config.Target) config.Rotation {
	rot := cfg.Rotation
	if t.IsAPIKey() {
		k := cfg.APIKeyFor(t)
		rot.MaxAge, rot.MinInterval = k.MaxAge, k.MinInterval
	}
	return rot
}

// apiKey fills in the API-key kind's part of the document d at now: key ids, a create
// in flight (stuck past stuckAfter), a held previous key.
func (s *TargetStatus) apiKey(d keyset.Document, stuckAfter time.Duration, now time.Time) {
	s.CurrentKeyID, s.PendingKeyID, s.PreviousKeyID = d.CurrentID, d.PendingID, d.PreviousID
	if d.Current != "" && d.CurrentID == "" {
		s.Problems = append(s.Problems, "the id of the current API key is unknown: set api_key.key_id or current_id in the document (CertCentral → Automation → API Keys)")
	}
	if d.Creating != "" {
		s.Creating = d.Creating
		if s.State == "idle" {
			s.State = "creating"
		}
		if !d.CreatingSince.IsZero() {
			cs := d.CreatingSince
			s.CreatingSince = &cs
			if now.Sub(cs) > stuckAfter {
				s.Stuck = true
				s.Problems = append(s.Problems, fmt.Sprintf("a key creation (%s) began more than stuck_after %s ago: run `keyroll run` to sweep and resume", d.Creating, config.Duration(stuckAfter)))
			}
		}
	}
	if d.Previous != "" && s.PreviousFP == "" {
		// An old API key stays active at DigiCert until a run revokes it: show it past its
		// overlap too.
		until := d.PreviousUntil
		s.PreviousFP, s.OverlapUntil = keyset.Fingerprint(d.Previous), &until
	}
	if !d.PreviousHeldSince.IsZero() && d.Previous != "" {
		hs := d.PreviousHeldSince
		s.Held, s.PreviousHeldSince = true, &hs
		s.Problems = append(s.Problems, fmt.Sprintf("previous API key %s held since %s: still in use after its overlap; find its consumer, then `keyroll run --revoke-in-use`",
			dash(d.PreviousID), hs.UTC().Format(time.RFC3339)))
	}
}

// document fills in what the document read at version vv says at now.
func (s *TargetStatus) document(vv vault.Versioned, rot config.Rotation, now time.Time) {
	d := vv.Doc
	s.State, s.VaultVersion, s.RotationID = d.State(), vv.Version, d.RotationID
	s.CurrentFingerprint = keyset.Fingerprint(d.Current)
	if !d.CurrentSince.IsZero() {
		cs := d.CurrentSince
		s.CurrentSince = &cs
		age := now.Sub(cs)
		s.CurrentAge = roundAge(age)
		if age > rot.MaxAge.D() {
			s.Overdue = true
			s.Problems = append(s.Problems, fmt.Sprintf("current key older than max_age %s", shortDuration(rot.MaxAge.D())))
		}
	} else if d.Current != "" {
		s.Overdue = true
		s.Problems = append(s.Problems, "current key was adopted and never rotated")
	}
	if d.Pending != "" {
		s.PendingFingerprint = keyset.Fingerprint(d.Pending)
		age := now.Sub(d.PendingSince)
		s.PendingAge = roundAge(age)
		if age > rot.StuckAfter.D() {
			s.Stuck = true
			s.Problems = append(s.Problems, fmt.Sprintf("staged for longer than stuck_after %s: run `keyroll run` to resume", rot.StuckAfter))
		}
	}
	when := rotate.When(d, rotate.Policy{MinInterval: rot.MinInterval.D()}, now)
	if end := when.WindowEnd; !end.IsZero() {
		s.PreviousFP = keyset.Fingerprint(d.Previous)
		s.OverlapUntil = &end
	}
	if rot.Cron != nil {
		next := when.Due(rot.Cron.Next, now)
		s.NextDue = &next
	}
}

// history fills in how many versions of the document at path still hold retired keys.
func (a *app) history(ctx context.Context, s *TargetStatus, path string, vv vault.Versioned, now time.Time) {
	n, err := a.retiredVersions(ctx, path, vv, now)
	s.RetiredVersions = n
	switch {
	case err != nil:
		s.Problems = append(s.Problems, "version history not checked: "+err.Error())
	case n > 0:
		s.Problems = append(s.Problems, fmt.Sprintf("%d version(s) of the document hold retired keys: `keyroll run` retires and destroys them", n))
	}
}

// retiredVersions counts the versions of the document at path, latest (read as vv)
// included, that Vault keeps readable and that hold a key outside the accept set at now.
func (a *app) retiredVersions(ctx context.Context, path string, vv vault.Versioned, now time.Time) (int, error) {
	hist, _, err := a.store.History(ctx, path)
	if err != nil {
		return 0, err
	}
	latest := vv.Doc
	if !latest.PreviousHeldSince.IsZero() {
		// A held API key is kept on purpose (HELD says so), not a key left behind.
		latest.PreviousUntil = now.Add(time.Nanosecond)
	}
	n := 0
	for _, v := range hist {
		if v.Destroyed {
			continue
		}
		d := vv.Doc
		if v.Number != vv.Version {
			d, err = a.store.ReadVersion(ctx, path, v.Number)
			switch {
			case errors.Is(err, vault.ErrNotFound) && v.Deleted:
				n++ // soft-deleted, not destroyed: undelete would make it readable again
				continue
			case err != nil:
				return n, err
			}
		}
		if rotate.HoldsRetired(d, latest, now) {
			n++
		}
	}
	return n, nil
}

// live fills in DigiCert's view of target t: the webhook's status and which key of d it
// holds.
func (a *app) live(ctx context.Context, s *TargetStatus, t config.Target, d keyset.Document) {
	c, err := a.client(ctx, t)
	if err == nil {
		var w certcentral.Webhook
		w, err = c.GetWebhook(ctx, t.WebhookID)
		if err == nil {
			s.WebhookID, s.WebhookStatus = w.ID, w.Status
			s.LiveMatches = matchLive(w, d)
			if w.Status != certcentral.StatusActive {
				s.Problems = append(s.Problems, "webhook is "+w.Status+" at DigiCert")
			}
			if s.LiveMatches == "unknown" {
				s.Problems = append(s.Problems, "drift: DigiCert's secret is not a key in Vault")
			}
		}
	}
	if err != nil {
		s.WebhookStatus = "error"
		s.Problems = append(s.Problems, "digicert: "+err.Error())
	}
}

// matchLive says which key of d DigiCert's live secret is.
func matchLive(w certcentral.Webhook, d keyset.Document) string {
	switch {
	case !w.SecretReturned:
		return "not returned"
	case w.Secret == "":
		return "none"
	}
	if r := d.LiveRole(w.Secret); r != keyset.RoleNone {
		return r.String()
	}
	return "unknown"
}

// shortDuration prints a configured duration briefly: whole days as "90d", else as
// roundAge does.
func shortDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return roundAge(d)
}

func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	case d >= time.Minute:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Second).String()
}

func printStatus(w io.Writer, rows []TargetStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tKIND\tSTATE\tCURRENT\tKEY ID\tAGE\tMAX AGE\tPENDING\tPREVIOUS\tOVERLAP UNTIL\tRETIRED\tDIGICERT\tLIVE\tNEXT DUE\tALERT")
	for _, r := range rows {
		pending := withID(r.PendingFingerprint, r.PendingKeyID)
		if r.PendingAge != "" {
			pending += " (" + r.PendingAge + ")"
		}
		previous := withID(r.PreviousFP, r.PreviousKeyID)
		if r.Held {
			previous += " HELD since " + timeOrDash(r.PreviousHeldSince)
		}
		digicert := r.WebhookStatus
		if r.Kind == config.KindAPIKey {
			digicert = r.KeyStatus
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Target, dash(r.Kind), r.State, dash(r.CurrentFingerprint),
			dash(r.CurrentKeyID), dash(r.CurrentAge), dash(r.MaxAge), pending, previous, timeOrDash(r.OverlapUntil), r.RetiredVersions,
			dash(digicert), dash(r.LiveMatches), timeOrDash(r.NextDue), r.alert())
	}
	tw.Flush()
	for _, r := range rows {
		for _, p := range r.Problems {
			fmt.Fprintf(w, "%s: %s\n", r.Target, p)
		}
	}
}

// alert is the ALERT column: what makes the row exit 1, or "-".
func (r TargetStatus) alert() string {
	var a []string
	for _, c := range []struct {
		on   bool
		name string
	}{{r.Overdue, "OVERDUE"}, {r.Stuck, "STUCK"}, {r.Held, "HELD"}, {r.State == "error" && !r.Overdue && !r.Stuck, "ERROR"}, {r.RetiredVersions > 0, "RETIRED"}} {
		if c.on {
			a = append(a, c.name)
		}
	}
	if len(a) == 0 {
		return "-"
	}
	return strings.Join(a, ",")
}

// withID is a key's fingerprint and, for an API key, its id at the issuer: "-" when there
// is no key.
func withID(fp, id string) string {
	switch {
	case fp == "":
		return "-"
	case id == "":
		return fp
	}
	return fp + " #" + id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

// liveKey fills in DigiCert's view of api_key target t: the status of d's current key,
// described with that key itself.
func (a *app) liveKey(ctx context.Context, s *TargetStatus, t config.Target, d keyset.Document) {
	id, err := strconv.Atoi(d.CurrentID)
	if d.Current == "" || err != nil {
		return // no key, or its id unknown: the document's problems say so
	}
	c, err := a.client(ctx, t)
	if err == nil {
		var k certcentral.APIKey
		if k, err = c.GetKey(ctx, id); err == nil {
			s.KeyStatus = k.Status
			if k.Status != certcentral.KeyStatusActive {
				s.Problems = append(s.Problems, fmt.Sprintf("the current API key %d is %s at DigiCert", id, k.Status))
			}
			return
		}
	}
	s.KeyStatus = "error"
	s.Problems = append(s.Problems, "digicert: "+err.Error())
}
