// Package exchange runs the server-side auction of one ad request: it sends the
// BidRequest to every upstream a placement names at once, judges each bid
// against what the request asked (bid validity), ranks the valid bids, fires
// the winner's and the losers' notices, and counts every bid's fate by upstream.
//
// It knows nothing of the SDK: what comes in is a BidRequest, what goes out is
// the winning bid (with its macros) or why there is none (a NoFill).
package exchange

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/bidreq"
	"asap/service/internal/bufpool"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
	"asap/service/internal/promreg"
	"asap/service/internal/upstream"
)

// Deps are what an Exchange needs.
type Deps struct {
	// Upstreams are the configured upstream ad servers.
	Upstreams *upstream.Set
	// Notifier fires win and loss notices.
	Notifier *upstream.Notifier
	// Logger logs what an operator must fix (a placement naming an unknown
	// upstream), once per cause, and each rejected bid at debug. Nil discards.
	Logger *slog.Logger
	// Registerer receives asap_ad_unknown_upstreams_total. Nil registers it
	// nowhere.
	Registerer prometheus.Registerer
}

// Exchange runs auctions. It is safe for concurrent use.
type Exchange struct {
	upstreams *upstream.Set
	log       *slog.Logger
	hooks     Hooks    // the default hooks: notices fired, nothing observed
	unknown   sync.Map // upstream names already logged as unknown

	unknownUpstreams prometheus.Counter
}

// New returns an Exchange.
func New(d Deps) (*Exchange, error) {
	if d.Upstreams == nil || d.Notifier == nil {
		return nil, errors.New("exchange: Upstreams and Notifier are required")
	}
	e := &Exchange{upstreams: d.Upstreams, log: d.Logger}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.hooks = Hooks{
		Skipped: func(string, float64, NoFill) {},
		Sent:    func(string, []byte) {},
		Decided: func(*Auction) {},
		Notice:  func(url string) { d.Notifier.Notify(url) },
	}
	e.unknownUpstreams = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asap_ad_unknown_upstreams_total",
		Help: "Upstreams named by a placement but not configured in ASAP_UPSTREAMS, skipped (once per ad request each).",
	})
	if err := promreg.Register(d.Registerer, "exchange", e.unknownUpstreams); err != nil {
		return nil, err
	}
	return e, nil
}

// Hooks returns the exchange's default hooks, which fire notices and observe
// nothing: a trace starts from them and replaces what it watches.
func (e *Exchange) Hooks() Hooks { return e.hooks }

// Auction is one ad request's auction. The caller sets the exported fields,
// calls Exchange.Run, reads the outcome (Winner, NoFill) and calls Release.
// An Auction is used once.
type Auction struct {
	// Request is the BidRequest of the ad request; every bid is judged
	// against it.
	Request *openrtb.BidRequest
	// Bidders are the placement's upstreams, in the placement's order (ties
	// go to the one listed first).
	Bidders []placement.Bidder
	// Floor is the lowest adjusted price that wins.
	Floor float64
	// Start is when the ad request arrived; Tmax how long after it the SDK is
	// answered, with what has arrived by then.
	Start time.Time
	Tmax  time.Duration
	// Margin is how long after the deadline an answer is still read (and
	// counted late) rather than cut: a cut costs the connection.
	Margin time.Duration
	// Variant, when set, derives the request each upstream is sent (see
	// Variant). Nil sends Request to every upstream.
	Variant Variant
	// Hooks observe the auction. Nil means the exchange's defaults; a non-nil
	// Hooks must have every field set (start from Exchange.Hooks).
	Hooks *Hooks

	bidders  []bidder
	clients  [4]bidder
	deadline time.Time
	// fates are the bids of every arrived bidder, in the bidders' order; from
	// gives each one's bidder.
	fates []BidFate
	from  []int
	store [8]BidFate
	ints  [8]int
	best  int // index of the winner in fates, or -1
	why   NoFill
	mrid  string
	win   *Macros
}

// Variant derives from req the request the upstream name is sent, and a key
// naming it: upstreams whose variants have equal keys share one encoded body,
// so that a request is encoded once per distinct variant. A Variant returns req
// itself (key "") when the upstream gets it unchanged, and must not modify req:
// it copies what it changes. A nil v means the upstream is not called (Blocked).
// Bids are judged against the Auction's Request.
type Variant func(name string, req *openrtb.BidRequest) (v *openrtb.BidRequest, key string)

// Hooks observe one auction, as net/http/httptrace's ClientTrace observes an
// HTTP request: the exchange calls each at its point, whatever it does, so that
// observing adds no branches to the auction.
type Hooks struct {
	// Skipped is called for each upstream of the placement that is not called:
	// ASAP does not configure it (UnknownUpstream), or the Variant blocked it
	// (Blocked).
	Skipped func(name string, adjustment float64, why NoFill)
	// Sent is called with each upstream's encoded BidRequest before the
	// fan-out; upstreams sharing a body get the same slice. It must not keep
	// body past the Auction's Release.
	Sent func(name string, body []byte)
	// Decided is called once every bid's fate is known, before any notice is
	// fired: the Auction's bidders, answers and fates are readable until its
	// Release (Trace reads them).
	Decided func(a *Auction)
	// Notice is called with each nurl and lurl, macros replaced. The default
	// fires it; a trace records it instead.
	Notice func(url string)
}

// Run runs the auction a: every configured bidder is sent its request at once,
// and Run returns when all have answered, at the deadline, or when ctx ends,
// whichever comes first. The ranking, the notices and the counts are done
// when it returns; a.Winner tells whether a bid won.
func (e *Exchange) Run(ctx context.Context, a *Auction) {
	h := a.Hooks
	if h == nil {
		h = &e.hooks
	}
	a.best, a.deadline = -1, a.Start.Add(a.Tmax)
	a.mrid = a.Request.ID
	a.bidders = a.clients[:0]
	skipped := numNoFills // why every upstream was skipped, if they all were for one reason
	skip := func(name string, adjustment float64, why NoFill) {
		h.Skipped(name, adjustment, why)
		if skipped == numNoFills {
			skipped = why
		} else if skipped != why {
			skipped = NoBid
		}
	}
	for _, b := range a.Bidders {
		client, ok := e.upstreams.Client(b.Name)
		if !ok {
			e.unknownUpstreams.Inc()
			if _, logged := e.unknown.LoadOrStore(b.Name, true); !logged {
				e.log.Error("placement names an upstream that ASAP_UPSTREAMS does not configure; skipping it",
					"pkey", tagID(a.Request), "upstream", b.Name)
			}
			skip(b.Name, b.Adjustment(), UnknownUpstream)
			continue
		}
		req, key := a.Request, ""
		if a.Variant != nil {
			if req, key = a.Variant(b.Name, a.Request); req == nil {
				skip(b.Name, b.Adjustment(), Blocked)
				continue
			}
		}
		a.bidders = append(a.bidders, bidder{client: client, adjustment: b.Adjustment(), req: req, key: key})
	}
	if len(a.bidders) == 0 {
		a.why = skipped
		if skipped == numNoFills {
			a.why = NoBid // a placement without upstreams, which validation refuses
		}
		h.Decided(a)
		return
	}
	if err := a.encode(h); err != nil {
		// Only non-finite floats fail to encode, and no placement holds one.
		a.bidders = a.bidders[:0]
		a.why = Failed
		h.Decided(a)
		return
	}
	a.fanOut(ctx)
	a.best = rank(a.fates, a.Floor)
	h.Decided(a)
	e.count(a)
	if a.best < 0 {
		a.why = a.noFill()
	} else {
		w := &a.fates[a.best]
		a.win = NewMacros(a.mrid, &a.bidders[a.from[a.best]].resp, Winner{Bid: w.Bid, Seat: w.Seat, Price: w.Price})
		if u := a.win.Replace(w.Bid.NURL); u != "" {
			h.Notice(u)
		}
	}
	a.notifyLosers(h)
}

// encode makes the body each bidder is sent: once per distinct variant (once
// in all without a Variant), before anything is sent, into buffers of bufpool
// that the calls give back (body).
func (a *Auction) encode(h *Hooks) error {
	var (
		keys   [4]string
		bodies [4]*body
		n      int
	)
	for i := range a.bidders {
		b := &a.bidders[i]
		for j := range n {
			if keys[j] == b.key {
				b.body = bodies[j]
				break
			}
		}
		if b.body == nil {
			buf := bufpool.Get()
			enc, err := bidreq.Append(buf.AvailableBuffer(), b.req)
			if err != nil {
				bufpool.Put(buf)
				return err
			}
			if len(enc) <= buf.Available() {
				buf.Write(enc) // encoded in place: the bytes are already there
			} else {
				// Larger than the pooled buffer (a consent string of a few kB): adopt
				// the encoding's bytes instead of growing the buffer and copying
				// them into it a second time; the larger buffer is pooled after.
				bufpool.Put(buf)
				buf = bytes.NewBuffer(enc)
			}
			b.body = &body{buf: buf}
			if n < len(keys) {
				keys[n], bodies[n] = b.key, b.body
				n++
			}
		}
		b.body.refs.Add(1)
		h.Sent(b.client.Name(), b.body.buf.Bytes())
	}
	return nil
}

// Winner returns the winning bid, and false when no bid won (then NoFill says
// why).
func (a *Auction) Winner() (Winner, bool) {
	if a.best < 0 {
		return Winner{}, false
	}
	f := &a.fates[a.best]
	return Winner{Bid: f.Bid, Seat: f.Seat, Price: f.Price, Imp: findImp(a.Request, f.Bid.ImpID), Kind: f.Kind, VAST: f.VAST}, true
}

// ResponseID returns the id of the winner's BidResponse.
func (a *Auction) ResponseID() string {
	if a.best < 0 {
		return ""
	}
	return a.bidders[a.from[a.best]].resp.ID
}

// Replace returns s with the winner's macros replaced (see Macros); s as is
// when no bid won.
func (a *Auction) Replace(s string) string {
	if a.win == nil {
		return s
	}
	return a.win.Replace(s)
}

// NoFill returns why no bid won; meaningful only when Winner reports none.
func (a *Auction) NoFill() NoFill { return a.why }

// count counts every bid of a by upstream and fate, and logs each rejection at
// debug.
func (e *Exchange) count(a *Auction) {
	for i := range a.bidders {
		b := &a.bidders[i]
		if b.state.Load() != arrived {
			continue
		}
		if b.decodeErr != nil {
			b.client.Rejected("invalid_response")
			e.log.Debug("upstream answer rejected", "upstream", b.client.Name(), "mrid", a.mrid, "reason", "invalid_response", "err", b.decodeErr)
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
				e.log.Debug("bid rejected", "upstream", b.client.Name(), "mrid", a.mrid, "reason", f.Reason.String(),
					"bid", f.Bid.ID, "impid", f.Bid.ImpID, "seat", f.Seat, "loss_code", f.Reason.LossCode())
			default:
				b.client.Lost(f.Reason.String())
			}
		}
	}
}

// notifyLosers fires the lurl of every bid but the winner's, with its loss
// reason code and the price it would have needed: the winning adjusted price,
// or the floor when that is higher or nobody won (a bid below the floor or
// rejected hears why even when the SDK gets no ad).
func (a *Auction) notifyLosers(h *Hooks) {
	winning := a.Floor
	if a.best >= 0 {
		winning = max(winning, a.fates[a.best].Price)
	}
	for i := range a.fates {
		f := &a.fates[i]
		if i == a.best || f.Bid.LURL == "" {
			continue
		}
		b := &a.bidders[a.from[i]]
		m := NewLossMacros(a.mrid, &b.resp, Winner{Bid: f.Bid, Seat: f.Seat, Price: f.Price}, f.Reason.LossCode(),
			MinToWin(winning, b.adjustment))
		if u := m.Replace(f.Bid.LURL); u != "" {
			h.Notice(u)
		}
	}
}

func tagID(req *openrtb.BidRequest) string {
	if len(req.Imp) == 0 {
		return ""
	}
	return req.Imp[0].TagID
}
