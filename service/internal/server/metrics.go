package server

import (
	"errors"
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
	// shedFull, shedTimeout and shedGone count the requests the limits refused,
	// by reason (asap_http_shed_total's children).
	shedFull, shedTimeout, shedGone prometheus.Counter

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

// shed counts a request the limits refused with err (from limiter.Acquire).
func (m *metrics) shed(err error) {
	switch {
	case errors.Is(err, limiter.ErrQueueFull):
		m.shedFull.Inc()
	case errors.Is(err, limiter.ErrQueueTimeout):
		m.shedTimeout.Inc()
	default: // the client left while it waited
		m.shedGone.Inc()
	}
}

// The reasons of asap_http_shed_total.
const (
	shedQueueFull    = "queue_full"
	shedQueueTimeout = "queue_timeout"
	shedClientGone   = "client_gone"
)

func newMetrics(reg prometheus.Registerer, limiters map[string]*limiter.Limiter) (*metrics, error) {
	sum := func(f func(*limiter.Limiter) int) func() float64 {
		return func() float64 {
			n := 0
			for _, l := range limiters {
				n += f(l)
			}
			return float64(n)
		}
	}
	shed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_http_shed_total",
		Help: "Requests refused with 503 by the in-flight limit, by reason: queue_full (limit reached and " +
			"ASAP_MAX_QUEUED waiting: refused at once), queue_timeout (no turn within ASAP_QUEUE_TIMEOUT), " +
			"client_gone (the client left while it waited).",
	}, []string{"reason"})
	limit := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "asap_http_in_flight_limit",
		Help: "The adaptive in-flight limit of each route now (ASAP_MAX_IN_FLIGHT bounds it).",
	}, []string{"route"})
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
		shedFull:    shed.WithLabelValues(shedQueueFull),
		shedTimeout: shed.WithLabelValues(shedQueueTimeout),
		shedGone:    shed.WithLabelValues(shedClientGone),
	}
	if err := promreg.Register(reg, "server",
		m.requests, m.latency, shed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_in_flight",
			Help: "Requests being handled, every route's together (each route's asap_http_in_flight_limit bounds its own).",
		}, sum((*limiter.Limiter).InFlight)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "asap_http_queued",
			Help: "Requests waiting for an in-flight slot, every route's together (ASAP_MAX_QUEUED bounds each route's).",
		}, sum((*limiter.Limiter).Queued)),
		limitCollector{limit, limiters},
	); err != nil {
		return nil, err
	}
	return m, nil
}

// limitCollector reads each route's limit when scraped.
type limitCollector struct {
	gauge    *prometheus.GaugeVec
	limiters map[string]*limiter.Limiter
}

// Describe implements prometheus.Collector.
func (c limitCollector) Describe(ch chan<- *prometheus.Desc) { c.gauge.Describe(ch) }

// Collect implements prometheus.Collector.
func (c limitCollector) Collect(ch chan<- prometheus.Metric) {
	for route, l := range c.limiters {
		c.gauge.WithLabelValues(route).Set(float64(l.Limit()))
	}
	c.gauge.Collect(ch)
}
