package faults

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
)

// TestRedisSentinelFailover: ASAP on a Sentinel set (a master, a replica, three
// Sentinels), the data nodes and the Sentinels each with their own password. A
// manual failover (SENTINEL FAILOVER) promotes the replica; a placement ASAP never
// read is answered and a change written and published after the promotion is
// served, both within failoverBound in the full form. Before, the subscription
// stayed on the demoted master for ~10 s.
func TestRedisSentinelFailover(t *testing.T) {
	set := redistest.StartSentinelSet(t, "data-secret", "sentinel-secret")
	cfg := writerRedis(set.URL())
	cfg.SentinelPassword = set.SentinelPassword
	writer := failoverStore(t, cfg)
	cold := samples.Placement("demo-article")
	cold.PKey = "cold-0"
	seed(t, writer, cold)
	srv := startASAP(t, map[string]string{"ASAP_REDIS_URL": set.URL(), "ASAP_REDIS_SENTINEL_PASSWORD": set.SentinelPassword})
	warmFeed(t, srv)

	ctx := context.Background()
	old, err := set.Master(ctx, set.Sentinels[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Failover(ctx); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	asked := time.Now()
	// The promotion is when the Sentinel that ran the failover names the new master.
	var now string
	for {
		now, err = set.Master(ctx, set.Sentinels[0])
		if err == nil && now != old {
			break
		}
		if time.Since(asked) > failoverPatience {
			t.Fatalf("no new master within %s of SENTINEL FAILOVER", failoverPatience)
		}
		time.Sleep(10 * time.Millisecond)
	}
	promoted := time.Now()
	t.Logf("new master named %s after SENTINEL FAILOVER", promoted.Sub(asked).Round(time.Millisecond))
	// The change goes to the new master itself: a failover client whose Sentinel
	// has not heard of the switch yet may write to the old master, which Sentinel
	// then demotes and resyncs, losing the write.
	direct := redis.NewClient(&redis.Options{Addr: now, Password: set.Password})
	t.Cleanup(func() { direct.Close() })
	measureRecovery(t, srv, store.NewStore(direct, "asap:"), cold.PKey, promoted).report(t, "Redis Sentinel, manual failover")
}
