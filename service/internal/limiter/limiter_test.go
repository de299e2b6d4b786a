package limiter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"asap/service/internal/limiter"
)

// The tests run on synctest's simulated clock: time moves only when every
// goroutine of the test waits, so latencies, windows and queue timeouts are exact
// and the tests hold no wall-clock bound.

// server simulates a server behind l: workers clients each send a request as soon
// as the last is answered (closed loop), for d; a request admitted while n are in
// flight takes latency(n). It returns the requests served and refused in the
// last second of d, and the most ever in flight.
func serve(l *limiter.Limiter, workers int, d time.Duration, latency func(inFlight int) time.Duration) (served, refused, peak int) {
	var (
		mu       sync.Mutex
		inFlight int
	)
	start := time.Now()
	last := start.Add(d - time.Second)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Since(start) < d {
				t, err := l.Acquire(context.Background())
				if err != nil {
					mu.Lock()
					if !time.Now().Before(last) {
						refused++
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond) // a client's back-off
					continue
				}
				mu.Lock()
				inFlight++
				peak = max(peak, inFlight)
				wait := latency(inFlight)
				mu.Unlock()
				time.Sleep(wait)
				mu.Lock()
				inFlight--
				if !time.Now().Before(last) {
					served++
				}
				mu.Unlock()
				l.Release(t)
			}
		})
	}
	wg.Wait()
	return served, refused, peak
}

func constant(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

// cpuBound is the latency of a server of cores CPUs, each request needing work of
// CPU time: past cores requests in flight, every request slows in proportion.
func cpuBound(cores int, work time.Duration) func(int) time.Duration {
	return func(n int) time.Duration { return work * time.Duration(max(n, cores)) / time.Duration(cores) }
}

// TestLimitGrowsWhileLatencyHolds: latency that does not grow with concurrency
// (an upstream's, say) lets the limit grow to its maximum.
func TestLimitGrowsWhileLatencyHolds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.New(64, 64, 50*time.Millisecond)
		if got, want := l.Limit(), 64; got != want {
			t.Errorf("Limit = %d at start; want the maximum %d", got, want)
		}
		_, refused, peak := serve(l, 64, 5*time.Second, constant(10*time.Millisecond))
		if got, want := l.MinRTT(), 10*time.Millisecond; got != want {
			t.Errorf("MinRTT = %s; want %s", got, want)
		}
		if got, want := l.Limit(), 64; got != want {
			t.Errorf("Limit = %d; want the maximum %d", got, want)
		}
		if refused != 0 {
			t.Errorf("%d requests refused in the last second; want none", refused)
		}
		if peak > 64 {
			t.Errorf("%d requests in flight at once; want at most the maximum 64", peak)
		}
	})
}

// TestLimitFallsWhenLatencyGrowsWithLoad: on a server of 2 CPUs, 128 clients and a
// maximum of 64 would make every request wait for a CPU behind 63 others. The limit
// falls until latency is near minRTT again, and the server still serves as much as
// its CPUs can.
func TestLimitFallsWhenLatencyGrowsWithLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const work = time.Millisecond
		l := limiter.New(64, 64, 5*time.Millisecond)
		served, refused, _ := serve(l, 128, 5*time.Second, cpuBound(2, work))
		if got, want := l.MinRTT(), cpuBound(2, work)(64/limiter.FloorShare); got != want {
			t.Errorf("MinRTT = %s; want %s, the latency at the floor", got, want)
		}
		// At the limit L, latency is L/2 ms: within minRTT × (1 + Buffer) plus the
		// headroom's share, L stays under 16.
		if got := l.Limit(); got < 64/limiter.FloorShare || got > 16 {
			t.Errorf("Limit = %d; want between the floor %d and 16", got, 64/limiter.FloorShare)
		}
		// The CPUs serve 2 requests a millisecond from 2 in flight on.
		if capacity := 2000; served < capacity*95/100 {
			t.Errorf("served %d requests in the last second; want at least 95%% of the capacity %d", served, capacity)
		}
		if refused == 0 {
			t.Error("no request refused in the last second; want the excess refused")
		}
	})
}

// TestLimitFollowsSlowerUpstream: when latency grows for a reason no lower
// concurrency removes (the upstream became slower), the limit falls to its floor,
// minRTT is measured again there, and the limit grows back to its maximum: the
// server is not left refusing what it could serve.
func TestLimitFollowsSlowerUpstream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.New(64, 64, 100*time.Millisecond)
		var slow atomic.Bool
		latency := func(int) time.Duration {
			if slow.Load() {
				return 50 * time.Millisecond
			}
			return 10 * time.Millisecond
		}
		serve(l, 32, 3*time.Second, latency)
		if got := l.Limit(); got < 32 {
			t.Fatalf("Limit = %d before the upstream slows; want at least the 32 clients", got)
		}
		slow.Store(true)
		serve(l, 32, 1200*time.Millisecond, latency)
		if got, want := l.MinRTT(), 50*time.Millisecond; got != want {
			t.Errorf("MinRTT = %s; want %s, measured again", got, want)
		}
		if got, want := l.Limit(), 64; got != want {
			t.Errorf("Limit = %d; want back to the maximum %d: the latency was not the server's queueing", got, want)
		}
		if _, refused, _ := serve(l, 32, 3*time.Second, latency); refused != 0 {
			t.Errorf("%d requests refused in the last second; want none", refused)
		}
	})
}

// TestBaselineTakenUnderOverloadIsMeasuredAgain: a server started in the middle
// of a flood sees only latencies inflated by its own queueing, so its first
// baseline is too high and the gradient alone would keep the limit at its maximum.
// Refusing requests makes it measure minRTT again at the floor, and the limit then
// falls to what its CPUs can serve.
func TestBaselineTakenUnderOverloadIsMeasuredAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.New(64, 64, 5*time.Millisecond)
		// 64 in flight on 2 CPUs: 32 ms each, from the first request on.
		serve(l, 64, 2*time.Second, constant(32*time.Millisecond))
		if got, want := l.MinRTT(), 32*time.Millisecond; got != want {
			t.Fatalf("MinRTT = %s after the flood's first seconds; want %s", got, want)
		}
		served, _, _ := serve(l, 128, 5*time.Second, cpuBound(2, time.Millisecond))
		if got, want := l.MinRTT(), cpuBound(2, time.Millisecond)(64/limiter.FloorShare); got != want {
			t.Errorf("MinRTT = %s; want %s, measured again at the floor", got, want)
		}
		if got := l.Limit(); got > 16 {
			t.Errorf("Limit = %d; want at most 16", got)
		}
		if capacity := 2000; served < capacity*95/100 {
			t.Errorf("served %d requests in the last second; want at least 95%% of the capacity %d", served, capacity)
		}
	})
}

// full returns a new limiter of slots, every slot taken: the tickets are
// returned.
func full(t *testing.T, slots, queued int, timeout time.Duration) (*limiter.Limiter, []limiter.Ticket) {
	t.Helper()
	l := limiter.New(slots, queued, timeout)
	var held []limiter.Ticket
	for range slots {
		tk, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatalf("Acquire refused a request within the limit: %v", err)
		}
		held = append(held, tk)
	}
	return l, held
}

func TestQueueFullIsRefusedAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, held := full(t, 2, 1, time.Minute)
		got := make(chan error)
		go func() {
			_, err := l.Acquire(context.Background())
			got <- err
		}()
		synctest.Wait()
		if got, want := l.Queued(), 1; got != want {
			t.Fatalf("Queued = %d; want %d", got, want)
		}
		start := time.Now()
		if _, err := l.Acquire(context.Background()); !errors.Is(err, limiter.ErrQueueFull) {
			t.Errorf("Acquire past a full queue: %v; want ErrQueueFull", err)
		}
		if waited := time.Since(start); waited != 0 {
			t.Errorf("refusal took %s; want at once", waited)
		}
		l.Release(held[0])
		if err := <-got; err != nil {
			t.Errorf("the queued request was refused after a slot was released: %v", err)
		}
		if got, want := l.InFlight(), 2; got != want {
			t.Errorf("InFlight = %d; want %d (the queued request took the slot)", got, want)
		}
	})
}

func TestQueueTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := full(t, 1, 5, 10*time.Millisecond)
		start := time.Now()
		if _, err := l.Acquire(context.Background()); !errors.Is(err, limiter.ErrQueueTimeout) {
			t.Errorf("Acquire while the only slot stayed taken: %v; want ErrQueueTimeout", err)
		}
		if got, want := time.Since(start), 10*time.Millisecond; got != want {
			t.Errorf("refused after %s; want the queue timeout %s", got, want)
		}
		if got := l.Queued(); got != 0 {
			t.Errorf("Queued = %d after the timeout; want 0", got)
		}
	})
}

func TestQueueContextDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, _ := full(t, 1, 5, time.Minute)
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error)
		go func() {
			_, err := l.Acquire(ctx)
			got <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Errorf("Acquire whose context ended: %v; want context.Canceled", err)
		}
		if got := l.Queued(); got != 0 {
			t.Errorf("Queued = %d; want 0", got)
		}
	})
}

// TestConcurrentNeverExceedsLimit hammers the limiter from many goroutines, on the
// real clock, and checks under -race that no more than its maximum are ever in
// flight and that it comes to rest empty.
func TestConcurrentNeverExceedsLimit(t *testing.T) {
	const slots = 4
	l := limiter.New(slots, 8, 5*time.Millisecond)
	var held, maxHeld, admitted atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 50 {
				tk, err := l.Acquire(context.Background())
				if err != nil {
					continue
				}
				n := held.Add(1)
				admitted.Add(1)
				for m := maxHeld.Load(); n > m && !maxHeld.CompareAndSwap(m, n); m = maxHeld.Load() {
				}
				time.Sleep(10 * time.Microsecond)
				held.Add(-1)
				l.Release(tk)
			}
		})
	}
	wg.Wait()
	if got := maxHeld.Load(); got > slots {
		t.Errorf("%d requests held slots at once; want at most %d", got, slots)
	}
	if admitted.Load() == 0 {
		t.Error("no request was admitted")
	}
	if l.InFlight() != 0 || l.Queued() != 0 {
		t.Errorf("InFlight, Queued = %d, %d at rest; want 0, 0", l.InFlight(), l.Queued())
	}
}

// TestStandingQueueRefusesAtOnce: requests that find no free slot join the queue
// and wait the queue timeout until such requests have kept coming for
// CoDelInterval; from then on they are refused at once with ErrQueueStanding, and
// once CoDelInterval has passed without one, they wait in the queue again.
func TestStandingQueueRefusesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 50 * time.Millisecond
		l, _ := full(t, 1, 10, timeout)
		start := time.Now()
		waited := func(join time.Duration, want error) chan time.Duration {
			out := make(chan time.Duration, 1)
			go func() {
				time.Sleep(join - time.Since(start))
				at := time.Now()
				if _, err := l.Acquire(context.Background()); !errors.Is(err, want) {
					t.Errorf("Acquire joining at %s: %v; want %v", join, err, want)
				}
				out <- time.Since(at)
			}()
			return out
		}
		// Joining at 0, 40 and 80 ms keeps the queue busy from 0 to 130 ms.
		for _, c := range []struct {
			join, want time.Duration
			err        error
		}{
			{0, timeout, limiter.ErrQueueTimeout},
			{40 * time.Millisecond, timeout, limiter.ErrQueueTimeout},
			{80 * time.Millisecond, timeout, limiter.ErrQueueTimeout},
			{120 * time.Millisecond, 0, limiter.ErrQueueStanding},
		} {
			defer func(got chan time.Duration) {
				if d := <-got; d != c.want {
					t.Errorf("joining the queue at %s: waited %s; want %s", c.join, d, c.want)
				}
			}(waited(c.join, c.err))
		}
		synctest.Wait()
		time.Sleep(time.Second) // every one refused, and none for a second
		if d := <-waited(time.Since(start), limiter.ErrQueueTimeout); d != timeout {
			t.Errorf("joining the emptied queue: waited %s; want the queue timeout %s", d, timeout)
		}
	})
}

// TestCeilingBoundsTheTarget: a baseline of 100 ms (measured while a flood's
// refused requests took the CPU, say) would let latency grow to 200 ms; with a
// ceiling of 50 ms, latency of 100 ms already brings the limit down to its
// floor, and without one the limit stays at its maximum.
func TestCeilingBoundsTheTarget(t *testing.T) {
	for _, ceiling := range []time.Duration{0, 50 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			var opts []limiter.Option
			if ceiling > 0 {
				opts = append(opts, limiter.WithCeiling(ceiling))
			}
			l := limiter.New(64, 64, 5*time.Millisecond, opts...)
			serve(l, 128, 3*time.Second, constant(100*time.Millisecond))
			switch floor := 64 / limiter.FloorShare; {
			case ceiling > 0 && l.Limit() != floor:
				t.Errorf("ceiling %s: Limit = %d; want the floor %d", ceiling, l.Limit(), floor)
			case ceiling == 0 && l.Limit() != 64:
				t.Errorf("no ceiling: Limit = %d; want the maximum 64", l.Limit())
			}
		})
	}
}
