package promreg_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/promreg"
)

func TestRegister(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "asap_test_total", Help: "test"})
	if err := promreg.Register(nil, "test", c); err != nil {
		t.Errorf("Register(nil) = %v; want nil: a nil Registerer registers nowhere", err)
	}
	reg := prometheus.NewRegistry()
	if err := promreg.Register(reg, "test", c); err != nil {
		t.Fatalf("Register = %v", err)
	}
	if err := promreg.Register(reg, "test", c); err == nil {
		t.Errorf("Register twice on one registry = nil; want the duplicate's error")
	}
	if n, _ := reg.Gather(); len(n) != 1 {
		t.Errorf("registry holds %d families; want 1", len(n))
	}
}
