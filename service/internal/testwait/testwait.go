// Package testwait is how tests wait for something to happen: a condition to hold,
// a value to arrive. It sets no deadline of its own, because `make test` holds no
// wall-clock bound (a wait that is long on a busy machine is not a failure). A wait
// that never ends is ended by the test binary's -timeout; testwait gives up a few
// seconds before it, so the failure names what was awaited instead of being the
// binary's panic with every goroutine's stack.
package testwait

import (
	"testing"
	"time"
)

// margin is how long before the test binary's deadline a wait gives up.
const margin = 5 * time.Second

// For polls cond, at first every millisecond and then less often, until it holds.
// what says what is awaited, for the failure message.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	giveUp := deadline(t)
	start := time.Now()
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if !giveUp.IsZero() && time.Now().After(giveUp) {
			t.Fatalf("still waiting for %s after %s, and the test binary's -timeout is near",
				what, time.Since(start).Round(time.Second))
		}
		time.Sleep(wait)
	}
}

// Recv waits for a value from ch and returns it; a closed ch gives the zero value.
// what says what is awaited, for the failure message.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	var timeout <-chan time.Time
	if giveUp := deadline(t); !giveUp.IsZero() {
		timer := time.NewTimer(time.Until(giveUp))
		defer timer.Stop()
		timeout = timer.C
	}
	start := time.Now()
	select {
	case v := <-ch:
		return v
	case <-timeout:
		t.Fatalf("still waiting for %s after %s, and the test binary's -timeout is near",
			what, time.Since(start).Round(time.Second))
		var zero T
		return zero
	}
}

// deadline is when a wait gives up: shortly before the test binary's -timeout, or
// never (the zero time) when it has none or t is not a *testing.T.
func deadline(t testing.TB) time.Time {
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}
	}
	end, ok := d.Deadline()
	if !ok {
		return time.Time{}
	}
	return end.Add(-margin)
}
