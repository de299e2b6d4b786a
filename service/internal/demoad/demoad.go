// Package demoad is a small OpenRTB 2.6 responder: the demo ad server `make run`
// starts beside ASAP, and the upstream of ASAP's tests and benchmarks.
//
// It answers POST /openrtb2/auction with one seatbid holding one bid per request
// (priced at or above the imp's floor, or at a fixed price; markup carrying
// ${AUCTION_PRICE}; nurl, lurl and burl pointing at its own /win, /loss and /imp,
// which it counts), or 204 when it does not fill. The bid is of the first format
// of Options.Formats that the imp offers: a banner, a VAST 4.1 video (or audio)
// ad, or a Native 1.2 response with the assets of the imp's native request. GET /stats reports its counters.
// Several can run side by side with different prices, seats and latencies, as the
// upstreams of one auction.
package demoad

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

// Options configure a Server. The zero value fills every request at once.
type Options struct {
	// Fill is the share of requests answered with a bid, from 0 to 1. Zero means
	// 1 unless NoFill is set.
	Fill float64
	// NoFill answers every request with 204 (Fill is then ignored).
	NoFill bool
	// Latency is how long each answer waits; Jitter adds up to ±Jitter to it.
	Latency, Jitter time.Duration
	// Fixed answers every auction with one constant, pre-encoded BidResponse, without
	// decoding the request: the cheapest possible upstream, for benchmarks.
	Fixed bool
	// FixedNoNURL leaves the nurl and lurl out of the Fixed bid: billing through
	// burl alone (fired by the SDK), so ASAP sends no win or loss notice. Benchmarks
	// use it to give ASAP one upstream exchange per upstream, as a proxy makes.
	FixedNoNURL bool
	// Price, when above 0, is the price of every bid (Fixed's included); else a
	// bid is priced at random at or above the imp's floor.
	Price float64
	// Seat is the bids' seat; empty means "demo-seat".
	Seat string
	// Status, when not 0, is the HTTP status of every auction answer, with an empty
	// body (tests of upstream failures).
	Status int
	// Hang never answers an auction: the handler waits until the client gives up.
	Hang bool
	// BlockWins makes GET /win wait until the client gives up (tests that win
	// notices never delay the SDK).
	BlockWins bool
	// Formats is the order in which the demo picks among the formats an imp
	// offers; a format not listed is never bid (the imp gets 204 when it offers
	// none listed). Empty means DefaultFormats.
	Formats []format.Kind
	// BaseURL is where the bids' nurl and burl point (this server as its clients
	// reach it). Empty means http://<the Host header of the auction request>.
	BaseURL string
}

// Server is the demo ad server. Its counters are safe for concurrent use.
type Server struct {
	opts Options

	requests, bids, wins, losses, imps, events atomic.Int64

	mu   sync.Mutex
	last []byte // the last auction body, for tests

	fixedOnce sync.Once
	// The Fixed answer around the request's id: fixedHead, the id, fixedTail.
	fixedHead, fixedTail []byte
}

// New returns a demo ad server.
func New(opts Options) *Server {
	if opts.Fill == 0 && !opts.NoFill {
		opts.Fill = 1
	}
	if opts.NoFill {
		opts.Fill = 0
	}
	return &Server{opts: opts}
}

// Handler serves POST /openrtb2/auction, GET /win, GET /loss, GET /imp, GET /event
// and GET /stats.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /openrtb2/auction", s.auction)
	mux.HandleFunc("GET /win", s.win)
	mux.HandleFunc("GET /loss", func(w http.ResponseWriter, r *http.Request) {
		s.losses.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /imp", func(w http.ResponseWriter, r *http.Request) {
		s.imps.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /event", func(w http.ResponseWriter, r *http.Request) {
		s.events.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Stats())
	})
	return mux
}

// Stats are the server's counters.
type Stats struct {
	Requests int64 `json:"requests"`
	Bids     int64 `json:"bids"`
	Wins     int64 `json:"wins"`
	Losses   int64 `json:"losses"`
	Imps     int64 `json:"imps"`
	Events   int64 `json:"events"`
}

// Stats returns the counters: auctions received, bids made, win notices, loss
// notices, impression beacons (burl, and the impression pixels of its VAST and
// Native ads, which also point at /imp) and other events (VAST tracking events,
// Native click trackers, at /event) received.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Bids: s.bids.Load(), Wins: s.wins.Load(), Losses: s.losses.Load(), Imps: s.imps.Load(), Events: s.events.Load()}
}

// LastRequest returns the body of the last auction received (nil in Fixed mode).
func (s *Server) LastRequest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *Server) win(w http.ResponseWriter, r *http.Request) {
	s.wins.Add(1)
	if s.opts.BlockWins {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) auction(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.opts.Hang {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	}
	if !s.wait(r.Context()) {
		return
	}
	if s.opts.Status != 0 {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(s.opts.Status)
		return
	}
	if s.opts.Fixed {
		id := requestID(r.Body)
		s.fixedOnce.Do(func() { s.fixedHead, s.fixedTail = s.fixedResponse(s.base(r)) })
		s.bids.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Openrtb-Version", openrtb.Version)
		b := make([]byte, 0, len(s.fixedHead)+len(id)+len(s.fixedTail))
		w.Write(append(append(append(b, s.fixedHead...), id...), s.fixedTail...))
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.last = body
	s.mu.Unlock()
	var req openrtb.BidRequest
	if err := json.Unmarshal(body, &req); err != nil || req.ID == "" || len(req.Imp) == 0 {
		http.Error(w, "not an OpenRTB 2.6 BidRequest", http.StatusBadRequest)
		return
	}
	if rand.Float64() >= s.opts.Fill {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resp, err := s.bidFor(&req, s.base(r), s.formats())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if resp == nil { // no format it bids is offered
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.bids.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Openrtb-Version", openrtb.Version)
	json.NewEncoder(w).Encode(resp)
}

// requestID reads the bid request body and returns its id, JSON-escaped, as
// ASAP writes it: first. The Fixed answer echoes it without decoding the request
// (an answer to another request would be rejected); a body that does not start
// with its id gets "".
func requestID(body io.Reader) []byte {
	var buf [512]byte
	n, _ := io.ReadFull(body, buf[:])
	io.Copy(io.Discard, body)
	b, ok := bytes.CutPrefix(bytes.TrimLeft(buf[:n], " \t\r\n"), []byte(`{"id":"`))
	if !ok {
		return nil
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return bytes.Clone(b[:i])
		}
	}
	return nil
}

// wait sleeps Latency±Jitter; false when the client gave up first.
func (s *Server) wait(ctx context.Context) bool {
	d := s.opts.Latency
	if s.opts.Jitter > 0 {
		d += time.Duration(rand.Int64N(int64(2*s.opts.Jitter)+1)) - s.opts.Jitter
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) base(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return strings.TrimSuffix(s.opts.BaseURL, "/")
	}
	return "http://" + r.Host
}

// bidFor bids on the first imp of req in the first of formats it offers:
// a banner of its first size, a VAST 4.1 video or audio ad, or a Native 1.2
// response to its native request. It returns nil when the imp offers none of
// Formats, and an error when its native request cannot be read.
func (s *Server) bidFor(req *openrtb.BidRequest, base string, formats []format.Kind) (*openrtb.BidResponse, error) {
	imp := &req.Imp[0]
	// A price at or above the floor, in whole cents, so demo numbers read easily.
	price := math.Ceil(max(imp.BidFloor, 0.5)*(1+rand.Float64())*100) / 100
	if s.opts.Price > 0 {
		price = s.opts.Price
	}
	seat := s.opts.Seat
	if seat == "" {
		seat = "demo-seat"
	}
	bid := openrtb.Bid{
		ID:      "bid-" + strconv.FormatUint(rand.Uint64(), 36),
		ImpID:   imp.ID,
		Price:   price,
		NURL:    base + "/win?auction=${AUCTION_ID}&imp=${AUCTION_IMP_ID}&price=${AUCTION_PRICE}",
		LURL:    base + "/loss?auction=${AUCTION_ID}&loss=${AUCTION_LOSS}&min_to_win=${AUCTION_MIN_TO_WIN}",
		BURL:    base + "/imp?auction=${AUCTION_ID}&price=${AUCTION_PRICE}",
		AdID:    "demo-ad-1",
		ADomain: []string{"demo-advertiser.example"},
		CID:     "demo-campaign-1",
		CrID:    "demo-creative-1",
	}
	kind, _ := pick(imp, formats)
	switch kind {
	case format.Banner:
		w, h := imp.Banner.W, imp.Banner.H
		if len(imp.Banner.Format) > 0 {
			w, h = imp.Banner.Format[0].W, imp.Banner.Format[0].H
		}
		bid.W, bid.H = w, h
		bid.AdM = fmt.Sprintf(`<div class="demo-ad" style="width:%dpx;height:%dpx">Demo ad for %s, won at $${AUCTION_PRICE} CPM</div>`,
			w, h, html.EscapeString(imp.TagID))
	case format.Video, format.Audio:
		bid.AdM, _ = vastAd(imp, kind, base)
		if kind == format.Video {
			bid.W, bid.H = imp.Video.W, imp.Video.H
		}
	case format.Native:
		adm, err := nativeAd(imp, base)
		if err != nil {
			return nil, fmt.Errorf("imp %q: native request: %w", imp.ID, err)
		}
		bid.AdM = adm
	default:
		return nil, nil
	}
	bid.MType = int8(kind)
	return &openrtb.BidResponse{
		ID:      req.ID,
		BidID:   "demo-" + strconv.FormatUint(rand.Uint64(), 36),
		Cur:     "USD",
		SeatBid: []openrtb.SeatBid{{Seat: seat, Bid: []openrtb.Bid{bid}}},
	}, nil
}

// formats is Formats, or DefaultFormats when empty.
func (s *Server) formats() []format.Kind {
	if len(s.opts.Formats) > 0 {
		return s.opts.Formats
	}
	return DefaultFormats
}

// fixedResponse is the constant answer of Fixed mode around the request's id: a
// 300x250 banner at $1.50 (or Price), with a nurl and lurl unless FixedNoNURL.
func (s *Server) fixedResponse(base string) (head, tail []byte) {
	resp, _ := s.bidFor(&openrtb.BidRequest{ID: "fixed", Imp: []openrtb.Imp{{
		ID: "1", TagID: "fixed", BidFloor: 1.5,
		Banner: &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}}},
	}}}, base, []format.Kind{format.Banner}) // a banner: never nil, never an error
	bid := &resp.SeatBid[0].Bid[0]
	bid.Price = 1.5
	if s.opts.Price > 0 {
		bid.Price = s.opts.Price
	}
	bid.ID = "fixed-bid"
	resp.BidID = "fixed"
	if s.opts.FixedNoNURL {
		bid.NURL, bid.LURL = "", ""
	}
	resp.ID = ""
	b, err := json.Marshal(resp)
	if err != nil {
		b = []byte(`{"id":""}`)
	}
	// json.Marshal writes the id first: split the answer where it goes.
	head, tail, _ = bytes.Cut(b, []byte(`""`))
	return append(head, '"'), append([]byte{'"'}, tail...)
}
