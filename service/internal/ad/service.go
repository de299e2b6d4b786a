// Package ad answers GET /v2/ad: it finds the placement, maps the SDK's
// request to an OpenRTB 2.6 BidRequest (bidreq), runs the auction among the
// placement's upstreams (exchange) and answers the SDK with the winner's
// creative, or with the placement's house ad, or with nothing (204) (adanswer).
package ad

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/adanswer"
	"asap/service/internal/adquery"
	"asap/service/internal/bidreq"
	"asap/service/internal/exchange"
	"asap/service/internal/experiment"
	"asap/service/internal/format"
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
	// Experiments counts the requests, fills and cpm of placements with
	// experiments by arm (route "/v2/ad"); the same Metrics as the server's, which
	// counts GET /v2. Nil counts nothing.
	Experiments *experiment.Metrics
}

// Service answers ad requests. It is safe for concurrent use.
type Service struct {
	cfg        config.Ad
	placements placement.Getter
	exchange   *exchange.Exchange
	privacy    *enforcer
	newID      func() string
	m          metrics
	exp        *experiment.Metrics
}

// New returns a Service.
func New(d Deps) (*Service, error) {
	if d.Placements == nil || d.Upstreams == nil || d.Notifier == nil {
		return nil, errors.New("ad: Placements, Upstreams and Notifier are required")
	}
	ex, err := exchange.New(exchange.Deps{Upstreams: d.Upstreams, Notifier: d.Notifier, Logger: d.Logger, Registerer: d.Registerer})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: d.Config, placements: d.Placements, exchange: ex, newID: d.NewID, exp: d.Experiments}
	if s.newID == nil {
		s.newID = uuid.NewString
	}
	if s.m, err = newMetrics(d.Registerer); err != nil {
		return nil, err
	}
	if s.privacy, err = newEnforcer(d.Config, d.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve answers one ad request. It returns http.StatusOK with the SDK's JSON
// appended to out, or http.StatusNoContent with out untouched. The error is the
// placement lookup's (wrapping placement.ErrNotFound or placement.ErrUnavailable)
// and the status then 0; every upstream failure is an answer, not an error.
//
// A paused placement, or one without an ad section, gets 204 and never reaches the
// upstreams. Otherwise every upstream of the placement gets the bid request
// at once, and the answer comes by the placement's tmax (see exchange).
func (s *Service) Serve(ctx context.Context, r *adquery.Request, out *bytes.Buffer) (int, error) {
	return s.serve(ctx, r, out, nil, nil)
}

// Trace runs the auction of one ad request as Serve does, without firing any
// notice, and returns what happened. The error is the placement lookup's.
func (s *Service) Trace(ctx context.Context, r *adquery.Request) (*exchange.Trace, error) {
	tr := exchange.NewTrace()
	h := tr.Hooks(s.exchange.Hooks())
	var out bytes.Buffer
	notes := map[string]privacyNote{}
	status, err := s.serve(ctx, r, &out, &h, notes)
	if err != nil {
		return nil, err
	}
	for i := range tr.Upstreams {
		if n, ok := notes[tr.Upstreams[i].Name]; ok {
			tr.Upstreams[i].Privacy = n
		}
	}
	tr.Status = status
	if status == http.StatusOK {
		tr.Answer = bytes.TrimSpace(out.Bytes())
	}
	return tr, nil
}

// route names GET /v2/ad in the experiment metrics.
const route = "/v2/ad"

// serve is Serve, the auction observed by h (nil: the exchange's defaults), each
// upstream's privacy decision noted in notes (nil: not noted).
func (s *Service) serve(ctx context.Context, r *adquery.Request, out *bytes.Buffer, h *exchange.Hooks, notes map[string]privacyNote) (status int, err error) {
	var filled bool // with an upstream's bid at cpm, for the experiment metrics
	var cpm float64
	start := time.Now()
	p, err := s.placements.Get(ctx, r.PKey)
	if err != nil {
		return 0, err
	}
	mrid := s.newID()
	// The user's experiment arm, as GET /v2 draws it; a trace (h set) is not
	// counted, as it fires no notice.
	arm := -1
	if len(p.Experiments) > 0 && h == nil && s.exp != nil {
		unit := r.UID
		if placement.NoUID(unit) {
			unit = mrid
		}
		arm = p.Arm(placement.Bucket(p.PKey, unit))
		s.exp.Requests(route, p, arm).Inc()
		defer func() {
			if filled {
				s.exp.Fill(route, p, arm, cpm)
			}
		}()
	}
	switch {
	case !p.Live():
		s.m.noFill(exchange.Paused)
		return http.StatusNoContent, nil
	case p.Ad == nil:
		s.m.noFill(exchange.NoAdConfig)
		return http.StatusNoContent, nil
	case p.AdProblem != nil:
		// The record's ad section is invalid (the cache logged its problems): no
		// upstream call and no house ad from a section that cannot be trusted.
		s.m.noFill(exchange.InvalidAdConfig)
		return http.StatusNoContent, nil
	}
	tmax := bidreq.Tmax(p.Ad, s.cfg.DefaultTmax, s.cfg.MaxTmax)
	// Each upstream gets the request without what the user's privacy choices
	// keep from it, or nothing (package privacy decides, the Variant applies).
	rp := requestPrivacy{notes: notes}
	req, variant := s.privacy.prepare(&rp, r, bidreq.Build(r, p, mrid, upstreamTmax(tmax, s.cfg.AuctionReturnMargin)))
	a := exchange.Auction{
		Request: req, Variant: variant,
		Bidders: p.Ad.Bidders(), Floor: p.Ad.BidFloor,
		Start: start, Tmax: tmax, Margin: s.cfg.AuctionReturnMargin,
		Hooks: h,
	}
	s.exchange.Run(ctx, &a)
	defer a.Release()
	w, ok := a.Winner()
	if !ok {
		return s.fallback(p, mrid, a.NoFill(), out)
	}
	ans := adanswer.Win(mrid, a.ResponseID(), w.Bid, w.Price, a.Replace(w.Bid.AdM), a.Replace(w.Bid.BURL))
	c := &ans.Creatives[0].Creative
	c.Type = w.Kind.String()
	switch w.Kind {
	case format.Video:
		c.VASTVersion, c.Duration = w.VAST.Version, w.VAST.Duration
	case format.Native:
		// Parsed again from the markup the SDK gets, macros replaced: its
		// trackers carry them too. The judge parsed it once, so it parses.
		if n, err := exchange.ParseNative(w.Imp, c.Markup); err == nil {
			c.Native = &n
		}
	}
	c.Interstitial, c.Rewarded = p.Ad.Interstitial, p.Ad.Rewarded
	if err := ans.Encode(out); err != nil {
		return 0, fmt.Errorf("ad: encode answer: %w", err)
	}
	s.m.fills.Inc()
	filled, cpm = true, w.Price
	return http.StatusOK, nil
}

// upstreamTmax is the tmax each upstream is sent: the placement's less the
// return margin, but never under half of it (a placement's short tmax still
// leaves the upstreams time to bid).
func upstreamTmax(tmax, margin time.Duration) time.Duration {
	return max(tmax-margin, tmax/2)
}

// fallback answers when the upstreams have no ad: the house ad when the
// placement has one, else 204.
func (s *Service) fallback(p *placement.Placement, mrid string, why exchange.NoFill, out *bytes.Buffer) (int, error) {
	s.m.noFill(why)
	if p.Ad == nil || p.Ad.HouseAd == nil || p.Ad.HouseAd.Markup == "" {
		return http.StatusNoContent, nil
	}
	a := adanswer.House(mrid, p.Ad.HouseAd)
	a.Creatives[0].Creative.Interstitial, a.Creatives[0].Creative.Rewarded = p.Ad.Interstitial, p.Ad.Rewarded
	if err := a.Encode(out); err != nil {
		return 0, fmt.Errorf("ad: encode house ad: %w", err)
	}
	s.m.houseAds.Inc()
	return http.StatusOK, nil
}

type metrics struct {
	fills    prometheus.Counter
	houseAds prometheus.Counter
	noFills  []prometheus.Counter // by exchange.NoFill
}

func newMetrics(reg prometheus.Registerer) (metrics, error) {
	reasons := exchange.NoFills()
	labels := make([]string, len(reasons))
	for i, r := range reasons {
		labels[i] = r.String()
	}
	noFills := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_ad_no_fills_total",
		Help: "Ad requests without an upstream ad, by reason: " + strings.Join(labels, ", ") +
			". With several upstreams, the reason they share, else no_bid.",
	}, []string{"reason"})
	m := metrics{
		fills: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_ad_fills_total",
			Help: "Ad requests answered with an upstream's winning bid.",
		}),
		houseAds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asap_ad_house_ads_total",
			Help: "Ad requests answered with the placement's house ad (counted in no-fills too).",
		}),
		noFills: make([]prometheus.Counter, len(reasons)),
	}
	for i, l := range labels {
		m.noFills[i] = noFills.WithLabelValues(l)
	}
	if err := promreg.Register(reg, "ad", m.fills, m.houseAds, noFills); err != nil {
		return metrics{}, err
	}
	return m, nil
}

func (m *metrics) noFill(why exchange.NoFill) { m.noFills[why].Inc() }
