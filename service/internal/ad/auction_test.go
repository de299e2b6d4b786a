package ad_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/config"
	"asap/service/internal/ad"
	"asap/service/internal/adanswer"
	"asap/service/internal/adquery"
	"asap/service/internal/demoad"
	"asap/service/internal/exchange"
	"asap/service/internal/openrtb/openrtbtest"
	"asap/service/internal/placement"
	"asap/service/internal/server"
	"asap/service/internal/upstream"

	"github.com/prometheus/client_golang/prometheus"
)

// upstreamCase is one upstream of an auction test: its name and handler.
type upstreamCase struct {
	name    string
	handler http.Handler
}

// auctionHarness is an ad.Service over several httptest upstreams; placement
// "auction" names them in order, with adjust's factors (nil: none).
type auctionHarness struct {
	svc     *ad.Service
	reg     *prometheus.Registry
	notices *upstream.Notifier

	mu     sync.Mutex
	bodies map[string][][]byte // bid requests received, by upstream
	urls   []string            // notices fired

	placements *placements
}

func newAuctionHarness(t *testing.T, ups []upstreamCase, ad0 placement.Ad, tweak func(*config.Ad)) *auctionHarness {
	t.Helper()
	h := &auctionHarness{reg: prometheus.NewRegistry(), bodies: map[string][][]byte{}}
	var pairs []string
	for _, u := range ups {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			h.mu.Lock()
			h.bodies[u.name] = append(h.bodies[u.name], body)
			h.mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(body))
			u.handler.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		pairs = append(pairs, u.name+"="+srv.URL+"/openrtb2/auction")
	}
	cfg := testConfig(t, "http://unused.invalid")
	if err := cfg.Upstreams.Decode(strings.Join(pairs, ",")); err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	set, err := upstream.NewSet(cfg, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.CloseIdleConnections)
	record := roundTrip(func(r *http.Request) (*http.Response, error) {
		h.mu.Lock()
		h.urls = append(h.urls, r.URL.String())
		h.mu.Unlock()
		return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
	})
	h.notices, err = upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 2, Queue: 64, Timeout: time.Second, Transport: record}, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.notices.Close(context.Background()) })
	if ad0.Banner == nil {
		ad0.Banner = []placement.Size{{W: 300, H: 250}}
	}
	if ad0.TmaxMs == 0 {
		ad0.TmaxMs = 200
	}
	h.placements = &placements{byKey: map[string]*placement.Placement{"auction": {PKey: "auction", Status: "OK", Ad: &ad0}}}
	var seq atomic.Int64
	h.svc, err = ad.New(ad.Deps{
		Config: cfg, Placements: h.placements, Upstreams: set, Notifier: h.notices, Registerer: h.reg,
		NewID: func() string { return fmt.Sprintf("mrid-%d", seq.Add(1)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func adjust(f float64) *float64 { return &f }

func bidders(names ...string) []placement.Bidder {
	out := make([]placement.Bidder, len(names))
	for i, n := range names {
		out[i] = placement.Bidder{Name: n}
	}
	return out
}

func (h *auctionHarness) serve(t *testing.T) (int, *adanswer.Answer) {
	t.Helper()
	q, err := adquery.Parse("pkey=auction&uid=ifa-1&appId=com.example")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	status, err := h.svc.Serve(context.Background(), &adquery.Request{Query: q, UserAgent: "test", IP: "192.0.2.1"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		return status, nil
	}
	var a adanswer.Answer
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		t.Fatalf("answer %s: %v", out.Bytes(), err)
	}
	return status, &a
}

// closeNotices waits for every queued notice and returns the URLs fired.
func (h *auctionHarness) closeNotices(t *testing.T) []string {
	t.Helper()
	if err := h.notices.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.urls...)
}

func (h *auctionHarness) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return (&harness{reg: h.reg}).metric(t, name, labels...)
}

// waitMetric waits until the metric reaches want: it is counted by a call that
// outlives the ad request.
func (h *auctionHarness) waitMetric(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	for h.metric(t, name, labels...) != want {
		time.Sleep(2 * time.Millisecond)
	}
}

// bidAt answers every bid request with one bid at price, its adm and lurl
// carrying the macros.
func bidAt(price float64, seat string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID string `json:"id"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"id":%q,"cur":"USD","seatbid":[{"seat":%q,"bid":[{"id":"bid-%s","impid":"1","price":%v,"crid":"cr-%s",`+
			`"adm":"<div>%s at ${AUCTION_PRICE}</div>","nurl":"http://notice.test/win/%s?p=${AUCTION_PRICE}",`+
			`"lurl":"http://notice.test/loss/%s?loss=${AUCTION_LOSS}&min=${AUCTION_MIN_TO_WIN}&p=${AUCTION_PRICE}&a=${AUCTION_ID}"}]}]}`,
			req.ID, seat, seat, price, seat, seat, seat, seat)
	})
}

// Every upstream gets the same bid request, valid against the OpenRTB 2.6
// schema; the highest adjusted price wins, the SDK's cpm is that adjusted price
// and ${AUCTION_PRICE} the winner's own price.
func TestAuctionFanOut(t *testing.T) {
	h := newAuctionHarness(t, []upstreamCase{
		{"a", bidAt(1.0, "a")}, {"b", bidAt(2.0, "b")}, {"c", bidAt(1.5, "c")},
	}, placement.Ad{Upstreams: []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.9)}, {Name: "c"}}}, nil)
	status, a := h.serve(t)
	if status != http.StatusOK {
		t.Fatalf("got %d; want 200", status)
	}
	c := a.Creatives[0]
	if c.AuctionWinID != "bid-b" || c.CPM != 1.8 || c.Creative.Markup != "<div>b at 2</div>" || c.Creative.CreativeKey != "cr-b" {
		t.Errorf("got %+v; want b's bid, cpm 1.8 (2 × 0.9), markup at its own price 2", c)
	}
	if a.AdserverRequestID != "mrid-1" {
		t.Errorf("adserverRequestId %q; want the request's id", a.AdserverRequestID)
	}
	h.mu.Lock()
	var first []byte
	for _, name := range []string{"a", "b", "c"} {
		got := h.bodies[name]
		if len(got) != 1 {
			t.Fatalf("upstream %s got %d bid requests; want 1", name, len(got))
		}
		openrtbtest.ValidateRequest(t, got[0])
		if first == nil {
			first = got[0]
		} else if !bytes.Equal(got[0], first) {
			t.Errorf("upstream %s got another request:\n%s\n%s", name, got[0], first)
		}
	}
	h.mu.Unlock()
	var req struct {
		Tmax int64 `json:"tmax"`
	}
	json.Unmarshal(first, &req)
	if req.Tmax != 180 { // 200ms less testConfig's 20ms margin
		t.Errorf("tmax sent %d; want 180", req.Tmax)
	}
	for name, want := range map[string][2]float64{"a": {0, 1}, "b": {1, 0}, "c": {0, 1}} {
		if got := h.metric(t, "asap_upstream_requests_total", "upstream", name); got != 1 {
			t.Errorf("%s requests = %v; want 1", name, got)
		}
		if got := h.metric(t, "asap_upstream_bids_total", "upstream", name); got != 1 {
			t.Errorf("%s bids = %v; want 1", name, got)
		}
		if got := h.metric(t, "asap_upstream_wins_total", "upstream", name); got != want[0] {
			t.Errorf("%s wins = %v; want %v", name, got, want[0])
		}
		if got := h.metric(t, "asap_upstream_bids_lost_total", "upstream", name, "reason", "lost_to_higher_bid"); got != want[1] {
			t.Errorf("%s losses = %v; want %v", name, got, want[1])
		}
	}
}

// The adjusted price decides, the floor applies to it, and a tie goes to the
// upstream listed first.
func TestAuctionRules(t *testing.T) {
	tests := []struct {
		name    string
		bidders []placement.Bidder
		floor   float64
		prices  map[string]float64
		wantWin string
		wantCPM float64
	}{
		{"adjustment turns the order", []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.9)}}, 0,
			map[string]float64{"a": 2.0, "b": 2.1}, "a", 2.0},
		{"adjustment above 1", []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(1.2)}}, 0,
			map[string]float64{"a": 2.0, "b": 1.8}, "b", 2.16},
		{"floor on the adjusted price", []placement.Bidder{{Name: "a", BidAdjustment: adjust(0.9)}, {Name: "b"}}, 1.0,
			map[string]float64{"a": 1.05, "b": 1.0}, "b", 1.0},
		{"everything below the floor", []placement.Bidder{{Name: "a", BidAdjustment: adjust(0.5)}, {Name: "b", BidAdjustment: adjust(0.5)}}, 1.0,
			map[string]float64{"a": 1.5, "b": 1.9}, "", 0},
		{"tie to the first listed", []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.5)}}, 0,
			map[string]float64{"a": 2.0, "b": 4.0}, "a", 2.0},
		{"tie to the first listed, reversed", []placement.Bidder{{Name: "b", BidAdjustment: adjust(0.5)}, {Name: "a"}}, 0,
			map[string]float64{"a": 2.0, "b": 4.0}, "b", 2.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAuctionHarness(t, []upstreamCase{{"a", bidAt(tt.prices["a"], "a")}, {"b", bidAt(tt.prices["b"], "b")}},
				placement.Ad{Upstreams: tt.bidders, BidFloor: tt.floor}, nil)
			status, a := h.serve(t)
			if tt.wantWin == "" {
				if status != http.StatusNoContent {
					t.Fatalf("got %d; want 204", status)
				}
				if got := h.metric(t, "asap_upstream_bids_lost_total", "upstream", "a", "reason", "below_floor"); got != 1 {
					t.Errorf("a below floor = %v; want 1", got)
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("got %d; want 200", status)
			}
			if c := a.Creatives[0]; c.AuctionWinID != "bid-"+tt.wantWin || c.CPM != tt.wantCPM {
				t.Errorf("got %s at cpm %v; want bid-%s at %v", c.AuctionWinID, c.CPM, tt.wantWin, tt.wantCPM)
			}
		})
	}
}

// The winner's nurl is fired at its own price; every other bidder's lurl with
// its loss reason code and the price it needed, in its own terms.
func TestAuctionNotices(t *testing.T) {
	noCrid := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ ID string }
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"id":%q,"seatbid":[{"bid":[{"id":"x","impid":"1","price":9,"adm":"m","lurl":"http://notice.test/loss/c?loss=${AUCTION_LOSS}&min=${AUCTION_MIN_TO_WIN}"}]}]}`, req.ID)
	})
	h := newAuctionHarness(t, []upstreamCase{
		{"a", bidAt(2.0, "a")}, {"b", bidAt(1.5, "b")}, {"c", noCrid}, {"d", bidAt(0.6, "d")},
	}, placement.Ad{BidFloor: 1, Upstreams: []placement.Bidder{
		{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.8)}, {Name: "c"}, {Name: "d", BidAdjustment: adjust(1.25)},
	}}, nil)
	if status, _ := h.serve(t); status != http.StatusOK {
		t.Fatalf("got %d; want 200", status)
	}
	got := map[string]bool{}
	for _, u := range h.closeNotices(t) {
		got[u] = true
	}
	for _, want := range []string{
		"http://notice.test/win/a?p=2",
		// lost to a higher bid: 2 ÷ 0.8 = 2.5 needed
		"http://notice.test/loss/b?loss=102&min=2.5&p=2.5&a=mrid-1",
		// rejected, no crid: 8; 2 needed
		"http://notice.test/loss/c?loss=8&min=2",
		// 0.6 × 1.25 = 0.75, below the floor: 100; 2 ÷ 1.25 = 1.6 needed
		"http://notice.test/loss/d?loss=100&min=1.6&p=1.6&a=mrid-1",
	} {
		if !got[want] {
			t.Errorf("notice %s not fired; fired %v", want, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("fired %d notices; want 4: %v", len(got), got)
	}
	if n := h.metric(t, "asap_upstream_bids_rejected_total", "upstream", "c", "reason", "no_crid"); n != 1 {
		t.Errorf("c rejected for no_crid = %v; want 1", n)
	}
}

// Nobody wins — every bid below the floor or rejected — and still every bid's
// lurl is fired with why it lost and what it needed (the floor in its own
// terms), whether the SDK gets a 204 or the house ad.
func TestAuctionNoticesWithoutWinner(t *testing.T) {
	noCrid := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ ID string }
		json.NewDecoder(r.Body).Decode(&req)
		fmt.Fprintf(w, `{"id":%q,"seatbid":[{"bid":[{"id":"x","impid":"1","price":9,"adm":"m","lurl":"http://notice.test/loss/c?loss=${AUCTION_LOSS}&min=${AUCTION_MIN_TO_WIN}"}]}]}`, req.ID)
	})
	for _, house := range []bool{false, true} {
		t.Run(fmt.Sprintf("house=%v", house), func(t *testing.T) {
			ad0 := placement.Ad{BidFloor: 2, Upstreams: []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.8)}, {Name: "c"}}}
			wantStatus := http.StatusNoContent
			if house {
				ad0.HouseAd = &placement.HouseAd{Markup: "<div>house</div>"}
				wantStatus = http.StatusOK
			}
			h := newAuctionHarness(t, []upstreamCase{{"a", bidAt(1.0, "a")}, {"b", bidAt(2.0, "b")}, {"c", noCrid}}, ad0, nil)
			if status, _ := h.serve(t); status != wantStatus {
				t.Fatalf("got %d; want %d", status, wantStatus)
			}
			got := h.closeNotices(t)
			slices.Sort(got)
			want := []string{
				// below the floor: 100; the floor, 2, needed
				"http://notice.test/loss/a?loss=100&min=2&p=2&a=mrid-1",
				// 2 × 0.8 = 1.6, below the floor; 2 ÷ 0.8 = 2.5 needed
				"http://notice.test/loss/b?loss=100&min=2.5&p=2.5&a=mrid-1",
				// rejected, no crid: 8
				"http://notice.test/loss/c?loss=8&min=2",
			}
			if !slices.Equal(got, want) {
				t.Errorf("fired %q; want %q", got, want)
			}
		})
	}
}

// An upstream that answers after tmax is not waited for: the SDK gets the others'
// best bid while it still holds its answer; what it sends later is dropped and
// counted late.
func TestAuctionLateUpstream(t *testing.T) {
	release := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		bidAt(50, "slow").ServeHTTP(w, r)
	})
	h := newAuctionHarness(t, []upstreamCase{{"slow", slow}, {"fast", bidAt(1.0, "fast")}},
		placement.Ad{Upstreams: bidders("slow", "fast"), TmaxMs: 50},
		func(c *config.Ad) { c.AuctionReturnMargin = 10 * time.Second }) // the late answer is read, not cut
	status, a := h.serve(t)
	// Serve returned while slow still holds its answer: the auction closed without it.
	close(release)
	if status != http.StatusOK || a.Creatives[0].AuctionWinID != "bid-fast" {
		t.Fatalf("got %d %+v; want fast's bid", status, a)
	}
	h.waitMetric(t, 1, "asap_upstream_late_answers_total", "upstream", "slow")
	if got := h.metric(t, "asap_upstream_wins_total", "upstream", "slow"); got != 0 {
		t.Errorf("the late upstream won %v auctions", got)
	}
	if got := h.metric(t, "asap_upstream_bids_total", "upstream", "slow"); got != 0 {
		t.Errorf("the late upstream's bids counted: %v", got)
	}
}

// A failing, hanging or refusing upstream costs the others nothing; each has its
// own breaker.
func TestAuctionFailingUpstreamIsolated(t *testing.T) {
	hang := demoad.New(demoad.Options{Hang: true}).Handler()
	h := newAuctionHarness(t, []upstreamCase{
		{"broken", demoad.New(demoad.Options{Status: 503}).Handler()},
		{"hanging", hang},
		{"junk", constant(`<html>`)},
		{"good", bidAt(1.0, "good")},
	}, placement.Ad{Upstreams: bidders("broken", "hanging", "junk", "good"), TmaxMs: 1000},
		// A tmax a busy machine keeps, and breakers that stay open through the test.
		func(c *config.Ad) { c.BreakerOpenTimeout = time.Minute }) // BreakerFailures 3
	for i := range 4 {
		status, a := h.serve(t)
		if status != http.StatusOK || a.Creatives[0].AuctionWinID != "bid-good" {
			t.Fatalf("auction %d: got %d %+v; want good's bid", i, status, a)
		}
	}
	if got := h.metric(t, "asap_upstream_breaker_state", "upstream", "broken"); got != 2 {
		t.Errorf("broken's breaker %v; want 2 (open)", got)
	}
	if got := h.metric(t, "asap_upstream_breaker_state", "upstream", "good"); got != 0 {
		t.Errorf("good's breaker %v; want 0 (closed)", got)
	}
	if got := h.metric(t, "asap_upstream_errors_total", "upstream", "broken", "reason", "breaker_open"); got != 1 {
		t.Errorf("broken's breaker_open errors %v; want 1 (the 4th auction)", got)
	}
	// Junk's answers are invalid, each judged, unless a busy machine made one
	// miss the tmax (then it is late, or a timeout): a count that waits for the
	// stragglers, not a wall-clock bound.
	for h.metric(t, "asap_upstream_bids_rejected_total", "upstream", "junk", "reason", "invalid_response")+
		h.metric(t, "asap_upstream_late_answers_total", "upstream", "junk")+
		h.metric(t, "asap_upstream_timeouts_total", "upstream", "junk") != 4 {
		time.Sleep(2 * time.Millisecond)
	}
	// Each auction's call to hanging times out, once its margin has passed, or
	// finds hanging's own breaker open after three timeouts.
	for h.metric(t, "asap_upstream_timeouts_total", "upstream", "hanging")+
		h.metric(t, "asap_upstream_errors_total", "upstream", "hanging", "reason", "breaker_open") != 4 {
		time.Sleep(2 * time.Millisecond)
	}
}

// No upstream with a bid: the no-fill reason is the one they share, else no_bid.
func TestAuctionNoFillReason(t *testing.T) {
	nobid := demoad.New(demoad.Options{NoFill: true}).Handler()
	tests := []struct {
		name string
		ups  []upstreamCase
		want string
	}{
		{"all 204", []upstreamCase{{"a", nobid}, {"b", nobid}}, "upstream_204"},
		{"all failing", []upstreamCase{{"a", demoad.New(demoad.Options{Status: 500}).Handler()},
			{"b", demoad.New(demoad.Options{Status: 400}).Handler()}}, "error"},
		{"mixed", []upstreamCase{{"a", nobid}, {"b", demoad.New(demoad.Options{Status: 500}).Handler()}}, "no_bid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newAuctionHarness(t, tt.ups, placement.Ad{Upstreams: bidders("a", "b")}, nil)
			if status, _ := h.serve(t); status != http.StatusNoContent {
				t.Fatalf("got %d; want 204", status)
			}
			if got := h.metric(t, "asap_ad_no_fills_total", "reason", tt.want); got != 1 {
				t.Errorf("no fills for %s = %v; want 1", tt.want, got)
			}
		})
	}
}

// A placement naming an upstream ASAP does not configure skips it and counts it.
func TestAuctionUnknownUpstreamSkipped(t *testing.T) {
	h := newAuctionHarness(t, []upstreamCase{{"a", bidAt(1.0, "a")}}, placement.Ad{Upstreams: bidders("nowhere", "a")}, nil)
	if status, a := h.serve(t); status != http.StatusOK || a.Creatives[0].AuctionWinID != "bid-a" {
		t.Fatalf("got %d %+v; want a's bid", status, a)
	}
	if got := h.metric(t, "asap_ad_unknown_upstreams_total"); got != 1 {
		t.Errorf("unknown upstreams = %v; want 1", got)
	}
}

// The single-upstream form and an auction of that one upstream give the same
// answer.
func TestAuctionOneUpstreamForms(t *testing.T) {
	var answers []string
	for _, ad0 := range []placement.Ad{{Upstream: "a"}, {Upstreams: bidders("a")}} {
		h := newAuctionHarness(t, []upstreamCase{{"a", bidAt(1.25, "a")}}, ad0, nil)
		status, a := h.serve(t)
		if status != http.StatusOK {
			t.Fatalf("%+v: got %d", ad0, status)
		}
		b, _ := json.Marshal(a)
		answers = append(answers, string(b))
	}
	if answers[0] != answers[1] {
		t.Errorf("ad.upstream:\n%s\nad.upstreams:\n%s", answers[0], answers[1])
	}
}

// GET /debug/auction shows each upstream's request, answer and bids' fates, and
// fires no notice.
func TestTraceHandler(t *testing.T) {
	h := newAuctionHarness(t, []upstreamCase{{"a", bidAt(2.0, "a")}, {"b", bidAt(1.0, "b")}, {"down", demoad.New(demoad.Options{Status: 500}).Handler()}},
		placement.Ad{Upstreams: []placement.Bidder{{Name: "a"}, {Name: "b", BidAdjustment: adjust(0.5)}, {Name: "down"}}, BidFloor: 0.6}, nil)
	srv := httptest.NewServer(server.AuctionTrace(h.svc))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/auction?pkey=auction&uid=ifa-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr exchange.Trace
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	if tr.Status != 200 || len(tr.Upstreams) != 3 || tr.TmaxMs != 200 || tr.UpstreamTmaxMs != 180 {
		t.Fatalf("trace %+v", tr)
	}
	openrtbtest.ValidateRequest(t, tr.BidRequest)
	a, b, down := tr.Upstreams[0], tr.Upstreams[1], tr.Upstreams[2]
	if a.Outcome != "answered" || a.Status != 200 || a.Answer == nil || len(a.Bids) != 1 || a.Bids[0].Fate != exchange.Won {
		t.Errorf("a: %+v", a)
	}
	if len(b.Bids) != 1 || b.Bids[0].Fate != exchange.BelowFloor || b.Bids[0].AdjustedPrice != 0.5 || b.Bids[0].LossCode != 100 {
		t.Errorf("b: %+v", b)
	}
	if down.Outcome != "error" || down.Error == "" || len(down.Bids) != 0 {
		t.Errorf("down: %+v", down)
	}
	if len(tr.Notices) != 2 {
		t.Errorf("notices %q; want a's nurl and b's lurl", tr.Notices)
	}
	if fired := h.closeNotices(t); len(fired) != 0 {
		t.Errorf("the trace fired %q", fired)
	}
	for query, want := range map[string]int{"pkey=nope": 404, "pkey=bad%20key": 400, "pkey=auction&w=x": 400} {
		resp, err := http.Get(srv.URL + "/debug/auction?" + query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d; want %d", query, resp.StatusCode, want)
		}
	}
}
