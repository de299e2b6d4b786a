// Package embedredis runs an in-memory Redis (miniredis) seeded with the sample
// placements, for the local environment when no ASAP_REDIS_URL is set.
package embedredis

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement/samples"
	"asap/service/internal/store"
)

// Start starts an in-memory Redis (miniredis) on a free port of 127.0.0.1,
// seeds it with the local sample placements (samples.Local) under keyPrefix, and returns
// its redis:// URL and a func that stops it. It serves the local environment, where
// no ASAP_REDIS_URL is set: `make run` then needs nothing installed. Its data lives
// only as long as the process.
func Start(keyPrefix string) (url string, stop func(), err error) {
	ps, err := samples.Local()
	if err != nil {
		return "", nil, fmt.Errorf("embedded redis: sample placements: %w", err)
	}
	m, err := miniredis.Run()
	if err != nil {
		return "", nil, fmt.Errorf("embedded redis: %w", err)
	}
	url = "redis://" + m.Addr() + "/0"
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := store.NewStore(client, keyPrefix).PutAll(ctx, ps); err != nil {
		m.Close()
		return "", nil, fmt.Errorf("embedded redis: seed sample placements: %w", err)
	}
	return url, m.Close, nil
}
