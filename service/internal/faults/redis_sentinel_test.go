package faults

import (
	"context"
	"testing"
	"time"

	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
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
	for {
		now, err := set.Master(ctx, set.Sentinels[0])
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
	measureRecovery(t, srv, writer, cold.PKey, promoted).report(t, "Redis Sentinel, manual failover")
}
