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
// first-price auction of one imp). One Macros serves one answer. It scans for
// "${AUCTION_" itself rather than using a strings.Replacer, whose construction
// cost more than the whole substitution; text without macros is returned as is.
type Macros struct {
	requestID string
	resp      *openrtb.BidResponse
	w         Winner
	price     string // formatted on first use
}

// NewMacros prepares the replacements for winner w of the response resp to the
// request with id requestID.
func NewMacros(requestID string, resp *openrtb.BidResponse, w Winner) *Macros {
	return &Macros{requestID: requestID, resp: resp, w: w}
}

const macroPrefix = "${AUCTION_"

// Replace returns s with every known macro replaced; unknown ones are left as
// they are.
func (m *Macros) Replace(s string) string {
	i := strings.Index(s, macroPrefix)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexByte(s, '}')
		if end < 0 {
			break
		}
		if v, ok := m.value(s[len(macroPrefix):end]); ok {
			b.WriteString(v)
			s = s[end+1:]
		} else {
			// Not a macro: keep its "$" and look again from the next byte, as a
			// strings.Replacer would.
			b.WriteByte('$')
			s = s[1:]
		}
		i = strings.Index(s, macroPrefix)
	}
	b.WriteString(s)
	return b.String()
}

func (m *Macros) value(name string) (string, bool) {
	switch name {
	case "PRICE":
		if m.price == "" {
			m.price = strconv.FormatFloat(m.w.Bid.Price, 'f', -1, 64)
		}
		return m.price, true
	case "ID":
		return m.requestID, true
	case "BID_ID":
		return m.resp.BidID, true
	case "IMP_ID":
		return m.w.Bid.ImpID, true
	case "SEAT_ID":
		return m.w.Seat, true
	case "AD_ID":
		return m.w.Bid.AdID, true
	case "CURRENCY":
		if m.resp.Cur == "" {
			return Currency, true
		}
		return m.resp.Cur, true
	}
	return "", false
}
