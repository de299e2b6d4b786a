package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/testwait"
)

func TestStoreGet(t *testing.T) {
	client, prefix := redistest.Client(t)
	store := NewStore(client, prefix)
	ctx := context.Background()
	feed := samples.Placement("demo-feed")
	if err := store.Put(ctx, &feed); err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{
		"not-json":      `{"pkey": "not-json",`,
		"wrong-pkey":    `{"pkey": "other", "status": "OK"}`,
		"invalid":       `{"pkey": "invalid", "status": ""}`,
		"extra-fields":  `{"pkey": "extra-fields", "status": "OK", "addedLater": {"x": 1}}`,
		"array-payload": `[1, 2]`,
		"bad-ad":        `{"pkey": "bad-ad", "status": "OK", "ad": {"upstream": "primary"}}`,
	}
	for k, v := range raw {
		if err := client.Set(ctx, store.Key(k), v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		pkey          string
		wantErr       error
		wantAdProblem bool // the record is served with its ad section's problems
	}{
		{pkey: "demo-feed"},
		{pkey: "extra-fields"},
		{pkey: "missing", wantErr: placement.ErrNotFound},
		{pkey: "not-json", wantErr: placement.ErrInvalid},
		{pkey: "wrong-pkey", wantErr: placement.ErrInvalid},
		{pkey: "invalid", wantErr: placement.ErrInvalid},
		{pkey: "array-payload", wantErr: placement.ErrInvalid},
		{pkey: "bad-ad", wantAdProblem: true},
	}
	for _, tt := range tests {
		t.Run(tt.pkey, func(t *testing.T) {
			p, err := store.Get(ctx, tt.pkey)
			if tt.wantErr == nil {
				if err != nil || p.PKey != tt.pkey {
					t.Fatalf("Get(%q) = %v, %v; want the placement", tt.pkey, p, err)
				}
				if (p.AdProblem != nil) != tt.wantAdProblem {
					t.Errorf("Get(%q).AdProblem = %v; want a problem: %v", tt.pkey, p.AdProblem, tt.wantAdProblem)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%q) error = %v; want %v", tt.pkey, err, tt.wantErr)
			}
			if n := btoi(errors.Is(err, placement.ErrNotFound)) + btoi(errors.Is(err, placement.ErrUnavailable)) + btoi(errors.Is(err, placement.ErrInvalid)); n != 1 {
				t.Errorf("Get(%q) error %v is %d of not found, unavailable and invalid; want one", tt.pkey, err, n)
			}
			if errors.Is(err, redis.Nil) {
				t.Errorf("Get(%q) error %v leaks redis.Nil past the store", tt.pkey, err)
			}
		})
	}
	got, err := store.Get(ctx, "demo-feed")
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyValue != feed.KeyValue || len(got.MediationNetworks) != 2 || got.Ad.Upstream != "primary" {
		t.Errorf("round trip lost data: got %+v", got)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestStoreUnreachable(t *testing.T) {
	// Nothing listens on port 1.
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	_, err := NewStore(client, "asap:").Get(context.Background(), "demo-feed")
	if !errors.Is(err, placement.ErrUnavailable) || errors.Is(err, placement.ErrNotFound) {
		t.Fatalf("Get from an unreachable Redis: error = %v; want placement.ErrUnavailable only", err)
	}
}

// subscribe returns a func that returns the first want messages received on
// channel, waiting for them. Pub/sub keeps their order, so a message published
// that should not have been shows up among them.
func subscribe(t *testing.T, client redis.UniversalClient, channel string) func(want int) []string {
	t.Helper()
	ps := client.Subscribe(context.Background(), channel)
	if _, err := ps.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	ch := ps.Channel()
	var got []string
	return func(want int) []string {
		for len(got) < want {
			m := testwait.Recv(t, fmt.Sprintf("message %d of %d on %s", len(got)+1, want, channel), ch)
			if m == nil {
				t.Fatalf("subscription to %s closed after %q", channel, got)
			}
			got = append(got, m.Payload)
		}
		return got[:want]
	}
}

func TestStorePutWritesThenPublishes(t *testing.T) {
	client, prefix := redistest.Client(t)
	store := NewStore(client, prefix)
	ctx := context.Background()
	messages := subscribe(t, client, store.Channel())
	p := samples.Placement("demo-article")
	if err := store.Put(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if got := messages(1); !slices.Equal(got, []string{"demo-article"}) {
		t.Errorf("messages = %q; want [demo-article]", got)
	}
	data, err := client.Get(ctx, prefix+"placement:demo-article").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := placement.Encode(&p)
	if string(data) != string(want) {
		t.Errorf("stored %s; want %s", data, want)
	}

	bad := p
	bad.PKey = "bad key"
	if err := store.Put(ctx, &bad); err == nil {
		t.Error("Put of an invalid placement: no error")
	}
	if n, _ := client.Exists(ctx, store.Key("bad key")).Result(); n != 0 {
		t.Error("Put of an invalid placement wrote it")
	}
}

func TestStorePutAllPublishesOnlyChanges(t *testing.T) {
	client, prefix := redistest.Client(t)
	store := NewStore(client, prefix)
	ctx := context.Background()
	messages := subscribe(t, client, store.Channel())
	ps := samples.Placements()

	changed, err := store.PutAll(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"demo-feed", "demo-article", "demo-paused", "demo-rewarded-video", "demo-native"}
	if !slices.Equal(changed, want) {
		t.Errorf("first PutAll changed %q; want %q", changed, want)
	}

	changed, err = store.PutAll(ctx, ps)
	if err != nil || len(changed) != 0 {
		t.Errorf("PutAll of the same records changed %q, %v; want none", changed, err)
	}

	ps[1].KeyValue = "cmp-43"
	changed, err = store.PutAll(ctx, ps)
	if err != nil || !slices.Equal(changed, []string{"demo-article"}) {
		t.Errorf("PutAll with one record changed: %q, %v; want [demo-article]", changed, err)
	}
	if got, want := messages(len(want)+1), append(want, "demo-article"); !slices.Equal(got, want) {
		t.Errorf("messages = %q; want %q", got, want)
	}
	if got, _ := store.Get(ctx, "demo-article"); got.KeyValue != "cmp-43" {
		t.Errorf("demo-article KeyValue = %q; want cmp-43", got.KeyValue)
	}

	ps[0].Status = ""
	ps[2].PKey = ps[1].PKey
	_, err = store.PutAll(ctx, ps)
	for _, want := range []string{"status is empty", "appears twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("PutAll of invalid records: error = %v; want it to mention %q", err, want)
		}
	}
}
