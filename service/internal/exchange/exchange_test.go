package exchange_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"asap/service/config"
	"asap/service/internal/exchange"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
	"asap/service/internal/upstream"
)

// newExchange is an Exchange over httptest upstreams named by names, each
// answering 204 and recording the bodies it receives.
func newExchange(t *testing.T, names ...string) (*exchange.Exchange, func() map[string][]string) {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies = map[string][]string{}
		pairs  []string
	)
	for _, n := range names {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies[n] = append(bodies[n], string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(srv.Close)
		pairs = append(pairs, n+"="+srv.URL)
	}
	var ups config.Upstreams
	if err := ups.Decode(strings.Join(pairs, ",")); err != nil {
		t.Fatal(err)
	}
	cfg := config.Ad{Upstreams: ups, UpstreamDialTimeout: time.Minute, UpstreamTLSHandshakeTimeout: time.Minute,
		UpstreamResponseHeaderTimeout: time.Minute, UpstreamMaxIdleConnsPerHost: 4, UpstreamIdleConnTimeout: time.Minute,
		UpstreamMaxResponseBytes: 1 << 20, BreakerFailures: 3, BreakerOpenTimeout: time.Second}
	set, err := upstream.NewSet(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(set.CloseIdleConnections)
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 1, Queue: 8, Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	e, err := exchange.New(exchange.Deps{Upstreams: set, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	return e, func() map[string][]string {
		mu.Lock()
		defer mu.Unlock()
		return bodies
	}
}

// A Variant gives each upstream its own request: upstreams with one key share
// one encoded body, a nil variant leaves the upstream uncalled, and the hooks
// see each body sent and each upstream skipped.
func TestVariant(t *testing.T) {
	e, received := newExchange(t, "a", "b", "c", "d")
	req := &openrtb.BidRequest{ID: "r1", Imp: []openrtb.Imp{{ID: "1", TagID: "feed"}}, Cur: []string{"USD"},
		Device: &openrtb.Device{IFA: "ifa-1"}}
	stripped := *req
	stripped.Device = &openrtb.Device{}
	var (
		sent    = map[string]string{}
		skipped []string
	)
	h := e.Hooks()
	h.Sent = func(name string, body []byte) { sent[name] = string(body) }
	h.Skipped = func(name string, _ float64, why exchange.NoFill) { skipped = append(skipped, name+":"+why.String()) }
	a := exchange.Auction{
		Request: req,
		Bidders: []placement.Bidder{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}, {Name: "nowhere"}},
		Start:   time.Now(), Tmax: time.Minute, Hooks: &h,
		Variant: func(name string, r *openrtb.BidRequest) (*openrtb.BidRequest, string) {
			switch name {
			case "b", "c":
				return &stripped, "no-ids"
			case "d":
				return nil, ""
			}
			return r, ""
		},
	}
	e.Run(context.Background(), &a)
	defer a.Release()
	if _, won := a.Winner(); won || a.NoFill() != exchange.Upstream204 {
		t.Fatalf("no fill %v; want upstream_204", a.NoFill())
	}
	got := received()
	if len(got["a"]) != 1 || !strings.Contains(got["a"][0], "ifa-1") {
		t.Errorf("a received %q; want the request with its ifa", got["a"])
	}
	for _, n := range []string{"b", "c"} {
		if len(got[n]) != 1 || strings.Contains(got[n][0], "ifa-1") {
			t.Errorf("%s received %q; want the stripped request", n, got[n])
		}
	}
	if len(got["d"]) != 0 {
		t.Errorf("d received %q; want no call", got["d"])
	}
	if sent["b"] != sent["c"] || sent["a"] == sent["b"] || len(sent) != 3 {
		t.Errorf("sent %q; want b and c one body, a another, d none", sent)
	}
	if want := []string{"d:blocked", "nowhere:unknown_upstream"}; strings.Join(skipped, ",") != strings.Join(want, ",") {
		t.Errorf("skipped %q; want %q", skipped, want)
	}
}

// Every upstream skipped: the no-fill reason is the one they share, else
// no_bid.
func TestEverySkipped(t *testing.T) {
	e, _ := newExchange(t, "a")
	block := func(string, *openrtb.BidRequest) (*openrtb.BidRequest, string) { return nil, "" }
	for _, tt := range []struct {
		name    string
		bidders []placement.Bidder
		variant exchange.Variant
		want    exchange.NoFill
	}{
		{"unknown", []placement.Bidder{{Name: "x"}}, nil, exchange.UnknownUpstream},
		{"blocked", []placement.Bidder{{Name: "a"}}, block, exchange.Blocked},
		{"both", []placement.Bidder{{Name: "a"}, {Name: "x"}}, block, exchange.NoBid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := exchange.Auction{Request: &openrtb.BidRequest{ID: "r", Imp: []openrtb.Imp{{ID: "1"}}},
				Bidders: tt.bidders, Variant: tt.variant, Start: time.Now(), Tmax: time.Minute}
			e.Run(context.Background(), &a)
			defer a.Release()
			if got := a.NoFill(); got != tt.want {
				t.Errorf("no fill %v; want %v", got, tt.want)
			}
		})
	}
}

// TestPooledBodiesArriveWhole: the bodies come from a pool and go back to it when
// the last upstream sent them is done; auctions run at once (under -race in make
// test) never send one auction's bytes to another's upstream, or half of them.
func TestPooledBodiesArriveWhole(t *testing.T) {
	e, received := newExchange(t, "a", "b")
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				req := &openrtb.BidRequest{ID: fmt.Sprintf("r%d-%d", w, i), Imp: []openrtb.Imp{{ID: "1", TagID: "feed"}}, Cur: []string{"USD"},
					User: &openrtb.User{Consent: strings.Repeat("C", 100*i)}} // some outgrow the pooled buffers
				a := exchange.Auction{Request: req, Bidders: []placement.Bidder{{Name: "a"}, {Name: "b"}}, Start: time.Now(), Tmax: time.Minute}
				e.Run(context.Background(), &a)
				a.Release()
			}
		})
	}
	wg.Wait()
	for _, name := range []string{"a", "b"} {
		seen := map[string]bool{}
		for _, body := range received()[name] {
			var got openrtb.BidRequest
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%s received a body that is not JSON (%v): %.200q", name, err, body)
			}
			var w, i int
			if _, err := fmt.Sscanf(got.ID, "r%d-%d", &w, &i); err != nil || got.User == nil || len(got.User.Consent) != 100*i || seen[got.ID] {
				t.Fatalf("%s received request %q (%d bytes of consent), or twice; want each auction's own, once", name, got.ID, len(got.User.Consent))
			}
			seen[got.ID] = true
		}
		if len(seen) != workers*each {
			t.Errorf("%s received %d requests; want %d", name, len(seen), workers*each)
		}
	}
}
