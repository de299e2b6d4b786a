package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/logtest"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
	"asap/service/internal/testwait"
)

// patience caps the waits of the failover tests: it guards against a hang, it is
// not a bound (make faults reports the recovery times).
const patience = 60 * time.Second

// failoverRedis is a config.Redis for the failover tests: timeouts a busy machine keeps.
func failoverRedis(url string) config.Redis {
	return config.Redis{URL: url, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: time.Second, PoolSize: 4, MaxRetries: 1, ClusterReloadInterval: time.Second}
}

// realTimeCache is newTestCache on the wall clock, with the subscription's PINGs
// every 200 ms.
func realTimeCache(t *testing.T, client redis.UniversalClient) *testCache {
	t.Helper()
	tc := newTestCache(t, client, "asap:", testCacheConfig)
	tc.cache.now = func() int64 { return time.Now().UnixNano() }
	tc.cache.pingInterval = 200 * time.Millisecond
	return tc
}

// start runs tc.cache.Run until the test ends, without waitSubscribed's PUBSUB
// NUMSUB, which a cluster answers per node.
func (tc *testCache) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tc.cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// changeSeen writes demo-feed with keyValue value (retrying while Redis is
// between masters) and waits until the cache serves it.
func changeSeen(t *testing.T, tc *testCache, value string) {
	t.Helper()
	p := samples.Placement("demo-feed")
	p.KeyValue = value
	testwait.For(t, "write "+value, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return tc.store.Put(ctx, &p) == nil
	})
	testwait.For(t, "change "+value+" seen", func() bool {
		got, err := tc.cache.Get(context.Background(), "demo-feed")
		return err == nil && got.KeyValue == value
	})
}

// TestClusterFailover: a cluster master is killed and its replica promoted. A
// placement on its slots that was never cached is read again once the replica
// has taken over (the slot map is reloaded on the failures, not after go-redis's
// 60 s), and the subscription, which lived on the channel's node, follows.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cl := redistest.StartCluster(t)
	client, err := store.NewRedisClient(failoverRedis(cl.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if got := fmt.Sprintf("%T", client); got != "*redis.ClusterClient" {
		t.Fatalf("client is %s; want a cluster client", got)
	}
	tc := realTimeCache(t, client)
	// A placement whose key lives on the master about to die, and the channel too
	// when its slot is there: either way the subscription must end up somewhere live.
	cold := coldOnSlots(t, tc, client, 0, 5460)
	tc.start(t)
	tc.warm(t, "demo-feed")
	changeSeen(t, tc, "before")

	// A single-node URL naming another node is told MOVED, and says so.
	single, err := store.NewRedisClient(failoverRedis("redis://"+cl.Masters[1].Addr), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if err := single.Get(context.Background(), tc.store.Key(cold)).Err(); !strings.Contains(store.Problem(err), "?cluster=true") {
		t.Errorf("GET through a single-node URL of a cluster node: %v, Problem %q; want the hint", err, store.Problem(err))
	}

	testwait.For(t, "the replica to have every write", func() bool { return cl.Synced(context.Background()) })
	cl.Masters[0].Kill()
	testwait.For(t, "replica promoted", func() bool { return cl.Promoted(context.Background()) })
	var lastErr error
	logged := time.Now()
	testwait.For(t, "uncached placement on the failed master's slots read", func() bool {
		_, lastErr = tc.cache.Get(context.Background(), cold)
		if lastErr != nil && time.Since(logged) > 5*time.Second {
			t.Logf("still failing: %v", lastErr) // what the reads meet, if it never recovers
			logged = time.Now()
		}
		return lastErr == nil
	})
	changeSeen(t, tc, "after")
}

// coldOnSlots writes a placement whose key hashes into slots lo..hi and returns its pkey.
func coldOnSlots(t *testing.T, tc *testCache, client redis.UniversalClient, lo, hi int64) string {
	t.Helper()
	ctx := context.Background()
	for i := range 1000 {
		pkey := fmt.Sprintf("cold-%d", i)
		slot, err := client.ClusterKeySlot(ctx, tc.store.Key(pkey)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if slot >= lo && slot <= hi {
			p := samples.Placement("demo-article")
			p.PKey = pkey
			if err := tc.store.Put(ctx, &p); err != nil {
				t.Fatal(err)
			}
			return pkey
		}
	}
	t.Fatalf("no pkey hashes into slots %d-%d", lo, hi)
	return ""
}

// TestSentinelFailover: a Sentinel set whose data nodes and Sentinels want
// different passwords. The client authenticates to both; on SENTINEL FAILOVER
// the watch announces the switch, the subscription moves to the new master (where
// PUBSUB NUMSUB counts it) and published changes reach the cache.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel set")
	}
	set := redistest.StartSentinelSet(t, "data-pw", "sentinel-pw")
	cfg := failoverRedis(set.URL())
	cfg.SentinelPassword = set.SentinelPassword
	client, err := store.NewRedisClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	tc := realTimeCache(t, client) // seeds the placements: the data password works
	tc.start(t)
	tc.warm(t, "demo-feed")
	changeSeen(t, tc, "before")

	ctx := context.Background()
	old, err := set.Master(ctx, set.Sentinels[0])
	if err != nil {
		t.Fatal(err)
	}
	switched := tc.store.MasterSwitched()
	if switched == nil {
		t.Fatal("MasterSwitched = nil for a Sentinel-backed client")
	}
	if err := set.Failover(ctx); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	select {
	case <-switched:
	case <-time.After(patience):
		t.Fatalf("no switch of master announced within %s", patience)
	}
	now, err := set.Master(ctx, set.Sentinels[0])
	if err != nil || now == old {
		t.Fatalf("master after the failover = %s, %v; want other than %s", now, err, old)
	}
	master := redis.NewClient(&redis.Options{Addr: now, Password: set.Password})
	defer master.Close()
	testwait.For(t, "subscription on the new master", func() bool {
		n, err := master.PubSubNumSub(ctx, tc.store.Channel()).Result()
		return err == nil && n[tc.store.Channel()] > 0
	})
	changeSeen(t, tc, "after")
}

// TestSentinelWrongPassword: a Sentinel that refuses the password is an
// authentication problem in Ready's reason, not "Redis does not answer".
func TestSentinelWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel set")
	}
	set := redistest.StartSentinelSet(t, "", "sentinel-pw")
	for name, pw := range map[string]string{"none": "", "wrong": "not-it"} {
		t.Run(name, func(t *testing.T) {
			cfg := failoverRedis(set.URL())
			cfg.SentinelPassword = pw
			client, err := store.NewRedisClient(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c := NewCache(store.NewStore(client, "asap:"), testCacheConfig, nil, nil)
			err = c.Ready(context.Background())
			if err == nil || !strings.Contains(err.Error(), "credentials") {
				t.Errorf("Ready = %v; want an authentication problem", err)
			}
		})
	}
}

// TestCacheLogsReadErrors: failed reads are logged with their cause and kind, once
// per logEvery however many fail.
func TestCacheLogsReadErrors(t *testing.T) {
	tc, m := redisDown(t, testCacheConfig)
	var logs logtest.Buffer
	tc.cache.log = slog.New(slog.NewJSONHandler(&logs, nil))
	m.Close()
	for i := range 20 {
		if _, err := tc.cache.Get(context.Background(), fmt.Sprintf("cold-%d", i)); err == nil {
			t.Fatal("Get with Redis down succeeded")
		}
	}
	out := logs.String()
	if n := strings.Count(out, "placement read from Redis failed"); n != 1 {
		t.Errorf("%d read-failure lines for 20 failed reads; want 1:\n%s", n, out)
	}
	for _, want := range []string{`"problem":"Redis does not answer"`, `connect: connection refused`, `"pkey":"cold-0"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
