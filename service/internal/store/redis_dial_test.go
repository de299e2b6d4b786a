package store

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
)

// TestRedisClientDialsOncePerAttempt: against a Redis that refuses connections, a
// command dials once per attempt (1 + ASAP_REDIS_MAX_RETRIES), so a cold placement
// fails at once. go-redis's default dials five times per attempt, 100 ms apart.
func TestRedisClientDialsOncePerAttempt(t *testing.T) {
	opts, err := redisOptions(config.Redis{URL: "redis://127.0.0.1:1/0", DialTimeout: 200 * time.Millisecond,
		ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, PoolTimeout: 150 * time.Millisecond,
		PoolSize: 4, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int64
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	client := redis.NewUniversalClient(opts)
	defer client.Close()
	err = client.Get(context.Background(), "asap:placement:cold").Err()
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("GET against a refusing Redis: err = %v; want connection refused", err)
	}
	if got, want := dials.Load(), int64(2); got != want {
		t.Errorf("%d dials; want %d (one per attempt, with one retry)", got, want)
	}
}
