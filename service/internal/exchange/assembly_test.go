package exchange

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"asap/service/internal/adanswer"
	"asap/service/internal/openrtb"
)

// FuzzAuctionAnswer: three upstreams' answers, whatever they hold, judged,
// ranked and assembled into the SDK's answer. It never panics; the winner is a
// valid bid with the highest adjusted price at or above the floor (the first
// listed among equals); the answer is JSON with the winner's adjusted price as
// cpm; every loss code is OpenRTB's for the bid's fate.
func FuzzAuctionAnswer(f *testing.F) {
	one := func(price string) []byte {
		return []byte(`{"id":"req","seatbid":[{"seat":"s","bid":[{"id":"b` + price + `","impid":"1","price":` + price +
			`,"crid":"c","adm":"<b>${AUCTION_PRICE}</b>","burl":"http://x/${AUCTION_PRICE}","lurl":"http://x/${AUCTION_LOSS}/${AUCTION_MIN_TO_WIN}"}]}]}`)
	}
	f.Add(one("1.5"), one("2"), one("0.4"), 1.0, 0.9, 0.5)
	f.Add(one("1"), one("2"), []byte(`{"id":"other","seatbid":[{"bid":[{"id":"x","impid":"1","price":9,"crid":"c","adm":"m"}]}]}`), 2.0, 1.0, 0.0)
	f.Add([]byte(`{}`), []byte(`null`), []byte(`{"id":"req","seatbid":[{"bid":[{"id":"d","impid":"1","price":0,"dealid":"x","crid":"c","adm":"m"}]}]}`), 1.0, 1.0, 0.0)
	f.Add(one("1e308"), one("1e308"), one("5e-324"), 10.0, 1e-300, 1.0)
	req := &openrtb.BidRequest{ID: "req", Imp: []openrtb.Imp{{ID: "1", Banner: &openrtb.Banner{}}}, Cur: []string{"USD"}}
	f.Fuzz(func(t *testing.T, b1, b2, b3 []byte, adj1, adj2, floor float64) {
		adjs := []float64{adj1, adj2, 1}
		for _, a := range adjs {
			if !(a > 0) || math.IsInf(a, 0) { // what placement validation lets through
				return
			}
		}
		if !(floor >= 0) || math.IsInf(floor, 0) {
			return
		}
		resps := make([]openrtb.BidResponse, 3)
		var fates []BidFate
		var from []int
		for i, body := range [][]byte{b1, b2, b3} {
			if openrtb.DecodeBidResponse(body, &resps[i]) != nil {
				continue
			}
			n := len(fates)
			fates = judge(req, &resps[i], adjs[i], fates)
			for range fates[n:] {
				from = append(from, i)
			}
		}
		best := rank(fates, floor)
		for i, f := range fates {
			if f.Reason == Valid {
				t.Fatalf("bid %d left undecided", i)
			}
			if best >= 0 && i != best && f.Reason == LostToHigherBid && f.Price > fates[best].Price {
				t.Fatalf("bid %d at %v lost to %v", i, f.Price, fates[best].Price)
			}
			if best >= 0 && i < best && f.Reason == LostToHigherBid && f.Price == fates[best].Price {
				t.Fatalf("bid %d listed first lost a tie", i)
			}
			if f.Reason == Won && i != best {
				t.Fatalf("bid %d won, not the winner %d", i, best)
			}
			if m := MinToWin(f.Price, adjs[from[i]]); math.IsNaN(m) {
				t.Fatalf("min to win of %v: NaN", f.Price)
			}
		}
		if best < 0 {
			return
		}
		w := fates[best]
		if w.Price < floor || w.Bid.CrID == "" || w.Bid.AdM == "" || w.Bid.ID == "" {
			t.Fatalf("winner %+v breaks a rule (floor %v)", w, floor)
		}
		m := NewMacros("req", &resps[from[best]], Winner{Bid: w.Bid, Seat: w.Seat, Price: w.Price})
		a := adanswer.Win("req", resps[from[best]].ID, w.Bid, w.Price, m.Replace(w.Bid.AdM), m.Replace(w.Bid.BURL))
		var out bytes.Buffer
		if err := a.Encode(&out); err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back adanswer.Answer
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("answer %s: %v", out.Bytes(), err)
		}
		if back.Creatives[0].CPM != w.Price {
			t.Fatalf("cpm %v; want the adjusted price %v", back.Creatives[0].CPM, w.Price)
		}
	})
}
