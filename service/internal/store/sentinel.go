package store

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinelClient is go-redis's Sentinel-backed client plus a watch on every
// configured Sentinel's +switch-master. On a switch go-redis moves its command
// pools to the new master but leaves a subscription where it is: after a manual
// failover the old master keeps it, and receives nothing, until Sentinel turns that
// server into a replica (~10 s later) and it drops its clients.
type sentinelClient struct {
	*redis.Client
	watch *masterWatch
}

func newSentinelClient(opts *redis.UniversalOptions, log *slog.Logger) *sentinelClient {
	fo := opts.Failover()
	var sentinels []*redis.Options
	for _, addr := range fo.SentinelAddrs {
		sentinels = append(sentinels, &redis.Options{
			Addr:                  addr,
			Username:              fo.SentinelUsername,
			Password:              fo.SentinelPassword,
			TLSConfig:             fo.TLSConfig,
			DialTimeout:           fo.DialTimeout,
			ReadTimeout:           fo.ReadTimeout,
			WriteTimeout:          fo.WriteTimeout,
			ContextTimeoutEnabled: true,
			DialerRetries:         1,
			MaxRetries:            -1,
			PoolSize:              1,
		})
	}
	return &sentinelClient{Client: redis.NewFailoverClient(fo), watch: watchMaster(fo.MasterName, sentinels, log)}
}

// MasterSwitched returns a channel closed when a Sentinel announces a new master.
func (c *sentinelClient) MasterSwitched() <-chan struct{} { return c.watch.switched() }

// Close stops the watch and closes the client.
func (c *sentinelClient) Close() error {
	c.watch.close()
	return c.Client.Close()
}

// masterWatch follows +switch-master on a set of Sentinels, each on its own
// subscription. Every Sentinel announces the switch once it knows of it (the
// leader first, the others from its hello messages within ~2 s), and each
// announcement is passed on: the failover client asks one Sentinel for the master,
// and only once that one has announced the switch does it answer the new address.
type masterWatch struct {
	name string
	log  *slog.Logger

	mu   sync.Mutex
	next chan struct{} // closed at the next switch, then replaced

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Timings of the watch. An idle Sentinel subscription is PINGed every
// watchPingInterval, and one unanswered for another interval is made again; a lost
// one is made again after a backoff between watchMinBackoff and watchMaxBackoff.
const (
	watchPingInterval = time.Second
	watchMinBackoff   = 100 * time.Millisecond
	watchMaxBackoff   = time.Second
)

func watchMaster(name string, sentinels []*redis.Options, log *slog.Logger) *masterWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &masterWatch{name: name, log: log, next: make(chan struct{}), stop: cancel}
	for _, o := range sentinels {
		sc := redis.NewSentinelClient(o)
		w.wg.Go(func() {
			defer sc.Close()
			w.follow(ctx, sc, o.Addr)
		})
	}
	return w
}

func (w *masterWatch) switched() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next
}

func (w *masterWatch) close() {
	w.stop()
	w.wg.Wait()
}

// follow keeps a subscription to +switch-master on one Sentinel until ctx is done.
func (w *masterWatch) follow(ctx context.Context, sc *redis.SentinelClient, addr string) {
	var problems LogLimiter
	backoff := watchMinBackoff
	for ctx.Err() == nil {
		ps := sc.Subscribe(ctx, "+switch-master")
		subscribed, err := Receive(ctx, ps, watchPingInterval, func(msg any) {
			m, ok := msg.(*redis.Message)
			if !ok {
				return
			}
			// <name> <old ip> <old port> <new ip> <new port>
			f := strings.Fields(m.Payload)
			if len(f) != 5 || f[0] != w.name {
				return
			}
			w.log.Info("Redis Sentinel: new master; moving the placement subscription",
				"sentinel", addr, "master", w.name, "from", f[1]+":"+f[2], "to", f[3]+":"+f[4])
			w.mu.Lock()
			close(w.next)
			w.next = make(chan struct{})
			w.mu.Unlock()
		})
		ps.Close()
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			backoff = watchMinBackoff
		}
		if ok, n := problems.Allow(time.Now()); ok {
			w.log.Warn("Redis Sentinel: cannot follow +switch-master; retrying", "sentinel", addr,
				"err", err, "problem", Problem(err), "similar_since_last", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}
