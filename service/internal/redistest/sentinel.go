package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"asap/service/internal/testwait"
)

// SentinelSet is a private Redis replica set under Sentinel: a master, one
// replica and three Sentinels, every process killed at cleanup.
type SentinelSet struct {
	// Name is the master's name in Sentinel (the URL's ?master=).
	Name string
	// Password is the data nodes' password; SentinelPassword the Sentinels'.
	// Empty: none.
	Password, SentinelPassword string
	// Nodes are the master and its replica as started; after a failover their
	// roles are swapped.
	Nodes     []*Server
	Sentinels []*Server
	t         testing.TB
}

// StartSentinelSet starts the set, the data nodes requiring password and the
// Sentinels sentinelPassword (each empty for none), and waits until every
// Sentinel knows the replica and the other Sentinels, so that a failover can
// start at once. It skips the test when redis-server is not installed.
func StartSentinelSet(t testing.TB, password, sentinelPassword string) *SentinelSet {
	t.Helper()
	needRedis(t)
	s := &SentinelSet{Name: "asapmaster", Password: password, SentinelPassword: sentinelPassword, t: t}
	auth := func(extra ...string) []string {
		if password != "" {
			extra = append(extra, "--requirepass", password, "--masterauth", password)
		}
		return extra
	}
	master := startServer(t, auth())
	replica := startServer(t, auth("--replicaof", "127.0.0.1", fmt.Sprint(master.port)))
	s.Nodes = []*Server{master, replica}

	dir := t.TempDir()
	for i := range 3 {
		port := freePort(t, false)
		conf := []string{
			fmt.Sprintf("port %d", port),
			"bind 127.0.0.1",
			"daemonize no",
			"loglevel warning",
			"dir " + dir,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", s.Name, master.port),
			fmt.Sprintf("sentinel down-after-milliseconds %s 1000", s.Name),
			fmt.Sprintf("sentinel failover-timeout %s 10000", s.Name),
		}
		if password != "" {
			conf = append(conf, fmt.Sprintf("sentinel auth-pass %s %s", s.Name, password))
		}
		if sentinelPassword != "" {
			conf = append(conf, "requirepass "+sentinelPassword, "sentinel sentinel-pass "+sentinelPassword)
		}
		// Sentinel rewrites its configuration file: each needs its own.
		file := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		if err := os.WriteFile(file, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		sn := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, args: []string{file, "--sentinel"}, t: t}
		sn.Start()
		t.Cleanup(sn.Kill)
		s.Sentinels = append(s.Sentinels, sn)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testwait.For(t, "the Sentinels to know the replica and each other", func() bool {
		for _, sn := range s.Sentinels {
			replicas, err1 := s.sentinel(ctx, sn, "sentinel", "replicas", s.Name)
			others, err2 := s.sentinel(ctx, sn, "sentinel", "sentinels", s.Name)
			if err1 != nil || err2 != nil || len(replicas.([]any)) < 1 || len(others.([]any)) < 2 {
				return false
			}
		}
		info, err := commandAuth(ctx, replica, password, "info", "replication")
		return err == nil && strings.Contains(info.(string), "master_link_status:up")
	})
	return s
}

// URL returns the redis:// URL of the set: the Sentinels' addresses, the data
// nodes' password and ?master=.
func (s *SentinelSet) URL() string {
	var addrs []string
	for _, sn := range s.Sentinels {
		addrs = append(addrs, sn.Addr)
	}
	user := ""
	if s.Password != "" {
		user = ":" + s.Password + "@"
	}
	return fmt.Sprintf("redis://%s%s?master=%s", user, strings.Join(addrs, ","), s.Name)
}

// Master returns the address Sentinel sn names as the master.
func (s *SentinelSet) Master(ctx context.Context, sn *Server) (string, error) {
	v, err := s.sentinel(ctx, sn, "sentinel", "get-master-addr-by-name", s.Name)
	if err != nil {
		return "", err
	}
	a := v.([]any)
	return fmt.Sprintf("%v:%v", a[0], a[1]), nil
}

// Failover asks the first Sentinel for a manual failover (SENTINEL FAILOVER).
func (s *SentinelSet) Failover(ctx context.Context) error {
	_, err := s.sentinel(ctx, s.Sentinels[0], "sentinel", "failover", s.Name)
	return err
}

func (s *SentinelSet) sentinel(ctx context.Context, sn *Server, args ...any) (any, error) {
	return commandAuth(ctx, sn, s.SentinelPassword, args...)
}
