package limiter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"asap/service/internal/limiter"
	"asap/service/internal/testwait"
)

func TestAcquireWithinSlots(t *testing.T) {
	l := limiter.New(2, 0, time.Second)
	ctx := context.Background()
	for range 2 {
		if !l.Acquire(ctx) {
			t.Fatal("Acquire refused a free slot")
		}
	}
	if got, want := l.InFlight(), 2; got != want {
		t.Errorf("InFlight = %d; want %d", got, want)
	}
	if l.Acquire(ctx) {
		t.Error("Acquire admitted a third request with 2 slots and no queue")
	}
	l.Release()
	if !l.Acquire(ctx) {
		t.Error("Acquire refused the slot just released")
	}
}

func TestQueuedRequestGetsReleasedSlot(t *testing.T) {
	l := limiter.New(1, 1, time.Minute)
	ctx := context.Background()
	if !l.Acquire(ctx) {
		t.Fatal("Acquire refused a free slot")
	}
	got := make(chan bool)
	go func() { got <- l.Acquire(ctx) }()
	testwait.For(t, "the request to queue", func() bool { return l.Queued() == 1 })

	// The queue holds one: the next request is refused at once.
	if l.Acquire(ctx) {
		t.Error("Acquire admitted a request past a full queue")
	}
	l.Release()
	if !<-got {
		t.Error("queued request was refused after a slot was released")
	}
	if got, want := l.Queued(), 0; got != want {
		t.Errorf("Queued = %d; want %d", got, want)
	}
}

func TestQueueTimeout(t *testing.T) {
	l := limiter.New(1, 5, 10*time.Millisecond)
	ctx := context.Background()
	l.Acquire(ctx)
	if l.Acquire(ctx) {
		t.Error("Acquire admitted a request while the only slot stayed taken")
	}
	if got := l.Queued(); got != 0 {
		t.Errorf("Queued = %d after the timeout; want 0", got)
	}
}

func TestQueueContextDone(t *testing.T) {
	l := limiter.New(1, 5, time.Minute)
	l.Acquire(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan bool)
	go func() { got <- l.Acquire(ctx) }()
	testwait.For(t, "the request to queue", func() bool { return l.Queued() == 1 })
	cancel()
	if <-got {
		t.Error("Acquire admitted a request whose context ended")
	}
}

// TestConcurrentNeverExceedsSlots hammers the limiter from many goroutines and
// checks, under -race, that no more than the slots are ever held at once.
func TestConcurrentNeverExceedsSlots(t *testing.T) {
	const slots = 4
	l := limiter.New(slots, 8, 5*time.Millisecond)
	var mu sync.Mutex
	held, maxHeld, admitted := 0, 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if !l.Acquire(context.Background()) {
					continue
				}
				mu.Lock()
				held++
				admitted++
				maxHeld = max(maxHeld, held)
				mu.Unlock()
				time.Sleep(10 * time.Microsecond)
				mu.Lock()
				held--
				mu.Unlock()
				l.Release()
			}
		}()
	}
	wg.Wait()
	if maxHeld > slots {
		t.Errorf("%d requests held slots at once; want at most %d", maxHeld, slots)
	}
	if admitted == 0 {
		t.Error("no request was admitted")
	}
	if l.InFlight() != 0 || l.Queued() != 0 {
		t.Errorf("InFlight, Queued = %d, %d at rest; want 0, 0", l.InFlight(), l.Queued())
	}
}
