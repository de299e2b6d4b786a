// Package ad answers GET /v2/ad: it maps the SDK's query to an OpenRTB 2.6
// BidRequest, posts it to the placement's upstream, picks the winning bid and
// answers the SDK with its creative, or with the placement's house ad, or with
// nothing (204).
package ad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
	"asap/service/internal/promreg"
	"asap/service/internal/upstream"
)

// Deps are what a Service needs.
type Deps struct {
	// Config gives tmax defaults and bounds and the response size limit.
	Config config.Ad
	// Placements finds placements (the cache in front of Redis).
	Placements placement.Getter
	// Upstreams are the configured upstream ad servers.
	Upstreams *upstream.Set
	// Notifier fires win and loss notices.
	Notifier *upstream.Notifier
	// Logger logs what an operator must fix (a placement naming an unknown
	// upstream), once per cause; never per request. Nil discards.
	Logger *slog.Logger
	// Registerer receives the asap_ad_* metrics. Nil registers them nowhere.
	Registerer prometheus.Registerer
	// NewID returns the mrid of each request. Nil means a random UUID.
	NewID func() string
}

// Service answers ad requests. It is safe for concurrent use.
type Service struct {
	cfg        config.Ad
	placements placement.Getter
	upstreams  *upstream.Set
	notifier   *upstream.Notifier
	log        *slog.Logger
	newID      func() string
	m          metrics
	unknown    sync.Map // upstream names already logged as unknown
}

// New returns a Service.
func New(d Deps) (*Service, error) {
	if d.Placements == nil || d.Upstreams == nil || d.Notifier == nil {
		return nil, errors.New("ad: Placements, Upstreams and Notifier are required")
	}
	s := &Service{
		cfg: d.Config, placements: d.Placements, upstreams: d.Upstreams, notifier: d.Notifier,
		log: d.Logger, newID: d.NewID,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.newID == nil {
		s.newID = uuid.NewString
	}
	var err error
	if s.m, err = newMetrics(d.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

var responses = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Serve answers one ad request. It returns http.StatusOK with the SDK's JSON
// appended to out, or http.StatusNoContent with out untouched. The error is the
// placement lookup's (wrapping placement.ErrNotFound or placement.ErrUnavailable)
// and the status then 0; every upstream failure is an answer, not an error.
//
// A paused placement, or one without an ad section, gets 204 and never reaches the
// upstreams. Otherwise every upstream of the placement gets the same bid request
// at once, and the answer comes by the placement's tmax (see auction).
func (s *Service) Serve(ctx context.Context, r *Request, out *bytes.Buffer) (int, error) {
	return s.serve(ctx, r, out, nil)
}

// serve is Serve; with tr it records the auction in tr and fires no notice.
func (s *Service) serve(ctx context.Context, r *Request, out *bytes.Buffer, tr *Trace) (int, error) {
	start := time.Now()
	p, err := s.placements.Get(ctx, r.PKey)
	if err != nil {
		return 0, err
	}
	if !p.Live() {
		s.m.noFill("paused")
		return http.StatusNoContent, nil
	}
	if p.Ad == nil {
		s.m.noFill("no_ad_config")
		return http.StatusNoContent, nil
	}
	if p.AdProblem != nil {
		// The record's ad section is invalid (the cache logged its problems): no
		// upstream call and no house ad from a section that cannot be trusted.
		s.m.noFill("invalid_ad_config")
		return http.StatusNoContent, nil
	}
	mrid := s.newID()
	if tr != nil {
		tr.MRID, tr.PKey, tr.BidFloor = mrid, p.PKey, p.Ad.BidFloor
	}

	var clients [4]bidder
	bidders := clients[:0]
	for _, b := range p.Ad.Bidders() {
		client, ok := s.upstreams.Client(b.Name)
		if !ok {
			s.m.unknownUpstreams.Inc()
			if _, logged := s.unknown.LoadOrStore(b.Name, true); !logged {
				s.log.Error("placement names an upstream that ASAP_UPSTREAMS does not configure; skipping it",
					"pkey", p.PKey, "upstream", b.Name)
			}
			if tr != nil {
				tr.Upstreams = append(tr.Upstreams, TraceUpstream{Name: b.Name, BidAdjustment: b.Adjustment(), Outcome: "unknown_upstream"})
			}
			continue
		}
		bidders = append(bidders, bidder{client: client, adjustment: b.Adjustment()})
	}
	if len(bidders) == 0 {
		return s.fallback(p, mrid, "unknown_upstream", out)
	}

	tmax := Tmax(p.Ad, s.cfg.DefaultTmax, s.cfg.MaxTmax)
	req := BuildBidRequest(r, p, mrid, upstreamTmax(tmax, s.cfg.AuctionReturnMargin))
	body := upstream.NewBody()
	if err := encodeRequest(body, req); err != nil {
		// Only non-finite floats fail to encode, and no placement holds one.
		return s.fallback(p, mrid, "error", out)
	}
	if tr != nil {
		tr.TmaxMs, tr.UpstreamTmaxMs = tmax.Milliseconds(), req.Tmax
		tr.BidRequest = json.RawMessage(bytes.TrimSpace(body.Bytes()))
	}

	a := auction{
		req: req, body: body, bidders: bidders,
		deadline: start.Add(tmax), margin: s.cfg.AuctionReturnMargin,
	}
	a.run(ctx)
	defer a.release()
	if tr != nil {
		a.trace(tr)
	}
	best := rank(a.fates, p.Ad.BidFloor)
	if tr != nil {
		tr.fates(&a)
	}
	s.count(&a, mrid)
	if best < 0 {
		return s.fallback(p, mrid, a.noFill(), out)
	}
	win := &a.fates[best]
	wb := &a.bidders[a.from[best]]
	w := Winner{Bid: win.Bid, Seat: win.Seat, Price: win.Price}
	macros := NewMacros(mrid, &wb.resp, w)
	s.notify(tr, macros.Replace(w.Bid.NURL))
	s.notifyLosers(&a, best, mrid, p.Ad.BidFloor, tr)
	ans := WinAnswer(mrid, wb.resp.ID, w, macros.Replace(w.Bid.AdM), macros.Replace(w.Bid.BURL))
	if err := ans.Encode(out); err != nil {
		return 0, fmt.Errorf("ad: encode answer: %w", err)
	}
	s.m.fills.Inc()
	return http.StatusOK, nil
}

// upstreamTmax is the tmax each upstream is sent: the placement's less the
// return margin, but never under half of it (a placement's short tmax still
// leaves the upstreams time to bid).
func upstreamTmax(tmax, margin time.Duration) time.Duration {
	return max(tmax-margin, tmax/2)
}

// count counts every bid of a by upstream and fate, and logs each rejection at
// debug.
func (s *Service) count(a *auction, mrid string) {
	for i := range a.bidders {
		b := &a.bidders[i]
		if b.state.Load() != arrived {
			continue
		}
		if b.decodeErr != nil {
			b.client.Rejected("invalid_response")
			s.log.Debug("upstream answer rejected", "upstream", b.client.Name(), "mrid", mrid, "reason", "invalid_response", "err", b.decodeErr)
			continue
		}
		if n := b.end - b.start; n > 0 {
			b.client.Bids(n)
		}
		for j := b.start; j < b.end; j++ {
			f := &a.fates[j]
			switch {
			case f.Reason == Won:
				b.client.Won(f.Price)
			case f.Reason.Rejected():
				b.client.Rejected(f.Reason.String())
				s.log.Debug("bid rejected", "upstream", b.client.Name(), "mrid", mrid, "reason", f.Reason.String(),
					"bid", f.Bid.ID, "impid", f.Bid.ImpID, "seat", f.Seat, "loss_code", f.Reason.LossCode())
			default:
				b.client.Lost(f.Reason.String())
			}
		}
	}
}

// notifyLosers fires the lurl of every bid but the winner's (index best of
// a.fates), with its loss reason code and the price it would have needed.
func (s *Service) notifyLosers(a *auction, best int, mrid string, floor float64, tr *Trace) {
	winning := a.fates[best].Price
	for i := range a.fates {
		f := &a.fates[i]
		if i == best || f.Bid.LURL == "" {
			continue
		}
		b := &a.bidders[a.from[i]]
		m := NewLossMacros(mrid, &b.resp, Winner{Bid: f.Bid, Seat: f.Seat, Price: f.Price}, f.Reason.LossCode(),
			MinToWin(max(winning, floor), b.adjustment))
		s.notify(tr, m.Replace(f.Bid.LURL))
	}
}

// notify fires url, or records it in tr without firing it.
func (s *Service) notify(tr *Trace, url string) {
	if url == "" {
		return
	}
	if tr != nil {
		tr.Notices = append(tr.Notices, url)
		return
	}
	s.notifier.Notify(url)
}

// fallback answers when the upstream has no ad: the house ad when the placement
// has one, else 204.
func (s *Service) fallback(p *placement.Placement, mrid, reason string, out *bytes.Buffer) (int, error) {
	s.m.noFill(reason)
	if p.Ad == nil || p.Ad.HouseAd == nil || p.Ad.HouseAd.Markup == "" {
		return http.StatusNoContent, nil
	}
	a := HouseAnswer(mrid, p.Ad.HouseAd)
	if err := a.Encode(out); err != nil {
		return 0, fmt.Errorf("ad: encode house ad: %w", err)
	}
	s.m.houseAds.Inc()
	return http.StatusOK, nil
}

// encodeRequest appends req to buf as JSON and a newline: the bytes of a
// json.Encoder with HTML escaping off, without its reflection (see
// openrtb.AppendBidRequest).
func encodeRequest(buf *bytes.Buffer, req *openrtb.BidRequest) error {
	b, err := openrtb.AppendBidRequest(buf.AvailableBuffer(), req)
	if err != nil {
		return err
	}
	buf.Write(append(b, '\n'))
	return nil
}

type metrics struct {
	fills            prometheus.Counter
	houseAds         prometheus.Counter
	noFills          *prometheus.CounterVec
	unknownUpstreams prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	m := metrics{
		fills: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_ad_fills_total",
			Help: "Ad requests answered with an upstream's winning bid.",
		}),
		houseAds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_ad_house_ads_total",
			Help: "Ad requests answered with the placement's house ad (counted in no-fills too).",
		}),
		noFills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_ad_no_fills_total",
			Help: "Ad requests without an upstream ad, by reason: upstream_204, no_bid, timeout, error, breaker_open, " +
				"invalid_response, unknown_upstream, paused, no_ad_config, invalid_ad_config. With several upstreams, the reason they share, else no_bid.",
		}, []string{"reason"}),
		unknownUpstreams: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_ad_unknown_upstreams_total",
			Help: "Upstreams named by a placement but not configured in ASAP_UPSTREAMS, skipped (once per ad request each).",
		}),
	}
	if err := promreg.Register(reg, "ad", m.fills, m.houseAds, m.noFills, m.unknownUpstreams); err != nil {
		return metrics{}, err
	}
	return m, nil
}

func (m *metrics) noFill(reason string) {
	m.noFills.WithLabelValues(reason).Inc()
}
