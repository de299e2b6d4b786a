package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	tests := []struct {
		name    string
		err     error
		expired bool
		want    bool
	}{
		{"written at once, never answered", exchange(time.Millisecond, false), true, true},
		{"written with half the budget left", exchange(50*time.Millisecond, false), true, true},
		{"written with less than half left", exchange(51*time.Millisecond, false), true, false},
		{"answer waiting unread", exchange(time.Millisecond, true), true, false},
		{"not written whole by the deadline", exchange(-1, false), true, false},
		{"deadline passed before a connection", fmt.Errorf("dial: %w", context.DeadlineExceeded), true, false},
		{"the dial's own timeout", &timeoutErr{}, false, true},
		{"the header timeout, written at once", exchange(time.Millisecond, false), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := blame(tt.err, tt.expired, start, deadline); got != tt.want {
				t.Errorf("blame = %t; want %t", got, tt.want)
			}
		})
	}
	if blame(errors.New("x"), true, start, time.Time{}) {
		t.Error("blame of an error without an exchange after the deadline: true; want false")
	}
}

// timeoutErr is a net.Error timeout, as the dialer's own.
type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "dial: i/o timeout" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }
