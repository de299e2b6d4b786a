package ad

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/adquery"
	"asap/service/internal/openrtb"
	"asap/service/internal/privacy"
	"asap/service/internal/promreg"
)

// privacyCacheBytes bounds the cache of decoded consent strings.
const privacyCacheBytes = 8 << 20

// The actions asap_privacy_actions_total counts.
const (
	actionBlocked = iota
	actionIDsRemoved
	actionGeoCoarsened
	numActions
)

var actionNames = [numActions]string{"blocked", "ids_removed", "geo_coarsened"}

// enforcer applies package privacy's decisions to the auction: the request
// every upstream starts from, and each upstream's variant of it.
type enforcer struct {
	decider *privacy.Decider
	vendors config.UpstreamVendors
	actions *prometheus.CounterVec
	counts  map[string]*[numActions]prometheus.Counter // by configured upstream
}

func newEnforcer(cfg config.Ad, reg prometheus.Registerer) (*enforcer, error) {
	e := &enforcer{
		decider: privacy.NewDecider(cfg.GDPRDefault, privacyCacheBytes),
		vendors: cfg.UpstreamVendors,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_privacy_actions_total",
			Help: "Ad requests in which the user's privacy choices kept an upstream from being called (blocked), " +
				"removed the identifiers from its request (ids_removed) or coarsened its location (geo_coarsened), by upstream.",
		}, []string{"upstream", "action"}),
		counts: map[string]*[numActions]prometheus.Counter{},
	}
	for _, u := range cfg.Upstreams {
		var c [numActions]prometheus.Counter
		for i, a := range actionNames {
			c[i] = e.actions.WithLabelValues(u.Name, a)
		}
		e.counts[u.Name] = &c
	}
	if err := promreg.Register(reg, "ad", e.actions); err != nil {
		return nil, err
	}
	return e, nil
}

// privacyNote is one upstream's privacy decision as the auction trace shows it.
type privacyNote struct {
	GDPR     bool `json:"gdpr"`
	VendorID int  `json:"vendorId,omitempty"`
	privacy.Decision
	Why     []string `json:"why,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// requestPrivacy is one ad request's enforcement: its signals evaluated, and,
// when traced, the notes of each upstream's decision.
type requestPrivacy struct {
	enf   *enforcer
	eval  privacy.Evaluation
	base  privacy.Removed // what the request every upstream starts from lost
	notes map[string]privacyNote
}

var one int8 = 1

// prepare evaluates r's signals and returns the request every upstream starts
// from (req itself, or a copy without what no upstream may receive), and the
// auction's Variant: nil when nothing restricts any upstream.
func (e *enforcer) prepare(p *requestPrivacy, r *adquery.Request, req *openrtb.BidRequest) (*openrtb.BidRequest, func(string, *openrtb.BidRequest) (*openrtb.BidRequest, string)) {
	s := r.Signals
	p.enf, p.eval = e, e.decider.Evaluate(&s)
	if !p.eval.Restricts() && p.notes == nil {
		return req, nil
	}
	if p.eval.SetLMT && req.Device != nil {
		req.Device.Lmt = &one
	}
	req, p.base = privacy.Apply(req, p.eval.Base())
	return req, p.variant
}

// variantKeys name the variants by what they removed: upstreams whose requests
// lost the same fields share one encoded body.
var variantKeys = func() (k [128]string) {
	for i := 1; i < len(k); i++ {
		k[i] = strconv.Itoa(i)
	}
	return k
}()

// variant is the exchange.Variant of the request: upstream name's decision,
// counted, noted when traced, and applied to req.
func (p *requestPrivacy) variant(name string, req *openrtb.BidRequest) (*openrtb.BidRequest, string) {
	vendor := p.enf.vendors[name]
	d := p.eval.For(vendor)
	p.enf.count(name, d)
	var out *openrtb.BidRequest
	var removed privacy.Removed
	if !d.Blocked {
		out, removed = privacy.Apply(req, d)
	}
	if p.notes != nil {
		p.notes[name] = privacyNote{GDPR: p.eval.GDPR(), VendorID: vendor, Decision: d, Why: d.Why.Names(), Removed: (p.base | removed).Names()}
	}
	return out, variantKeys[removed&0x7f]
}

func (e *enforcer) count(name string, d privacy.Decision) {
	c, ok := e.counts[name]
	if !ok {
		return // the exchange calls no upstream ASAP_UPSTREAMS lacks
	}
	switch {
	case d.Blocked:
		c[actionBlocked].Inc()
	default:
		if d.RemoveIDs {
			c[actionIDsRemoved].Inc()
		}
		if d.CoarsenGeo {
			c[actionGeoCoarsened].Inc()
		}
	}
}
