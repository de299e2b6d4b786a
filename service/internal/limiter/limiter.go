// Package limiter bounds the requests a server handles at once: the Go counterpart
// of Tomcat's maxThreads, acceptCount and connection timeout. Past its bounds a
// request is refused at once, so that latency cannot grow without limit.
package limiter

import (
	"context"
	"sync/atomic"
	"time"
)

// Limiter admits at most MaxInFlight requests at once; up to MaxQueued more wait
// for a turn, each at most QueueTimeout. It is safe for concurrent use.
type Limiter struct {
	slots     chan struct{}
	maxQueued int64
	queued    atomic.Int64
	timeout   time.Duration
}

// New returns a Limiter of maxInFlight slots (at least 1) and a queue of maxQueued
// (0: nobody waits) in which a request waits at most queueTimeout.
func New(maxInFlight, maxQueued int, queueTimeout time.Duration) *Limiter {
	return &Limiter{
		slots:     make(chan struct{}, max(maxInFlight, 1)),
		maxQueued: int64(max(maxQueued, 0)),
		timeout:   queueTimeout,
	}
}

// Acquire takes a slot, waiting in the queue when all are taken. It reports false,
// without a slot, when the queue is full, the wait exceeds the queue timeout or ctx
// ends first. Every true must be paired with a Release.
func (l *Limiter) Acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.queued.Add(1) > l.maxQueued {
		l.queued.Add(-1)
		return false
	}
	defer l.queued.Add(-1)
	timer := time.NewTimer(l.timeout)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// Release frees the slot taken by a successful Acquire.
func (l *Limiter) Release() { <-l.slots }

// InFlight returns the number of slots taken.
func (l *Limiter) InFlight() int { return len(l.slots) }

// Queued returns the number of requests waiting for a slot.
func (l *Limiter) Queued() int { return int(l.queued.Load()) }
