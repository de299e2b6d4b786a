// Package ad answers GET /v2/ad: it maps the SDK's query to an OpenRTB 2.6
// BidRequest, posts it to the placement's upstream, picks the winning bid and
// answers the SDK with its creative, or with the placement's house ad, or with
// nothing (204).
package ad

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"asap/service/config"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
	"asap/service/internal/upstream"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what a Service needs.
type Deps struct {
	// Config gives tmax defaults and bounds and the response size limit.
	Config config.Ad
	// Placements finds placements (the cache in front of Redis).
	Placements placement.Getter
	// Upstreams are the configured upstream ad servers.
	Upstreams *upstream.Set
	// Notifier fires win notices.
	Notifier *upstream.Notifier
	// Logger logs what an operator must fix (a placement naming an unknown
	// upstream), once per cause; never per request. Nil discards.
	Logger *slog.Logger
	// Registerer receives the asap_ad_* metrics. Nil means prometheus.DefaultRegisterer.
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
	reg := d.Registerer
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	var err error
	if s.m, err = newMetrics(reg); err != nil {
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
// upstream.
func (s *Service) Serve(ctx context.Context, r *Request, out *bytes.Buffer) (int, error) {
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
	mrid := s.newID()
	client, ok := s.upstreams.Client(p.Ad.Upstream)
	if !ok {
		if _, logged := s.unknown.LoadOrStore(p.Ad.Upstream, true); !logged {
			s.log.Error("placement names an upstream that ASAP_UPSTREAMS does not configure; serving its house ad or 204",
				"pkey", p.PKey, "upstream", p.Ad.Upstream)
		}
		return s.fallback(p, mrid, "unknown_upstream", out)
	}

	tmax := Tmax(p.Ad, s.cfg.DefaultTmax, s.cfg.MaxTmax)
	req := BuildBidRequest(r, p, mrid, tmax)
	body := upstream.NewBody()
	if err := encodeRequest(body, req); err != nil {
		// Only non-finite floats fail to encode, and no placement holds one.
		return s.fallback(p, mrid, "error", out)
	}

	ctx, cancel := context.WithTimeout(ctx, tmax)
	defer cancel()
	buf := responses.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 256<<10 {
			buf.Reset()
			responses.Put(buf)
		}
	}()
	status, err := client.Do(ctx, body, buf)
	switch {
	case errors.Is(err, upstream.ErrOpen):
		return s.fallback(p, mrid, "breaker_open", out)
	case errors.Is(err, upstream.ErrTimeout):
		return s.fallback(p, mrid, "timeout", out)
	case err != nil:
		return s.fallback(p, mrid, "error", out)
	case status == http.StatusNoContent:
		return s.fallback(p, mrid, "upstream_204", out)
	}

	var resp openrtb.BidResponse
	if err := openrtb.DecodeBidResponse(buf.Bytes(), &resp); err != nil {
		client.Rejected("invalid_response")
		s.log.Debug("upstream answer rejected", "upstream", client.Name(), "mrid", mrid, "reason", "invalid_response", "err", err)
		return s.fallback(p, mrid, "invalid_response", out)
	}
	var fates [4]BidFate
	all := judge(req, &resp, 1, fates[:0])
	s.countRejected(client, mrid, all)
	best := rank(all, p.Ad.BidFloor)
	if best < 0 {
		return s.fallback(p, mrid, "no_bid", out)
	}
	w := Winner{Bid: all[best].Bid, Seat: all[best].Seat, Price: all[best].Price}
	macros := NewMacros(mrid, &resp, w)
	if nurl := macros.Replace(w.Bid.NURL); nurl != "" {
		s.notifier.Notify(nurl)
	}
	a := WinAnswer(mrid, resp.ID, w, macros.Replace(w.Bid.AdM), macros.Replace(w.Bid.BURL))
	if err := a.Encode(out); err != nil {
		return 0, fmt.Errorf("ad: encode answer: %w", err)
	}
	s.m.fills.Inc()
	return http.StatusOK, nil
}

// countRejected counts and logs (at debug) every rejected bid of fates, the
// bids of client's answer.
func (s *Service) countRejected(client *upstream.Client, mrid string, fates []BidFate) {
	for i := range fates {
		if f := &fates[i]; f.Reason.Rejected() {
			client.Rejected(f.Reason.String())
			s.log.Debug("bid rejected", "upstream", client.Name(), "mrid", mrid, "reason", f.Reason.String(),
				"bid", f.Bid.ID, "impid", f.Bid.ImpID, "seat", f.Seat, "loss_code", f.Reason.LossCode())
		}
	}
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
	fills    prometheus.Counter
	houseAds prometheus.Counter
	noFills  *prometheus.CounterVec
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
				"invalid_response, unknown_upstream, paused, no_ad_config.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.fills, m.houseAds, m.noFills} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("ad metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) noFill(reason string) {
	m.noFills.WithLabelValues(reason).Inc()
}
