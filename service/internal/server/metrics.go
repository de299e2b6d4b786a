package server

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/limiter"
	"asap/service/internal/promreg"
)

// metrics are the server's Prometheus metrics.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	shed     prometheus.Counter

	// byRoute caches the children of requests and latency per route label, so that
	// counting a request hashes no label values. Filled by routes and read-only after.
	byRoute map[string]*routeMetrics
}

// routeMetrics are one route's metric children, made on first use so that
// /metrics shows no series before they count something.
type routeMetrics struct {
	latency atomic.Pointer[prometheus.Observer]
	codes   [600]atomic.Pointer[prometheus.Counter]
}

// addRoute makes route's children cacheable; routes calls it for every route.
func (m *metrics) addRoute(route string) {
	if m.byRoute == nil {
		m.byRoute = make(map[string]*routeMetrics)
	}
	m.byRoute[route] = &routeMetrics{}
}

// observe counts a request of route answered with code after d.
func (m *metrics) observe(route string, code int, d time.Duration) {
	rm := m.byRoute[route]
	if rm == nil || code < 0 || code >= len(rm.codes) {
		m.requests.WithLabelValues(route, codeLabel(code)).Inc()
		m.latency.WithLabelValues(route).Observe(d.Seconds())
		return
	}
	c := rm.codes[code].Load()
	if c == nil {
		counter := m.requests.WithLabelValues(route, codeLabel(code))
		c = &counter
		rm.codes[code].Store(c) // racing stores hold the same child
	}
	(*c).Inc()
	o := rm.latency.Load()
	if o == nil {
		observer := m.latency.WithLabelValues(route)
		o = &observer
		rm.latency.Store(o)
	}
	(*o).Observe(d.Seconds())
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
	if err := promreg.Register(reg, "server",
		m.requests, m.latency, m.shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_in_flight",
			Help: "Requests being handled (ASAP_MAX_IN_FLIGHT bounds them).",
		}, func() float64 { return float64(l.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_queued",
			Help: "Requests waiting for an in-flight slot (ASAP_MAX_QUEUED bounds them).",
		}, func() float64 { return float64(l.Queued()) }),
	); err != nil {
		return nil, err
	}
	return m, nil
}
