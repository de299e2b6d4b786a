// Package experiment counts what each arm of a placement's experiments gets on
// GET /v2 and GET /v2/ad — requests, fills, and the sum of the fills' cpm — so
// that an operator compares revenue per request between arms. Only placements
// with experiments are counted, so the pkey label takes as many values as there
// are placements with experiments, not as there are placements.
package experiment

import (
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/placement"
	"asap/service/internal/promreg"
)

// Metrics are the asap_experiment_* metrics. A nil *Metrics counts nothing.
type Metrics struct {
	requests, fills, cpm *prometheus.CounterVec
}

// New returns Metrics registered on reg (nowhere when reg is nil).
func New(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"pkey", "arm", "route"}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_experiment_requests_total",
			Help: "Requests of placements with experiments, by placement, arm (an experiment id, or control) and route.",
		}, labels),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_experiment_fills_total",
			Help: "GET /v2/ad answers with an upstream's bid, of placements with experiments, by placement, arm and route.",
		}, labels),
		cpm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_experiment_cpm_sum",
			Help: "Sum of the cpm of the fills counted by asap_experiment_fills_total, by placement, arm and route.",
		}, labels),
	}
	if err := promreg.Register(reg, "experiment", m.requests, m.fills, m.cpm); err != nil {
		return nil, err
	}
	return m, nil
}

// Requests returns the request counter of arm (an index of p.Experiments, or
// -1 for control) of placement p on route, creating its series at 0; nil when m
// is nil. Callers on a hot path keep it: finding it hashes the label values.
func (m *Metrics) Requests(route string, p *placement.Placement, arm int) prometheus.Counter {
	if m == nil {
		return nil
	}
	return m.requests.WithLabelValues(p.PKey, ArmName(p, arm), route)
}

// Fill counts a fill of arm of placement p on route, at cpm.
func (m *Metrics) Fill(route string, p *placement.Placement, arm int, cpm float64) {
	if m == nil {
		return
	}
	name := ArmName(p, arm)
	m.fills.WithLabelValues(p.PKey, name, route).Inc()
	if cpm > 0 {
		m.cpm.WithLabelValues(p.PKey, name, route).Add(cpm)
	}
}

// ArmName names arm (an index of p.Experiments, or -1) in metrics: the
// experiment's id, or placement.ControlArm.
func ArmName(p *placement.Placement, arm int) string {
	if arm < 0 {
		return placement.ControlArm
	}
	return p.Experiments[arm].ID
}
