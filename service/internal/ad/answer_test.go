package ad

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

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
		{"win", WinAnswer("mrid-1", "resp-1", Winner{Bid: &bid, Price: 1.73}, `<div class="ad">$1.73 CPM</div>`, "http://ads.example/imp?p=1.73&a=x")},
		{"win without burl or adomain", WinAnswer("m", "r", Winner{Bid: &openrtb.Bid{ID: "b", Price: 1e-7}, Price: 1e-7}, "m", "")},
		{"house ad", HouseAnswer("m", &placement.HouseAd{Markup: "<div>\u2028\n\t\x01\xff</div>", W: 320, H: 50})},
		{"large price", WinAnswer("m", "r", Winner{Bid: &openrtb.Bid{Price: 1e21, W: -1}, Price: 1e21}, "m", "b")},
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
