package embedredis

import (
	"context"
	"errors"
	"testing"
	"time"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/store"
)

func TestStart(t *testing.T) {
	url, stop, err := Start("asap:")
	if err != nil {
		t.Fatal(err)
	}
	client, err := store.NewRedisClient(config.Redis{URL: url, DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond, PoolTimeout: 100 * time.Millisecond, PoolSize: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store := store.NewStore(client, "asap:")
	ctx := context.Background()
	for _, p := range samples.Placements() {
		got, err := store.Get(ctx, p.PKey)
		if err != nil || got.Status != p.Status {
			t.Errorf("embedded Get(%q) = %v, %v; want the sample", p.PKey, got, err)
		}
	}
	stop()
	if _, err := store.Get(ctx, "demo-feed"); !errors.Is(err, placement.ErrUnavailable) {
		t.Errorf("Get after stop: error = %v; want placement.ErrUnavailable", err)
	}
}
