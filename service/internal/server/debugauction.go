package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"asap/service/internal/adquery"
	"asap/service/internal/exchange"
	"asap/service/internal/placement"
	"asap/service/internal/query"
)

// AuctionTracer runs one ad request's auction without firing notices and
// returns its trace. *ad.Service implements it.
type AuctionTracer interface {
	Trace(ctx context.Context, r *adquery.Request) (*exchange.Trace, error)
}

// AuctionTrace serves GET /debug/auction on the admin listener: the query of
// GET /v2/ad, the auction's trace as JSON. The client IP is the peer's (the
// admin listener is never behind the load balancer).
func AuctionTrace(svc AuctionTracer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q, err := adquery.Parse(req.URL.RawQuery)
		if err != nil {
			var pe *query.Error
			if errors.As(err, &pe) {
				writeDebugJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "param": pe.Param, "problem": pe.Problem})
			} else {
				writeDebugJSON(w, http.StatusBadRequest, map[string]string{"status": "error", "param": "query", "problem": "malformed"})
			}
			return
		}
		ip, _, _ := net.SplitHostPort(req.RemoteAddr)
		tr, err := svc.Trace(req.Context(), &adquery.Request{Query: q, UserAgent: req.UserAgent(), IP: ip})
		switch {
		case errors.Is(err, placement.ErrNotFound):
			writeDebugJSON(w, http.StatusNotFound, map[string]string{"status": "error", "problem": "no such placement"})
		case err != nil:
			writeDebugJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "problem": err.Error()})
		default:
			writeDebugJSON(w, http.StatusOK, tr)
		}
	})
}

// writeDebugJSON writes v indented, for people reading a trace.
func writeDebugJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
