// Package promreg holds the one rule by which ASAP's packages register their
// Prometheus collectors: on the prometheus.Registerer their caller hands them,
// and nowhere when that Registerer is nil (tests and tools that want no metrics
// pass nil; nothing ever falls back to prometheus.DefaultRegisterer).
package promreg

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers cs on reg, in order, and returns the first error, naming
// what (the package or part whose metrics they are). A nil reg registers nothing.
func Register(reg prometheus.Registerer, what string, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("%s metrics: %w", what, err)
		}
	}
	return nil
}
