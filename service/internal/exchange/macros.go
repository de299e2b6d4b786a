package exchange

import (
	"math"
	"strconv"
	"strings"

	"asap/service/internal/bidreq"
	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

// Winner is the bid that won the auction, the seat that made it and its
// adjusted price (its price × its upstream's bidAdjustment), which the SDK gets
// as cpm.
type Winner struct {
	Bid   *openrtb.Bid
	Seat  string
	Price float64
	// Imp is the impression the bid answers; Kind its format, VAST the facts
	// of a video bid's markup.
	Imp  *openrtb.Imp
	Kind format.Kind
	VAST format.VAST
}

// BidFate is one bid of an auction and what became of it.
type BidFate struct {
	Seat string
	Bid  *openrtb.Bid
	// Price is the adjusted price: the bid's price × its upstream's bidAdjustment,
	// to a millionth.
	Price  float64
	Reason Reason
	// Kind is the bid's format (format.Of), once its basic fields passed; VAST
	// the facts of a valid video bid's markup.
	Kind format.Kind
	VAST format.VAST
}

// judge appends to dst the fate of every bid of resp, the answer to req of an
// upstream whose bids are adjusted by adjustment: the rule it breaks, or Valid.
func judge(req *openrtb.BidRequest, resp *openrtb.BidResponse, adjustment float64, dst []BidFate) []BidFate {
	whole := judgeResponse(req, resp)
	for i := range resp.SeatBid {
		sb := &resp.SeatBid[i]
		for j := range sb.Bid {
			b := &sb.Bid[j]
			r, kind, vast := whole, format.Kind(0), format.VAST{}
			if r == Valid {
				r, kind, vast = judgeBid(req, b)
			}
			price := b.Price
			if adjustment != 1 {
				// To a millionth: 2.1 × 0.9 is 1.89 to the SDK, not 1.8900000000000001.
				price = math.Round(b.Price*adjustment*1e6) / 1e6
			}
			if r == Valid && (math.IsInf(price, 0) || math.IsNaN(price)) {
				r = RejectedPrice // a price no JSON number can carry to the SDK
			}
			dst = append(dst, BidFate{Seat: sb.Seat, Bid: b, Price: price, Reason: r, Kind: kind, VAST: vast})
		}
	}
	return dst
}

// rank decides an auction among the valid bids of fates, given in the order of
// the placement's upstreams and of each response's bids: the highest adjusted
// price at or above floor wins, a tie goes to the bid listed first. It sets
// every valid bid's Reason (Won, LostToHigherBid or BelowFloor) and returns the
// winner's index, or -1 when no bid wins.
func rank(fates []BidFate, floor float64) int {
	best := -1
	for i := range fates {
		f := &fates[i]
		if f.Reason != Valid {
			continue
		}
		if f.Price < floor || math.IsNaN(f.Price) {
			f.Reason = BelowFloor
			continue
		}
		if best < 0 || f.Price > fates[best].Price {
			best = i
		}
	}
	for i := range fates {
		if fates[i].Reason == Valid {
			fates[i].Reason = LostToHigherBid
		}
	}
	if best >= 0 {
		fates[best].Reason = Won
	}
	return best
}

// Macros replaces the OpenRTB substitution macros in a winning bid's adm, nurl and
// burl (OpenRTB 2.6 §4.4): the clearing price is the bid's own price, in its own
// terms (ASAP runs a first-price auction of one imp). One Macros serves one answer. It scans for
// "${AUCTION_" itself rather than using a strings.Replacer, whose construction
// cost more than the whole substitution; text without macros is returned as is.
type Macros struct {
	requestID string
	resp      *openrtb.BidResponse
	w         Winner
	clearing  float64 // ${AUCTION_PRICE}
	price     string  // clearing, formatted on first use

	loss     bool // a loss notice: ${AUCTION_LOSS} and ${AUCTION_MIN_TO_WIN} are known
	lossCode int
}

// NewMacros prepares the replacements for winner w of the response resp to the
// request with id requestID: ${AUCTION_PRICE} is the bid's own price (first
// price, in its own terms, whatever its adjustment).
func NewMacros(requestID string, resp *openrtb.BidResponse, w Winner) *Macros {
	return &Macros{requestID: requestID, resp: resp, w: w, clearing: w.Bid.Price}
}

// NewLossMacros prepares the replacements for the lurl of the losing bid l of
// the response resp: ${AUCTION_LOSS} is lossCode, and ${AUCTION_MIN_TO_WIN} and
// ${AUCTION_PRICE} (the clearing price in the loser's terms) are minToWin.
func NewLossMacros(requestID string, resp *openrtb.BidResponse, l Winner, lossCode int, minToWin float64) *Macros {
	return &Macros{requestID: requestID, resp: resp, w: l, clearing: minToWin, loss: true, lossCode: lossCode}
}

// MinToWin is the bid price that a bidder whose prices are adjusted by
// adjustment would have needed to reach the adjusted price price: price ÷
// adjustment, rounded up to a ten-thousandth so that bidding it does reach it.
func MinToWin(price, adjustment float64) float64 {
	if !(adjustment > 0) {
		return price
	}
	v := price / adjustment
	// Up to the next ten-thousandth, but not past a value that is one already
	// but for the division's rounding error.
	if r := math.Ceil(v*1e4-1e-6) / 1e4; !math.IsInf(r, 0) && !math.IsNaN(r) {
		return r
	}
	return v
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
			m.price = strconv.FormatFloat(m.clearing, 'f', -1, 64)
		}
		return m.price, true
	case "MIN_TO_WIN":
		if !m.loss {
			return "", false
		}
		if m.price == "" {
			m.price = strconv.FormatFloat(m.clearing, 'f', -1, 64)
		}
		return m.price, true
	case "LOSS":
		if !m.loss {
			return "", false
		}
		return strconv.Itoa(m.lossCode), true
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
			return bidreq.Currency, true
		}
		return m.resp.Cur, true
	}
	return "", false
}
