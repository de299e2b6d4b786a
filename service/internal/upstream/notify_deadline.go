package upstream

import (
	"context"
	"sync/atomic"
	"time"
)

// noticeDeadlines hands out the contexts that bound the notices: a context with
// a deadline of Timeout and a tenth from the instant it was made, shared by every
// notice that starts within that tenth. A context per notice made one timer and
// two registrations on the notifier's context per notice, every worker through
// that context's one lock (10% of a notice's CPU in BenchmarkNotify's profile);
// shared, a notice costs a clock read and an atomic load. Each notice is still
// bounded, by at least Timeout and at most Timeout and a tenth.
type noticeDeadlines struct {
	parent  context.Context
	timeout time.Duration
	cur     atomic.Pointer[sharedDeadline]
}

type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc // its timer's, released when the deadline passes
	until  time.Time          // notices starting before this instant may share it
}

// get returns the context for a notice starting now.
func (d *noticeDeadlines) get() context.Context {
	now := time.Now()
	cur := d.cur.Load()
	if cur != nil && now.Before(cur.until) {
		return cur.ctx
	}
	slack := d.timeout / 10
	ctx, cancel := context.WithDeadline(d.parent, now.Add(d.timeout+slack))
	next := &sharedDeadline{ctx: ctx, cancel: cancel, until: now.Add(slack)}
	if !d.cur.CompareAndSwap(cur, next) {
		cancel() // another worker made one first: use it
		if won := d.cur.Load(); won != nil {
			return won.ctx
		}
	}
	return next.ctx
}
