package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	dto "github.com/prometheus/client_model/go"

	"github.com/keyroll/keyroll/internal/redact"
)

// PushJob is the Pushgateway job a run's metrics are grouped under.
const PushJob = "keyroll"

// Push sends the keyroll_* metrics of each target to the Pushgateway at gateway, one
// group per target (job="keyroll", target=NAME), with the Pushgateway's POST: series
// the run did not produce (the last success of a run that failed) keep their value
// from the previous push. It tries every target and returns every failure.
func Push(ctx context.Context, gateway string, client *http.Client, g prometheus.Gatherer, targets []string) error {
	if client == nil {
		client = http.DefaultClient
	}
	var errs []error
	for _, t := range targets {
		p := push.New(gateway, PushJob).Grouping("target", t).Client(client).Gatherer(targetGatherer{g, t})
		if err := p.AddContext(ctx); err != nil {
			// client_golang's errors repeat the full URL, password included.
			errs = append(errs, fmt.Errorf("metrics: push target %s to %s: %w", t, redact.URL(gateway), redact.Error(err, gateway)))
		}
	}
	return errors.Join(errs...)
}

// targetGatherer gathers the keyroll_* series of one target, without their target label
// (the Pushgateway's grouping key carries it).
type targetGatherer struct {
	g      prometheus.Gatherer
	target string
}

func (tg targetGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := tg.g.Gather()
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "keyroll_") {
			continue
		}
		var ms []*dto.Metric
		for _, m := range mf.GetMetric() {
			labels, ok := withoutTarget(m.GetLabel(), tg.target)
			if !ok {
				continue
			}
			m.Label = labels
			ms = append(ms, m)
		}
		if len(ms) > 0 {
			mf.Metric = ms
			out = append(out, mf)
		}
	}
	return out, err
}

// withoutTarget returns labels without target, and whether its value was target. A
// series with no target label (keyroll_build_info) belongs to every target.
func withoutTarget(labels []*dto.LabelPair, target string) ([]*dto.LabelPair, bool) {
	out := make([]*dto.LabelPair, 0, len(labels))
	for _, l := range labels {
		if l.GetName() == "target" {
			if l.GetValue() != target {
				return nil, false
			}
			continue
		}
		out = append(out, l)
	}
	return out, true
}
