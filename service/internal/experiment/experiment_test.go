package experiment_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"asap/service/internal/experiment"
	"asap/service/internal/placement"
)

func TestMetrics(t *testing.T) {
	p := &placement.Placement{PKey: "p", Experiments: []placement.Experiment{{ID: "b", Percent: 10}}}
	var none *experiment.Metrics
	if c := none.Requests("/v2", p, 0); c != nil {
		t.Errorf("nil Metrics: Requests = %v; want nil", c)
	}
	none.Fill("/v2/ad", p, 0, 1) // counts nothing, does not panic

	reg := prometheus.NewRegistry()
	m, err := experiment.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Requests("/v2/ad", p, 0).Inc()
	m.Requests("/v2/ad", p, -1).Inc()
	m.Fill("/v2/ad", p, 0, 1.5)
	m.Fill("/v2/ad", p, 0, 0) // a fill at 0 (a deal) adds nothing to the sum
	for _, tt := range []struct {
		name, arm string
		want      float64
	}{
		{"asap_experiment_requests_total", "b", 1},
		{"asap_experiment_requests_total", "control", 1},
		{"asap_experiment_fills_total", "b", 2},
		{"asap_experiment_cpm_sum", "b", 1.5},
	} {
		got := gathered(t, reg, tt.name, tt.arm)
		if got != tt.want {
			t.Errorf("%s{arm=%s} = %v; want %v", tt.name, tt.arm, got, tt.want)
		}
	}
	if _, err := experiment.New(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 4 {
		t.Errorf("%d series (%v); want 4: no fills or cpm series for control, which has none", n, err)
	}
}

func gathered(t *testing.T, reg *prometheus.Registry, name, arm string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "arm" && l.GetValue() == arm {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
