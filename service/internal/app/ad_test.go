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

// `make run` in small: the embedded Redis's demo-auction runs an auction across
// three demo ad servers (one answering after tmax); GET /debug/auction, on the
// admin port only, shows it and fires no notice; with ASAP_AUCTION_TRACE off
// the route is not there.
func TestLocalAuction(t *testing.T) {
	primary := demoad.New(demoad.Options{Price: 1.2, Seat: "p"})
	b := demoad.New(demoad.Options{Price: 2.1, Seat: "b"})
	c := demoad.New(demoad.Options{Price: 9, Seat: "c", Hang: true})
	var pairs []string
	for name, d := range map[string]*demoad.Server{"primary": primary, "exchange-b": b, "exchange-c": c} {
		up := httptest.NewServer(d.Handler())
		defer up.Close()
		pairs = append(pairs, name+"="+up.URL+"/openrtb2/auction")
	}
	in := startApp(t, map[string]string{"ASAP_REDIS_URL": "", "ASAP_UPSTREAMS": strings.Join(pairs, ",")})

	a := get(t, in.url+"/v2/ad?pkey=demo-auction&uid=ifa-1")
	// exchange-b's 2.10 × 0.9 = 1.89 beats primary's 1.20; exchange-c never answers.
	if a.code != http.StatusOK || !strings.Contains(a.body, `"cpm":1.89`) || !strings.Contains(a.body, "won at $2.1 CPM") {
		t.Fatalf("got %d %s; want exchange-b's bid at cpm 1.89, its markup at its own 2.1", a.code, a.body)
	}
	testwait.For(t, "the win and loss notices", func() bool { return b.Stats().Wins == 1 && primary.Stats().Losses == 1 })

	tr := get(t, in.admin+"/debug/auction?pkey=demo-auction&uid=ifa-1")
	if tr.code != http.StatusOK {
		t.Fatalf("GET admin /debug/auction = %d %s", tr.code, tr.body)
	}
	for _, want := range []string{`"name": "primary"`, `"fate": "lost_to_higher_bid"`, `"lossCode": 102`, `"name": "exchange-b"`,
		`"fate": "won"`, `"adjustedPrice": 1.89`, `"name": "exchange-c"`, `"outcome": "after_tmax"`} {
		if !strings.Contains(tr.body, want) {
			t.Errorf("trace lacks %s:\n%s", want, tr.body)
		}
	}
	if got := statusOf(in.url + "/debug/auction?pkey=demo-auction"); got != http.StatusNotFound {
		t.Errorf("GET public /debug/auction = %d; want 404", got)
	}
	if got := b.Stats().Requests; got != 2 {
		t.Errorf("exchange-b saw %d auctions; want 2", got)
	}
	// The trace fired nothing: still one win and one loss notice.
	metrics := get(t, in.admin+"/metrics").body
	for _, want := range []string{`asap_upstream_wins_total{upstream="exchange-b"} 2`, `asap_upstream_requests_total{upstream="exchange-c"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if b.Stats().Wins != 1 || primary.Stats().Losses != 1 {
		t.Errorf("after the trace: %d wins, %d losses notified; want 1 and 1", b.Stats().Wins, primary.Stats().Losses)
	}

	off := startApp(t, map[string]string{"ASAP_REDIS_URL": "", "ASAP_AUCTION_TRACE": "false"})
	if got := statusOf(off.admin + "/debug/auction?pkey=demo-auction"); got != http.StatusNotFound {
		t.Errorf("ASAP_AUCTION_TRACE=false: GET admin /debug/auction = %d; want 404", got)
	}
}
