package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/testwait"
)

// TestRedisClusterFailover: ASAP on a Redis Cluster of three masters, the first
// with a replica. That master is killed (SIGKILL); once its replica is promoted,
// a placement on its slots that ASAP never read is answered, and a change written
// and published after the promotion is served, both within failoverBound in the
// full form (make faults reports the figures). Before, both waited for go-redis's
// 60 s slot-map reload (~45 s and ~55 s).
func TestRedisClusterFailover(t *testing.T) {
	cl := redistest.StartCluster(t)
	writer := failoverStore(t, writerRedis(cl.URL()))
	// Cold placements on the doomed master's slots (0-5460).
	var colds []placement.Placement
	ctx := context.Background()
	for i := 0; len(colds) < 3 && i < 1000; i++ {
		p := samples.Placement("demo-article")
		p.PKey = fmt.Sprintf("cold-%d", i)
		slot, err := writer.Client().ClusterKeySlot(ctx, writer.Key(p.PKey)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if slot <= 5460 {
			colds = append(colds, p)
		}
	}
	seed(t, writer, colds...)
	srv := startASAP(t, map[string]string{"ASAP_REDIS_URL": cl.URL()})
	warmFeed(t, srv)

	testwait.For(t, "the replica to have every write", func() bool { return cl.Synced(context.Background()) })
	cl.Masters[0].Kill()
	killed := time.Now()
	for !cl.Promoted(ctx) {
		if time.Since(killed) > failoverPatience {
			t.Fatalf("the replica was not promoted within %s", failoverPatience)
		}
		time.Sleep(10 * time.Millisecond)
	}
	promoted := time.Now()
	t.Logf("replica promoted %s after the master was killed (cluster-node-timeout %s)",
		promoted.Sub(killed).Round(time.Millisecond), cl.NodeTimeout)
	measureRecovery(t, srv, writer, colds[0].PKey, promoted).report(t, "Redis Cluster, master killed")
}
