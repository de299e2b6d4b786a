package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/demoad"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

// adPlacement is demo-feed (tmax 250 ms, a house ad) on upstream; without the
// house ad when bare.
func adPlacement(t testing.TB, pkey, upstream string, bare bool) placement.Placement {
	p := samples.Placement("demo-feed")
	p.PKey = pkey
	ad := *p.Ad
	ad.Upstream = upstream
	if bare {
		ad.HouseAd = nil
	}
	p.Ad = &ad
	return p
}

// portOf returns the port of a http://host:port/... URL.
func portOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Port()
}

// adKind classifies a GET /v2/ad answer: "bid" (an upstream's creative), "house"
// (the placement's house ad), "none" (204) or "bad".
func adKind(code int, body []byte) string {
	switch {
	case code == http.StatusNoContent:
		return "none"
	case code != http.StatusOK:
		return "bad"
	case strings.Contains(string(body), `"auctionWinId":"house"`):
		return "house"
	case strings.Contains(string(body), `"auctionWinId":"`):
		return "bid"
	}
	return "bad"
}

// TestUpstreamFaults is scenario 2: an upstream that accepts and never answers (a
// blackhole), one that answers 503 to everything (a 5xx storm, which then ends) and
// one slower than tmax, beside a healthy one. Every SDK answer comes within tmax
// (plus slack for this shared machine) as 200 or 204; the breakers open, and the
// storm's closes again once the storm ends; no goroutine or connection is left behind.
func TestUpstreamFaults(t *testing.T) {
	var (
		rps         = pick(100.0, 400.0)
		d           = pick(4*time.Second, 30*time.Second)
		openTimeout = pick(time.Second, 5*time.Second) // production.env: 5s
		tmax        = 250 * time.Millisecond           // demo-feed's tmaxMs
		slack       = pick(150*time.Millisecond, 10*time.Millisecond)
	)
	healthy := startAdserver(t, "-fill", "1", "-latency", "20ms", "-jitter", "5ms")
	slow := startAdserver(t, "-fill", "1", "-latency", (tmax + 50*time.Millisecond).String(), "-jitter", "0")
	hole := startBlackhole(t)
	var storming atomic.Bool
	storming.Store(true)
	good := demoad.New(demoad.Options{Fill: 1, Latency: 20 * time.Millisecond}).Handler()
	storm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if storming.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		good.ServeHTTP(w, r)
	}))
	defer storm.Close()

	rdb := startRedis(t,
		adPlacement(t, "ad-blackhole", "blackhole", false),
		adPlacement(t, "ad-blackhole-bare", "blackhole", true),
		adPlacement(t, "ad-storm", "storm", false),
		adPlacement(t, "ad-slow", "slow", false),
	)
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL": rdb.URL(),
		"ASAP_UPSTREAMS": strings.Join([]string{
			"primary=" + healthy.auction, "slow=" + slow.auction, "blackhole=" + hole.URL(), "storm=" + storm.URL + "/openrtb2/auction",
		}, ","),
		"ASAP_BREAKER_OPEN_TIMEOUT": openTimeout.String(),
	})

	pkeys := []string{"demo-feed", "ad-blackhole", "ad-blackhole-bare", "ad-storm", "ad-slow"}
	client := newClient(64)
	for _, k := range pkeys { // warm the cache and the healthy connections
		if e := do(context.Background(), client, srv.base+"/v2/ad?pkey="+k, wantStatus(200, 204)); e.problem != "" {
			t.Fatalf("warming %s: %s", k, e.problem)
		}
	}
	client.CloseIdleConnections()
	time.Sleep(tmax)
	// Keep-alive connections to the upstreams (and for win notices) are pooled,
	// and the pool's size follows the load's concurrency: each costs a file (and
	// no goroutine: the upstream transport works in its callers' goroutines). A
	// leak is what remains beyond them.
	upPorts := []string{portOf(healthy.auction), portOf(slow.auction), portOf(storm.URL), portOf(hole.URL())}
	pooled := func() int {
		socks, n := srv.sockets(t), 0
		for _, p := range upPorts {
			n += socks["out:"+p]
		}
		return n
	}
	p0 := pooled()
	g0, f0 := srv.goroutines(t), srv.fds(t)-p0

	kinds := make([]map[string]*atomic.Int64, len(pkeys))
	for i := range kinds {
		kinds[i] = map[string]*atomic.Int64{"bid": {}, "house": {}, "none": {}, "bad": {}}
	}
	var stormBidAfter atomic.Int64 // ns after the storm's end of ad-storm's first bid
	var stormEnd atomic.Int64      // UnixNano
	check := func(i int) checkFunc {
		return func(code int, h http.Header, body []byte) string {
			k := adKind(code, body)
			kinds[i][k].Add(1)
			if k == "bid" && pkeys[i] == "ad-storm" && stormEnd.Load() != 0 {
				stormBidAfter.CompareAndSwap(0, time.Now().UnixNano()-stormEnd.Load())
			}
			if k == "bad" {
				return fmt.Sprintf("status %d: %.200s", code, body)
			}
			return ""
		}
	}
	runs := make([]chan *loadRun, len(pkeys))
	for i, k := range pkeys {
		runs[i] = make(chan *loadRun, 1)
		go func() {
			runs[i] <- openLoop(context.Background(), client, rps/float64(len(pkeys)), d, 32,
				func(int) string { return srv.base + "/v2/ad?pkey=" + k }, check(i))
		}()
	}
	time.Sleep(d / 2)
	stormOpen := srv.metric(t, "asap_upstream_errors_total", `upstream="storm"`, `reason="breaker_open"`)
	storming.Store(false)
	stormEnd.Store(time.Now().UnixNano())

	results := make([]*loadRun, len(pkeys))
	for i := range runs {
		results[i] = <-runs[i]
	}
	client.CloseIdleConnections()
	time.Sleep(tmax)
	var g1, f1, p1 int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p1 = pooled()
		g1, f1 = srv.goroutines(t), srv.fds(t)-p1
		if (g1 <= g0+5 && f1 <= f0+5) || time.Now().After(deadline) {
			break
		}
	}
	accepted, stillOpen := hole.open()

	for i, k := range pkeys {
		s := summarize(results[i].all())
		t.Logf("%-17s %s; answers: %d bids, %d house ads, %d none", k+":", s,
			kinds[i]["bid"].Load(), kinds[i]["house"].Load(), kinds[i]["none"].Load())
		if s.failures > 0 {
			t.Errorf("%s: %d answers other than 200 or 204: %q", k, s.failures, s.problems)
		}
		if problem := latencyProblem(s, tmax, slack); problem != "" {
			t.Errorf("%s: %s", k, problem)
		}
	}
	opened := map[string]float64{}
	for _, up := range []string{"blackhole", "storm", "slow"} {
		opened[up] = srv.metric(t, "asap_upstream_errors_total", `upstream="`+up+`"`, `reason="breaker_open"`)
	}
	t.Logf("requests refused by an open breaker: %v (storm: %.0f while storming)", opened, stormOpen)
	t.Logf("the storm ended %s in; ad-storm's first bid came %s later (breaker open timeout %s)",
		d/2, time.Duration(stormBidAfter.Load()).Round(time.Millisecond), openTimeout)
	t.Logf("blackhole: %d connections accepted, %d still open after the run", accepted, stillOpen)
	t.Logf("server goroutines %d → %d; open files %d → %d besides pooled upstream connections (%d → %d)", g0, g1, f0, f1, p0, p1)

	for up, n := range opened {
		if n == 0 {
			t.Errorf("the %s upstream's breaker never opened", up)
		}
	}
	if stormOpen == 0 {
		t.Errorf("the storm upstream's breaker did not open during the storm")
	}
	if stormBidAfter.Load() == 0 {
		t.Errorf("ad-storm got no bid after the storm ended: its breaker did not close")
	}
	if kinds[0]["bid"].Load() == 0 {
		t.Errorf("the healthy upstream's placement got no bids")
	}
	if stillOpen > 0 {
		t.Errorf("%d connections to the blackhole still open after the run", stillOpen)
	}
	if g1 > g0+5 || f1 > f0+5 {
		t.Errorf("leak: goroutines %d → %d, open files %d → %d", g0, g1, f0, f1)
	}
}
