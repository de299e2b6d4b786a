package limiter_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"asap/service/internal/limiter"
)

// operationsDoc describes the limiter to operators, relative to this package.
const operationsDoc = "../../../docs/operations.md"

// TestOperationsDocMatchesLimiter holds the figures docs/operations.md gives of the
// gradient (its formula, the floor, the measurement of minRTT) to the package's
// constants, so that the page cannot drift from the code.
func TestOperationsDocMatchesLimiter(t *testing.T) {
	data, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	for _, want := range []string{
		fmt.Sprintf("gradient = clamp(min(max(minRTT × %g, tolerance), ceiling) ÷ (median latency of the last %s), 0.5, 2)", 1+limiter.Buffer, spaced(limiter.Window)),
		"limit = clamp(limit × gradient + √(limit × gradient), floor, ASAP_MAX_IN_FLIGHT)",
		fmt.Sprintf("floor = max(ASAP_MAX_IN_FLIGHT ÷ %d, %d)", limiter.FloorShare, limiter.Floor),
		fmt.Sprintf("median latency of %d requests admitted with the limit pinned to its floor: whenever latency brings the limit down to the floor, and when a request is refused while the last such measurement is older than %s.",
			limiter.MinRTTSamples, spaced(limiter.MinRTTInterval)),
		fmt.Sprintf("take no longer than `minRTT` plus %g %%", 100*limiter.Buffer),
		fmt.Sprintf("in a window whose requests in flight never passed %g %% of the limit, the limit does not grow", 100*limiter.UsedShare),
		fmt.Sprintf("it grows no further than the window's throughput fills at the target (requests completed a second × min(max(minRTT × %g, tolerance), ceiling), plus its square root)", 1+limiter.Buffer),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("%s does not say %q (the limiter's constants)", operationsDoc, want)
		}
	}
}

// spaced writes d as the docs do: "100 ms", "30 s".
func spaced(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%g s", d.Seconds())
}
