package ad_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/ad"
	"asap/service/internal/adanswer"
	"asap/service/internal/adquery"
	"asap/service/internal/demoad"
	"asap/service/internal/experiment"
	"asap/service/internal/openrtb"
	"asap/service/internal/openrtb/openrtbtest"
	"asap/service/internal/placement"
	"asap/service/internal/upstream"
)

// placements is a placement.Getter over a fixed set; it counts lookups.
type placements struct {
	byKey map[string]*placement.Placement
	err   error
}

func (p *placements) Get(_ context.Context, pkey string) (*placement.Placement, error) {
	if p.err != nil {
		return nil, p.err
	}
	if pl, ok := p.byKey[pkey]; ok {
		return pl, nil
	}
	return nil, fmt.Errorf("%q: %w", pkey, placement.ErrNotFound)
}

// generousTmaxMs is the tmax of the placements whose tests expect the upstream's
// answer: a minute, so that a machine busy with other work never turns an answer
// into a timeout (make test holds no wall-clock bound). Only "short" has a
// realistic tmax, for the test of an upstream that never answers.
const generousTmaxMs = 60_000

func testPlacements() *placements {
	house := &placement.HouseAd{Markup: `<div class="house">Try our app</div>`, W: 300, H: 250}
	return &placements{byKey: map[string]*placement.Placement{
		"feed": {PKey: "feed", Status: "OK", PublisherID: "pub-1", Ad: &placement.Ad{
			Upstream: "primary", Banner: []placement.Size{{W: 300, H: 250}}, Native: true, BidFloor: 0.5, TmaxMs: generousTmaxMs,
			Bcat: []string{"IAB25"}, Badv: []string{"blocked.example"}, HouseAd: house}},
		"article": {PKey: "article", Status: "OK", Ad: &placement.Ad{
			Upstream: "primary", Banner: []placement.Size{{W: 320, H: 50}}, TmaxMs: generousTmaxMs}},
		"short": {PKey: "short", Status: "OK", Ad: &placement.Ad{
			Upstream: "primary", Banner: []placement.Size{{W: 320, H: 50}}, TmaxMs: 150}},
		"paused": {PKey: "paused", Status: "PAUSED", Ad: &placement.Ad{Upstream: "primary", Banner: []placement.Size{{W: 300, H: 250}}}},
		"noad":   {PKey: "noad", Status: "OK"},
		"badad": {PKey: "badad", Status: "OK", Ad: &placement.Ad{Upstream: "primary", HouseAd: house},
			AdProblem: errors.New(`placement "badad": ad: offers no format`)},
		"elsewhere": {PKey: "elsewhere", Status: "OK", Ad: &placement.Ad{Upstream: "nowhere", Banner: []placement.Size{{W: 300, H: 250}}, HouseAd: house}},
		"exp": {PKey: "exp", Status: "OK", Experiments: []placement.Experiment{{ID: "b", Percent: 50}}, Ad: &placement.Ad{
			Upstream: "primary", Banner: []placement.Size{{W: 300, H: 250}}, BidFloor: 1, TmaxMs: generousTmaxMs, HouseAd: house}},
		"exp-paused": {PKey: "exp-paused", Status: "PAUSED", Experiments: []placement.Experiment{{ID: "b", Percent: 50}},
			Ad: &placement.Ad{Upstream: "primary", Banner: []placement.Size{{W: 300, H: 250}}}},
	}}
}

// harness is an ad.Service whose "primary" upstream is an httptest server.
type harness struct {
	svc     *ad.Service
	reg     *prometheus.Registry
	notices *upstream.Notifier
	calls   atomic.Int64 // auctions that reached the upstream
	bodies  chan []byte  // every bid request the upstream received
}

func testConfig(t testing.TB, upstreamURL string) config.Ad {
	t.Helper()
	var ups config.Upstreams
	if err := ups.Decode("primary=" + upstreamURL + "/openrtb2/auction"); err != nil {
		t.Fatal(err)
	}
	return config.Ad{
		// Timeouts generous for the reason of generousTmaxMs.
		Upstreams: ups, DefaultTmax: time.Minute, MaxTmax: time.Minute,
		UpstreamDialTimeout: time.Minute, UpstreamTLSHandshakeTimeout: time.Minute,
		UpstreamResponseHeaderTimeout: time.Minute, UpstreamMaxIdleConnsPerHost: 16, UpstreamIdleConnTimeout: time.Minute,
		UpstreamMaxResponseBytes: 1 << 20, BreakerFailures: 3, BreakerOpenTimeout: 300 * time.Millisecond,
		NoticeConcurrency: 2, NoticeQueue: 16, NoticeTimeout: time.Minute, AuctionReturnMargin: 20 * time.Millisecond,
	}
}

// newHarness starts handler as the upstream (wrapped to count and record calls).
// noticeTransport, when not nil, carries the win notices.
func newHarness(t testing.TB, handler http.Handler, tweak func(*config.Ad), noticeTransport http.RoundTripper) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), bodies: make(chan []byte, 1000)}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openrtb2/auction" {
			h.calls.Add(1)
			var buf bytes.Buffer
			buf.ReadFrom(r.Body)
			select {
			case h.bodies <- buf.Bytes():
			default:
			}
			if got := r.Header.Get("X-Openrtb-Version"); got != "2.6" {
				t.Errorf("x-openrtb-version %q; want 2.6", got)
			}
			if got := r.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("content-type %q; want application/json", got)
			}
			r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	cfg := testConfig(t, up.URL)
	if tweak != nil {
		tweak(&cfg)
	}
	ups, err := upstream.NewSet(cfg, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ups.CloseIdleConnections)
	h.notices, err = upstream.NewNotifier(upstream.NotifierOptions{
		Concurrency: cfg.NoticeConcurrency, Queue: cfg.NoticeQueue, Timeout: cfg.NoticeTimeout, Transport: noticeTransport,
	}, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h.notices.Close(ctx)
	})
	var seq atomic.Int64
	exp, err := experiment.New(h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.svc, err = ad.New(ad.Deps{
		Config: cfg, Placements: testPlacements(), Upstreams: ups, Notifier: h.notices, Registerer: h.reg,
		NewID:       func() string { return fmt.Sprintf("mrid-%d", seq.Add(1)) },
		Experiments: exp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve runs one request and checks every bid request sent so far against the schema.
func (h *harness) serve(t *testing.T, query string) (int, *adanswer.Answer, error) {
	t.Helper()
	q, err := adquery.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	status, err := h.svc.Serve(context.Background(), &adquery.Request{Query: q, UserAgent: "test-agent", IP: "192.0.2.10"}, &out)
	for drained := false; !drained; {
		select {
		case b := <-h.bodies:
			openrtbtest.ValidateRequest(t, b)
		default:
			drained = true
		}
	}
	if err != nil || status != http.StatusOK {
		if out.Len() != 0 {
			t.Errorf("status %d with a body: %s", status, out.Bytes())
		}
		return status, nil, err
	}
	var a adanswer.Answer
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, out.Bytes())
	}
	return status, &a, nil
}

func (h *harness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

func TestServeFill(t *testing.T) {
	demo := demoad.New(demoad.Options{})
	h := newHarness(t, demo.Handler(), nil, nil)
	status, a, err := h.serve(t, "pkey=feed&uid=ifa-1&appId=com.example&w=300&h=250&gdpr=0&gdpr_consent=C")
	if err != nil || status != http.StatusOK {
		t.Fatalf("got %d, %v; want 200", status, err)
	}
	if a.MRID != "mrid-1" || a.AdserverRequestID != "mrid-1" || len(a.Creatives) != 1 {
		t.Fatalf("got %+v; want mrid-1 with one creative", a)
	}
	c := a.Creatives[0]
	if c.CPM < 0.5 || !strings.HasPrefix(c.AuctionWinID, "bid-") || c.Creative.W != 300 || c.Creative.H != 250 ||
		c.Creative.CreativeKey != "demo-creative-1" || c.Creative.CampaignKey != "demo-campaign-1" {
		t.Errorf("got creative %+v", c)
	}
	price := fmt.Sprint(c.CPM)
	if strings.Contains(c.Creative.Markup, "${") || !strings.Contains(c.Creative.Markup, "$"+price+" CPM") {
		t.Errorf("markup %q: want macros replaced with the price %s", c.Creative.Markup, price)
	}
	if len(c.Beacons.Impression) != 1 || !strings.Contains(c.Beacons.Impression[0], "auction=mrid-1&price="+price) {
		t.Errorf("impression beacons %q: want the burl with macros replaced", c.Beacons.Impression)
	}
	if got := h.metric(t, "asap_ad_fills_total"); got != 1 {
		t.Errorf("fills = %v; want 1", got)
	}
}

func TestServeNoAdPaths(t *testing.T) {
	tests := []struct {
		name      string
		upstream  http.Handler
		pkey      string
		wantHouse bool
		wantCalls int64
		wantWhy   string
	}{
		{"upstream 204, house ad", demoad.New(demoad.Options{NoFill: true}).Handler(), "feed", true, 1, "upstream_204"},
		{"upstream 204, no house ad", demoad.New(demoad.Options{NoFill: true}).Handler(), "article", false, 1, "upstream_204"},
		{"upstream 500", demoad.New(demoad.Options{Status: 500}).Handler(), "article", false, 1, "error"},
		{"upstream 400", demoad.New(demoad.Options{Status: 400}).Handler(), "feed", true, 1, "error"},
		{"empty seatbid", constant(`{"id":"r","seatbid":[]}`), "feed", true, 1, "no_bid"},
		{"no seatbid with nbr", constant(`{"id":"r","nbr":2}`), "article", false, 1, "no_bid"},
		{"bid below floor", constant(`{"id":"{{id}}","seatbid":[{"bid":[{"id":"b","impid":"1","price":0.1,"adm":"x","crid":"c"}]}]}`), "feed", true, 1, "no_bid"},
		{"only invalid bids", constant(`{"id":"{{id}}","seatbid":[{"bid":[{"id":"b","impid":"1","price":1,"adm":"x"}]}]}`), "feed", true, 1, "no_bid"},
		{"answer to another request", constant(`{"id":"other","seatbid":[{"bid":[{"id":"b","impid":"1","price":1,"adm":"x","crid":"c"}]}]}`), "feed", true, 1, "no_bid"},
		{"not json", constant(`<html>`), "article", false, 1, "invalid_response"},
		{"bid without markup", constant(`{"id":"{{id}}","seatbid":[{"bid":[{"id":"b","impid":"1","price":1,"crid":"c","nurl":"http://x/"}]}]}`), "article", false, 1, "no_bid"},
		{"paused placement", demoad.New(demoad.Options{}).Handler(), "paused", false, 0, "paused"},
		{"placement without ad", demoad.New(demoad.Options{}).Handler(), "noad", false, 0, "no_ad_config"},
		{"invalid ad section", demoad.New(demoad.Options{}).Handler(), "badad", false, 0, "invalid_ad_config"},
		{"upstream not configured", demoad.New(demoad.Options{}).Handler(), "elsewhere", true, 0, "unknown_upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.upstream, nil, nil)
			status, a, err := h.serve(t, "pkey="+tt.pkey)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantHouse {
				if status != http.StatusOK || a.Creatives[0].AuctionWinID != adanswer.HouseAuctionWinID ||
					a.Creatives[0].Creative.Markup != `<div class="house">Try our app</div>` || a.Creatives[0].CPM != 0 {
					t.Errorf("got %d %+v; want 200 with the house ad", status, a)
				}
				if got := h.metric(t, "asap_ad_house_ads_total"); got != 1 {
					t.Errorf("house ads = %v; want 1", got)
				}
			} else if status != http.StatusNoContent {
				t.Errorf("got %d; want 204", status)
			}
			if got := h.calls.Load(); got != tt.wantCalls {
				t.Errorf("upstream called %d times; want %d", got, tt.wantCalls)
			}
			if got := h.metric(t, "asap_ad_no_fills_total", "reason", tt.wantWhy); got != 1 {
				t.Errorf("no fills for %s = %v; want 1", tt.wantWhy, got)
			}
		})
	}
}

// constant answers every bid request with body, {{id}} replaced with the
// request's id.
func constant(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req openrtb.BidRequest
		json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(strings.ReplaceAll(body, "{{id}}", req.ID)))
	})
}

func TestServePlacementErrors(t *testing.T) {
	h := newHarness(t, demoad.New(demoad.Options{}).Handler(), nil, nil)
	if _, _, err := h.serve(t, "pkey=unknown"); !errors.Is(err, placement.ErrNotFound) {
		t.Errorf("unknown pkey: got %v; want ErrNotFound", err)
	}
	if h.calls.Load() != 0 {
		t.Errorf("upstream called for an unknown placement")
	}
}

// An upstream that never answers does not hold the SDK's answer (which comes
// while the upstream still hangs); it did receive the request; the timeout is
// counted once the call gives up.
func TestServeTmaxEnforced(t *testing.T) {
	h := newHarness(t, demoad.New(demoad.Options{Hang: true}).Handler(), nil, nil)
	status, _, err := h.serve(t, "pkey=article") // tmaxMs 150
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("got %d, %v; want 204", status, err)
	}
	if h.calls.Load() != 1 {
		t.Errorf("upstream saw %d requests; want 1", h.calls.Load())
	}
	if got := h.metric(t, "asap_ad_no_fills_total", "reason", "timeout"); got != 1 {
		t.Errorf("timeout no-fills = %v; want 1", got)
	}
	for h.metric(t, "asap_upstream_timeouts_total", "upstream", "primary") != 1 {
		time.Sleep(2 * time.Millisecond)
	}
}

// The breaker opens after BreakerFailures failures; while open, the house ad is
// served at once without calling the upstream; after BreakerOpenTimeout one probe
// goes through and, answered, closes it. Each half runs with an open timeout that
// makes it independent of the machine's speed: an hour while the open state is
// looked at, a millisecond (and a longer sleep) for the probe.
func TestServeBreaker(t *testing.T) {
	trip := func(t *testing.T, openFor time.Duration) *harness {
		t.Helper()
		var failing atomic.Bool
		failing.Store(true)
		demo := demoad.New(demoad.Options{})
		up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			demo.Handler().ServeHTTP(w, r)
		})
		h := newHarness(t, up, func(c *config.Ad) { c.BreakerOpenTimeout = openFor }, nil) // BreakerFailures 3
		for i := range 3 {
			if status, _, _ := h.serve(t, "pkey=article"); status != http.StatusNoContent {
				t.Fatalf("failure %d: got %d; want 204", i, status)
			}
		}
		failing.Store(false)
		return h
	}
	t.Run("open", func(t *testing.T) {
		h := trip(t, time.Hour)
		if got := h.metric(t, "asap_upstream_breaker_state", "upstream", "primary"); got != 2 {
			t.Fatalf("breaker state %v after 3 failures; want 2 (open)", got)
		}
		status, a, _ := h.serve(t, "pkey=feed")
		if status != http.StatusOK || a.Creatives[0].AuctionWinID != adanswer.HouseAuctionWinID {
			t.Errorf("open breaker: got %d %+v; want the house ad", status, a)
		}
		if got := h.calls.Load(); got != 3 {
			t.Errorf("upstream called %d times; want 3 (not while open)", got)
		}
		if got := h.metric(t, "asap_ad_no_fills_total", "reason", "breaker_open"); got != 1 {
			t.Errorf("breaker_open no-fills = %v; want 1", got)
		}
	})
	t.Run("probe closes it", func(t *testing.T) {
		h := trip(t, time.Millisecond)
		time.Sleep(10 * time.Millisecond) // past BreakerOpenTimeout: a probe goes through
		if status, a, _ := h.serve(t, "pkey=article"); status != http.StatusOK || a.Creatives[0].AuctionWinID == adanswer.HouseAuctionWinID {
			t.Fatalf("after the open timeout: got %d; want 200 from the upstream", status)
		}
		if got := h.metric(t, "asap_upstream_breaker_state", "upstream", "primary"); got != 0 {
			t.Errorf("breaker state %v after a good probe; want 0 (closed)", got)
		}
		if got := h.calls.Load(); got != 4 {
			t.Errorf("upstream called %d times; want 4", got)
		}
	})
}

// The nurl is fired once, in the background: the answer is given while the win
// notice cannot complete.
func TestServeWinNotice(t *testing.T) {
	release := make(chan struct{})
	var fired atomic.Int64
	notice := roundTrip(func(r *http.Request) (*http.Response, error) {
		fired.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	h := newHarness(t, demoad.New(demoad.Options{}).Handler(), nil, notice)
	status, _, err := h.serve(t, "pkey=article")
	if err != nil || status != http.StatusOK {
		t.Fatalf("got %d, %v; want 200", status, err)
	}
	close(release)
	if err := h.notices.Close(context.Background()); err != nil { // waits for every notice
		t.Fatal(err)
	}
	if got := fired.Load(); got != 1 {
		t.Errorf("win notices fired = %d; want exactly 1", got)
	}
}

func TestServeWinNoticeMacros(t *testing.T) {
	var got atomic.Value
	up := http.NewServeMux()
	up.Handle("/openrtb2/auction", constant(`{"id":"{{id}}","bidid":"B","cur":"USD","seatbid":[{"seat":"S","bid":[{"id":"b","impid":"1","price":2.5,`+
		`"adid":"A","adm":"m","crid":"c","nurl":"http://notice.test/win?p=${AUCTION_PRICE}&a=${AUCTION_ID}&b=${AUCTION_BID_ID}&i=${AUCTION_IMP_ID}&s=${AUCTION_SEAT_ID}&ad=${AUCTION_AD_ID}&c=${AUCTION_CURRENCY}"}]}]}`))
	notice := roundTrip(func(r *http.Request) (*http.Response, error) {
		got.Store(r.URL.String())
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	h := newHarness(t, up, nil, notice)
	if status, _, _ := h.serve(t, "pkey=article"); status != http.StatusOK {
		t.Fatalf("got %d; want 200", status)
	}
	h.notices.Close(context.Background()) // waits for the notice
	want := "http://notice.test/win?p=2.5&a=mrid-1&b=B&i=1&s=S&ad=A&c=USD"
	if g, _ := got.Load().(string); g != want {
		t.Errorf("nurl fired %q; want %q", g, want)
	}
	if n := h.metric(t, "asap_upstream_win_notices_total", "outcome", "sent"); n != 1 {
		t.Errorf("sent notices = %v; want 1", n)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Every official example response decodes and is judged as the validity rules
// say, once it answers ASAP's request (its id and impids made the request's): the
// "ad served on win" example has no adm and the VAST one no crid, so neither
// fills, and each rejection is counted under its rule.
func TestServeOfficialExamples(t *testing.T) {
	wantReason := map[string]string{"ad-served-on-win": "no_markup", "vast-inline": "no_crid"}
	for _, ex := range openrtbtest.Examples(t, "bid-responses") {
		t.Run(ex.Name, func(t *testing.T) {
			reason, ok := wantReason[ex.Name]
			if !ok {
				t.Fatalf("no expectation for the example %s", ex.Name)
			}
			var resp openrtb.BidResponse
			if err := openrtb.DecodeBidResponse(ex.Body, &resp); err != nil {
				t.Fatal(err)
			}
			resp.Cur = ""
			for i := range resp.SeatBid {
				for j := range resp.SeatBid[i].Bid {
					resp.SeatBid[i].Bid[j].ImpID = "1"
				}
			}
			up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req openrtb.BidRequest
				json.NewDecoder(r.Body).Decode(&req)
				answer := resp
				answer.ID = req.ID
				json.NewEncoder(w).Encode(&answer)
			})
			h := newHarness(t, up, nil, nil)
			status, _, err := h.serve(t, "pkey=article")
			if err != nil || status != http.StatusNoContent {
				t.Fatalf("got %d, %v; want 204", status, err)
			}
			if got := h.metric(t, "asap_upstream_bids_rejected_total", "upstream", "primary", "reason", reason); got != 1 {
				t.Errorf("rejected for %s = %v; want 1", reason, got)
			}
		})
	}
}

// FuzzBidResponse: no upstream answer makes the service fail or panic; what it
// returns is 200 with an answer or 204.
func FuzzBidResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"r","seatbid":[{"seat":"s","bid":[{"id":"b","impid":"1","price":1.5,"adm":"<b>${AUCTION_PRICE}</b>","burl":"http://x/${AUCTION_ID}"}]}]}`,
		`{"id":"r","seatbid":[]}`, `{"id":"r","cur":"EUR"}`, `{"id":"r","seatbid":[{"bid":[{"id":"b","price":-1}]}]}`,
		`{"id":1}`, `null`, `[]`, ``, `{"id":"r","seatbid":[{"bid":[{"id":"b","impid":"1","price":1e308,"adm":"x"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	var body atomic.Value
	body.Store([]byte(nil))
	up := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body.Load().([]byte)) })
	noNotices := roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("m")), Request: r}, nil
	})
	h := newHarness(f, up, func(c *config.Ad) { c.BreakerFailures = 1 << 30 }, noNotices)
	f.Fuzz(func(t *testing.T, b []byte) {
		body.Store(b)
		q, _ := adquery.Parse("pkey=article")
		var out bytes.Buffer
		status, err := h.svc.Serve(context.Background(), &adquery.Request{Query: q}, &out)
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
		switch status {
		case http.StatusNoContent:
		case http.StatusOK:
			var a adanswer.Answer
			if err := json.Unmarshal(out.Bytes(), &a); err != nil || len(a.Creatives) != 1 || a.Creatives[0].Creative.Markup == "" {
				t.Fatalf("answer %s: %v", out.Bytes(), err)
			}
		default:
			t.Fatalf("status %d", status)
		}
	})
}

// BenchmarkServe is one whole ad request against the demo ad server in fixed mode
// over loopback: placement lookup, mapping, upstream round trip, answer.
func BenchmarkServe(b *testing.B) {
	benchServe(b, newBenchHarness(b, nil), "pkey=feed&uid=ifa-1&appId=com.example&w=300&h=250", nil)
}

// newBenchHarness is the harness of the Serve benchmarks: the demo ad server in
// fixed mode as the upstream, every notice answered 204 at once.
func newBenchHarness(b *testing.B, tweak func(*config.Ad)) *harness {
	return newHarness(b, demoad.New(demoad.Options{Fixed: true}).Handler(), tweak, roundTrip(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	}))
}

// benchServe serves the ad request of query through h once per iteration,
// handing check (when set) the bid requests the upstream received meanwhile.
func benchServe(b *testing.B, h *harness, query string, check func(body []byte)) {
	q, err := adquery.Parse(query)
	if err != nil {
		b.Fatal(err)
	}
	r := &adquery.Request{Query: q, UserAgent: "bench", IP: "192.0.2.10"}
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		status, err := h.svc.Serve(context.Background(), r, &out)
		if err != nil || status != http.StatusOK {
			b.Fatalf("got %d, %v", status, err)
		}
		select {
		case body := <-h.bodies:
			if check != nil {
				check(body)
			}
		default:
		}
	}
}

// TestServeExperiments: a placement with experiments counts each request under
// the user's arm (from the uid, else from the mrid), and each fill with its cpm;
// a house ad is no fill, a paused placement's request still counts, and a trace
// counts nothing.
func TestServeExperiments(t *testing.T) {
	price := 2.5
	h := newHarness(t, demoad.New(demoad.Options{Price: price}).Handler(), nil, nil)
	exp := testPlacements().byKey["exp"]
	armOf := func(unit string) string { return experiment.ArmName(exp, exp.Arm(placement.Bucket("exp", unit))) }
	want := map[string]struct{ requests, fills float64 }{}
	count := func(arm string, fill bool) {
		w := want[arm]
		w.requests++
		if fill {
			w.fills++
		}
		want[arm] = w
	}
	for i := range 20 {
		uid := fmt.Sprintf("IFA-%d", i)
		status, a, err := h.serve(t, "pkey=exp&uid="+uid)
		if err != nil || status != http.StatusOK || a.Creatives[0].CPM != price {
			t.Fatalf("uid %s: %d %+v %v; want 200 at %v", uid, status, a, err, price)
		}
		count(armOf(uid), true)
	}
	// Without a uid the arm is the mrid's: the harness numbers them.
	if _, _, err := h.serve(t, "pkey=exp"); err != nil {
		t.Fatal(err)
	}
	count(armOf("mrid-21"), true)
	if len(want) != 2 {
		t.Fatalf("the requests fell in %v; want both arms", want)
	}
	if _, _, err := h.serve(t, "pkey=exp-paused&uid=IFA-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Trace(context.Background(), &adquery.Request{Query: adquery.Query{PKey: "exp", UID: "IFA-1"}}); err != nil {
		t.Fatal(err)
	}
	for arm, w := range want {
		labels := []string{"pkey", "exp", "arm", arm, "route", "/v2/ad"}
		if got := h.metric(t, "asap_experiment_requests_total", labels...); got != w.requests {
			t.Errorf("requests{arm=%s} = %v; want %v", arm, got, w.requests)
		}
		if got := h.metric(t, "asap_experiment_fills_total", labels...); got != w.fills {
			t.Errorf("fills{arm=%s} = %v; want %v", arm, got, w.fills)
		}
		if got := h.metric(t, "asap_experiment_cpm_sum", labels...); got != w.fills*price {
			t.Errorf("cpm_sum{arm=%s} = %v; want %v", arm, got, w.fills*price)
		}
	}
	pausedArm := experiment.ArmName(exp, exp.Arm(placement.Bucket("exp-paused", "IFA-1")))
	paused := []string{"pkey", "exp-paused", "arm", pausedArm, "route", "/v2/ad"}
	if r, f := h.metric(t, "asap_experiment_requests_total", paused...), h.metric(t, "asap_experiment_fills_total", paused...); r != 1 || f != 0 {
		t.Errorf("paused placement: requests %v, fills %v; want 1, 0", r, f)
	}

	// Below the floor the house ad answers: a request of the arm, not a fill.
	h2 := newHarness(t, demoad.New(demoad.Options{Price: 0.5}).Handler(), nil, nil)
	if status, a, _ := h2.serve(t, "pkey=exp&uid=IFA-1"); status != http.StatusOK || a.Creatives[0].AuctionWinID != "house" {
		t.Fatalf("below the floor: %d %+v; want the house ad", status, a)
	}
	labels := []string{"pkey", "exp", "arm", armOf("IFA-1"), "route", "/v2/ad"}
	if r, f := h2.metric(t, "asap_experiment_requests_total", labels...), h2.metric(t, "asap_experiment_fills_total", labels...); r != 1 || f != 0 {
		t.Errorf("house ad: requests %v, fills %v; want 1, 0", r, f)
	}
}
