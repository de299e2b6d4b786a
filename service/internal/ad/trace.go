package ad

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"asap/service/internal/placement"
	"asap/service/internal/query"
)

// Trace is one auction as GET /debug/auction shows it: what each upstream was
// sent and answered, and what became of every bid.
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
	// Outcome is answered, or why there was no answer to judge: after_tmax (none
	// by tmax), timeout, upstream_204, error, breaker_open, invalid_response,
	// unknown_upstream.
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

// Trace runs the auction of one ad request as Serve does, without firing any
// notice, and returns what happened. The error is the placement lookup's.
func (s *Service) Trace(ctx context.Context, r *Request) (*Trace, error) {
	tr := &Trace{Upstreams: []TraceUpstream{}, Notices: []string{}}
	var out bytes.Buffer
	status, err := s.serve(ctx, r, &out, tr)
	if err != nil {
		return nil, err
	}
	tr.Status = status
	if status == http.StatusOK {
		tr.Answer = json.RawMessage(bytes.TrimSpace(out.Bytes()))
	}
	return tr, nil
}

// trace records in tr what each bidder sent back. It runs before the ranking,
// which fills in the bids' fates through pointers kept in tr.
func (a *auction) trace(tr *Trace) {
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
		if o := b.outcome(); o != "no_bid" {
			u.Outcome = o
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

// fates copies the fates ranked by the auction into tr's bids.
func (tr *Trace) fates(a *auction) {
	j := 0
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

// TraceHandler serves GET /debug/auction on the admin listener: the query of
// GET /v2/ad, the auction's Trace as JSON. The client IP is the peer's (the
// admin listener is never behind the load balancer).
func TraceHandler(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q, err := ParseQuery(req.URL.RawQuery)
		if err != nil {
			var pe *query.Error
			if errors.As(err, &pe) {
				writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "param": pe.Param, "problem": pe.Problem})
			} else {
				writeJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "param": "query", "problem": "malformed"})
			}
			return
		}
		ip, _, _ := net.SplitHostPort(req.RemoteAddr)
		tr, err := svc.Trace(req.Context(), &Request{Query: q, UserAgent: req.UserAgent(), IP: ip})
		switch {
		case errors.Is(err, placement.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "problem": "no such placement"})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "problem": err.Error()})
		default:
			writeJSON(w, http.StatusOK, tr)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
