package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/app"
	"asap/service/internal/app/apptest"
	"asap/service/internal/logtest"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
	"asap/service/internal/testwait"
)

// instance is an ASAP server started through app.Run (apptest.Start), under
// the names these tests use.
type instance struct {
	url, admin string
	stop       context.CancelFunc // what SIGTERM does
	done       chan struct{}      // closed when Run has returned
	logs       *logtest.Buffer
	run        *apptest.Instance // its Err is what Run returned, once done is closed
}

func redisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

// seed writes the sample placements under prefix and returns the store.
func seed(t *testing.T, url, prefix string) *store.Store {
	t.Helper()
	ps, err := placement.Decode(samples.JSON)
	if err != nil {
		t.Fatal(err)
	}
	client, err := redisClient(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store := store.NewStore(client, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := store.PutAll(ctx, ps); err != nil {
		t.Fatalf("seed placements: %v", err)
	}
	return store
}

// startApp runs app.Run in the local environment on free ports, with env on top,
// and waits until /readyz answers 200. It stops the server at cleanup.
func startApp(t *testing.T, env map[string]string, opts ...func(*app.Options)) *instance {
	t.Helper()
	in := apptest.Start(t, env, opts...)
	return &instance{url: in.URL, admin: in.Admin, stop: in.Stop, done: in.Done, logs: in.Logs, run: in}
}

// startWithRedis starts ASAP on the shared test Redis with its own key prefix,
// seeded with the sample placements.
func startWithRedis(t *testing.T, env map[string]string, opts ...func(*app.Options)) (*instance, *store.Store) {
	t.Helper()
	_, prefix := redistest.Client(t) // cleans the prefix up at the end
	store := seed(t, redistest.URL(), prefix)
	all := map[string]string{"ASAP_REDIS_URL": redistest.URL(), "ASAP_REDIS_KEY_PREFIX": prefix}
	for k, v := range env {
		all[k] = v
	}
	return startApp(t, all, opts...), store
}

type answer struct {
	code   int
	header http.Header
	body   string
	json   map[string]any
}

func get(t *testing.T, url string) answer {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{code: res.StatusCode, header: res.Header, body: string(b)}
	json.Unmarshal(b, &a.json)
	return a
}

func statusOf(url string) int { return apptest.StatusOf(url) }

func TestServeFromRedis(t *testing.T) {
	in, _ := startWithRedis(t, nil)
	tests := []struct {
		query        string
		wantCode     int
		wantStatus   string
		wantKeyValue string
	}{
		{"pkey=demo-feed", 200, "OK", "ck-123"},
		{"pkey=demo-feed&customKeys[section]=sports", 200, "OK", "cmp-9"},
		{"pkey=demo-article", 200, "OK", "cmp-42"},
		{"pkey=demo-paused", 200, "PAUSED", "ck-456"},
		{"pkey=no-such-placement", 404, "NOT_FOUND", ""},
		{"pkey=bad!key", 400, "BAD_REQUEST", ""},
		{"", 400, "BAD_REQUEST", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := get(t, in.url+"/v2?"+tt.query)
			if got.code != tt.wantCode || got.json["status"] != tt.wantStatus {
				t.Fatalf("GET /v2?%s = %d %v; want %d %s\n%s", tt.query, got.code, got.json["status"], tt.wantCode, tt.wantStatus, got.body)
			}
			if tt.wantCode != 200 {
				return
			}
			for _, f := range []string{"mrid", "pkey", "adServer", "keyType", "keyValue", "status", "articlesBeforeFirstAd", "articlesBetweenAds", "mediationNetworks"} {
				if _, ok := got.json[f]; !ok {
					t.Errorf("answer lacks %q: %s", f, got.body)
				}
			}
			if got.json["keyValue"] != tt.wantKeyValue {
				t.Errorf("keyValue = %v; want %s", got.json["keyValue"], tt.wantKeyValue)
			}
		})
	}
	if got := get(t, in.url+"/healthz"); got.code != 200 {
		t.Errorf("GET /healthz = %d; want 200", got.code)
	}
	metrics := get(t, in.admin+"/metrics")
	for _, want := range []string{
		`asap_http_requests_total{code="200",route="/v2"}`,
		`asap_http_request_duration_seconds_bucket{route="/v2"`,
		`asap_http_in_flight`, `asap_http_queued`, `asap_http_shed_total`,
		`asap_build_info{env="local",version="test"} 1`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestEmbeddedRedis(t *testing.T) {
	in := startApp(t, map[string]string{"ASAP_REDIS_URL": ""})
	got := get(t, in.url+"/v2?pkey=demo-feed")
	if got.code != 200 || got.json["pkey"] != "demo-feed" {
		t.Fatalf("GET /v2?pkey=demo-feed = %d %s; want the sample placement", got.code, got.body)
	}
	testwait.For(t, "the embedded Redis to be announced", func() bool { return strings.Contains(in.logs.String(), "embedded Redis started") })
}

func TestDebugEndpoints(t *testing.T) {
	for _, debug := range []bool{true, false} {
		t.Run(fmt.Sprint("ASAP_DEBUG=", debug), func(t *testing.T) {
			in := startApp(t, map[string]string{"ASAP_REDIS_URL": "", "ASAP_DEBUG": fmt.Sprint(debug)})
			want := 404
			if debug {
				want = 200
			}
			for _, path := range []string{"/debug/pprof/", "/debug/vars"} {
				if got := statusOf(in.admin + path); got != want {
					t.Errorf("GET admin %s = %d; want %d", path, got, want)
				}
				// Never on the public port.
				if got := statusOf(in.url + path); got != 404 {
					t.Errorf("GET public %s = %d; want 404", path, got)
				}
			}
			if got := statusOf(in.admin + "/metrics"); got != 200 {
				t.Errorf("GET admin /metrics = %d; want 200", got)
			}
		})
	}
}

// TestPlacementChangeServed changes a placement in Redis and publishes it, as the
// loader does: the running server serves the change, long before the cache TTL.
// How soon (within a second, the contract) is a figure of `make faults`
// (TestRedisOutage); here it is only logged.
func TestPlacementChangeServed(t *testing.T) {
	in, store := startWithRedis(t, map[string]string{"ASAP_CACHE_TTL": "1h"})
	if got := get(t, in.url+"/v2?pkey=demo-feed"); got.json["keyValue"] != "ck-123" {
		t.Fatalf("keyValue = %v; want ck-123 before the change", got.json["keyValue"])
	}
	ps, _ := placement.Decode(samples.JSON)
	changed := ps[0]
	changed.KeyValue = "ck-changed"
	changed.Status = "PAUSED"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := store.Put(ctx, &changed); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the change to be served", func() bool {
		got := get(t, in.url+"/v2?pkey=demo-feed")
		return got.json["keyValue"] == "ck-changed" && got.json["status"] == "PAUSED"
	})
	t.Logf("change served after %s", time.Since(start).Round(time.Millisecond))
}

// TestRedisDown kills a private redis-server under a running ASAP: the cached
// placement is still served, an uncached one gets 503 with Retry-After (not 404).
func TestRedisDown(t *testing.T) {
	redisServer := redistest.StartServer(t)
	seed(t, redisServer.URL(), "asap:")
	in := startApp(t, map[string]string{"ASAP_REDIS_URL": redisServer.URL(), "ASAP_RETRY_AFTER": "3s"})
	if got := get(t, in.url+"/v2?pkey=demo-feed"); got.code != 200 {
		t.Fatalf("GET demo-feed = %d before the outage; want 200", got.code)
	}

	redisServer.Kill()
	got := get(t, in.url+"/v2?pkey=demo-feed")
	if got.code != 200 || got.json["pkey"] != "demo-feed" {
		t.Errorf("cached placement during the outage = %d %s; want 200", got.code, got.body)
	}
	got = get(t, in.url+"/v2?pkey=demo-article")
	if got.code != 503 || got.json["status"] != "UNAVAILABLE" {
		t.Errorf("uncached placement during the outage = %d %s; want 503 UNAVAILABLE", got.code, got.body)
	}
	if ra := got.header.Get("Retry-After"); ra != "3" {
		t.Errorf("Retry-After = %q; want %q", ra, "3")
	}
	// A warm cache keeps the instance in the load balancer.
	if got := statusOf(in.url + "/readyz"); got != 200 {
		t.Errorf("GET /readyz with a warm cache = %d; want 200", got)
	}
}

// gate holds every lookup of demo-feed until released; it stands for a slow Redis.
// Other placements pass.
type gate struct {
	placement.Getter
	held    chan struct{} // receives once per lookup that starts waiting
	release chan struct{}
}

func newGate() *gate { return &gate{held: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) wrap(o *app.Options) {
	o.WrapPlacements = func(p placement.Getter) placement.Getter { g.Getter = p; return g }
}

func (g *gate) Get(ctx context.Context, pkey string) (*placement.Placement, error) {
	if pkey != "demo-feed" {
		return g.Getter.Get(ctx, pkey)
	}
	g.held <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Getter.Get(ctx, pkey)
}

type result struct {
	code int
	err  error
}

// getAsync sends a GET on a connection of its own: a reused one could be retried
// by the transport, blurring what the server did with it.
func getAsync(url string) <-chan result {
	ch := make(chan result, 1)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		res, err := client.Get(url)
		if err != nil {
			ch <- result{err: err}
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		ch <- result{code: res.StatusCode}
	}()
	return ch
}

func TestShedWhenSaturated(t *testing.T) {
	g := newGate()
	in, _ := startWithRedis(t, map[string]string{
		"ASAP_MAX_IN_FLIGHT": "1", "ASAP_MAX_QUEUED": "1", "ASAP_QUEUE_TIMEOUT": "30s",
	}, g.wrap)
	inFlight := getAsync(in.url + "/v2?pkey=demo-feed")
	<-g.held
	queued := getAsync(in.url + "/v2?pkey=demo-feed")
	testwait.For(t, "a request in the queue", func() bool {
		return strings.Contains(get(t, in.admin+"/metrics").body, "asap_http_queued 1")
	})

	got := get(t, in.url+"/v2?pkey=demo-feed")
	if got.code != 503 || got.header.Get("Retry-After") == "" || got.json["status"] != "UNAVAILABLE" {
		t.Errorf("GET /v2 with in-flight and queue full = %d, Retry-After %q, %s; want 503 with Retry-After",
			got.code, got.header.Get("Retry-After"), got.body)
	}
	if got := statusOf(in.url + "/readyz"); got != 200 {
		t.Errorf("GET /readyz while saturated = %d; want 200 (it bypasses the limits)", got)
	}
	close(g.release)
	for name, ch := range map[string]<-chan result{"in flight": inFlight, "queued": queued} {
		if r := <-ch; r.err != nil || r.code != 200 {
			t.Errorf("%s request = %d, %v; want 200", name, r.code, r.err)
		}
	}
	if m := get(t, in.admin+"/metrics").body; !strings.Contains(m, `asap_http_shed_total{reason="queue_full"} 1`) {
		t.Errorf("/metrics does not count the shed request")
	}
}

// TestShutdownDrains is SIGTERM as ECS sends it behind a target group: after the
// target is deregistered and unused, so the drain period only has to serve a request
// the load balancer sent in the last instant. /readyz turns 503 at once, the
// listener keeps serving during the drain period, the request in flight finishes
// with 200, the phases run in order, and Run returns nil.
func TestShutdownDrains(t *testing.T) {
	g := newGate()
	in, _ := startWithRedis(t, map[string]string{"ASAP_DRAIN_PERIOD": "500ms", "ASAP_SHUTDOWN_TIMEOUT": "10s"}, g.wrap)
	slow := getAsync(in.url + "/v2?pkey=demo-feed")
	<-g.held

	in.stop() // SIGTERM
	testwait.For(t, "/readyz to answer 503", func() bool { return statusOf(in.url+"/readyz") == 503 })
	got := get(t, in.url+"/readyz")
	if got.json["status"] != "DRAINING" {
		t.Errorf("/readyz status = %v; want DRAINING", got.json["status"])
	}
	// Still accepting new connections: a request sent just before deregistration
	// took effect may arrive now.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if res, err := fresh.Get(in.url + "/v2?pkey=demo-article"); err != nil || res.StatusCode != 200 {
		t.Errorf("GET /v2 on a new connection while draining = %v, %v; want 200", res, err)
	} else {
		res.Body.Close()
	}

	close(g.release)
	if r := <-slow; r.err != nil || r.code != 200 {
		t.Errorf("request in flight at SIGTERM = %d, %v; want 200", r.code, r.err)
	}
	testwait.Recv(t, "Run to return after SIGTERM", in.done)
	if in.run.Err != nil {
		t.Errorf("Run = %v; want nil (exit 0)", in.run.Err)
	}
	if _, err := http.Get(in.url + "/healthz"); err == nil {
		t.Error("the listener still accepts after Run returned")
	}
	logs := in.logs.String()
	at := -1
	for _, phase := range []string{"shutdown: draining", "shutdown: listener closed", "shutdown: done"} {
		i := strings.Index(logs, phase)
		switch {
		case i < 0:
			t.Errorf("log lacks %q:\n%s", phase, logs)
		case i < at:
			t.Errorf("log has %q out of order (drain, then close, then done):\n%s", phase, logs)
		}
		at = max(at, i)
	}
}

func TestShutdownTimeoutClosesStuckRequests(t *testing.T) {
	g := newGate()
	in, _ := startWithRedis(t, map[string]string{"ASAP_SHUTDOWN_TIMEOUT": "200ms"}, g.wrap)
	defer close(g.release)
	stuck := getAsync(in.url + "/v2?pkey=demo-feed")
	<-g.held
	in.stop()
	// The shutdown timeout (200ms) ends the stuck request; Run then returns.
	testwait.Recv(t, "Run to return past the shutdown timeout", in.done)
	if in.run.Err != nil {
		t.Errorf("Run = %v; want nil", in.run.Err)
	}
	if r := <-stuck; r.err == nil {
		t.Errorf("stuck request answered %d; want its connection closed", r.code)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantNames []string
	}{
		{"every bad variable", map[string]string{
			"ASAP_ENV": "local", "ASAP_MAX_IN_FLIGHT": "0", "ASAP_LOG_LEVEL": "loud", "ASAP_QUEUE_TIMEOUT": "soon",
		}, []string{"ASAP_MAX_IN_FLIGHT", "ASAP_LOG_LEVEL", "ASAP_QUEUE_TIMEOUT"}},
		{"staging without Redis", map[string]string{"ASAP_ENV": "staging"}, []string{"ASAP_REDIS_URL"}},
		{"production without Redis", map[string]string{"ASAP_ENV": "production"}, []string{"ASAP_REDIS_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apptest.CleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var logs logtest.Buffer
			err := app.Main(context.Background(), "test", nil, io.Discard, &logs)
			if err == nil {
				t.Fatal("Main started with an invalid configuration")
			}
			for _, name := range tt.wantNames {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name %s:\n%v", name, err)
				}
			}
		})
	}
}

func TestListenerInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	apptest.CleanEnv(t)
	t.Setenv("ASAP_HTTP_ADDR", ln.Addr().String())
	t.Setenv("ASAP_ADMIN_ADDR", "127.0.0.1:0")
	err = app.Main(context.Background(), "test", nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ASAP_HTTP_ADDR") {
		t.Errorf("Main = %v; want an error naming ASAP_HTTP_ADDR", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Main = %v; want it to wrap EADDRINUSE", err)
	}
}

func TestArgsRefused(t *testing.T) {
	apptest.CleanEnv(t)
	if err := app.Main(context.Background(), "test", []string{"-port", "1"}, io.Discard, io.Discard); err == nil {
		t.Error("Main accepted arguments")
	}
}

func TestLogFormats(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			in := startApp(t, map[string]string{"ASAP_REDIS_URL": "", "ASAP_LOG_FORMAT": format})
			get(t, in.url+"/v2?pkey=demo-feed&uid=SECRET-IFA")
			testwait.For(t, "the access log line", func() bool { return strings.Contains(in.logs.String(), "/v2") })
			logs := in.logs.String()
			if strings.Contains(logs, "SECRET") {
				t.Errorf("logs show the query string:\n%s", logs)
			}
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				var v map[string]any
				isJSON := json.Unmarshal([]byte(line), &v) == nil
				if isJSON != (format == "json") {
					t.Errorf("ASAP_LOG_FORMAT=%s wrote %q", format, line)
				}
			}
		})
	}
}

func TestAdminDisabled(t *testing.T) {
	in := startApp(t, map[string]string{"ASAP_REDIS_URL": "", "ASAP_ADMIN_ADDR": ""})
	if in.admin != "" {
		t.Errorf("admin listener at %s with ASAP_ADMIN_ADDR empty", in.admin)
	}
	if got := statusOf(in.url + "/v2?pkey=demo-feed"); got != 200 {
		t.Errorf("GET /v2 = %d; want 200", got)
	}
}
