package ad

import (
	"bytes"
	"testing"
	"time"

	"asap/service/internal/openrtb"
)

const benchQuery = "pkey=demo-feed&uid=6D92078A-8246-4BA4-AE5B-76104861E7DC&appId=com.example.news&appName=Example+News" +
	"&appVersion=4.2.1&creative_key=ck-1&w=300&h=250&os=iOS&osv=17.4&make=Apple&model=iPhone15%2C2&gdpr=1" +
	"&gdpr_consent=CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA&us_privacy=1YNN&lmt=0"

// BenchmarkBuildBidRequest parses the SDK's query, maps it and encodes the
// BidRequest: ASAP's work before the upstream is called.
func BenchmarkBuildBidRequest(b *testing.B) {
	p := feedPlacement()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		q, err := ParseQuery(benchQuery)
		if err != nil {
			b.Fatal(err)
		}
		r := Request{Query: q, UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)", IP: "203.0.113.77"}
		buf.Reset()
		if err := encodeRequest(&buf, BuildBidRequest(&r, p, "0b1c8a9e-6f53-4a4e-9d6f-2f7c3d1e5a44", 250*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}

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
	req := &openrtb.BidRequest{ID: "0b1c8a9e-6f53-4a4e-9d6f-2f7c3d1e5a44", Imp: []openrtb.Imp{{ID: "1"}}, Cur: []string{"USD"}}
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
		a := WinAnswer(resp.ID, resp.ID, w, m.Replace(w.Bid.AdM), m.Replace(w.Bid.BURL))
		out.Reset()
		if err := a.Encode(&out); err != nil {
			b.Fatal(err)
		}
	}
}
