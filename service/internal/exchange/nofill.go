package exchange

import "fmt"

// NoFill is why an ad request got no upstream ad: the placement's state, or
// what its auction came to. Each has a label, which metrics (the reason of
// asap_ad_no_fills_total) and the auction trace show.
type NoFill uint8

// The reasons for no fill.
const (
	// NoBid is an auction without a winning bid: the upstreams answered without
	// a valid bid at or above the floor, or came to different ends.
	NoBid NoFill = iota
	// Upstream204 is every upstream answering 204 (no bid).
	Upstream204
	// Timeout is every upstream failing to answer by tmax.
	Timeout
	// Failed is every upstream failing (a transport error, a status other than
	// 200 or 204, an answer too large), or the request failing to encode.
	Failed
	// BreakerOpen is every upstream's circuit breaker open.
	BreakerOpen
	// InvalidResponse is every upstream answering something that is not a
	// BidResponse.
	InvalidResponse
	// UnknownUpstream is a placement naming no upstream that ASAP configures.
	UnknownUpstream
	// Blocked is every upstream left uncalled by the request's Variant (the
	// user's privacy choices).
	Blocked
	// Paused is a placement whose status is not OK.
	Paused
	// NoAdConfig is a placement without an ad section.
	NoAdConfig
	// InvalidAdConfig is a placement whose ad section is invalid.
	InvalidAdConfig

	numNoFills
)

var noFills = [numNoFills]string{
	NoBid:           "no_bid",
	Upstream204:     "upstream_204",
	Timeout:         "timeout",
	Failed:          "error",
	BreakerOpen:     "breaker_open",
	InvalidResponse: "invalid_response",
	UnknownUpstream: "unknown_upstream",
	Blocked:         "blocked",
	Paused:          "paused",
	NoAdConfig:      "no_ad_config",
	InvalidAdConfig: "invalid_ad_config",
}

// NoFills returns every NoFill, in order.
func NoFills() []NoFill {
	out := make([]NoFill, numNoFills)
	for i := range out {
		out[i] = NoFill(i)
	}
	return out
}

// String returns the reason's label.
func (n NoFill) String() string {
	if n >= numNoFills {
		return fmt.Sprintf("NoFill(%d)", uint8(n))
	}
	return noFills[n]
}

// MarshalText makes a NoFill its label in JSON.
func (n NoFill) MarshalText() ([]byte, error) { return []byte(n.String()), nil }
