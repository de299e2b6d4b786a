package placement

import (
	"context"
	"errors"
	"testing"
	"time"

	"asap/service/config"
)

func TestStartEmbedded(t *testing.T) {
	url, stop, err := StartEmbedded("asap:")
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewRedisClient(config.Redis{URL: url, DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond, PoolTimeout: 100 * time.Millisecond, PoolSize: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store := NewStore(client, "asap:")
	ctx := context.Background()
	for _, p := range samplePlacements(t) {
		got, err := store.Get(ctx, p.PKey)
		if err != nil || got.Status != p.Status {
			t.Errorf("embedded Get(%q) = %v, %v; want the sample", p.PKey, got, err)
		}
	}
	stop()
	if _, err := store.Get(ctx, "demo-feed"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Get after stop: error = %v; want ErrUnavailable", err)
	}
}
