package demoad_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"asap/service/internal/demoad"
	"asap/service/internal/openrtb"
	"asap/service/internal/openrtb/openrtbtest"
)

const bannerRequest = `{"id":"req-1","imp":[{"id":"1","tagid":"demo-feed","bidfloor":2,"bidfloorcur":"USD",` +
	`"banner":{"format":[{"w":320,"h":50}]}}],"tmax":250}`

func post(t *testing.T, srv *httptest.Server, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(srv.URL+"/openrtb2/auction", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAuctionBids(t *testing.T) {
	demo := demoad.New(demoad.Options{})
	srv := httptest.NewServer(demo.Handler())
	defer srv.Close()
	resp := post(t, srv, bannerRequest)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	openrtbtest.ValidateResponse(t, buf.Bytes())
	var br openrtb.BidResponse
	if err := json.Unmarshal(buf.Bytes(), &br); err != nil {
		t.Fatal(err)
	}
	if br.ID != "req-1" || len(br.SeatBid) != 1 || len(br.SeatBid[0].Bid) != 1 {
		t.Fatalf("got %+v; want one seatbid with one bid for req-1", br)
	}
	b := br.SeatBid[0].Bid[0]
	if b.Price < 2 || b.ImpID != "1" || b.W != 320 || b.H != 50 || !strings.Contains(b.AdM, "${AUCTION_PRICE}") ||
		!strings.HasPrefix(b.NURL, srv.URL+"/win?") || !strings.HasPrefix(b.BURL, srv.URL+"/imp?") {
		t.Errorf("got bid %+v; want a 320x50 banner at or above the floor, with macros and own nurl/burl", b)
	}
	for _, u := range []string{b.NURL, b.BURL} {
		r, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	if got, want := demo.Stats(), (demoad.Stats{Requests: 1, Bids: 1, Wins: 1, Imps: 1}); got != want {
		t.Errorf("stats %+v; want %+v", got, want)
	}
}

func TestAuctionModes(t *testing.T) {
	tests := []struct {
		name       string
		opts       demoad.Options
		body       string
		wantStatus int
	}{
		{"no fill", demoad.Options{NoFill: true}, bannerRequest, http.StatusNoContent},
		{"status", demoad.Options{Status: 503}, bannerRequest, http.StatusServiceUnavailable},
		{"not openrtb", demoad.Options{}, `{"imp":[]}`, http.StatusBadRequest},
		{"fixed ignores the body", demoad.Options{Fixed: true}, `anything`, http.StatusOK},
		{"native only", demoad.Options{}, `{"id":"n","imp":[{"id":"1","native":{"request":"{}"}}]}`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(demoad.New(tt.opts).Handler())
			defer srv.Close()
			resp := post(t, srv, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.StatusCode == http.StatusOK {
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				openrtbtest.ValidateResponse(t, buf.Bytes())
			}
		})
	}
}

// Latency delays answers by exactly Latency: measured on the fake clock of
// testing/synctest, so the machine's speed does not enter.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := demoad.New(demoad.Options{Fill: 1, Latency: 20 * time.Millisecond}).Handler()
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/openrtb2/auction", strings.NewReader(bannerRequest)))
		if took := time.Since(start); took != 20*time.Millisecond {
			t.Errorf("answer after %s; want the 20ms latency", took)
		}
		if rec.Code != http.StatusOK {
			t.Errorf("status %d; want 200 at -fill 1", rec.Code)
		}
	})
}

// Fill 0.5 fills some and not all of many auctions.
func TestFillRate(t *testing.T) {
	filled := map[int]int{}
	srv2 := httptest.NewServer(demoad.New(demoad.Options{Fill: 0.5}).Handler())
	defer srv2.Close()
	for range 200 {
		filled[post(t, srv2, bannerRequest).StatusCode]++
	}
	if filled[http.StatusOK] == 0 || filled[http.StatusNoContent] == 0 {
		t.Errorf("answers by status %v; want both 200 and 204 at fill 0.5", filled)
	}
}

func TestBaseURL(t *testing.T) {
	srv := httptest.NewServer(demoad.New(demoad.Options{BaseURL: "http://localhost:8081/"}).Handler())
	defer srv.Close()
	var br openrtb.BidResponse
	if err := json.NewDecoder(post(t, srv, bannerRequest).Body).Decode(&br); err != nil {
		t.Fatal(err)
	}
	if b := br.SeatBid[0].Bid[0]; !strings.HasPrefix(b.NURL, "http://localhost:8081/win?") || !strings.HasPrefix(b.BURL, "http://localhost:8081/imp?") {
		t.Errorf("nurl %q burl %q; want them under http://localhost:8081/", b.NURL, b.BURL)
	}
}

// TestFixedNURL: the fixed bid carries a nurl unless FixedNoNURL, and a burl either way.
func TestFixedNURL(t *testing.T) {
	for _, noNURL := range []bool{false, true} {
		srv := httptest.NewServer(demoad.New(demoad.Options{Fixed: true, FixedNoNURL: noNURL}).Handler())
		var resp openrtb.BidResponse
		if err := json.NewDecoder(post(t, srv, "{}").Body).Decode(&resp); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		bid := resp.SeatBid[0].Bid[0]
		if gotNURL := bid.NURL != ""; gotNURL == noNURL || bid.BURL == "" {
			t.Errorf("FixedNoNURL %t: nurl %q, burl %q; want a nurl %t and a burl", noNURL, bid.NURL, bid.BURL, !noNURL)
		}
	}
}
