package exchange

import (
	"strings"
	"testing"

	"asap/service/internal/openrtb"
)

func TestMacros(t *testing.T) {
	resp := &openrtb.BidResponse{ID: "resp-1", BidID: "bidid-7", SeatBid: []openrtb.SeatBid{{Seat: "seat-3",
		Bid: []openrtb.Bid{{ID: "b1", ImpID: "1", Price: 1.25, AdID: "ad-9"}}}}}
	w := Winner{Bid: &resp.SeatBid[0].Bid[0], Seat: "seat-3", Price: 1.25}
	m := NewMacros("mrid-1", resp, w)
	tests := []struct{ in, want string }{
		{"", ""},
		{"no macros", "no macros"},
		{"${AUCTION_PRICE}", "1.25"},
		{"${AUCTION_ID}|${AUCTION_BID_ID}|${AUCTION_IMP_ID}|${AUCTION_SEAT_ID}|${AUCTION_AD_ID}|${AUCTION_CURRENCY}",
			"mrid-1|bidid-7|1|seat-3|ad-9|USD"},
		{"https://x.example/win?p=${AUCTION_PRICE}&p2=${AUCTION_PRICE}", "https://x.example/win?p=1.25&p2=1.25"},
		{"${AUCTION_UNKNOWN} ${AUCTION_PRICE", "${AUCTION_UNKNOWN} ${AUCTION_PRICE"},
		{"a${AUCTION_PRICE}${AUCTION_PRICE}b${AUCTION_LOSS}c", "a1.251.25b${AUCTION_LOSS}c"},
		{"${AUCTION_${AUCTION_PRICE}", "${AUCTION_1.25"},
		{"日本${AUCTION_SEAT_ID}語", "日本seat-3語"},
	}
	for _, tt := range tests {
		if got, want := m.Replace(tt.in), reference.Replace(tt.in); got != want {
			t.Errorf("Replace(%q) = %q; strings.Replacer gives %q", tt.in, got, want)
		}
		if got := m.Replace(tt.in); got != tt.want {
			t.Errorf("Replace(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// reference is what Macros must do for the response of TestMacros and FuzzMacros.
var reference = strings.NewReplacer(
	"${AUCTION_PRICE}", "1.25", "${AUCTION_ID}", "mrid-1", "${AUCTION_BID_ID}", "bidid-7", "${AUCTION_IMP_ID}", "1",
	"${AUCTION_SEAT_ID}", "seat-3", "${AUCTION_AD_ID}", "ad-9", "${AUCTION_CURRENCY}", "USD",
)

// FuzzMacros holds the hand-written scanner to strings.Replacer's result.
func FuzzMacros(f *testing.F) {
	for _, s := range []string{"", "${AUCTION_PRICE}", "x${AUCTION_ID}y${AUCTION_", "${AUCTION_${AUCTION_SEAT_ID}}", "$${AUCTION_AD_ID}}"} {
		f.Add(s)
	}
	resp := &openrtb.BidResponse{ID: "resp-1", BidID: "bidid-7", SeatBid: []openrtb.SeatBid{{Seat: "seat-3",
		Bid: []openrtb.Bid{{ID: "b1", ImpID: "1", Price: 1.25, AdID: "ad-9"}}}}}
	w := Winner{Bid: &resp.SeatBid[0].Bid[0], Seat: "seat-3", Price: 1.25}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := NewMacros("mrid-1", resp, w).Replace(s), reference.Replace(s); got != want {
			t.Fatalf("Replace(%q) = %q; want %q", s, got, want)
		}
	})
}
