package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/limiter"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	shed     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, l *limiter.Limiter) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_http_requests_total",
			Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "asap_http_request_duration_seconds",
			Help:    "Time from routing a request to its answer, by route.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_http_shed_total",
			Help: "Requests refused with 503 because the in-flight and queue limits were reached.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.latency, m.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_in_flight",
			Help: "Requests being handled (ASAP_MAX_IN_FLIGHT bounds them).",
		}, func() float64 { return float64(l.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_queued",
			Help: "Requests waiting for an in-flight slot (ASAP_MAX_QUEUED bounds them).",
		}, func() float64 { return float64(l.Queued()) }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("server: register metrics: %w", err)
		}
	}
	return m, nil
}
