package adanswer

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"asap/service/internal/format"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
)

// TestEncodeMatchesEncodingJSON holds Answer.Encode to what a json.Encoder with
// HTML escaping off writes for the same answer.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	bid := openrtb.Bid{ID: "b1", Price: 1.73, CrID: "cr-1", CID: "camp-1", DealID: "deal\"1", W: 300, H: 250,
		ADomain: []string{"advertiser.example", "<b>&"}}
	tests := []struct {
		name string
		a    Answer
	}{
		{"win", Win("mrid-1", "resp-1", &bid, 1.73, `<div class="ad">$1.73 CPM</div>`, "http://ads.example/imp?p=1.73&a=x")},
		{"win without burl or adomain", Win("m", "r", &openrtb.Bid{ID: "b", Price: 1e-7}, 1e-7, "m", "")},
		{"house ad", House("m", &placement.HouseAd{Markup: "<div>\u2028\n\t\x01\xff</div>", W: 320, H: 50})},
		{"large price", Win("m", "r", &openrtb.Bid{Price: 1e21, W: -1}, 1e21, "m", "b")},
		{"video", Answer{MRID: "m", Creatives: []Creative{{AuctionWinID: "v", Creative: CreativeBody{Type: "video", Markup: `<VAST version="4.1"><Ad/></VAST>`,
			VASTVersion: "4.1", Duration: 30, Interstitial: true, Rewarded: true, ADomain: []string{}}, Beacons: Beacons{Impression: []string{}}}}}},
		{"native, every field", Answer{Creatives: []Creative{{Creative: CreativeBody{Type: "native", Native: &format.NativeAd{
			Title: "T <b>", Description: "D", Sponsored: "S & co", CTA: "Install", Image: &format.Image{URL: "https://cdn.example/m.jpg?a=1&b=2", W: 1200, H: 627},
			Icon: &format.Image{URL: "i"}, ClickURL: "https://adv.example/?x=<y>", ClickTrackers: []string{"c"},
			ImpressionTrackers: []string{"i1", "i2"}, PrivacyURL: "p"}}}}}},
		{"native, least", Answer{Creatives: []Creative{{Creative: CreativeBody{Type: "native", Native: &format.NativeAd{Icon: &format.Image{URL: "i", H: 5}}}}}}},
		{"zero value", Answer{}},
		{"empty creatives", Answer{Creatives: []Creative{}}},
		{"nil slices", Answer{Creatives: []Creative{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(tt.a); err != nil {
				t.Fatal(err)
			}
			got := bytes.NewBufferString("prefix ")
			if err := tt.a.Encode(got); err != nil {
				t.Fatal(err)
			}
			if got.String() != "prefix "+want.String() {
				t.Errorf("got  %s\nwant prefix %s", got.String(), want.String())
			}
		})
	}
	bad := Answer{Creatives: []Creative{{CPM: math.NaN()}}}
	if err := bad.Encode(new(bytes.Buffer)); err == nil {
		t.Error("a NaN price encoded without an error")
	}
}

// The raw SDK JSON has exactly the design's keys.
func TestAnswerShape(t *testing.T) {
	a := Win("m", "r", &openrtb.Bid{ID: "b", Price: 1.5, CrID: "cr", CID: "c", DealID: "d", W: 320, H: 50,
		ADomain: []string{"adv.example"}}, 1.5, `<a href="x">&</a>`, "https://b.example/imp")
	var buf bytes.Buffer
	if err := a.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	want := `{"mrid":"m","adserverRequestId":"r","creatives":[{"auctionWinId":"b","cpm":1.5,"creative":{"type":"banner","creative_key":"cr",` +
		`"campaign_key":"c","deal_id":"d","markup":"<a href=\"x\">&</a>","w":320,"h":50,"adomain":["adv.example"]},` +
		`"beacons":{"impression":["https://b.example/imp"]}}]}` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
