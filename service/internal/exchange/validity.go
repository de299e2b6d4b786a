package exchange

import (
	"fmt"
	"math"
	"strings"

	"asap/service/internal/bidreq"
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
// id, 9 missing bid price, 3 invalid bid response for the rest).
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

// judgeBid returns the first validity rule b breaks, or Valid.
func judgeBid(req *openrtb.BidRequest, b *openrtb.Bid) Reason {
	switch {
	case b.ID == "":
		return RejectedNoID
	case !hasImp(req, b.ImpID):
		return RejectedImpID
	case math.IsNaN(b.Price) || math.IsInf(b.Price, 0) || b.Price < 0:
		return RejectedPrice
	case b.Price == 0 && b.DealID == "":
		return RejectedNoPrice
	case b.CrID == "":
		return RejectedNoCreativeID
	case b.AdM == "":
		return RejectedNoMarkup
	}
	return Valid
}

func hasImp(req *openrtb.BidRequest, id string) bool {
	if id == "" {
		return false
	}
	for i := range req.Imp {
		if req.Imp[i].ID == id {
			return true
		}
	}
	return false
}
