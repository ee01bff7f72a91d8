package metrics_test

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gatherer gathers one collector.
type gatherer struct{ c prometheus.Collector }

func (g gatherer) Gather() ([]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(g.c); err != nil {
		return nil, err
	}
	return reg.Gather()
}
