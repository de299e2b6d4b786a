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
	"asap/service/internal/testwait"
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
		if err := testwait.Recv(t, "Run to return after its context ended", done); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitSubscribed(t, tc.client, tc.store.Channel())
}

// warm reads pkeys once each: the answers are cached, even when a read overlaps
// Run's first subscription (then they are also re-read at once).
func (tc *testCache) warm(t *testing.T, pkeys ...string) {
	t.Helper()
	for _, pkey := range pkeys {
		_, err := tc.cache.Get(context.Background(), pkey)
		if err != nil && !errors.Is(err, placement.ErrNotFound) {
			t.Fatalf("Get(%q): %v", pkey, err)
		}
		if _, ok := tc.cache.entries.Load(pkey); !ok {
			t.Fatalf("Get(%q) did not cache its answer", pkey)
		}
	}
}

func waitSubscribed(t *testing.T, client redis.UniversalClient, channel string) {
	t.Helper()
	testwait.For(t, "a subscriber of "+channel, func() bool {
		n, err := client.PubSubNumSub(context.Background(), channel).Result()
		return err == nil && n[channel] > 0
	})
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
	block    chan struct{} // when set, a GET waits until it is closed
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
		delay, block, after := h.delay, h.block, h.afterGet
		h.mu.Unlock()
		if cmd.Name() == "get" {
			time.Sleep(delay)
			if block != nil {
				<-block
			}
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
