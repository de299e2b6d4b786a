package cache

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the tests that stop Redis make many.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// testCache is what cache tests work with: the shared test Redis under a private
// prefix, a store seeded with the samples, a cache with a controlled clock, and a
// count of the GET commands the cache sent.
type testCache struct {
	client redis.UniversalClient
	store  *store.Store
	cache  *Cache
	clock  *clock
	hook   *commandHook
	reg    *prometheus.Registry
}

var testCacheConfig = config.Cache{TTL: time.Minute, NegativeTTL: 5 * time.Second, StaleMaxAge: 10 * time.Minute, MaxEntries: 1000}

// newTestCache uses client when given, else the shared test Redis.
func newTestCache(t *testing.T, client redis.UniversalClient, prefix string, cfg config.Cache) *testCache {
	t.Helper()
	if client == nil {
		client, prefix = sharedRedis(t)
	}
	hook := &commandHook{}
	client.AddHook(hook)
	store := store.NewStore(client, prefix)
	if _, err := store.PutAll(context.Background(), samples.Placements()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	hook.reset()
	reg := prometheus.NewRegistry()
	c := NewCache(store, cfg, reg, nil)
	clk := &clock{}
	clk.Store(time.Now().UnixNano())
	c.now = clk.Load
	return &testCache{client: client, store: store, cache: c, clock: clk, hook: hook, reg: reg}
}

// sharedRedis returns a client of the shared test Redis (see redistest) and a fresh prefix.
func sharedRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	return redistest.Client(t)
}

// run starts c.Run until the test ends and waits until the subscription is live.
func (tc *testCache) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tc.cache.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return within 5s of its context ending")
		}
	})
	waitSubscribed(t, tc.client, tc.store.Channel())
}

// warm reads pkeys until they are cached. A read that overlaps a (re)subscription
// is answered but not cached, and tests that run Run race with its first one.
func (tc *testCache) warm(t *testing.T, pkeys ...string) {
	t.Helper()
	for _, pkey := range pkeys {
		eventually(t, 5*time.Second, pkey+" cached", func() bool {
			_, err := tc.cache.Get(context.Background(), pkey)
			if err != nil && !errors.Is(err, placement.ErrNotFound) {
				t.Fatalf("Get(%q): %v", pkey, err)
			}
			_, ok := tc.cache.entries.Load(pkey)
			return ok
		})
	}
}

func waitSubscribed(t *testing.T, client redis.UniversalClient, channel string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := client.PubSubNumSub(context.Background(), channel).Result()
		if err == nil && n[channel] > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nobody subscribed to %s within 5s", channel)
}

// eventually polls cond every few milliseconds until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count returns the number of lookups with result (hit, miss, stale, negative).
func (tc *testCache) count(result string) int {
	return value(tc.cache.met.lookups.WithLabelValues(result))
}

// value reads a counter or gauge.
func value(m prometheus.Metric) int {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if out.Counter != nil {
		return int(out.Counter.GetValue())
	}
	return int(out.Gauge.GetValue())
}

// clock is a settable time source for Cache.now.
type clock struct{ atomic.Int64 }

func (c *clock) advance(d time.Duration) { c.Add(int64(d)) }

// commandHook counts the commands a client sends by name and can run a func before
// a GET is answered (after Redis has read it).
type commandHook struct {
	mu       sync.Mutex
	counts   map[string]int
	delay    time.Duration
	afterGet func(key string)
}

func (h *commandHook) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts = nil
}

func (h *commandHook) n(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[name]
}

func (h *commandHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commandHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		if h.counts == nil {
			h.counts = map[string]int{}
		}
		h.counts[cmd.Name()]++
		delay, after := h.delay, h.afterGet
		h.mu.Unlock()
		if cmd.Name() == "get" {
			time.Sleep(delay)
		}
		err := next(ctx, cmd)
		if cmd.Name() == "get" && after != nil {
			after(cmd.Args()[1].(string))
		}
		return err
	}
}

func (h *commandHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
