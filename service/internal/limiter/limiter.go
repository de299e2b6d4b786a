// Package limiter bounds the requests a server handles at once, with a limit that
// adapts to the latency it measures: the Go counterpart of Tomcat's maxThreads,
// acceptCount and connection timeout, made adaptive in the manner of Envoy's
// adaptive concurrency filter (a gradient of latencies). Past its limit and queue
// a request is refused at once, so that the requests admitted stay fast.
//
// The limit follows the gradient of the latency measured at low concurrency
// (minRTT) to the latency measured now (the median of a window):
//
//	gradient = clamp((minRTT × (1 + Buffer)) ÷ windowRTT, 0.5, 2)
//	limit    = clamp(limit × gradient + √(limit × gradient), floor, max)
//
// While the requests admitted take no longer than minRTT plus the buffer, the
// limit grows up to the configured maximum; once they queue for a CPU (or anything
// else) inside the server and their latency grows with their number, it falls
// until latency is back near minRTT. A server may bound the latency aimed at from
// below (WithTolerance: noise a CPU quota or shared CPUs add is not queueing) and
// from above (WithCeiling). The limit grows only while it is used: in a window
// whose requests in flight never passed half of it, it does not grow, as in
// Netflix's Gradient2, and it falls toward twice what was used, as TCP restarts
// a congestion window left unused (RFC 7661, RFC 5681 §4.1). Nor does it grow past
// what the window's throughput fills at the latency aimed at (Little's law).
//
// The queue holds no more requests than the limit serves within the queue
// timeout at the latency measured; past them a request is refused at once.
//
// minRTT starts as the first window's median and follows any lower window median.
// It is measured by pinning the limit to its floor until MinRTTSamples requests
// admitted there have finished: when latency brings the limit down to its floor
// (latency that no lower concurrency brings down is the new baseline: an
// upstream grown slower, a CPU shared with other work; the limit then grows
// again from the floor, up to twice a window, for as long as latency stays
// within the buffer of it and the requests use it), and when a request is
// refused while the last such measurement is older than MinRTTInterval (a
// baseline taken while overloaded would keep the limit high). A server that
// refuses nothing never pins its limit: the measurement costs throughput only
// when the excess is being refused anyway.
package limiter

import (
	"container/list"
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"
)

// The gradient's parameters. Envoy's adaptive concurrency filter has the same
// knobs (min_rtt_buffer, concurrency_update_interval, min_concurrency,
// request_count, min_rtt_calc_interval); these are its defaults or near them,
// but for the buffer.
const (
	// Buffer is the share of minRTT the window's latency may exceed it by before
	// the limit falls. Envoy's default is 25 %; latency on shared CPUs is noisier
	// than that, and minRTT follows the lowest window, so a tight buffer would
	// read noise as queueing and starve the server (Netflix's Gradient2 tolerates
	// 50 %). Twice minRTT is still far inside any placement's tmax.
	Buffer = 1.0
	// Window is the shortest time between two updates of the limit.
	Window = 100 * time.Millisecond
	// WindowSamples is the fewest finished requests an update takes.
	WindowSamples = 5
	// Floor is the lowest limit, and the limit while minRTT is measured: a
	// FloorShare of the maximum, at least Floor (or the maximum when lower). A
	// floor that grows with the maximum keeps a server whose latency grows for
	// reasons no lower concurrency removes (a CPU shared with other processes, a
	// slower upstream) from starving itself while minRTT catches up.
	Floor      = 3
	FloorShare = 16
	// MinRTTSamples is the number of requests, admitted at the floor, whose median
	// latency is minRTT.
	MinRTTSamples = 15
	// MinRTTInterval is how long a measured minRTT is trusted, while requests are
	// refused, before it is measured again.
	MinRTTInterval = 30 * time.Second
	// maxWindowSamples bounds the samples a window keeps (the first ones).
	maxWindowSamples = 256
	// UsedShare is the share of the limit the requests in flight must pass
	// during a window for the limit to grow at its end: a limit that was not
	// used says nothing of the latency at it. In a window where they did not,
	// the limit falls toward the most requests in flight ÷ UsedShare (by half
	// at most), not under the floor. Without the rule a lull (clients
	// waiting out a Retry-After, say) let the limit climb back to its maximum in
	// a few windows, and the clients' return was admitted all at once, slowed
	// together past tmax, and was refused together again.
	UsedShare = 0.5
)

// Option configures a Limiter.
type Option func(*Limiter)

// WithCeiling bounds the latency the limit aims at, minRTT × (1 + Buffer), by
// ceiling: a latency well inside the one past which the requests admitted are
// no longer worth serving (GET /v2/ad's: half the default tmax, at which the
// auction ends with what has arrived). The baseline alone cannot bound it: under
// a flood it is measured at the floor while the refused requests take the CPU as
// well, and a baseline inflated there let the limit grow back to its maximum
// with every admitted request taking longer than tmax.
func WithCeiling(ceiling time.Duration) Option { return func(l *Limiter) { l.ceiling = ceiling } }

// WithTolerance bounds the latency the limit aims at, minRTT × (1 + Buffer), from
// below by tolerance (at most the ceiling): latency a server may reach without
// its limit falling. A CPU quota stops a server for the rest of its period once
// it has used its share, and other processes take shared CPUs in turn: requests
// whose latency is a few milliseconds alone wait that long at any concurrency,
// and a limit aiming at twice a few milliseconds reads it as queueing, falls and
// refuses requests that would have been served well in time. For GET /v2/ad a
// fifth of the default tmax leaves the requests admitted most of their budget.
func WithTolerance(tolerance time.Duration) Option {
	return func(l *Limiter) { l.tolerance = tolerance }
}

// Why Acquire refused a request (besides its context's end).
var (
	// ErrQueueFull: the limit was reached and the queue was full; refused at once.
	ErrQueueFull = errors.New("limiter: in-flight limit reached and queue full")
	// ErrQueueTimeout: the request waited in the queue for the queue timeout.
	ErrQueueTimeout = errors.New("limiter: no turn within the queue timeout")
)

// Limiter admits requests up to its adaptive limit, at most the maxInFlight it
// was made with; up to maxQueued more wait for a turn, first come first served,
// each at most the queue timeout. It is safe for concurrent use.
type Limiter struct {
	max       int
	maxQueued int
	timeout   time.Duration
	ceiling   time.Duration // 0: none (WithCeiling)
	tolerance time.Duration // 0: none (WithTolerance)

	mu       sync.Mutex
	inFlight int
	limit    float64
	waiters  list.List     // of *waiter, the longest waiting first
	peak     int           // the most requests in flight since the window began
	done     int           // requests completed since the window began
	rtt      time.Duration // the last window's median latency (or minRTT measured since); 0: none yet

	// The gradient: the samples of the current window, the latency baseline, and
	// the state of its measurement (epoch tells the requests admitted during it).
	samples     []time.Duration
	windowStart time.Time
	minRTT      time.Duration
	measuring   bool
	saved       float64 // the limit before the measurement
	epoch       uint64
	measuredAt  time.Time // when the last measurement ended; zero: never
}

// waiter is a request in the queue; granted is set, under the Limiter's lock, when
// a slot is handed to it.
type waiter struct {
	ready   chan struct{}
	granted bool
	ticket  Ticket
}

// Ticket is an admitted request: give it back to Release.
type Ticket struct {
	start time.Time
	epoch uint64
}

// New returns a Limiter whose limit adapts up to maxInFlight (at least 1), with a
// queue of maxQueued (0: nobody waits) in which a request waits at most
// queueTimeout. Its limit starts at maxInFlight.
func New(maxInFlight, maxQueued int, queueTimeout time.Duration, opts ...Option) *Limiter {
	l := &Limiter{
		max:       max(maxInFlight, 1),
		maxQueued: max(maxQueued, 0),
		timeout:   queueTimeout,
		samples:   make([]time.Duration, 0, maxWindowSamples),
	}
	for _, o := range opts {
		o(l)
	}
	l.limit = float64(l.max)
	return l
}

// floor is the lowest limit (see Floor).
func (l *Limiter) floor() float64 { return float64(min(max(Floor, l.max/FloorShare), l.max)) }

// Acquire admits a request, waiting in the queue when the limit is reached. It
// refuses it, admitting nothing, with ErrQueueFull (at once) when the queue is
// full, ErrQueueTimeout when the wait exceeds the queue timeout, or ctx's error
// when ctx ends first. Every admitted request must be given back with Release.
func (l *Limiter) Acquire(ctx context.Context) (Ticket, error) {
	l.mu.Lock()
	if l.waiters.Len() == 0 && l.inFlight < int(l.limit) {
		t := l.admit(time.Now())
		l.mu.Unlock()
		return t, nil
	}
	if l.waiters.Len() >= l.queueBound() {
		l.refused(time.Now())
		l.mu.Unlock()
		return Ticket{}, ErrQueueFull
	}
	w := &waiter{ready: make(chan struct{})}
	e := l.waiters.PushBack(w)
	l.mu.Unlock()

	timer := time.NewTimer(l.timeout)
	defer timer.Stop()
	err := ErrQueueTimeout
	select {
	case <-w.ready:
		return w.ticket, nil
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted { // handed a slot as the wait ended: take it
		return w.ticket, nil
	}
	l.waiters.Remove(e)
	if err == ErrQueueTimeout {
		l.refused(time.Now())
	}
	return Ticket{}, err
}

// queueBound is the most requests the queue holds now: maxQueued, and no more
// than the limit serves within the queue timeout at the latency of the last
// window (limit × timeout ÷ latency); l.mu is held. A request past them would
// wait the whole timeout and be refused then: it is refused at once instead,
// which costs the server a fraction of the CPU (no timer, no two wake-ups) when
// it has the least to spare, and gives the client its answer sooner. The queue
// still absorbs a burst the limit can serve in time.
func (l *Limiter) queueBound() int {
	if l.rtt <= 0 {
		return l.maxQueued
	}
	return min(l.maxQueued, int(math.Ceil(l.limit*float64(l.timeout)/float64(l.rtt))))
}

// refused notes a request refused for want of a turn: the baseline is measured
// again when it is older than MinRTTInterval; l.mu is held.
func (l *Limiter) refused(now time.Time) {
	if !l.measuring && (l.measuredAt.IsZero() || now.Sub(l.measuredAt) >= MinRTTInterval) {
		l.measure(now)
	}
}

// admit counts a request in; l.mu is held.
func (l *Limiter) admit(now time.Time) Ticket {
	l.inFlight++
	l.peak = max(l.peak, l.inFlight)
	return Ticket{start: now, epoch: l.epoch}
}

// Release gives back the slot of an admitted request, and counts its latency.
func (l *Limiter) Release(t Ticket) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.sample(now, now.Sub(t.start), t.epoch)
	for l.waiters.Len() > 0 && l.inFlight < int(l.limit) {
		w := l.waiters.Remove(l.waiters.Front()).(*waiter)
		w.granted, w.ticket = true, l.admit(now)
		close(w.ready)
	}
}

// sample counts the latency rtt of a request admitted in epoch, and updates the
// limit when a window or a measurement of minRTT is complete; l.mu is held.
func (l *Limiter) sample(now time.Time, rtt time.Duration, epoch uint64) {
	if l.measuring {
		if epoch != l.epoch {
			return // admitted before the measurement, above the floor
		}
		l.samples = append(l.samples, rtt)
		if len(l.samples) < MinRTTSamples {
			return
		}
		// Even at the floor latency may stay up: a slower upstream, a CPU shared
		// with other work, or this server's own CPU taken by the requests it
		// refuses. It is the new baseline, and the limit goes on from where it
		// was: doubling each window while latency stays within the buffer, it is
		// back at the maximum within a few windows if nothing queues, and it
		// does not jump there when something does (a flood's arrivals queueing
		// for the CPU with the requests admitted).
		l.minRTT = max(median(l.samples), time.Microsecond)
		l.rtt = l.minRTT
		l.measuring = false
		l.limit = l.saved
		l.measuredAt = now
		l.startWindow(now)
		return
	}
	l.done++
	if len(l.samples) < maxWindowSamples {
		l.samples = append(l.samples, rtt)
	}
	if now.Sub(l.windowStart) < Window || len(l.samples) < WindowSamples {
		return
	}
	windowRTT := max(median(l.samples), time.Microsecond)
	l.rtt = windowRTT
	if l.minRTT == 0 || windowRTT < l.minRTT {
		l.minRTT = windowRTT
	}
	target := max(float64(l.minRTT)*(1+Buffer), float64(l.tolerance))
	if l.ceiling > 0 {
		target = min(target, float64(l.ceiling))
	}
	gradient := target / float64(windowRTT)
	gradient = min(max(gradient, 0.5), 2)
	limit := l.limit * gradient
	limit = min(max(limit+math.Sqrt(limit), l.floor()), float64(l.max))
	// Growth stops at what the window's throughput fills at the target latency
	// (Little's law: throughput × target), and the headroom: the latency of the
	// requests completed lags behind the requests admitted, so a surge admitted
	// at once would otherwise look fast until it had filled a limit several
	// times what the CPUs serve within the target.
	sized := float64(l.done) / now.Sub(l.windowStart).Seconds() * target / float64(time.Second)
	limit = min(limit, max(l.limit, sized+math.Sqrt(sized)))
	if limit <= l.floor() {
		// At the floor, latency that no lower concurrency brings down is the new
		// baseline: measure it, then go on from the limit before this window.
		l.measure(now)
		return
	}
	if float64(l.peak) <= UsedShare*l.limit {
		// Not used: no evidence of the latency at the limit. It does not grow,
		// and it falls toward what was used (halving at most, per window).
		limit = min(limit, max(l.limit/2, float64(l.peak)/UsedShare, l.floor()))
	}
	l.limit = limit
	l.startWindow(now)
}

// measure pins the limit to the floor until MinRTTSamples requests admitted from
// now on have finished; l.mu is held.
func (l *Limiter) measure(now time.Time) {
	l.measuring, l.saved = true, l.limit
	l.limit = l.floor()
	l.epoch++
	l.startWindow(now)
}

func (l *Limiter) startWindow(now time.Time) {
	l.samples, l.windowStart = l.samples[:0], now
	l.peak = l.inFlight
	l.done = 0
}

// median sorts d and returns its middle value.
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// Limit returns the current limit on requests in flight.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// MinRTT returns the latency baseline the limit is judged against: zero until the
// first window ends.
func (l *Limiter) MinRTT() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.minRTT
}

// InFlight returns the number of requests admitted and not yet released.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// Queued returns the number of requests waiting for a turn.
func (l *Limiter) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters.Len()
}
