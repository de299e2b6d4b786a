package upstream

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestNoticeDeadlines: notices starting within a tenth of the timeout share one
// context; each is bounded by the timeout to a tenth more; a later notice gets a
// new one; the parent's end ends them all.
func TestNoticeDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		d := noticeDeadlines{parent: parent, timeout: time.Second}
		check := func(ctx context.Context) {
			t.Helper()
			dl, ok := ctx.Deadline()
			if left := time.Until(dl); !ok || left < time.Second || left > 1100*time.Millisecond {
				t.Errorf("a notice starting now has %v left (deadline set: %v); want 1s to 1.1s", left, ok)
			}
		}
		first := d.get()
		check(first)
		time.Sleep(50 * time.Millisecond)
		if got := d.get(); got != first {
			t.Error("a notice 50ms later got a context of its own; want the shared one")
		}
		time.Sleep(60 * time.Millisecond)
		second := d.get()
		if second == first {
			t.Fatal("a notice 110ms later shares the first context; want a new one")
		}
		check(second)
		time.Sleep(time.Second)
		if first.Err() != context.DeadlineExceeded {
			t.Errorf("the first context after its deadline: %v; want DeadlineExceeded", first.Err())
		}
		stop()
		if second.Err() != context.Canceled {
			t.Errorf("the second context after the notifier's end: %v; want Canceled", second.Err())
		}
	})
}
