package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/embedredis"
	"asap/service/internal/logtest"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
	"asap/service/internal/testwait"
)

func TestCacheHitMissNegative(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	ctx := context.Background()
	want := samples.Placement("demo-feed")

	steps := []struct {
		name      string
		pkey      string
		advance   time.Duration
		wantErr   error
		wantGets  int // GET commands sent so far
		wantCount map[string]int
	}{
		{name: "first read misses", pkey: "demo-feed", wantGets: 1, wantCount: map[string]int{"miss": 1}},
		{name: "second read hits", pkey: "demo-feed", wantGets: 1, wantCount: map[string]int{"miss": 1, "hit": 1}},
		{name: "unknown pkey misses", pkey: "nope", wantErr: placement.ErrNotFound, wantGets: 2, wantCount: map[string]int{"miss": 2}},
		{name: "unknown pkey is remembered", pkey: "nope", wantErr: placement.ErrNotFound, wantGets: 2, wantCount: map[string]int{"negative": 1}},
		{name: "negative entry expires", pkey: "nope", advance: testCacheConfig.NegativeTTL, wantErr: placement.ErrNotFound, wantGets: 3, wantCount: map[string]int{"miss": 3}},
		{name: "malformed pkey never reaches Redis", pkey: "no such key!", wantErr: placement.ErrNotFound, wantGets: 3, wantCount: map[string]int{"miss": 3}},
		{name: "still a hit within the TTL", pkey: "demo-feed", advance: testCacheConfig.TTL - testCacheConfig.NegativeTTL - 1, wantGets: 3, wantCount: map[string]int{"hit": 2}},
	}
	for _, s := range steps {
		tc.clock.advance(s.advance)
		got, err := tc.cache.Get(ctx, s.pkey)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
			t.Fatalf("%s: Get(%q) error = %v; want %v", s.name, s.pkey, err, s.wantErr)
		}
		if s.wantErr == nil && got.KeyValue != want.KeyValue {
			t.Errorf("%s: Get(%q).KeyValue = %q; want %q", s.name, s.pkey, got.KeyValue, want.KeyValue)
		}
		if errors.Is(err, placement.ErrUnavailable) {
			t.Errorf("%s: error %v is also placement.ErrUnavailable", s.name, err)
		}
		if got := tc.hook.n("get"); got != s.wantGets {
			t.Errorf("%s: GET commands = %d; want %d", s.name, got, s.wantGets)
		}
		for result, want := range s.wantCount {
			if got := tc.count(result); got != want {
				t.Errorf("%s: %s lookups = %d; want %d", s.name, result, got, want)
			}
		}
	}
}

func TestCacheHitSendsNoCommands(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	tc.run(t)
	ctx := context.Background()
	tc.warm(t, "demo-feed")
	tc.hook.reset()
	for range 1000 {
		if _, err := tc.cache.Get(ctx, "demo-feed"); err != nil {
			t.Fatal(err)
		}
	}
	if got := tc.hook.n("get"); got != 0 {
		t.Errorf("1000 cache hits sent %d GET commands; want 0", got)
	}
}

func TestCacheConcurrentMissesShareOneRead(t *testing.T) {
	for _, pkey := range []string{"demo-feed", "unknown-pkey"} {
		t.Run(pkey, func(t *testing.T) {
			tc := newTestCache(t, nil, "", testCacheConfig)
			// Slow reads widen the window in which the goroutines miss together.
			tc.hook.delay = 100 * time.Millisecond
			const n = 50
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					<-start
					_, errs[i] = tc.cache.Get(context.Background(), pkey)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if pkey == "demo-feed" && err != nil || pkey != "demo-feed" && !errors.Is(err, placement.ErrNotFound) {
					t.Fatalf("goroutine %d: Get(%q) error = %v", i, pkey, err)
				}
			}
			if got := tc.hook.n("get"); got != 1 {
				t.Errorf("%d concurrent misses sent %d GET commands; want 1", n, got)
			}
		})
	}
}

func TestCacheMissReturnsWhenCallerGivesUp(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	// Redis answers only once the caller has given up.
	release := make(chan struct{})
	tc.hook.block = release
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tc.cache.Get(ctx, "demo-feed")
	if !errors.Is(err, placement.ErrUnavailable) {
		t.Fatalf("Get with a context that ended: error = %v; want placement.ErrUnavailable", err)
	}
	close(release)
	// The shared read went on and cached the answer for the next caller.
	testwait.For(t, "demo-feed cached", func() bool {
		_, ok := tc.cache.entries.Load("demo-feed")
		return ok
	})
	if _, err := tc.cache.Get(context.Background(), "demo-feed"); err != nil {
		t.Fatal(err)
	}
	if got := tc.hook.n("get"); got != 1 {
		t.Errorf("GET commands = %d; want 1", got)
	}
}

func TestCacheServesChangesFromPubSub(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	tc.run(t)
	ctx := context.Background()
	tc.warm(t, "demo-feed", "demo-article", "brand-new")

	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	changed.Status = "PAUSED"
	if err := tc.store.Put(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "changed demo-feed served", func() bool {
		p, err := tc.cache.Get(ctx, "demo-feed")
		return err == nil && p.KeyValue == "ck-changed" && p.Status == "PAUSED"
	})

	if err := tc.store.Delete(ctx, "demo-article"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "deleted demo-article unknown", func() bool {
		_, err := tc.cache.Get(ctx, "demo-article")
		return errors.Is(err, placement.ErrNotFound)
	})

	created := samples.Placement("demo-feed")
	created.PKey = "brand-new"
	if err := tc.store.Put(ctx, &created); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "created brand-new served", func() bool {
		_, err := tc.cache.Get(ctx, "brand-new")
		return err == nil
	})
	if got := value(tc.cache.met.messages); got != 3 {
		t.Errorf("pub/sub messages = %d; want 3", got)
	}
}

// A change announced while a miss reads Redis must not leave the older answer cached.
func TestCacheMissOverlappingAChange(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	ctx := context.Background()
	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	var once sync.Once
	tc.hook.afterGet = func(string) {
		once.Do(func() {
			// Redis has answered with the old record; now the writer writes and publishes.
			if err := tc.store.Put(ctx, &changed); err != nil {
				t.Error(err)
			}
			tc.cache.changed("demo-feed")
		})
	}
	p, err := tc.cache.Get(ctx, "demo-feed")
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyValue != "ck-123" {
		t.Fatalf("first Get KeyValue = %q; want the record read before the change, ck-123", p.KeyValue)
	}
	p, err = tc.cache.Get(ctx, "demo-feed")
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyValue != "ck-changed" {
		t.Errorf("Get after the change KeyValue = %q; want ck-changed", p.KeyValue)
	}
}

// A miss whose read overlaps a (re)subscription is cached, so that Redis failing
// right after start-up still finds it (TestRedisDown in app raced this), and is
// re-read at once, since a change announced before the subscription was lost.
func TestCacheMissOverlappingASubscription(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	ctx := context.Background()
	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	data, _ := placement.Encode(&changed)
	var once sync.Once
	tc.hook.afterGet = func(string) {
		once.Do(func() {
			// Redis has answered with the old record; the record changes, its
			// message is lost, and the subscription is (re)made.
			if err := tc.client.Set(ctx, tc.store.Key("demo-feed"), data, 0).Err(); err != nil {
				t.Error(err)
			}
			tc.cache.revalidate(ctx)
		})
	}
	p, err := tc.cache.Get(ctx, "demo-feed")
	if err != nil || p.KeyValue != "ck-123" {
		t.Fatalf("first Get = %v, %v; want the record read before the change, ck-123", p, err)
	}
	if _, ok := tc.cache.entries.Load("demo-feed"); !ok {
		t.Fatal("the answer of a read that overlapped a subscription was not cached")
	}
	testwait.For(t, "the changed demo-feed re-read", func() bool {
		p, err := tc.cache.Get(ctx, "demo-feed")
		return err == nil && p.KeyValue == "ck-changed"
	})
}

// A change announced while a refresh reads Redis makes the cache read again.
func TestCacheRefreshOverlappingAChange(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	ctx := context.Background()
	if _, err := tc.cache.Get(ctx, "demo-feed"); err != nil {
		t.Fatal(err)
	}
	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	var once sync.Once
	tc.hook.afterGet = func(string) {
		once.Do(func() {
			if err := tc.store.Put(ctx, &changed); err != nil {
				t.Error(err)
			}
			tc.cache.changed("demo-feed")
		})
	}
	tc.clock.advance(testCacheConfig.TTL) // the next Get starts a background refresh
	if p, err := tc.cache.Get(ctx, "demo-feed"); err != nil || p.KeyValue != "ck-123" {
		t.Fatalf("Get past the TTL = %v, %v; want the cached record while refreshing", p, err)
	}
	testwait.For(t, "changed demo-feed served", func() bool {
		p, err := tc.cache.Get(ctx, "demo-feed")
		return err == nil && p.KeyValue == "ck-changed"
	})
}

func TestCacheRefreshesAfterTTLWithoutBlocking(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	ctx := context.Background()
	if _, err := tc.cache.Get(ctx, "demo-feed"); err != nil {
		t.Fatal(err)
	}
	// A message lost: the record changes without a publish.
	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	data, _ := placement.Encode(&changed)
	if err := tc.client.Set(ctx, tc.store.Key("demo-feed"), data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	tc.clock.advance(testCacheConfig.TTL - 1)
	if p, _ := tc.cache.Get(ctx, "demo-feed"); p.KeyValue != "ck-123" {
		t.Fatalf("within the TTL KeyValue = %q; want the cached ck-123", p.KeyValue)
	}
	tc.clock.advance(1)
	if p, _ := tc.cache.Get(ctx, "demo-feed"); p.KeyValue != "ck-123" {
		t.Fatalf("at the TTL KeyValue = %q; want the cached ck-123 while it refreshes", p.KeyValue)
	}
	testwait.For(t, "refreshed demo-feed served", func() bool {
		p, err := tc.cache.Get(ctx, "demo-feed")
		return err == nil && p.KeyValue == "ck-changed"
	})
	if got := tc.count("stale"); got != 0 {
		t.Errorf("stale lookups = %d; want 0 while Redis is healthy", got)
	}
}

// redisDown is a cache whose Redis is a miniredis that the test closes. Once it
// is closed, connections are refused at once, so the client's timeouts can be
// generous: a busy machine does not time the seeding out.
func redisDown(t *testing.T, cfg config.Cache) (*testCache, *miniredis.Miniredis) {
	t.Helper()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr(), DialTimeout: time.Minute,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	return newTestCache(t, client, "asap:", cfg), m
}

func TestCacheWhenRedisFails(t *testing.T) {
	cfg := testCacheConfig
	tests := []struct {
		name      string
		pkey      string
		cached    bool
		age       time.Duration // time since the entry was read
		wantErr   error
		wantStale bool
	}{
		{name: "fresh entry", pkey: "demo-feed", cached: true, age: cfg.TTL - 1},
		{name: "past the TTL: stale", pkey: "demo-feed", cached: true, age: cfg.TTL + time.Second, wantStale: true},
		{name: "just within the stale bound", pkey: "demo-feed", cached: true, age: cfg.TTL + cfg.StaleMaxAge - 1, wantStale: true},
		{name: "at the stale bound", pkey: "demo-feed", cached: true, age: cfg.TTL + cfg.StaleMaxAge, wantErr: placement.ErrUnavailable},
		{name: "never cached", pkey: "demo-article", wantErr: placement.ErrUnavailable},
		{name: "expired negative entry", pkey: "unknown", cached: true, age: cfg.NegativeTTL, wantErr: placement.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc, m := redisDown(t, cfg)
			ctx := context.Background()
			if tt.cached {
				_, err := tc.cache.Get(ctx, tt.pkey)
				if err != nil && !errors.Is(err, placement.ErrNotFound) {
					t.Fatal(err)
				}
			}
			m.Close()
			if tt.wantStale {
				// The first lookup past the TTL starts a refresh, which fails.
				tc.clock.advance(cfg.TTL)
				tc.cache.Get(ctx, tt.pkey)
				testwait.For(t, "failed refresh", func() bool { return value(tc.cache.met.refreshFailed) > 0 })
				tc.clock.advance(tt.age - cfg.TTL)
			} else {
				tc.clock.advance(tt.age)
			}
			p, err := tc.cache.Get(ctx, tt.pkey)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || errors.Is(err, placement.ErrNotFound) {
					t.Fatalf("Get(%q) = %v, %v; want %v and not placement.ErrNotFound", tt.pkey, p, err, tt.wantErr)
				}
				return
			}
			if err != nil || p.PKey != tt.pkey {
				t.Fatalf("Get(%q) = %v, %v; want the cached placement", tt.pkey, p, err)
			}
			if got, want := tc.count("stale") > 0, tt.wantStale; got != want {
				t.Errorf("counted as stale: %v; want %v", got, want)
			}
		})
	}
}

func TestCacheWithRedisKilled(t *testing.T) {
	srv := redistest.StartServer(t)
	// Generous timeouts: a killed server refuses connections at once.
	client, err := store.NewRedisClient(config.Redis{URL: srv.URL(), DialTimeout: time.Minute,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolTimeout: time.Minute, PoolSize: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	tc := newTestCache(t, client, "asap:", testCacheConfig)
	tc.run(t)
	ctx := context.Background()
	tc.warm(t, "demo-feed")
	srv.Kill()
	if p, err := tc.cache.Get(ctx, "demo-feed"); err != nil || p.PKey != "demo-feed" {
		t.Errorf("cached Get with Redis killed = %v, %v; want the placement", p, err)
	}
	if _, err := tc.cache.Get(ctx, "demo-article"); !errors.Is(err, placement.ErrUnavailable) || errors.Is(err, placement.ErrNotFound) {
		t.Errorf("uncached Get with Redis killed: error = %v; want placement.ErrUnavailable", err)
	}
	if err := tc.cache.Ready(ctx); err != nil {
		t.Errorf("Ready with a warm cache = %v; want nil", err)
	}
	testwait.For(t, "subscription loss counted", func() bool { return value(tc.cache.met.subscribeErrors) > 0 })
}

func TestCacheReady(t *testing.T) {
	t.Run("Redis answers", func(t *testing.T) {
		tc := newTestCache(t, nil, "", testCacheConfig)
		if err := tc.cache.Ready(context.Background()); err != nil {
			t.Errorf("Ready = %v; want nil", err)
		}
	})
	t.Run("Redis down, cache cold", func(t *testing.T) {
		tc, m := redisDown(t, testCacheConfig)
		m.Close()
		tc.clock.advance(time.Hour)
		err := tc.cache.Ready(context.Background())
		if err == nil || !strings.Contains(err.Error(), "Redis does not answer") {
			t.Errorf("Ready = %v; want \"Redis does not answer...\"", err)
		}
	})
	t.Run("Redis down, cache warm", func(t *testing.T) {
		tc, m := redisDown(t, testCacheConfig)
		if _, err := tc.cache.Get(context.Background(), "demo-feed"); err != nil {
			t.Fatal(err)
		}
		m.Close()
		tc.clock.advance(time.Minute)
		if err := tc.cache.Ready(context.Background()); err != nil {
			t.Errorf("Ready = %v; want nil", err)
		}
	})
	t.Run("does not ask Redis when it answered lately", func(t *testing.T) {
		tc := newTestCache(t, nil, "", testCacheConfig)
		tc.cache.Get(context.Background(), "demo-feed")
		tc.hook.reset()
		for range 10 {
			tc.cache.Ready(context.Background())
		}
		if got := tc.hook.n("ping"); got != 0 {
			t.Errorf("PING commands = %d; want 0", got)
		}
	})
}

func TestCacheEviction(t *testing.T) {
	cfg := testCacheConfig
	cfg.MaxEntries = 3
	tc := newTestCache(t, nil, "", cfg)
	ctx := context.Background()
	base := samples.Placement("demo-article")
	var all []placement.Placement
	for i := range 5 {
		p := base
		p.PKey = fmt.Sprintf("p%d", i)
		all = append(all, p)
	}
	if _, err := tc.store.PutAll(ctx, all); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if _, err := tc.cache.Get(ctx, p.PKey); err != nil {
			t.Fatal(err)
		}
	}
	// A flood of unknown pkeys must not push out placements.
	for i := range 20 {
		tc.cache.Get(ctx, fmt.Sprintf("unknown-%d", i))
	}
	tc.cache.mu.Lock()
	var got []string
	n2 := 0
	for el := tc.cache.placements.Front(); el != nil; el = el.Next() {
		got = append(got, el.Value.(*entry).key)
	}
	n := tc.cache.placements.Len() + tc.cache.negatives.Len()
	tc.cache.entries.Range(func(any, any) bool { n2++; return true })
	tc.cache.mu.Unlock()
	if n2 != n {
		t.Errorf("map holds %d entries, lists %d", n2, n)
	}
	if want := []string{"p2", "p3", "p4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cached placements = %v; want the newest %v", got, want)
	}
	if n > cfg.MaxEntries {
		t.Errorf("entries = %d; want at most %d", n, cfg.MaxEntries)
	}
	if got := value(tc.cache.met.entries); got != 3 {
		t.Errorf("entries gauge = %d; want 3", got)
	}
	if got := value(tc.cache.met.evictions); got != 2+20 {
		t.Errorf("evictions = %d; want 22", got)
	}
}

func TestCacheRereadsEverythingAfterReconnect(t *testing.T) {
	srv := redistest.StartServer(t)
	client, err := store.NewRedisClient(config.Redis{URL: srv.URL(), DialTimeout: time.Minute,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, PoolTimeout: time.Minute, PoolSize: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	tc := newTestCache(t, client, "asap:", testCacheConfig)
	tc.run(t)
	ctx := context.Background()
	tc.warm(t, "demo-feed")
	// The record changes while the message is lost: written without a publish.
	changed := samples.Placement("demo-feed")
	changed.KeyValue = "ck-changed"
	data, _ := placement.Encode(&changed)
	if err := client.Set(ctx, tc.store.Key("demo-feed"), data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "demo-feed re-read after the reconnect", func() bool {
		p, err := tc.cache.Get(ctx, "demo-feed")
		return err == nil && p.KeyValue == "ck-changed"
	})
	if got := value(tc.cache.met.reconnects); got < 1 {
		t.Errorf("reconnects = %d; want at least 1", got)
	}
}

// BenchmarkCacheHit is the hot path of GET /v2: a placement that is cached.
func BenchmarkCacheHit(b *testing.B) {
	client, prefix := redistest.Client(b)
	store := store.NewStore(client, prefix)
	ctx := context.Background()
	if _, err := store.PutAll(ctx, samples.Placements()); err != nil {
		b.Fatal(err)
	}
	c := NewCache(store, testCacheConfig, nil, nil)
	if _, err := c.Get(ctx, "demo-feed"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "demo-feed"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The idle subscription PINGs Redis and stays up, on a real Redis and on the
// embedded one alike.
func TestCacheSubscriptionStaysUpWhileIdle(t *testing.T) {
	embedded, stop, err := embedredis.Start("asap:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	for name, url := range map[string]string{"redis": "", "embedded": embedded} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var client redis.UniversalClient // nil: the shared test Redis
			if url != "" {
				c, err := store.NewRedisClient(config.Redis{URL: url, DialTimeout: time.Minute, ReadTimeout: time.Minute,
					WriteTimeout: time.Minute, PoolTimeout: time.Minute, PoolSize: 2}, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				client = c
			}
			tc := newTestCache(t, client, "asap:", testCacheConfig)
			tc.cache.now = func() int64 { return time.Now().UnixNano() }
			// The production interval: a subscription is given up only when a PING
			// goes unanswered for another interval, which on loopback takes a stall
			// of the whole machine, not a bug.
			tc.cache.pingInterval = pingInterval
			tc.run(t)
			// The answers to the subscription's PINGs keep lastOK moving while
			// nothing else is sent: wait until one came two intervals later.
			idleFrom := time.Now()
			testwait.For(t, "a PING answered two intervals into the idle subscription", func() bool {
				return time.Unix(0, tc.cache.lastOK.Load()).After(idleFrom.Add(2 * tc.cache.pingInterval))
			})
			if got := value(tc.cache.met.subscribeErrors); got != 0 {
				t.Errorf("subscribe errors = %d; want 0", got)
			}
			if got := value(tc.cache.met.reconnects); got != 0 {
				t.Errorf("reconnects = %d; want 0", got)
			}
		})
	}
}

// TestCacheInvalidRecords: a record Redis holds that is not a valid placement is
// answered as ErrInvalid (not ErrUnavailable), remembered as briefly as an unknown
// pkey (one read and one log line per negative TTL), counted, and logged naming
// the pkey; one whose only problem is its ad section is served, with AdProblem set.
func TestCacheInvalidRecords(t *testing.T) {
	tc := newTestCache(t, nil, "", testCacheConfig)
	var logs logtest.Buffer
	tc.cache.log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	records := map[string]string{
		"broken": `{"pkey": "broken", "status": ""}`,
		"bad-ad": `{"pkey": "bad-ad", "status": "OK", "ad": {"upstream": "primary"}}`,
	}
	for k, v := range records {
		if err := tc.client.Set(ctx, tc.store.Key(k), v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tc.hook.reset()
	for i := range 3 {
		_, err := tc.cache.Get(ctx, "broken")
		if !errors.Is(err, placement.ErrInvalid) || errors.Is(err, placement.ErrUnavailable) {
			t.Fatalf("Get(broken) #%d error = %v; want placement.ErrInvalid and not placement.ErrUnavailable", i, err)
		}
	}
	if got := tc.hook.n("get"); got != 1 {
		t.Errorf("GET commands for three lookups of an invalid record = %d; want 1 (remembered for the negative TTL)", got)
	}
	tc.clock.advance(testCacheConfig.NegativeTTL)
	if _, err := tc.cache.Get(ctx, "broken"); !errors.Is(err, placement.ErrInvalid) {
		t.Fatalf("Get(broken) after the negative TTL: %v; want placement.ErrInvalid", err)
	}
	if got := tc.hook.n("get"); got != 2 {
		t.Errorf("GET commands after the negative TTL = %d; want 2", got)
	}
	p, err := tc.cache.Get(ctx, "bad-ad")
	if err != nil || p.AdProblem == nil {
		t.Fatalf("Get(bad-ad) = %+v, %v; want the record with its AdProblem", p, err)
	}
	if got := value(tc.cache.met.invalidRecord); got != 2 {
		t.Errorf("invalid record reads counted = %d; want 2", got)
	}
	if got := value(tc.cache.met.invalidAd); got != 1 {
		t.Errorf("invalid ad section reads counted = %d; want 1", got)
	}
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "pkey=broken") || !strings.Contains(out, "status is empty") ||
		!strings.Contains(out, "pkey=bad-ad") || !strings.Contains(out, "offers no format") {
		t.Errorf("log = %s; want error lines naming each pkey and its problem", out)
	}
}
