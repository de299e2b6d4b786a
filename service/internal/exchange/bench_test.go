package exchange

import (
	"bytes"
	"testing"

	"asap/service/internal/adanswer"
	"asap/service/internal/openrtb"
)

var benchResponse = []byte(`{"id":"0b1c8a9e-6f53-4a4e-9d6f-2f7c3d1e5a44","bidid":"demo-1","cur":"USD","seatbid":[` +
	`{"seat":"s1","bid":[{"id":"b1","impid":"1","price":0.9,"adm":"<div>a</div>","crid":"c1","cid":"k1"}]},` +
	`{"seat":"s2","bid":[{"id":"b2","impid":"1","price":1.73,"nurl":"http://ads.example/win?p=${AUCTION_PRICE}&a=${AUCTION_ID}",` +
	`"burl":"http://ads.example/imp?p=${AUCTION_PRICE}&a=${AUCTION_ID}","adm":"<div class=\"demo-ad\" style=\"width:300px;height:250px\">` +
	`<a href=\"https://advertiser.example/landing\"><img src=\"https://cdn.example/creative/300x250.png\"></a>` +
	`<img src=\"http://ads.example/px?p=${AUCTION_PRICE}\" width=\"1\" height=\"1\"></div>","adid":"ad-1",` +
	`"adomain":["advertiser.example"],"cid":"camp-1","crid":"cr-1","w":300,"h":250,"mtype":1}]}]}`)

// BenchmarkAnswer decodes a BidResponse, selects the winner, replaces the macros
// and encodes the SDK's answer: ASAP's work after the upstream answers.
func BenchmarkAnswer(b *testing.B) {
	var out bytes.Buffer
	req := &openrtb.BidRequest{ID: "0b1c8a9e-6f53-4a4e-9d6f-2f7c3d1e5a44", Imp: []openrtb.Imp{{ID: "1", Banner: &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}}}}}, Cur: []string{"USD"}}
	var fates []BidFate
	b.ReportAllocs()
	b.SetBytes(int64(len(benchResponse)))
	for b.Loop() {
		var resp openrtb.BidResponse
		if err := openrtb.DecodeBidResponse(benchResponse, &resp); err != nil {
			b.Fatal(err)
		}
		fates = judge(req, &resp, 1, fates[:0])
		best := rank(fates, 0.5)
		if best < 0 {
			b.Fatal("no winner")
		}
		w := Winner{Bid: fates[best].Bid, Seat: fates[best].Seat, Price: fates[best].Price}
		m := NewMacros(resp.ID, &resp, w)
		_ = m.Replace(w.Bid.NURL)
		a := adanswer.Win(resp.ID, resp.ID, w.Bid, w.Price, m.Replace(w.Bid.AdM), m.Replace(w.Bid.BURL))
		out.Reset()
		if err := a.Encode(&out); err != nil {
			b.Fatal(err)
		}
	}
}
