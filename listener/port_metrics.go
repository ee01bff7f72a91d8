package listener

import (
	stdlog "log"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// refusal says why a Port closed a connection at accept time.
type refusal int

const (
	refusedNotAllowed  refusal = iota // source outside AllowFrom
	refusedSourceLimit                // source at MaxConnsPerSource
	numRefusals
)

func (r refusal) String() string {
	if r == refusedNotAllowed {
		return "not_allowed"
	}
	return "source_limit"
}

// serverErrorKind sorts the lines of the http.Server's error log.
type serverErrorKind int

const (
	serverErrorHandshake serverErrorKind = iota // "http: TLS handshake error from …"
	serverErrorOther                            // malformed requests, accept errors, …
	numServerErrorKinds
)

func (k serverErrorKind) String() string {
	if k == serverErrorHandshake {
		return "tls_handshake"
	}
	return "other"
}

type portCounters struct {
	refused          [numRefusals]atomic.Uint64
	shedIdle         atomic.Uint64
	shedNew          atomic.Uint64
	serverErrors     [numServerErrorKinds]atomic.Uint64
	serverErrorsLogs [numServerErrorKinds]*rateLog
}

// errorLog is the server's error log: every line counted by kind, at most one line per
// kind every LogEvery written to the Port's log, as a warning.
func (p *Port) errorLog() *stdlog.Logger {
	log := p.log.With().Str("component", "http").Logger()
	return stdlog.New(serverErrorWriter{p: p, log: log}, "", 0)
}

type serverErrorWriter struct {
	p   *Port
	log zerolog.Logger
}

func (w serverErrorWriter) Write(b []byte) (int, error) {
	msg := strings.TrimSpace(string(b))
	kind := serverErrorOther
	if strings.Contains(msg, "TLS handshake error") {
		kind = serverErrorHandshake
	}
	w.p.stats.serverErrors[kind].Add(1)
	if ev := w.p.stats.serverErrorsLogs[kind].event(&w.log, zerolog.WarnLevel); ev != nil {
		ev.Str("kind", kind.String()).Msg(msg)
	}
	return len(b), nil
}

var (
	portOpenDesc = prometheus.NewDesc("keyroll_listener_connections_open",
		"Connections open on the webhook port.", nil, nil)
	portRefusedDesc = prometheus.NewDesc("keyroll_listener_connections_refused_total",
		"Connections closed at accept time, by reason: not_allowed (source outside --allow-from), source_limit (source at its connection limit).", []string{"reason"}, nil)
	portShedDesc = prometheus.NewDesc("keyroll_listener_connections_shed_total",
		"Connections closed to make room at the connection limit, by state: idle (keep-alive) or new (no whole request yet).", []string{"state"}, nil)
	portServerErrorsDesc = prometheus.NewDesc("keyroll_listener_server_errors_total",
		"Errors of the webhook port's HTTP server, by kind: tls_handshake or other.", []string{"kind"}, nil)
	portSuppressedDesc = prometheus.NewDesc("keyroll_listener_port_log_lines_suppressed_total",
		"Log lines of the webhook port dropped by the rate limit, by log: refused (connections refused at accept) or server (server errors).", []string{"log"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Port) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{portOpenDesc, portRefusedDesc, portShedDesc, portServerErrorsDesc, portSuppressedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *Port) Collect(ch chan<- prometheus.Metric) {
	c := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	ch <- prometheus.MustNewConstMetric(portOpenDesc, prometheus.GaugeValue, float64(p.OpenConns()))
	for r := refusal(0); r < numRefusals; r++ {
		c(portRefusedDesc, p.stats.refused[r].Load(), r.String())
	}
	c(portShedDesc, p.stats.shedIdle.Load(), "idle")
	c(portShedDesc, p.stats.shedNew.Load(), "new")
	var serverSuppressed uint64
	for k := serverErrorKind(0); k < numServerErrorKinds; k++ {
		c(portServerErrorsDesc, p.stats.serverErrors[k].Load(), k.String())
		if l := p.stats.serverErrorsLogs[k]; l != nil {
			serverSuppressed += l.Suppressed()
		}
	}
	c(portSuppressedDesc, p.refusedLog.Suppressed(), "refused")
	c(portSuppressedDesc, serverSuppressed, "server")
}
