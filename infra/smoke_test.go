package main

import "testing"

func TestSmoke(t *testing.T) {
	for _, stack := range []string{"staging", "production"} {
		run := mustRun(t, stack, loadStackConfig(t, stack))
		t.Logf("%s: %d resources, outputs %v", stack, len(run.resources), run.outputs)
		for _, r := range run.resources {
			t.Logf("  %s %s", r.Type, r.Name)
		}
	}
}
