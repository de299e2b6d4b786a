package ad

import (
	"math"
	"strconv"
	"strings"

	"asap/service/internal/openrtb"
)

// Winner is the bid that won the auction and the seat that made it.
type Winner struct {
	Bid  *openrtb.Bid
	Seat string
}

// SelectWinner returns the highest-priced bid across every seatbid of resp; on a
// tie the first one wins. Bids without an id, priced below floor, or not finite are
// ignored, and so is everything when the response's currency is not ASAP's. ok is
// false when no bid is left.
//
// ASAP offers one impression, so every bid is taken as a bid on it whatever its impid.
func SelectWinner(resp *openrtb.BidResponse, floor float64) (w Winner, ok bool) {
	if resp.Cur != "" && !strings.EqualFold(resp.Cur, Currency) {
		return Winner{}, false
	}
	best := math.Inf(-1)
	for i := range resp.SeatBid {
		sb := &resp.SeatBid[i]
		for j := range sb.Bid {
			b := &sb.Bid[j]
			if b.ID == "" || b.Price < floor || b.Price < 0 || math.IsInf(b.Price, 0) || math.IsNaN(b.Price) {
				continue
			}
			if b.Price > best {
				best, w = b.Price, Winner{Bid: b, Seat: sb.Seat}
			}
		}
	}
	return w, w.Bid != nil
}

// Macros replaces the OpenRTB substitution macros in a winning bid's adm, nurl and
// burl (OpenRTB 2.6 §4.4): the clearing price is the bid's own price (ASAP runs a
// first-price auction of one imp). The one strings.Replacer of an answer is built
// on first use, so bids without macros cost nothing.
type Macros struct {
	requestID string
	resp      *openrtb.BidResponse
	w         Winner
	r         *strings.Replacer
}

// NewMacros prepares the replacements for winner w of the response resp to the
// request with id requestID.
func NewMacros(requestID string, resp *openrtb.BidResponse, w Winner) *Macros {
	return &Macros{requestID: requestID, resp: resp, w: w}
}

// Replace returns s with every macro replaced; s is returned as is when it holds
// none.
func (m *Macros) Replace(s string) string {
	if !strings.Contains(s, "${AUCTION_") {
		return s
	}
	if m.r == nil {
		cur := m.resp.Cur
		if cur == "" {
			cur = Currency
		}
		m.r = strings.NewReplacer(
			"${AUCTION_PRICE}", strconv.FormatFloat(m.w.Bid.Price, 'f', -1, 64),
			"${AUCTION_ID}", m.requestID,
			"${AUCTION_BID_ID}", m.resp.BidID,
			"${AUCTION_IMP_ID}", m.w.Bid.ImpID,
			"${AUCTION_SEAT_ID}", m.w.Seat,
			"${AUCTION_AD_ID}", m.w.Bid.AdID,
			"${AUCTION_CURRENCY}", cur,
		)
	}
	return m.r.Replace(s)
}
