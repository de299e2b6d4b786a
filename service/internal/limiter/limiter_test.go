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

// TestToleranceHoldsTheLimit: on a server of 2 CPUs whose latency at the floor
// is 2 ms, 128 clients and a maximum of 64 make requests wait up to 32 ms for a
// CPU. Aiming at twice minRTT the limit falls to 16 or less
// (TestLimitFallsWhenLatencyGrowsWithLoad); with a tolerance of 50 ms the 32 ms
// are within it and the limit stays at its maximum; with one of 10 ms it settles
// where latency is about 10 ms, 20 in flight and the headroom.
func TestToleranceHoldsTheLimit(t *testing.T) {
	for _, c := range []struct {
		tolerance time.Duration
		lo, hi    int
	}{
		{50 * time.Millisecond, 64, 64},
		{10 * time.Millisecond, 17, 32},
	} {
		synctest.Test(t, func(t *testing.T) {
			l := limiter.New(64, 64, 5*time.Millisecond, limiter.WithTolerance(c.tolerance))
			served, _, _ := serve(l, 128, 5*time.Second, cpuBound(2, time.Millisecond))
			if got := l.Limit(); got < c.lo || got > c.hi {
				t.Errorf("tolerance %s: Limit = %d; want between %d and %d", c.tolerance, got, c.lo, c.hi)
			}
			if capacity := 2000; served < capacity*95/100 {
				t.Errorf("tolerance %s: served %d requests in the last second; want at least 95%% of the capacity %d", c.tolerance, served, capacity)
			}
		})
	}
}

// TestLimitFollowsItsUse: a limit is only raised while it is used, and one left
// unused falls toward twice what is used. With latency that holds (10 ms at any
// concurrency), 32 clients leave a maximum of 256 at 64; 100 clients raise it
// (the limit of 64 is used) and leave it at 200; through a lull of 2 clients it
// falls to the floor, halving each window, instead of doubling back to the
// maximum, from which the clients' return would be admitted all at once.
func TestLimitFollowsItsUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maximum = 256
		l := limiter.New(maximum, maximum, 5*time.Millisecond)
		for _, c := range []struct{ clients, want int }{
			{32, 64},
			{100, 200},
			{2, maximum / limiter.FloorShare},
			{100, 200},
		} {
			if _, refused, _ := serve(l, c.clients, 2*time.Second, constant(10*time.Millisecond)); refused != 0 {
				t.Errorf("%d clients: %d refused in the last second; want none", c.clients, refused)
			}
			if got := l.Limit(); got != c.want {
				t.Errorf("%d clients: Limit = %d; want %d", c.clients, got, c.want)
			}
		}
	})
}

// TestLimitHeldDownThroughALull: a limit brought down by queueing for the CPUs
// stays down through a lull (2 clients, far below half of it), although each
// window's latency is far below the target, and grows to the maximum once 32
// clients use it and latency holds.
func TestLimitHeldDownThroughALull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.New(64, 64, 5*time.Millisecond)
		serve(l, 128, 3*time.Second, cpuBound(2, time.Millisecond))
		serve(l, 2, 2*time.Second, constant(time.Millisecond))
		if got := l.Limit(); got > 16 {
			t.Errorf("Limit = %d after a lull of 2 s with 2 clients; want it left at 16 or less", got)
		}
		serve(l, 32, 2*time.Second, constant(10*time.Millisecond))
		if got, want := l.Limit(), 64; got != want {
			t.Errorf("Limit = %d with 32 clients and latency that holds; want the maximum %d", got, want)
		}
	})
}

// TestSurgeAdmittedAsTheCPUsServeIt: 600 clients arrive at once at a server of 2
// CPUs (2,000 requests a second of 1 ms each) whose limit, after a lull, is at its
// floor of 64. Latency at 64 in flight is 32 ms, within the tolerance of 50 ms, so
// the gradient would raise the limit; but the CPUs serve 100 requests within
// 50 ms, and the limit grows no further than that and the headroom: the surge
// peaks at no more than 150 in flight (without the bound, 189), and the server
// still serves all it can.
func TestSurgeAdmittedAsTheCPUsServeIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := limiter.New(1024, 1024, 50*time.Millisecond, limiter.WithTolerance(50*time.Millisecond))
		serve(l, 8, 2*time.Second, cpuBound(2, time.Millisecond))
		if got, want := l.Limit(), 1024/limiter.FloorShare; got != want {
			t.Fatalf("Limit = %d after a lull of 8 clients; want the floor %d", got, want)
		}
		served, _, peak := serve(l, 600, 3*time.Second, cpuBound(2, time.Millisecond))
		if peak > 150 {
			t.Errorf("%d requests in flight at the peak of the surge; want no more than 150", peak)
		}
		if capacity := 2000; served < capacity*95/100 {
			t.Errorf("served %d requests in the last second; want at least 95%% of the capacity %d", served, capacity)
		}
	})
}

// TestQueueHoldsWhatTheLimitServesInTime: 4 slots whose requests take 10 ms serve
// 20 requests within a queue timeout of 50 ms, so the queue holds about 20 and a
// request past them is refused at once (ErrQueueFull), not after waiting the
// whole timeout in a queue of 100 (ErrQueueTimeout). The server meanwhile serves
// all it can.
func TestQueueHoldsWhatTheLimitServesInTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const latency = 10 * time.Millisecond
		l := limiter.New(4, 100, 50*time.Millisecond)
		var (
			mu                     sync.Mutex
			served, atOnce, waited int
			mostQueued             int
		)
		start := time.Now()
		var wg sync.WaitGroup
		for range 60 {
			wg.Go(func() {
				for time.Since(start) < 3*time.Second {
					tk, err := l.Acquire(context.Background())
					mu.Lock()
					measured := time.Since(start) >= time.Second
					if measured {
						mostQueued = max(mostQueued, l.Queued())
					}
					switch {
					case err == nil && measured:
						served++
					case errors.Is(err, limiter.ErrQueueFull) && measured:
						atOnce++
					case errors.Is(err, limiter.ErrQueueTimeout) && measured:
						waited++
					}
					mu.Unlock()
					if err != nil {
						time.Sleep(latency) // a client's back-off
						continue
					}
					time.Sleep(latency)
					l.Release(tk)
				}
			})
		}
		wg.Wait()
		if mostQueued > 20 {
			t.Errorf("up to %d requests queued; want no more than the 20 the limit serves within the timeout", mostQueued)
		}
		if atOnce == 0 || waited*10 > atOnce {
			t.Errorf("refused %d at once and %d after the queue timeout; want nearly all at once", atOnce, waited)
		}
		if capacity := 2 * 4 * 100; served < capacity*95/100 {
			t.Errorf("served %d requests in the last 2 s; want at least 95%% of the %d the 4 slots serve", served, capacity)
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
