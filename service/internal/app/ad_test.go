package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"asap/service/internal/demoad"
	"asap/service/internal/testwait"
)

// GET /v2/ad end to end: placements from the real test Redis, the demo ad server
// as the configured upstream, the answer through the whole server.
func TestAdFromUpstream(t *testing.T) {
	demo := demoad.New(demoad.Options{})
	up := httptest.NewServer(demo.Handler())
	defer up.Close()
	in, _ := startWithRedis(t, map[string]string{"ASAP_UPSTREAMS": "primary=" + up.URL + "/openrtb2/auction"})

	a := get(t, in.url+"/v2/ad?pkey=demo-article&uid=ifa-1&w=320&h=50")
	if a.code != http.StatusOK || !strings.Contains(a.body, `"auctionWinId":"bid-`) || !strings.Contains(a.body, `"w":320,"h":50`) {
		t.Fatalf("got %d %s; want 200 with the demo ad server's bid", a.code, a.body)
	}
	if got := demo.Stats().Requests; got != 1 {
		t.Errorf("upstream saw %d auctions; want 1", got)
	}
	testwait.For(t, "the win notice", func() bool { return demo.Stats().Wins == 1 })
	if a := get(t, in.url+"/v2/ad?pkey=demo-paused"); a.code != http.StatusNoContent {
		t.Errorf("paused: got %d; want 204", a.code)
	}
	if a := get(t, in.url+"/v2/ad?pkey=nope"); a.code != http.StatusNotFound {
		t.Errorf("unknown: got %d; want 404", a.code)
	}
	if got := demo.Stats().Requests; got != 1 {
		t.Errorf("upstream saw %d auctions after paused and unknown placements; want still 1", got)
	}
	metrics := get(t, in.admin+"/metrics").body
	for _, want := range []string{"asap_ad_fills_total 1", `asap_ad_no_fills_total{reason="paused"} 1`, `asap_upstream_breaker_state{upstream="primary"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// The sample placements name "primary"; with only "other" configured, ASAP calls
// nobody, serves the house ad or 204, and says so in the log once.
func TestAdUpstreamNotConfigured(t *testing.T) {
	demo := demoad.New(demoad.Options{})
	up := httptest.NewServer(demo.Handler())
	defer up.Close()
	in, _ := startWithRedis(t, map[string]string{"ASAP_UPSTREAMS": "other=" + up.URL + "/openrtb2/auction"})

	for range 2 {
		if a := get(t, in.url+"/v2/ad?pkey=demo-feed"); a.code != http.StatusOK || !strings.Contains(a.body, `"auctionWinId":"house"`) {
			t.Errorf("demo-feed: got %d %s; want its house ad", a.code, a.body)
		}
	}
	if a := get(t, in.url+"/v2/ad?pkey=demo-article"); a.code != http.StatusNoContent {
		t.Errorf("demo-article: got %d; want 204", a.code)
	}
	if got := demo.Stats().Requests; got != 0 {
		t.Errorf("upstream called %d times; want 0", got)
	}
	const msg = "names an upstream that ASAP_UPSTREAMS does not configure"
	// Logs are written in batches (every 100 ms).
	testwait.For(t, "the log line", func() bool { return strings.Contains(in.logs.String(), msg) })
	if n := strings.Count(in.logs.String(), msg); n != 1 {
		t.Errorf("logged the unknown upstream %d times; want once\n%s", n, in.logs)
	}
}
