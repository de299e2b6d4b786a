package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/h1"
)

// TestBlame: which timeouts are the upstream's, by how far the exchange got. The
// request's budget is 100 ms, from start to deadline.
func TestBlame(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	deadline := start.Add(100 * time.Millisecond)
	timeout := fmt.Errorf("read: %w", os.ErrDeadlineExceeded)
	exchange := func(wrote time.Duration, pending bool) error {
		xe := &h1.ExchangeError{Err: timeout, Pending: pending}
		if wrote >= 0 {
			xe.Wrote = start.Add(wrote)
		}
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, xe)
	}
	idle := func() time.Duration { return time.Microsecond }
	starved := func() time.Duration { return 2 * StarvedLag }
	tests := []struct {
		name    string
		err     error
		expired bool
		lag     func() time.Duration // nil: idle
		want    bool
	}{
		{"written at once, never answered", exchange(time.Millisecond, false), true, nil, true},
		{"written with half the budget left", exchange(50*time.Millisecond, false), true, nil, true},
		{"written with less than half left", exchange(51*time.Millisecond, false), true, nil, false},
		{"answer waiting unread", exchange(time.Millisecond, true), true, nil, false},
		{"not written whole by the deadline", exchange(-1, false), true, nil, false},
		{"deadline passed before a connection", fmt.Errorf("dial: %w", context.DeadlineExceeded), true, nil, false},
		{"the dial's own timeout", &timeoutErr{}, false, nil, true},
		{"the dial's own timeout, ASAP short of CPU", &timeoutErr{}, false, starved, false},
		{"the header timeout, written at once", exchange(time.Millisecond, false), false, nil, true},
		{"the header timeout, written at once, ASAP short of CPU", exchange(time.Millisecond, false), false, starved, true},
		{"a timeout of its own before writing", exchange(-1, false), false, nil, true},
		{"a timeout of its own before writing, ASAP short of CPU", exchange(-1, false), false, starved, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lag := tt.lag
			if lag == nil {
				lag = idle
			}
			if got := blame(tt.err, tt.expired, start, deadline, lag); got != tt.want {
				t.Errorf("blame = %t; want %t", got, tt.want)
			}
		})
	}
	if blame(errors.New("x"), true, start, time.Time{}, idle) {
		t.Error("blame of an error without an exchange after the deadline: true; want false")
	}
}

// timeoutErr is a net.Error timeout, as the dialer's own.
type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "dial: i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

// TestSchedLagSeesStarvation: with one CPU for Go and goroutines that never
// yield, a yield waits for their time slices, well past StarvedLag. (Only this
// direction is held: a machine busy with other work may make any yield slow.)
func TestSchedLagSeesStarvation(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() { // preempted only by the scheduler's 10 ms slices
			}
		})
	}
	runtime.Gosched() // let them start
	lag := schedLag()
	stop.Store(true)
	wg.Wait()
	if lag <= StarvedLag {
		t.Errorf("schedLag with four goroutines spinning on one CPU = %s; want over %s", lag, StarvedLag)
	}
}
