package cli

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyroll/keyroll/internal/config"
	"github.com/keyroll/keyroll/internal/evidence"
	"github.com/keyroll/keyroll/internal/failure"
	"github.com/keyroll/keyroll/internal/metrics"
	"github.com/keyroll/keyroll/internal/notify"
	"github.com/keyroll/keyroll/rotate"
)

// Bounds of what `keyroll run` and `keyroll schedule` do after a run.
const (
	pushTimeout   = 15 * time.Second
	notifyTimeout = time.Minute // all attempts of every endpoint
)

// ops is what the rotating commands tell the people on call: the metrics (served or
// pushed) and the notifications. Its methods never fail a rotation.
type ops struct {
	env      *Env
	cfg      *config.Config
	reg      *prometheus.Registry
	rot      *metrics.Rotations
	notifier *notify.Notifier
	failing  map[string]bool // targets whose last run in this process failed
}

func newOps(env *Env, cfg *config.Config) *ops {
	o := &ops{env: env, cfg: cfg, reg: metrics.NewRegistry(Version()), rot: metrics.NewRotations(), failing: map[string]bool{}}
	o.reg.MustRegister(o.rot)
	eps := make([]notify.Endpoint, len(cfg.Notify))
	for i, n := range cfg.Notify {
		eps[i] = notify.Endpoint{URL: n.URL, Format: n.Format, On: n.On}
	}
	o.notifier = &notify.Notifier{Endpoints: eps, Log: env.Log}
	interval := cfg.Rotation.Interval(time.Now())
	for _, t := range cfg.Targets {
		o.rot.SetPolicy(t.Name, cfg.MaxAgeFor(t), cfg.Rotation.StuckAfter.D())
		o.rot.SetScheduleInterval(t.Name, interval)
	}
	return o
}

// readDocuments fills the key gauges from the targets' documents in Vault, the count of
// versions still holding retired keys from their history, and with promotedIsSuccess the
// last success from the current key's promotion (a scheduler that starts knows of the
// rotations before it). A document or history that cannot be read is logged and left out.
func (o *ops) readDocuments(ctx context.Context, a *app, targets []config.Target, promotedIsSuccess bool) {
	for _, t := range targets {
		vv, err := a.store.Read(ctx, t.VaultPath)
		if err != nil {
			o.env.Log.Warn().Err(err).Str("target", t.Name).Msg("key document not read for the metrics")
			continue
		}
		if vv.Version == 0 {
			continue
		}
		o.rot.ObserveDocument(t.Name, vv.Doc)
		if t.IsAPIKey() {
			o.rot.ObserveHeld(t.Name, vv.Doc)
		}
		if n, err := a.retiredVersions(ctx, t.VaultPath, vv, time.Now()); err != nil {
			o.env.Log.Warn().Err(err).Str("target", t.Name).Msg("version history not read for the metrics")
		} else {
			o.rot.ObserveRetired(t.Name, n)
		}
		if promotedIsSuccess {
			o.rot.SucceededBy(t.Name, vv.Doc.CurrentSince)
		}
	}
}

// finished records the results of a run, reads the documents again when readDocs (for
// the key gauges) and notifies.
func (o *ops) finished(ctx context.Context, a *app, results []rotate.Result, readDocs bool) {
	targets := make([]config.Target, 0, len(results))
	events := make([]notify.Event, 0, len(results))
	for _, r := range results {
		needsHuman := failure.Of(r.Err) == failure.NeedsHuman
		o.rot.Observe(metrics.Run{Target: r.Target, Outcome: string(r.Outcome), Failed: r.Err != nil,
			NeedsHuman: needsHuman, Duration: r.Duration, Finished: time.Now()})
		names := o.eventNames(r.Target, r.Outcome, r.Err != nil, needsHuman)
		if revokedInUse(r.Record) {
			names = append([]string{config.EventRevokedInUse}, names...)
		}
		events = append(events, notify.Event{Names: names, Record: r.Record})
		if o.cfg.Evidence.Timestamp != nil {
			o.rot.ObserveUntimestamped(r.Target, a.untimestamped)
		}
		if t, ok := o.cfg.Target(r.Target); ok {
			targets = append(targets, t)
		}
	}
	if readDocs {
		o.readDocuments(ctx, a, targets, false)
	}
	o.notify(ctx, events)
}

// rememberOutcomes tells ops which targets failed their last attempt before this process
// started, from the evidence file, so that a `keyroll run` (one process per run, as in a
// CronJob) notifies `recovered` as a scheduler does. Without an evidence file it knows
// nothing, and a file it cannot read is logged.
func (o *ops) rememberOutcomes() {
	if o.cfg.Evidence.File == "" {
		return
	}
	last, err := evidence.LastOutcomes(o.cfg.Evidence.File)
	if err != nil {
		o.env.Log.Warn().Err(err).Msg("earlier outcomes not read: a recovery is notified as a plain success")
		return
	}
	for t, outcome := range last {
		o.failing[t] = outcome == evidence.OutcomeFailed
	}
}

// loginFailed counts a failed Vault login as a failed run of every target.
func (o *ops) loginFailed(ctx context.Context, targets []config.Target, err error) {
	now := time.Now()
	events := make([]notify.Event, 0, len(targets))
	for _, t := range targets {
		o.rot.Observe(metrics.Run{Target: t.Name, Outcome: string(evidence.OutcomeFailed), Failed: true, Finished: now})
		rec := evidence.Record{Target: t.Name, WebhookID: t.WebhookID, StartedAt: now, FinishedAt: now,
			Outcome: evidence.OutcomeFailed, Error: &evidence.ErrorInfo{Code: "vault_login", Message: err.Error()}}
		events = append(events, notify.Event{Names: o.eventNames(t.Name, evidence.OutcomeFailed, true, false), Record: rec})
	}
	o.notify(ctx, events)
}

// eventNames names a run's outcome for the notifications, most specific first, and
// remembers whether the target is failing.
func (o *ops) eventNames(target string, outcome evidence.Outcome, failed, needsHuman bool) []string {
	was := o.failing[target]
	o.failing[target] = failed
	switch {
	case needsHuman:
		return []string{config.EventNeedsHuman, config.EventFailed}
	case failed:
		return []string{config.EventFailed}
	case was:
		return []string{config.EventRecovered, string(outcome)}
	}
	return []string{string(outcome)}
}

// revokedInUse says whether a run revoked an old API key that was still in use (its
// revoke step says so: in_use: revoke, or --revoke-in-use).
func revokedInUse(rec evidence.Record) bool {
	return slices.ContainsFunc(rec.Steps, func(s evidence.Step) bool {
		return s.Name == string(rotate.StepRevoke) && s.Outcome == "revoked" && strings.Contains(s.Detail, ": still in use")
	})
}

func (o *ops) notify(ctx context.Context, events []notify.Event) {
	if len(o.notifier.Endpoints) == 0 {
		return
	}
	// A run ended by SIGTERM is still told, within its own bound.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	for _, ev := range events {
		_ = o.notifier.Notify(ctx, ev) // logged by Notify; never fails the run
	}
}

// push sends the run's metrics to metrics.pushgateway, if configured.
func (o *ops) push(ctx context.Context, targets []config.Target) {
	gw := o.cfg.Metrics.Pushgateway
	if gw == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	if err := metrics.Push(ctx, gw, &http.Client{}, o.reg, names); err != nil {
		o.env.Log.Error().Err(err).Msg("metrics not pushed")
		return
	}
	o.env.Log.Info().Strs("targets", names).Msg("metrics pushed")
}
