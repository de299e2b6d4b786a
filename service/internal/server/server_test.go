package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/adquery"
	"asap/service/internal/logtest"
	"asap/service/internal/placement"
	"asap/service/internal/server"
	"asap/service/internal/server/servertest"
	"asap/service/internal/testwait"
)

// testConfig is a configuration with small limits; it does not depend on the
// environment of the test process.
func testConfig() config.Config {
	return config.Config{
		Env:       "local",
		AccessLog: true,
		Limits: config.Limits{
			MaxInFlight:  16,
			MaxQueued:    16,
			QueueTimeout: time.Second,
			RetryAfter:   2 * time.Second,
		},
		Server: config.Server{
			ReadHeaderTimeout: 2 * time.Second,
			ReadTimeout:       5 * time.Second,
			WriteTimeout:      5 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
			MaxBodyBytes:      1 << 10,
			ShutdownTimeout:   5 * time.Second,
		},
		Ad: config.Ad{TrustedProxies: []string{"10.0.0.0/8"}},
	}
}

type testServer struct {
	*httptest.Server
	srv  *server.Server
	reg  *prometheus.Registry
	logs *logtest.Buffer
}

// start runs a Server over getter in an httptest server. Options edit its Deps.
func start(t *testing.T, getter placement.Getter, opts ...func(*server.Deps)) *testServer {
	t.Helper()
	ts := &testServer{reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	deps := server.Deps{
		Config:     testConfig(),
		Placements: getter,
		Logger:     slog.New(slog.NewJSONHandler(ts.logs, nil)),
		Registry:   ts.reg,
	}
	for _, o := range opts {
		o(&deps)
	}
	srv, err := server.New(deps)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ts.srv = srv
	ts.Server = httptest.NewServer(servertest.Contract(t, srv))
	t.Cleanup(ts.Close)
	return ts
}

type answer struct {
	code   int
	header http.Header
	body   []byte
	json   map[string]any
}

func get(t *testing.T, url string) answer {
	t.Helper()
	return do(t, http.MethodGet, url, nil)
}

func do(t *testing.T, method, url string, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: res.StatusCode, header: res.Header, body: b}
	if len(b) > 0 && method != http.MethodHead {
		if err := json.Unmarshal(b, &a.json); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %v\n%s", method, url, err, b)
		}
	}
	return a
}

func TestV2Contract(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	feedNetworks := []any{
		map[string]any{"key": "str-1", "name": "STR", "androidClassName": "com.sharethrough.sdk.mediation.STR", "iosClassName": "STRMediationAdapter", "parameters": map[string]any{}},
		map[string]any{"key": "dfp-1", "name": "DFP", "androidClassName": "com.sharethrough.sdk.mediation.DFP", "iosClassName": "DFPMediationAdapter", "parameters": map[string]any{"adUnitId": "/1234/feed"}},
	}
	tests := []struct {
		name       string
		query      string
		wantCode   int
		wantStatus string
		wantFields map[string]any // exact values of the answer (mrid is checked apart)
		wantParam  string         // the parameter an error must name
	}{
		{
			name: "live", query: "pkey=demo-feed&pubAppName=News&pubAppVersion=1.2.3",
			wantCode: 200, wantStatus: "OK",
			wantFields: map[string]any{
				"pkey": "demo-feed", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck-123",
				"status": "OK", "articlesBeforeFirstAd": 2.0, "articlesBetweenAds": 5.0, "mediationNetworks": feedNetworks,
			},
		},
		{
			name: "paused", query: "pkey=demo-paused",
			wantCode: 200, wantStatus: "PAUSED",
			wantFields: map[string]any{
				"pkey": "demo-paused", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck-456",
				"status": "PAUSED", "articlesBeforeFirstAd": 3.0, "articlesBetweenAds": 8.0, "mediationNetworks": []any{},
			},
		},
		{name: "unknown", query: "pkey=no-such-placement", wantCode: 404, wantStatus: "NOT_FOUND", wantParam: "pkey"},
		{name: "missing pkey", query: "pubAppName=News", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "empty query", query: "", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "empty pkey", query: "pkey=", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey with slash", query: "pkey=demo%2Ffeed", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey with space", query: "pkey=demo+feed", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey too long", query: "pkey=" + strings.Repeat("a", 65), wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey 64 long", query: "pkey=" + strings.Repeat("a", 64), wantCode: 404, wantStatus: "NOT_FOUND", wantParam: "pkey"},
		{name: "pkey bad escape", query: "pkey=%zz", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey non-ASCII", query: "pkey=d%C3%A9mo", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey twice, different", query: "pkey=demo-feed&pkey=demo-paused", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pkey"},
		{name: "pkey twice, same", query: "pkey=demo-feed&pkey=demo-feed", wantCode: 200, wantStatus: "OK"},
		{name: "escaped pkey", query: "pkey=demo%2Dfeed", wantCode: 200, wantStatus: "OK"},
		{name: "unknown parameters ignored", query: "pkey=demo-feed&sdkVersion=9&x", wantCode: 200, wantStatus: "OK"},
		{name: "customKeys without brackets", query: "pkey=demo-feed&customKeys=x", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys"},
		{name: "customKeys misspelt", query: "pkey=demo-feed&customKeysX[a]=1", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys"},
		{name: "customKeys empty name", query: "pkey=demo-feed&customKeys[]=x", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys"},
		{name: "customKeys name too long", query: "pkey=demo-feed&customKeys[" + strings.Repeat("k", 65) + "]=x", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys"},
		{name: "customKeys value too long", query: "pkey=demo-feed&customKeys[a]=" + strings.Repeat("v", 257), wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys[a]"},
		{name: "customKeys conflicting", query: "pkey=demo-feed&customKeys[a]=1&customKeys[a]=2", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys[a]"},
		{name: "customKeys too many", query: "pkey=demo-feed" + manyCustomKeys(33), wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys"},
		{name: "customKeys at the bound", query: "pkey=demo-feed" + manyCustomKeys(32), wantCode: 200, wantStatus: "OK"},
		{name: "customKeys bad escape", query: "pkey=demo-feed&customKeys[a]=%", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "customKeys[a]"},
		{name: "pubAppName too long", query: "pkey=demo-feed&pubAppName=" + strings.Repeat("n", 257), wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "pubAppName"},
		{name: "bad escape in a name", query: "pkey=demo-feed&%zz=1", wantCode: 400, wantStatus: "BAD_REQUEST", wantParam: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, ts.URL+"/v2?"+tt.query)
			if got.code != tt.wantCode {
				t.Fatalf("code = %d; want %d\n%s", got.code, tt.wantCode, got.body)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
				t.Errorf("Content-Type = %q; want application/json", ct)
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", cc)
			}
			if s := got.json["status"]; s != tt.wantStatus {
				t.Errorf("status = %v; want %q", s, tt.wantStatus)
			}
			if tt.wantCode != 200 {
				msg, _ := got.json["error"].(string)
				if !strings.HasPrefix(msg, tt.wantParam) {
					t.Errorf("error = %q; want it to name %q first", msg, tt.wantParam)
				}
				return
			}
			if _, err := uuid.Parse(fmt.Sprint(got.json["mrid"])); err != nil {
				t.Errorf("mrid = %v: %v", got.json["mrid"], err)
			}
			for k, want := range tt.wantFields {
				if g, w := mustJSON(t, got.json[k]), mustJSON(t, want); g != w {
					t.Errorf("%s = %s; want %s", k, g, w)
				}
			}
			if tt.wantFields != nil && len(got.json) != len(tt.wantFields)+1 {
				t.Errorf("answer has %d fields; want %d (the contract's):\n%s", len(got.json), len(tt.wantFields)+1, got.body)
			}
		})
	}
}

func manyCustomKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "&customKeys[k%d]=v", i)
	}
	return b.String()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestV2FieldOrder(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	got := get(t, ts.URL+"/v2?pkey=demo-article")
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(got.body))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	want := "mrid pkey adServer keyType keyValue status articlesBeforeFirstAd articlesBetweenAds mediationNetworks"
	if g := strings.Join(keys, " "); g != want {
		t.Errorf("fields = %s; want %s", g, want)
	}
}

func TestV2Targeting(t *testing.T) {
	pl := &placement.Placement{
		PKey: "tgt", Status: "OK", AdServer: "DFP", KeyType: "creative_key", KeyValue: "ck-default",
		Targeting: []placement.TargetingRule{
			{CustomKeys: map[string]string{"section": "sports", "tier": "gold"}, KeyType: "campaign_key", KeyValue: "cmp-gold-sports"},
			{CustomKeys: map[string]string{"section": "sports"}, KeyType: "campaign_key", KeyValue: "cmp-sports"},
			{CustomKeys: map[string]string{"section": "news"}, KeyType: "stx_monetize", KeyValue: "stx-news"},
		},
	}
	getter := &servertest.Placements{}
	getter.Set(pl)
	ts := start(t, getter)
	tests := []struct {
		name          string
		query         string
		wantKeyType   string
		wantKeyValue  string
		wantNetworks  string
		wantParamsObj bool
	}{
		{"no customKeys", "", "creative_key", "ck-default", "[]", false},
		{"no rule matches", "&customKeys[section]=travel", "creative_key", "ck-default", "[]", false},
		{"one key", "&customKeys[section]=sports", "campaign_key", "cmp-sports", "[]", false},
		{"first matching rule wins", "&customKeys[tier]=gold&customKeys[section]=sports", "campaign_key", "cmp-gold-sports", "[]", false},
		{"extra keys do not prevent a match", "&customKeys[section]=news&customKeys[lang]=de", "stx_monetize", "stx-news", "[]", false},
		{"values compare exactly", "&customKeys[section]=Sports", "creative_key", "ck-default", "[]", false},
		{"escaped brackets and value", "&customKeys%5Bsection%5D=spo%72ts", "campaign_key", "cmp-sports", "[]", false},
		{"plus is a space", "&customKeys[section]=sports+", "creative_key", "ck-default", "[]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(t, ts.URL+"/v2?pkey=tgt"+tt.query)
			if got.code != 200 {
				t.Fatalf("code = %d; want 200\n%s", got.code, got.body)
			}
			if got.json["keyType"] != tt.wantKeyType || got.json["keyValue"] != tt.wantKeyValue {
				t.Errorf("keyType, keyValue = %v, %v; want %s, %s", got.json["keyType"], got.json["keyValue"], tt.wantKeyType, tt.wantKeyValue)
			}
			// A placement without networks still answers an array, never null.
			if g := mustJSON(t, got.json["mediationNetworks"]); g != tt.wantNetworks {
				t.Errorf("mediationNetworks = %s; want %s", g, tt.wantNetworks)
			}
		})
	}
}

func TestV2MridUnique(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	const n = 200
	seen := map[string]bool{}
	for range n {
		got := get(t, ts.URL+"/v2?pkey=demo-feed")
		mrid := fmt.Sprint(got.json["mrid"])
		u, err := uuid.Parse(mrid)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("mrid %q is not a UUID v4 (%v)", mrid, err)
		}
		if seen[mrid] {
			t.Fatalf("mrid %s answered twice", mrid)
		}
		seen[mrid] = true
	}
}

func TestV2Unavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"store unavailable", fmt.Errorf("redis: dial 10.0.0.1:6379: %w", placement.ErrUnavailable)},
		// An error the Getter should not return still is no 500.
		{"unexpected error", errors.New("redis: connection pool exhausted at 10.0.0.1:6379")},
		{"deadline", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getter := servertest.Samples(t)
			getter.Fail(tt.err)
			ts := start(t, getter)
			got := get(t, ts.URL+"/v2?pkey=demo-feed")
			if got.code != http.StatusServiceUnavailable {
				t.Fatalf("code = %d; want 503\n%s", got.code, got.body)
			}
			if ra := got.header.Get("Retry-After"); ra != "2" {
				t.Errorf("Retry-After = %q; want %q (ASAP_RETRY_AFTER)", ra, "2")
			}
			if got.json["status"] != "UNAVAILABLE" {
				t.Errorf("status = %v; want UNAVAILABLE", got.json["status"])
			}
			if strings.Contains(string(got.body), "10.0.0.1") {
				t.Errorf("answer shows the store's error: %s", got.body)
			}
		})
	}
}

func TestShed(t *testing.T) {
	getter := servertest.Samples(t)
	ts := start(t, getter, func(d *server.Deps) {
		d.Config.Limits = config.Limits{MaxInFlight: 2, MaxQueued: 1, QueueTimeout: time.Minute, RetryAfter: time.Second}
	})
	release := getter.Block()
	defer release()

	// Two requests take the slots and block in the Getter; a third waits in the queue.
	results := make(chan int, 3)
	for range 3 {
		go func() {
			res, err := http.Get(ts.URL + "/v2?pkey=demo-feed")
			if err != nil {
				results <- -1
				return
			}
			res.Body.Close()
			results <- res.StatusCode
		}()
	}
	testwait.For(t, "2 in flight and 1 queued", func() bool {
		return gauge(t, ts.reg, "asap_http_in_flight") == 2 && gauge(t, ts.reg, "asap_http_queued") == 1
	})

	// In flight and queue full: the next request is refused at once.
	got := get(t, ts.URL+"/v2?pkey=demo-feed")
	if got.code != http.StatusServiceUnavailable {
		t.Fatalf("code = %d; want 503 with in-flight and queue full\n%s", got.code, got.body)
	}
	if got.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q; want %q", got.header.Get("Retry-After"), "1")
	}
	if got.json["status"] != "UNAVAILABLE" {
		t.Errorf("status = %v; want UNAVAILABLE", got.json["status"])
	}
	// The health endpoints bypass the limits.
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := get(t, ts.URL+path); got.code != 200 {
			t.Errorf("GET %s = %d while saturated; want 200", path, got.code)
		}
	}

	release()
	for range 3 {
		if code := <-results; code != 200 {
			t.Errorf("a blocked or queued request answered %d; want 200", code)
		}
	}
	if got := counter(t, ts.reg, "asap_http_shed_total", "queue_full"); got != 1 {
		t.Errorf(`asap_http_shed_total{reason="queue_full"} = %v; want 1`, got)
	}
	if got := counter(t, ts.reg, "asap_http_shed_total", "queue_timeout"); got != 0 {
		t.Errorf(`asap_http_shed_total{reason="queue_timeout"} = %v; want 0`, got)
	}
	// The limit: its maximum, 2 (and its floor, measuring minRTT again after the refusal).
	if got := metric(t, ts.reg, "asap_http_in_flight_limit", "/v2").GetGauge().GetValue(); got != 2 {
		t.Errorf(`asap_http_in_flight_limit{route="/v2"} = %v; want 2`, got)
	}
}

// holdOne sends a GET /v2 that blocks in getter, taking an in-flight slot, and
// returns once it is in flight; the function returned lets it finish and waits
// for its answer.
func holdOne(t *testing.T, ts *testServer, getter *servertest.Placements) func() {
	t.Helper()
	release := getter.Block()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if res, err := http.Get(ts.URL + "/v2?pkey=demo-feed"); err == nil {
			res.Body.Close()
		}
	}()
	testwait.For(t, "1 in flight", func() bool { return gauge(t, ts.reg, "asap_http_in_flight") == 1 })
	return func() {
		release()
		<-done
	}
}

// TestShedQueueTimeout: a request that waits in the queue past ASAP_QUEUE_TIMEOUT
// gets 503 with Retry-After, counted under its own reason.
func TestShedQueueTimeout(t *testing.T) {
	getter := servertest.Samples(t)
	ts := start(t, getter, func(d *server.Deps) {
		d.Config.Limits = config.Limits{MaxInFlight: 1, MaxQueued: 1, QueueTimeout: time.Millisecond, RetryAfter: time.Second}
	})
	release := holdOne(t, ts, getter)
	got := get(t, ts.URL+"/v2?pkey=demo-feed")
	release()
	if got.code != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "1" {
		t.Errorf("code = %d, Retry-After %q; want 503 with Retry-After 1", got.code, got.header.Get("Retry-After"))
	}
	if got := counter(t, ts.reg, "asap_http_shed_total", "queue_timeout"); got != 1 {
		t.Errorf(`asap_http_shed_total{reason="queue_timeout"} = %v; want 1`, got)
	}
}

func TestReadyz(t *testing.T) {
	var mu sync.Mutex
	ready := true
	ts := start(t, servertest.Samples(t), func(d *server.Deps) {
		d.Ready = func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if !ready {
				return errors.New("Redis refuses ASAP's credentials")
			}
			return nil
		}
	})
	check := func(path string, wantCode int, wantStatus string) {
		t.Helper()
		got := get(t, ts.URL+path)
		if got.code != wantCode || got.json["status"] != wantStatus {
			t.Errorf("GET %s = %d %v; want %d %s", path, got.code, got.json["status"], wantCode, wantStatus)
		}
	}
	check("/healthz", 200, "ALIVE")
	check("/readyz", 200, "READY")

	mu.Lock()
	ready = false
	mu.Unlock()
	check("/readyz", 503, "NOT_READY")
	if got := get(t, ts.URL+"/readyz"); got.json["error"] != "placements cannot be served: Redis refuses ASAP's credentials" {
		t.Errorf("GET /readyz error = %q; want the reason Ready gave", got.json["error"])
	}
	check("/healthz", 200, "ALIVE")

	mu.Lock()
	ready = true
	mu.Unlock()
	ts.srv.Drain()
	check("/readyz", 503, "DRAINING")
	check("/healthz", 200, "ALIVE")
	// Draining still serves: the load balancer may send requests until it notices.
	if got := get(t, ts.URL+"/v2?pkey=demo-feed"); got.code != 200 {
		t.Errorf("GET /v2 while draining = %d; want 200", got.code)
	}
}

func TestRoutingErrors(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	tests := []struct {
		name       string
		method     string
		path       string
		body       io.Reader
		wantCode   int
		wantStatus string
	}{
		{"unknown path", "GET", "/v3?pkey=demo-feed", nil, 404, "NOT_FOUND"},
		{"root", "GET", "/", nil, 404, "NOT_FOUND"},
		{"POST", "POST", "/v2?pkey=demo-feed", nil, 405, "METHOD_NOT_ALLOWED"},
		{"DELETE", "DELETE", "/healthz", nil, 405, "METHOD_NOT_ALLOWED"},
		{"large body", "GET", "/v2?pkey=demo-feed", strings.NewReader(strings.Repeat("x", 2<<10)), 413, "PAYLOAD_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, tt.method, ts.URL+tt.path, tt.body)
			if got.code != tt.wantCode {
				t.Fatalf("code = %d; want %d\n%s", got.code, tt.wantCode, got.body)
			}
			if got.json["status"] != tt.wantStatus {
				t.Errorf("status = %v; want %s", got.json["status"], tt.wantStatus)
			}
			if msg, _ := got.json["error"].(string); msg == "" {
				t.Errorf("no error message: %s", got.body)
			}
			if tt.wantCode == 405 && got.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}
}

// panicky is a Getter with a bug.
type panicky struct{}

func (panicky) Get(context.Context, string) (*placement.Placement, error) { panic("bug") }

func TestPanicIsLogged500(t *testing.T) {
	ts := start(t, panicky{})
	got := get(t, ts.URL+"/v2?pkey=demo-feed")
	if got.code != 500 || got.json["status"] != "INTERNAL" {
		t.Errorf("answer = %d %v; want 500 INTERNAL", got.code, got.json["status"])
	}
	if !strings.Contains(ts.logs.String(), "panic: bug") {
		t.Errorf("panic not logged:\n%s", ts.logs)
	}
	// The server survives.
	if got := get(t, ts.URL+"/healthz"); got.code != 200 {
		t.Errorf("GET /healthz after a panic = %d; want 200", got.code)
	}
}

func TestAccessLog(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	req, _ := http.NewRequest("GET", ts.URL+"/v2?pkey=demo-feed&uid=SECRET-IFA&gdpr_consent=SECRET-CONSENT", nil)
	req.Header.Set("X-Request-Id", "req-42")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	get(t, ts.URL+"/nope?uid=SECRET-IFA")

	lines := strings.Split(strings.TrimSpace(ts.logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines; want 2 (one per request):\n%s", len(lines), ts.logs)
	}
	if strings.Contains(ts.logs.String(), "SECRET") {
		t.Errorf("the access log shows the query string:\n%s", ts.logs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"msg": "request", "method": "GET", "route": "/v2", "status": 200.0, "pkey": "demo-feed", "request_id": "req-42"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v; want %v", k, line[k], v)
		}
	}
	for _, k := range []string{"latency_ms", "bytes"} {
		if _, ok := line[k].(float64); !ok {
			t.Errorf("%s = %v; want a number", k, line[k])
		}
	}
	json.Unmarshal([]byte(lines[1]), &line)
	if line["route"] != "unmatched" || line["status"] != 404.0 || line["request_id"] == "" {
		t.Errorf("unknown path logged as route %v status %v id %v; want unmatched 404 and an id", line["route"], line["status"], line["request_id"])
	}

	t.Run("off", func(t *testing.T) {
		ts := start(t, servertest.Samples(t), func(d *server.Deps) { d.Config.AccessLog = false })
		get(t, ts.URL+"/v2?pkey=demo-feed")
		if s := ts.logs.String(); s != "" {
			t.Errorf("ASAP_ACCESS_LOG=false still logs:\n%s", s)
		}
	})
}

// TestAccessLogSampled: with ASAP_ACCESS_LOG_SAMPLE=0 the log keeps only the
// requests always logged — errors, sheds, slow requests — while the metrics count
// every request.
func TestAccessLogSampled(t *testing.T) {
	getter := servertest.Samples(t)
	ts := start(t, getter, func(d *server.Deps) {
		d.Config.AccessLogSample = 0
		d.Config.AccessLogSlow = time.Hour
		d.Config.Limits = config.Limits{MaxInFlight: 1, MaxQueued: 0, QueueTimeout: time.Second, RetryAfter: time.Second}
	})
	for range 3 {
		get(t, ts.URL+"/v2?pkey=demo-feed") // 200: sampled out
	}
	get(t, ts.URL+"/v2?pkey=a/b")           // 400
	get(t, ts.URL+"/v2?pkey=no-such-thing") // 404
	get(t, ts.URL+"/nope")                  // 404, unmatched

	// A shed: the one slot taken by a request blocked in the Getter.
	release := holdOne(t, ts, getter)
	get(t, ts.URL+"/v2?pkey=demo-feed") // 503
	release()

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(ts.logs.String()), "\n") {
		var l struct {
			Route  string
			Status int
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, fmt.Sprintf("%s %d", l.Route, l.Status))
	}
	want := []string{"/v2 400", "/v2 404", "unmatched 404"}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q; want %q (the errors; the shed is sampled like a success)", got, want)
	}
	if n := counter(t, ts.reg, "asap_http_requests_total", "200", "/v2"); n != 4 {
		t.Errorf("asap_http_requests_total{/v2,200} = %v; want 4: the metrics count the requests the log leaves out", n)
	}
	if n := counter(t, ts.reg, "asap_http_shed_total", "queue_full"); n != 1 {
		t.Errorf(`asap_http_shed_total{reason="queue_full"} = %v; want 1: the metrics count the shed the log leaves out`, n)
	}

	t.Run("slow", func(t *testing.T) {
		getter := servertest.Samples(t)
		ts := start(t, getter, func(d *server.Deps) {
			d.Config.AccessLogSample = 0
			d.Config.AccessLogSlow = time.Nanosecond // every real request is slower
		})
		get(t, ts.URL+"/v2?pkey=demo-feed")
		if !strings.Contains(ts.logs.String(), `"status":200`) {
			t.Errorf("a request slower than ASAP_ACCESS_LOG_SLOW was not logged:\n%s", ts.logs)
		}
	})
}

func TestMetrics(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	for range 3 {
		get(t, ts.URL+"/v2?pkey=demo-feed")
	}
	get(t, ts.URL+"/v2?pkey=nope")
	get(t, ts.URL+"/some/random/path")
	tests := []struct {
		route, code string
		want        float64
	}{
		{"/v2", "200", 3},
		{"/v2", "404", 1},
		{"unmatched", "404", 1},
	}
	for _, tt := range tests {
		// Gather sorts labels by name: code, then route.
		if got := counter(t, ts.reg, "asap_http_requests_total", tt.code, tt.route); got != tt.want {
			t.Errorf("asap_http_requests_total{route=%q,code=%q} = %v; want %v", tt.route, tt.code, got, tt.want)
		}
	}
	if n := histogramCount(t, ts.reg, "asap_http_request_duration_seconds", "/v2"); n != 4 {
		t.Errorf("asap_http_request_duration_seconds{route=/v2} count = %d; want 4", n)
	}
}

func TestHTTPServerSettings(t *testing.T) {
	ts := start(t, servertest.Samples(t))
	cfg := testConfig().Server
	hs := ts.srv.HTTPServer()
	got := []any{hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout, hs.MaxHeaderBytes}
	want := []any{cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, cfg.MaxHeaderBytes}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("http.Server timeouts and header limit = %v; want %v (the configuration's)", got, want)
	}
	if hs.Handler != ts.srv {
		t.Errorf("http.Server.Handler is not the Server")
	}
}

// adFunc is a server.AdService made of a func.
type adFunc func(ctx context.Context, r *adquery.Request, out *bytes.Buffer) (int, error)

func (f adFunc) Serve(ctx context.Context, r *adquery.Request, out *bytes.Buffer) (int, error) {
	return f(ctx, r, out)
}

// TestStoreErrorsNotShown has a handler return a store error as it is: the answer
// must not show its text.
func TestStoreErrorsNotShown(t *testing.T) {
	ts := start(t, servertest.Samples(t), func(d *server.Deps) {
		d.Ad = adFunc(func(context.Context, *adquery.Request, *bytes.Buffer) (int, error) {
			return 0, fmt.Errorf("read placement: dial tcp 10.9.9.9:6379: %w", placement.ErrUnavailable)
		})
	})
	got := get(t, ts.URL+"/v2/ad?pkey=demo-feed")
	if got.code != 503 || got.json["status"] != "UNAVAILABLE" {
		t.Fatalf("answer = %d %s; want 503 UNAVAILABLE", got.code, got.body)
	}
	if strings.Contains(string(got.body), "10.9.9.9") {
		t.Errorf("answer shows the store's error: %s", got.body)
	}
}

// getterFunc is a placement.Getter made of a func.
type getterFunc func(ctx context.Context, pkey string) (*placement.Placement, error)

func (f getterFunc) Get(ctx context.Context, pkey string) (*placement.Placement, error) {
	return f(ctx, pkey)
}

// TestInvalidRecord: a record the store holds but cannot use is answered as
// invalid (503 PLACEMENT_INVALID, with Retry-After), not as "store unavailable",
// and without the record's problems, which are for the operators' log.
func TestInvalidRecord(t *testing.T) {
	invalid := getterFunc(func(_ context.Context, pkey string) (*placement.Placement, error) {
		return nil, fmt.Errorf("%w: placement %q in Redis: status is empty", placement.ErrInvalid, pkey)
	})
	ts := start(t, invalid, func(d *server.Deps) {
		d.Ad = adFunc(func(ctx context.Context, r *adquery.Request, _ *bytes.Buffer) (int, error) {
			_, err := invalid.Get(ctx, r.PKey) // as ad.Service passes the lookup's error on
			return 0, err
		})
	})
	for _, path := range []string{"/v2?pkey=broken", "/v2/ad?pkey=broken"} {
		got := get(t, ts.URL+path)
		if got.code != 503 || got.json["status"] != "PLACEMENT_INVALID" || got.header.Get("Retry-After") == "" {
			t.Errorf("GET %s = %d %s; want 503 PLACEMENT_INVALID with Retry-After", path, got.code, got.body)
		}
		if msg, _ := got.json["error"].(string); msg != `pkey "broken": placement record invalid` {
			t.Errorf("GET %s error = %q; want the pkey and \"placement record invalid\" only", path, msg)
		}
	}
}
