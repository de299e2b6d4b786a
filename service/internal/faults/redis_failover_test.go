package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/store"
)

// What the failover scenarios share: ASAP against a Redis that fails over, and
// two recovery times measured from the promotion of the new master.

// failoverPatience caps every wait of the failover scenarios in the short form
// (make test): it only guards against a hang.
const failoverPatience = 90 * time.Second

// failoverBound is the recovery the full form (make faults) requires after the
// promotion, for the first good uncached read and the first published change seen:
// "within a few seconds" of the issue, against ~45 s and ~55 s before.
const failoverBound = 3 * time.Second

// failoverStore is a store on url written by the test, as a writer would: a
// client made by ASAP's own factory (so it follows the failover too).
func failoverStore(t *testing.T, cfg config.Redis) *store.Store {
	t.Helper()
	client, err := store.NewRedisClient(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return store.NewStore(client, "asap:")
}

// writerRedis is the writer's client configuration for url.
func writerRedis(url string) config.Redis {
	return config.Redis{URL: url, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: time.Second, PoolSize: 4, MaxRetries: 1, ClusterReloadInterval: time.Second}
}

// seed writes the sample placements and cold into st, retrying while a fresh
// cluster settles.
func seed(t *testing.T, st *store.Store, cold ...placement.Placement) {
	t.Helper()
	deadline := time.Now().Add(failoverPatience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := st.PutAll(ctx, append(samples.Placements(), cold...))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed placements: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recovery is what a failover scenario measured, from the promotion.
type recovery struct {
	uncached, change time.Duration
}

// measureRecovery waits, from promoted, until ASAP answers GET /v2 for the
// placement cold, which it never read, and until it serves a change of demo-feed
// that st writes and publishes after the promotion. Each wait gives up after
// failoverPatience, which fails the test.
func measureRecovery(t *testing.T, srv *asap, st *store.Store, cold string, promoted time.Time) recovery {
	t.Helper()
	c := newClient(2)
	get := func(path string) (int, string) {
		res, err := c.Get(srv.base + path)
		if err != nil {
			return 0, ""
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	var r recovery
	done := make(chan time.Duration)
	go func() {
		for time.Since(promoted) < failoverPatience {
			if code, _ := get("/v2?pkey=" + cold); code == http.StatusOK {
				done <- time.Since(promoted)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		done <- -1
	}()

	p := samples.Placement("demo-feed")
	p.KeyValue = fmt.Sprintf("after-%d", promoted.UnixNano())
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := st.Put(ctx, &p)
		cancel()
		if err == nil {
			break
		}
		if time.Since(promoted) > failoverPatience {
			t.Fatalf("the writer could not write after the promotion: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.change = -1
	for time.Since(promoted) < failoverPatience {
		if _, body := get("/v2?pkey=demo-feed"); strings.Contains(body, `"keyValue":"`+p.KeyValue+`"`) {
			r.change = time.Since(promoted)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.uncached = <-done
	if r.uncached < 0 {
		t.Fatalf("no uncached read of %s succeeded within %s of the promotion", cold, failoverPatience)
	}
	if r.change < 0 {
		t.Fatalf("the change written after the promotion was not served within %s", failoverPatience)
	}
	return r
}

// report logs r and, in the full form, holds it to failoverBound.
func (r recovery) report(t *testing.T, what string) {
	t.Helper()
	t.Logf("%s: first good uncached read %s after the promotion, first published change seen %s after it (bound in make faults: %s)",
		what, r.uncached.Round(time.Millisecond), r.change.Round(time.Millisecond), failoverBound)
	if !*full {
		return
	}
	if r.uncached > failoverBound {
		t.Errorf("%s: first good uncached read %s after the promotion; want within %s", what, r.uncached, failoverBound)
	}
	if r.change > failoverBound {
		t.Errorf("%s: first published change seen %s after the promotion; want within %s", what, r.change, failoverBound)
	}
}

// warmFeed reads demo-feed through ASAP until it is served, so that it is cached.
func warmFeed(t *testing.T, srv *asap) {
	t.Helper()
	if e := do(context.Background(), newClient(1), srv.base+"/v2?pkey=demo-feed", wantStatus(http.StatusOK)); e.problem != "" {
		t.Fatalf("warming demo-feed: %s", e.problem)
	}
}
