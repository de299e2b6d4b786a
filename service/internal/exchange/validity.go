package exchange

import (
	"fmt"
	"math"
	"strings"

	"asap/service/internal/bidreq"
	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

// Reason is what became of one bid in an auction: it took part (Valid, then Won
// or lost), or it was rejected before the auction for breaking a validity rule.
// Each reason has a label (metrics, logs, the auction trace) and an OpenRTB 2.6
// loss reason code (the ${AUCTION_LOSS} of the bid's lurl).
type Reason uint8

// The reasons. The validity rules are Prebid Server's (validateBid) plus markup,
// which the SDK needs: a bid takes part only with an id, an impid naming an imp
// of the request, a crid, an adm, and a price above 0 (or exactly 0 with a
// dealid), in a response carrying the request's id and one of its currencies.
const (
	// Valid is a bid that takes part; the auction decides its fate.
	Valid Reason = iota
	// Won is the auction's winner.
	Won
	// LostToHigherBid is a valid bid that another one outbid (or tied, listed
	// earlier).
	LostToHigherBid
	// BelowFloor is a valid bid whose adjusted price is below the floor.
	BelowFloor

	// RejectedResponseID is every bid of a response whose id is not the request's.
	RejectedResponseID
	// RejectedCurrency is every bid of a response in a currency the request did not offer.
	RejectedCurrency
	// RejectedNoID is a bid without an id.
	RejectedNoID
	// RejectedImpID is a bid whose impid names no imp of the request.
	RejectedImpID
	// RejectedNoPrice is a bid priced 0 without a deal.
	RejectedNoPrice
	// RejectedPrice is a bid with a negative or non-finite price.
	RejectedPrice
	// RejectedNoCreativeID is a bid without a crid.
	RejectedNoCreativeID
	// RejectedNoMarkup is a bid without an adm.
	RejectedNoMarkup
	// RejectedFormat is a bid of a format its impression did not offer.
	RejectedFormat
	// RejectedCreative is a video bid whose markup is not a VAST document ASAP
	// serves, or a native bid whose markup is not a Native response with every
	// required asset.
	RejectedCreative
	// RejectedSize is a banner bid whose w and h are not a requested size.
	RejectedSize
	// RejectedAdvertiser is a bid whose adomain the request blocked (badv).
	RejectedAdvertiser
	// RejectedCategory is a bid whose cat the request blocked (bcat).
	RejectedCategory

	numReasons
)

// OpenRTB 2.6 loss reason codes (List: Loss Reason Codes).
const (
	lossWon                = 0
	lossInvalidBidResponse = 3
	lossInvalidAuctionID   = 5
	lossMissingMarkup      = 7
	lossMissingCreativeID  = 8
	lossMissingBidPrice    = 9
	lossBelowAuctionFloor  = 100
	lossLostToHigherBid    = 102
	lossCreativeFiltered   = 200
	lossCreativeSize       = 203
	lossCreativeFormat     = 204
	lossCreativeAdvertiser = 205
	lossCreativeCategory   = 209
)

var reasons = [numReasons]struct {
	label string
	loss  int
}{
	Valid:                {"valid", lossWon},
	Won:                  {"won", lossWon},
	LostToHigherBid:      {"lost_to_higher_bid", lossLostToHigherBid},
	BelowFloor:           {"below_floor", lossBelowAuctionFloor},
	RejectedResponseID:   {"response_id", lossInvalidAuctionID},
	RejectedCurrency:     {"currency", lossInvalidBidResponse},
	RejectedNoID:         {"no_id", lossInvalidBidResponse},
	RejectedImpID:        {"imp_id", lossInvalidBidResponse},
	RejectedNoPrice:      {"no_price", lossMissingBidPrice},
	RejectedPrice:        {"invalid_price", lossInvalidBidResponse},
	RejectedNoCreativeID: {"no_crid", lossMissingCreativeID},
	RejectedNoMarkup:     {"no_markup", lossMissingMarkup},
	RejectedFormat:       {"format_not_offered", lossCreativeFormat},
	RejectedCreative:     {"invalid_creative", lossCreativeFiltered},
	RejectedSize:         {"size_not_requested", lossCreativeSize},
	RejectedAdvertiser:   {"blocked_advertiser", lossCreativeAdvertiser},
	RejectedCategory:     {"blocked_category", lossCreativeCategory},
}

// String returns the reason's label, as metrics and logs show it.
func (r Reason) String() string {
	if r >= numReasons {
		return "unknown"
	}
	return reasons[r].label
}

// MarshalText makes a Reason its label in JSON.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a Reason from its label.
func (r *Reason) UnmarshalText(text []byte) error {
	for i := range numReasons {
		if reasons[i].label == string(text) {
			*r = i
			return nil
		}
	}
	return fmt.Errorf("exchange: no bid fate %q", text)
}

// LossCode returns the OpenRTB 2.6 loss reason code of r: 0 for a winner, 102
// lost to a higher bid, 100 below the floor, and for a rejected bid the code of
// the rule it broke (5 invalid auction id, 7 missing markup, 8 missing creative
// id, 9 missing bid price, 200 invalid creative, 203 size, 204 format, 205
// advertiser, 209 category, 3 invalid bid response for the rest).
func (r Reason) LossCode() int {
	if r >= numReasons {
		return lossInvalidBidResponse
	}
	return reasons[r].loss
}

// Rejected reports whether r is the breach of a validity rule.
func (r Reason) Rejected() bool { return r >= RejectedResponseID && r < numReasons }

// judgeResponse returns why every bid of resp is rejected, or Valid when the
// response itself is the request's answer: it carries the request's id and one
// of the request's currencies (no cur means USD, OpenRTB's default).
func judgeResponse(req *openrtb.BidRequest, resp *openrtb.BidResponse) Reason {
	if resp.ID != req.ID {
		return RejectedResponseID
	}
	cur := resp.Cur
	if cur == "" {
		cur = bidreq.Currency
	}
	if len(req.Cur) == 0 {
		if !strings.EqualFold(cur, bidreq.Currency) {
			return RejectedCurrency
		}
		return Valid
	}
	for _, c := range req.Cur {
		if strings.EqualFold(cur, c) {
			return Valid
		}
	}
	return RejectedCurrency
}

// judgeBid returns the first validity rule b breaks, or Valid, and the bid's
// format with what its markup says (the VAST facts of a video bid).
func judgeBid(req *openrtb.BidRequest, b *openrtb.Bid) (Reason, format.Kind, format.VAST) {
	imp := findImp(req, b.ImpID)
	switch {
	case b.ID == "":
		return RejectedNoID, 0, format.VAST{}
	case imp == nil:
		return RejectedImpID, 0, format.VAST{}
	case math.IsNaN(b.Price) || math.IsInf(b.Price, 0) || b.Price < 0:
		return RejectedPrice, 0, format.VAST{}
	case b.Price == 0 && b.DealID == "":
		return RejectedNoPrice, 0, format.VAST{}
	case b.CrID == "":
		return RejectedNoCreativeID, 0, format.VAST{}
	case b.AdM == "":
		return RejectedNoMarkup, 0, format.VAST{}
	}
	offered := format.Offered(imp)
	kind := format.Of(b.MType, offered, b.AdM)
	var vast format.VAST
	switch {
	case !offered.Has(kind):
		return RejectedFormat, kind, vast
	case kind == format.Video:
		var err error
		if vast, err = format.ReadVAST(b.AdM); err != nil {
			return RejectedCreative, kind, vast
		}
	case kind == format.Native:
		if _, err := ParseNative(imp, b.AdM); err != nil {
			return RejectedCreative, kind, vast
		}
	case kind == format.Banner:
		if !requestedSize(imp.Banner, b.W, b.H) {
			return RejectedSize, kind, vast
		}
	}
	switch {
	case blockedAdvertiser(req.Badv, b.ADomain):
		return RejectedAdvertiser, kind, vast
	case blockedCategory(req.Bcat, b.Cat):
		return RejectedCategory, kind, vast
	}
	return Valid, kind, vast
}

// ParseNative reads the native ad of adm, a bid's markup for imp, with every
// asset imp's Native request marked required.
func ParseNative(imp *openrtb.Imp, adm string) (format.NativeAd, error) {
	if imp.Native == nil || imp.Native.Request == format.NativeRequest {
		return format.ParseNative(adm)
	}
	assets, err := format.NativeAssets(imp.Native.Request)
	if err != nil {
		return format.NativeAd{}, err
	}
	return format.ParseNativeFor(adm, assets)
}

func findImp(req *openrtb.BidRequest, id string) *openrtb.Imp {
	if id == "" {
		return nil
	}
	for i := range req.Imp {
		if req.Imp[i].ID == id {
			return &req.Imp[i]
		}
	}
	return nil
}

// requestedSize reports whether a banner bid of size w×h answers b: a size of
// its formats, or its w and h. A bid without a size (w and h 0, which OpenRTB
// allows) is taken to fit.
func requestedSize(b *openrtb.Banner, w, h int64) bool {
	if w == 0 && h == 0 {
		return true
	}
	if b.W == w && b.H == h {
		return true
	}
	for _, f := range b.Format {
		if f.W == w && f.H == h {
			return true
		}
	}
	return false
}

// blockedAdvertiser reports whether an adomain of the bid is in badv, or a
// subdomain of one of them, without regard to case.
func blockedAdvertiser(badv, adomain []string) bool {
	return anyBlocked(badv, adomain, func(d, b string) bool {
		return len(d) > len(b) && d[len(d)-len(b)-1] == '.' && strings.EqualFold(d[len(d)-len(b):], b)
	})
}

// blockedCategory reports whether a cat of the bid is in bcat or under one of
// them (IAB25 covers IAB25-3), without regard to case.
func blockedCategory(bcat, cat []string) bool {
	return anyBlocked(bcat, cat, func(c, b string) bool {
		return len(c) > len(b) && c[len(b)] == '-' && strings.EqualFold(c[:len(b)], b)
	})
}

// anyBlocked reports whether a value of vals equals a non-empty entry of
// blocked, without regard to case, or falls under one (under(value, entry)).
func anyBlocked(blocked, vals []string, under func(v, b string) bool) bool {
	for _, v := range vals {
		for _, b := range blocked {
			if b != "" && (strings.EqualFold(v, b) || under(v, b)) {
				return true
			}
		}
	}
	return false
}
