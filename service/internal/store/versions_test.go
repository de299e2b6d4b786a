package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
)

// record returns the JSON of the sample demo-feed with keyValue set to value.
func record(t testing.TB, pkey, value string) []byte {
	t.Helper()
	p := samples.Placement("demo-feed")
	p.PKey, p.KeyValue = pkey, value
	data, err := placement.Encode(&p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWriteVersionsGrow(t *testing.T) {
	client, prefix := redistest.Client(t)
	st := NewStore(client, prefix)
	ctx := context.Background()
	sub := client.Subscribe(ctx, st.Channel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "v1"), Expect: AnyVersion, Who: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Old.Version != 0 || res.New.Version != 1 || !res.Changed || !res.Created || res.New.Who != "alice" || res.New.At.IsZero() {
		t.Fatalf("first write = %+v; want version 0 → 1, changed, created, by alice, with a time", res)
	}
	if msg := <-sub.Channel(); msg.Payload != "p" {
		t.Errorf("published %q; want p", msg.Payload)
	}
	// The same record again writes nothing and publishes nothing.
	res, err = st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "v1"), Expect: AnyVersion, Who: "bob"})
	if err != nil || res.Changed || res.New.Version != 1 {
		t.Fatalf("unchanged write = %+v, %v; want version 1, not changed", res, err)
	}
	res, err = st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "v2"), Expect: 1, Who: "bob"})
	if err != nil || res.New.Version != 2 || res.Created || string(res.Old.Placement) != string(record(t, "p", "v1")) {
		t.Fatalf("second write = %+v, %v; want version 2 with version 1's record as old", res, err)
	}
	if msg := <-sub.Channel(); msg.Payload != "p" {
		t.Errorf("published %q; want p", msg.Payload)
	}
	cur, err := st.Current(ctx, "p")
	if err != nil || cur.Version != 2 || string(cur.Placement) != string(record(t, "p", "v2")) || cur.Who != "bob" {
		t.Fatalf("Current = %+v, %v; want version 2 by bob", cur, err)
	}
	// The cache's reader sees the record as before.
	if p, err := st.Get(ctx, "p"); err != nil || p.KeyValue != "v2" {
		t.Fatalf("Get = %+v, %v; want keyValue v2", p, err)
	}

	// Delete is a version too, and versions keep growing after it.
	res, err = st.Write(ctx, Write{PKey: "p", Expect: 2, Who: "carol"})
	if err != nil || res.New.Version != 3 || !res.New.Deleted() {
		t.Fatalf("delete = %+v, %v; want version 3, a deletion", res, err)
	}
	if _, err := st.Current(ctx, "p"); !errors.Is(err, placement.ErrNotFound) {
		t.Fatalf("Current after delete: %v; want ErrNotFound", err)
	}
	if _, err := st.Write(ctx, Write{PKey: "p", Expect: AnyVersion, Who: "carol"}); !errors.Is(err, placement.ErrNotFound) {
		t.Fatalf("second delete: %v; want ErrNotFound", err)
	}
	res, err = st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "v4"), Expect: 3, Who: "dave"})
	if err != nil || res.New.Version != 4 || !res.Created {
		t.Fatalf("write after delete = %+v, %v; want version 4, created", res, err)
	}
	history, err := st.History(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range history {
		got = append(got, fmt.Sprintf("%d:%s:%v", v.Version, v.Who, v.Deleted()))
	}
	if want := []string{"4:dave:false", "3:carol:true", "2:bob:false", "1:alice:false"}; !slices.Equal(got, want) {
		t.Errorf("history = %v; want %v", got, want)
	}
}

func TestWriteConditional(t *testing.T) {
	client, prefix := redistest.Client(t)
	st := NewStore(client, prefix)
	ctx := context.Background()
	// A record written before versioning is version 0.
	if err := client.Set(ctx, st.Key("p"), record(t, "p", "old"), 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "x"), Expect: 1}); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("write expecting 1 at version 0: %v; want ErrVersionMismatch", err)
	}
	if cur, _ := st.Current(ctx, "p"); string(cur.Placement) != string(record(t, "p", "old")) || cur.Version != 0 {
		t.Fatalf("a refused write changed the record: %+v", cur)
	}
	if res, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "x"), Expect: 0}); err != nil || res.New.Version != 1 {
		t.Fatalf("write expecting 0: %+v, %v; want version 1", res, err)
	}
	// A stale expectation of an unchanged record still fails: the writer saw an old version.
	if _, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "x"), Expect: 0}); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("stale write of the same record: %v; want ErrVersionMismatch", err)
	}
}

func TestHistoryKeepsTheLast50(t *testing.T) {
	client, prefix := redistest.Client(t)
	st := NewStore(client, prefix)
	ctx := context.Background()
	const writes = KeepVersions + 10
	for i := 1; i <= writes; i++ {
		if _, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", fmt.Sprint(i)), Expect: AnyVersion, Who: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	history, err := st.History(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != KeepVersions || history[0].Version != writes || history[len(history)-1].Version != writes-KeepVersions+1 {
		t.Fatalf("history holds %d versions, %d to %d; want %d, %d to %d", len(history), history[0].Version,
			history[len(history)-1].Version, KeepVersions, writes, writes-KeepVersions+1)
	}
	var p placement.Placement
	if err := json.Unmarshal(history[0].Placement, &p); err != nil || p.KeyValue != fmt.Sprint(writes) {
		t.Fatalf("newest version's record = %s, %v; want keyValue %d", history[0].Placement, err, writes)
	}
	if res, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "next"), Expect: writes, Who: "w"}); err != nil || res.New.Version != writes+1 {
		t.Fatalf("write past the cap = %+v, %v; want version %d", res, err, writes+1)
	}
}

// Two writers racing with the same expected version: exactly one wins, and the
// loser changed nothing. Many unconditional writers: every write gets its own
// version, and every version is in the history.
func TestWriteConcurrent(t *testing.T) {
	client, prefix := redistest.Client(t)
	st := NewStore(client, prefix)
	ctx := context.Background()
	if _, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", "base"), Expect: AnyVersion}); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		cur, err := st.Current(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for i := range 2 {
			wg.Go(func() {
				<-start
				_, errs[i] = st.Write(ctx, Write{PKey: "p", Record: record(t, "p", fmt.Sprintf("r%d-w%d", round, i)), Expect: cur.Version, Who: fmt.Sprint(i)})
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: both writers won", round)
			case err == nil:
				won = i
			case !errors.Is(err, ErrVersionMismatch):
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither writer won", round)
		}
		after, _ := st.Current(ctx, "p")
		var p placement.Placement
		json.Unmarshal(after.Placement, &p)
		if after.Version != cur.Version+1 || p.KeyValue != fmt.Sprintf("r%d-w%d", round, won) {
			t.Fatalf("round %d: current = version %d %q; want version %d by the winner, writer %d", round, after.Version, p.KeyValue, cur.Version+1, won)
		}
	}

	const writers = 40 // below KeepVersions, so that the history holds them all
	base, _ := st.Current(ctx, "p")
	var wg sync.WaitGroup
	versions := make([]int64, writers)
	for i := range writers {
		wg.Go(func() {
			res, err := st.Write(ctx, Write{PKey: "p", Record: record(t, "p", fmt.Sprintf("u%d", i)), Expect: AnyVersion, Who: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
			}
			versions[i] = res.New.Version
		})
	}
	wg.Wait()
	history, err := st.History(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	inHistory := map[int64]string{}
	for _, v := range history {
		var p placement.Placement
		json.Unmarshal(v.Placement, &p)
		inHistory[v.Version] = p.KeyValue
	}
	seen := map[int64]bool{}
	for i, v := range versions {
		if seen[v] {
			t.Errorf("version %d given to two writers", v)
		}
		seen[v] = true
		if inHistory[v] != fmt.Sprintf("u%d", i) {
			t.Errorf("writer %d got version %d, whose record in the history is %q", i, v, inHistory[v])
		}
	}
	if last := history[0].Version; last != base.Version+writers {
		t.Errorf("newest version %d; want %d: %d writes after version %d", last, base.Version+writers, writers, base.Version)
	}
}

func TestListAndHistoryKey(t *testing.T) {
	client, prefix := redistest.Client(t)
	st := NewStore(client, prefix)
	ctx := context.Background()
	for _, pkey := range []string{"b", "a", "c"} {
		if _, err := st.Write(ctx, Write{PKey: pkey, Record: record(t, pkey, "x"), Expect: AnyVersion, Who: "w"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Write(ctx, Write{PKey: "c", Expect: AnyVersion, Who: "w"}); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, st.Key("legacy"), record(t, "legacy", "x"), 0).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := st.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, fmt.Sprintf("%s:%d:%s", s.PKey, s.Version, s.Status))
	}
	if want := []string{"a:1:OK", "b:1:OK", "legacy:0:OK"}; !slices.Equal(got, want) {
		t.Errorf("List = %v; want %v (c is deleted)", got, want)
	}

	for _, tt := range []struct{ prefix, want string }{
		{"asap:", "asap:placement-history:{asap:placement:demo-feed}"},
		{"{asap}:", "{asap}:placement-history:demo-feed"},
	} {
		if got := NewStore(client, tt.prefix).HistoryKey("demo-feed"); got != tt.want {
			t.Errorf("HistoryKey with prefix %q = %q; want %q", tt.prefix, got, tt.want)
		}
	}
}

// In Redis Cluster a placement and its history hash to one slot, so the write
// script may touch both: CROSSSLOT would fail it otherwise. Both prefix forms.
func TestWriteInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	cluster := redistest.StartCluster(t)
	client, err := NewRedisClient(config.Redis{URL: cluster.URL(), DialTimeout: 2e9, ReadTimeout: 2e9, WriteTimeout: 2e9,
		PoolTimeout: 2e9, PoolSize: 4, MaxRetries: 3, ClusterReloadInterval: 2e9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	cc := client.(*redis.ClusterClient)
	for _, prefix := range []string{"asap:", "{asap}:"} {
		st := NewStore(client, prefix)
		pkeys := []string{"demo-feed", "demo-article", "a", "b", "c", "d", "e", "f"}
		for _, pkey := range pkeys {
			k, h := cc.ClusterKeySlot(ctx, st.Key(pkey)).Val(), cc.ClusterKeySlot(ctx, st.HistoryKey(pkey)).Val()
			if k != h {
				t.Fatalf("prefix %q, %s: slot %d, its history's %d", prefix, pkey, k, h)
			}
			for v := range 3 {
				res, err := st.Write(ctx, Write{PKey: pkey, Record: record(t, pkey, fmt.Sprint(v)), Expect: int64(v), Who: "w"})
				if err != nil || res.New.Version != int64(v+1) {
					t.Fatalf("prefix %q, %s: write %d = %+v, %v", prefix, pkey, v, res, err)
				}
			}
			if cur, err := st.Current(ctx, pkey); err != nil || cur.Version != 3 {
				t.Fatalf("prefix %q, %s: Current = %+v, %v; want version 3", prefix, pkey, cur, err)
			}
		}
		list, err := st.List(ctx)
		if err != nil || len(list) != len(pkeys) {
			t.Fatalf("prefix %q: List = %v, %v; want the %d placements of every master", prefix, list, err, len(pkeys))
		}
	}
}

// BenchmarkWrite is one versioned write (the script, then the publish) of a
// changed record, against the shared test Redis.
func BenchmarkWrite(b *testing.B) {
	client, prefix := redistest.Client(b)
	st := NewStore(client, prefix)
	ctx := context.Background()
	records := [][]byte{record(b, "p", "a"), record(b, "p", "b")}
	for i := 0; b.Loop(); i++ {
		if _, err := st.Write(ctx, Write{PKey: "p", Record: records[i%2], Expect: AnyVersion, Who: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}
