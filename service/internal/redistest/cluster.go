package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/testwait"
)

// Cluster is a private Redis Cluster of three masters, the first of which has one
// replica. Its processes are killed at cleanup.
type Cluster struct {
	// Masters hold the slots 0-5460, 5461-10922 and 10923-16383.
	Masters []*Server
	// Replica replicates Masters[0] and takes its slots over when it fails.
	Replica *Server
	// NodeTimeout is the cluster-node-timeout: how long a master may be
	// unreachable before its replica is promoted.
	NodeTimeout time.Duration
	t           testing.TB
}

// StartCluster starts the cluster's four redis-server processes (ports ≤ 55535,
// each with its bus port 10000 above), assigns the slots, joins the nodes and
// waits until the cluster is ok and the replica is in sync. It skips the test when
// redis-server is not installed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	needRedis(t)
	c := &Cluster{NodeTimeout: 1500 * time.Millisecond, t: t}
	dir := t.TempDir()
	node := func(i int) *Server {
		port := freePort(t, true)
		return startOnPort(t, port, []string{"--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, i),
			"--cluster-node-timeout", fmt.Sprint(c.NodeTimeout.Milliseconds()),
			// The replica may take over however long it was cut off.
			"--cluster-replica-validity-factor", "0",
			"--dir", dir, "--dbfilename", fmt.Sprintf("dump-%d.rdb", i)})
	}
	for i := range 3 {
		c.Masters = append(c.Masters, node(i))
	}
	c.Replica = node(3)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, m := range c.Masters {
		c.do(ctx, m, "cluster", "addslotsrange", ranges[i][0], ranges[i][1])
	}
	for _, s := range append(c.Masters[1:], c.Replica) {
		c.do(ctx, c.Masters[0], "cluster", "meet", "127.0.0.1", s.port)
	}
	masterID := c.do(ctx, c.Masters[0], "cluster", "myid").(string)
	c.wait(ctx, "every node to know the others", func() bool {
		for _, s := range c.nodes() {
			if strings.Count(c.do(ctx, s, "cluster", "nodes").(string), "\n") < 4 {
				return false
			}
		}
		return true
	})
	c.do(ctx, c.Replica, "cluster", "replicate", masterID)
	c.wait(ctx, "the cluster to be ok and the replica in sync", func() bool {
		for _, s := range c.nodes() {
			if !strings.Contains(c.do(ctx, s, "cluster", "info").(string), "cluster_state:ok") {
				return false
			}
		}
		return strings.Contains(c.do(ctx, c.Replica, "info", "replication").(string), "master_link_status:up")
	})
	return c
}

// URL returns a redis:// URL that names the three masters: a cluster client's seeds.
func (c *Cluster) URL() string {
	var addrs []string
	for _, m := range c.Masters {
		addrs = append(addrs, m.Addr)
	}
	return "redis://" + strings.Join(addrs, ",")
}

// Synced reports whether the replica has applied every write its master has
// sent: replication is asynchronous, and a master killed before its replica
// caught up takes its last writes with it (a busy machine can delay the replica
// that long).
func (c *Cluster) Synced(ctx context.Context) bool {
	offset := func(s *Server, field string) (int64, bool) {
		v, err := command(ctx, s, "info", "replication")
		info, ok := v.(string)
		if err != nil || !ok {
			return 0, false
		}
		for line := range strings.Lines(info) {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
				n, err := strconv.ParseInt(rest, 10, 64)
				return n, err == nil
			}
		}
		return 0, false
	}
	sent, ok1 := offset(c.Masters[0], "master_repl_offset")
	applied, ok2 := offset(c.Replica, "slave_repl_offset")
	return ok1 && ok2 && applied >= sent
}

// Promoted reports whether the replica is a master now.
func (c *Cluster) Promoted(ctx context.Context) bool {
	role, err := command(ctx, c.Replica, "role")
	if err != nil {
		return false
	}
	r, ok := role.([]any)
	return ok && len(r) > 0 && r[0] == "master"
}

func (c *Cluster) nodes() []*Server { return append(append([]*Server(nil), c.Masters...), c.Replica) }

// do sends one command to s and fails the test on an error.
func (c *Cluster) do(ctx context.Context, s *Server, args ...any) any {
	c.t.Helper()
	v, err := command(ctx, s, args...)
	if err != nil {
		c.t.Fatalf("%s on %s: %v", args, s.Addr, err)
	}
	return v
}

func (c *Cluster) wait(_ context.Context, what string, ok func() bool) {
	c.t.Helper()
	testwait.For(c.t, what, ok)
}

// command sends one command to s on a connection of its own.
func command(ctx context.Context, s *Server, args ...any) (any, error) {
	return commandAuth(ctx, s, "", args...)
}

// commandAuth is command with a password.
func commandAuth(ctx context.Context, s *Server, password string, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: password, TLSConfig: s.tls,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1, PoolSize: 1, DisableIdentity: true})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}
