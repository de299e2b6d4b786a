package exchange

import (
	"bytes"
	"encoding/json"
)

// Trace is one auction as GET /debug/auction shows it: what each upstream was
// sent and answered, and what became of every bid. Its Hooks fill it in; the
// caller adds what the SDK would have got (Status, Answer).
type Trace struct {
	MRID     string  `json:"mrid"`
	PKey     string  `json:"pkey"`
	BidFloor float64 `json:"bidfloor"`
	// TmaxMs is the placement's tmax, by which the SDK is answered;
	// UpstreamTmaxMs the tmax each upstream is sent.
	TmaxMs         int64           `json:"tmaxMs"`
	UpstreamTmaxMs int64           `json:"upstreamTmaxMs"`
	BidRequest     json.RawMessage `json:"bidRequest,omitempty"`
	Upstreams      []TraceUpstream `json:"upstreams"`
	// Status and Answer are what the SDK would have got.
	Status int             `json:"status"`
	Answer json.RawMessage `json:"answer,omitempty"`
	// Notices are the nurl and lurls the auction would have fired, macros
	// replaced; the trace fires none.
	Notices []string `json:"notices"`
}

// TraceUpstream is one upstream's part in a traced auction.
type TraceUpstream struct {
	Name          string  `json:"name"`
	BidAdjustment float64 `json:"bidAdjustment"`
	// BidRequest is what this upstream was sent, when it is not the trace's
	// BidRequest (a Variant changed it).
	BidRequest json.RawMessage `json:"bidRequest,omitempty"`
	// Privacy is what the user's privacy choices allowed this upstream: the
	// caller fills it in (package ad, from package privacy's decision).
	Privacy any `json:"privacy,omitempty"`
	// Outcome is answered, or why there was no answer to judge: after_tmax (none
	// by tmax), timeout, upstream_204, error, breaker_open, invalid_response,
	// unknown_upstream, blocked.
	Outcome   string  `json:"outcome"`
	Status    int     `json:"status,omitempty"`
	Error     string  `json:"error,omitempty"`
	LatencyMs float64 `json:"latencyMs,omitempty"`
	// Answer is the upstream's answer as it came: JSON when it is, else a string.
	Answer any        `json:"answer,omitempty"`
	Bids   []TraceBid `json:"bids"`
}

// TraceBid is one bid of a traced auction and its fate.
type TraceBid struct {
	Seat          string  `json:"seat"`
	ID            string  `json:"id"`
	ImpID         string  `json:"impid"`
	Price         float64 `json:"price"`
	AdjustedPrice float64 `json:"adjustedPrice"`
	// Fate is won, lost_to_higher_bid, below_floor, or the validity rule the bid
	// broke; LossCode its OpenRTB loss reason code.
	Fate     Reason `json:"fate"`
	LossCode int    `json:"lossCode"`
}

// NewTrace returns an empty Trace.
func NewTrace() *Trace { return &Trace{Upstreams: []TraceUpstream{}, Notices: []string{}} }

// Hooks returns base with the hooks that fill tr in: unknown upstreams, the
// requests sent, every answer and fate, and the notices, which are recorded
// instead of fired.
func (tr *Trace) Hooks(base Hooks) Hooks {
	sent := map[string]json.RawMessage{}
	base.Skipped = func(name string, adjustment float64, why NoFill) {
		tr.Upstreams = append(tr.Upstreams, TraceUpstream{Name: name, BidAdjustment: adjustment, Outcome: why.String(), Bids: []TraceBid{}})
	}
	base.Sent = func(name string, body []byte) {
		raw := json.RawMessage(bytes.Clone(bytes.TrimSpace(body)))
		if tr.BidRequest == nil {
			tr.BidRequest = raw
		}
		sent[name] = raw
	}
	base.Decided = func(a *Auction) {
		tr.MRID, tr.PKey, tr.BidFloor = a.Request.ID, tagID(a.Request), a.Floor
		tr.TmaxMs, tr.UpstreamTmaxMs = a.Tmax.Milliseconds(), a.Request.Tmax
		n := len(tr.Upstreams)
		a.trace(tr)
		for i := n; i < len(tr.Upstreams); i++ {
			if u := &tr.Upstreams[i]; !bytes.Equal(sent[u.Name], tr.BidRequest) {
				u.BidRequest = sent[u.Name]
			}
		}
		tr.fates(a, n)
	}
	base.Notice = func(url string) { tr.Notices = append(tr.Notices, url) }
	return base
}

// trace records in tr what each bidder sent back.
func (a *Auction) trace(tr *Trace) {
	for i := range a.bidders {
		b := &a.bidders[i]
		u := TraceUpstream{Name: b.client.Name(), BidAdjustment: b.adjustment, Bids: []TraceBid{}}
		if b.state.Load() != arrived {
			u.Outcome = "after_tmax"
			u.Error = "no answer by tmax: the auction closed without it (asap_upstream_late_answers_total counts it " +
				"if it comes within the return margin, asap_upstream_timeouts_total if not)"
			tr.Upstreams = append(tr.Upstreams, u)
			continue
		}
		u.Outcome, u.Status, u.LatencyMs = "answered", b.status, float64(b.latency.Microseconds())/1000
		if o := b.outcome(); o != NoBid {
			u.Outcome = o.String()
		}
		if b.err != nil {
			u.Error = b.err.Error()
		} else if b.decodeErr != nil {
			u.Error = b.decodeErr.Error()
		}
		if body := b.answer.Bytes(); len(body) > 0 {
			if json.Valid(body) {
				u.Answer = json.RawMessage(bytes.Clone(body))
			} else {
				u.Answer = string(body)
			}
		}
		tr.Upstreams = append(tr.Upstreams, u)
	}
}

// fates copies the fates ranked by the auction into the bids of tr's
// upstreams from the index j on.
func (tr *Trace) fates(a *Auction, j int) {
	for i := range a.bidders {
		b := &a.bidders[i]
		for ; j < len(tr.Upstreams) && tr.Upstreams[j].Name != b.client.Name(); j++ {
		}
		if j == len(tr.Upstreams) {
			return
		}
		u := &tr.Upstreams[j]
		for k := b.start; k < b.end; k++ {
			f := &a.fates[k]
			u.Bids = append(u.Bids, TraceBid{Seat: f.Seat, ID: f.Bid.ID, ImpID: f.Bid.ImpID, Price: f.Bid.Price,
				AdjustedPrice: f.Price, Fate: f.Reason, LossCode: f.Reason.LossCode()})
		}
	}
}
