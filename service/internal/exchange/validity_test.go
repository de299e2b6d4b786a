package exchange

import (
	"math"
	"testing"

	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

// validBid takes part in an auction of validRequest; each case breaks one rule.
func validBid() openrtb.Bid {
	return openrtb.Bid{ID: "b", ImpID: "1", Price: 1.5, CrID: "cr", AdM: "<div/>"}
}

var validRequest = &openrtb.BidRequest{ID: "req", Imp: []openrtb.Imp{{ID: "1", Banner: &openrtb.Banner{}}, {ID: "2", Banner: &openrtb.Banner{}}}, Cur: []string{"USD"}}

func TestJudgeBid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*openrtb.Bid)
		want   Reason
	}{
		{"valid", func(*openrtb.Bid) {}, Valid},
		{"second imp", func(b *openrtb.Bid) { b.ImpID = "2" }, Valid},
		{"no id", func(b *openrtb.Bid) { b.ID = "" }, RejectedNoID},
		{"no impid", func(b *openrtb.Bid) { b.ImpID = "" }, RejectedImpID},
		{"impid of no imp", func(b *openrtb.Bid) { b.ImpID = "3" }, RejectedImpID},
		{"price 0", func(b *openrtb.Bid) { b.Price = 0 }, RejectedNoPrice},
		{"price 0 with a deal", func(b *openrtb.Bid) { b.Price, b.DealID = 0, "deal-1" }, Valid},
		{"negative price", func(b *openrtb.Bid) { b.Price = -1 }, RejectedPrice},
		{"negative price with a deal", func(b *openrtb.Bid) { b.Price, b.DealID = -1, "deal-1" }, RejectedPrice},
		{"NaN price", func(b *openrtb.Bid) { b.Price = math.NaN() }, RejectedPrice},
		{"infinite price", func(b *openrtb.Bid) { b.Price = math.Inf(1) }, RejectedPrice},
		{"no crid", func(b *openrtb.Bid) { b.CrID = "" }, RejectedNoCreativeID},
		{"no adm", func(b *openrtb.Bid) { b.AdM = "" }, RejectedNoMarkup},
		{"no adm, a nurl", func(b *openrtb.Bid) { b.AdM, b.NURL = "", "http://x/win" }, RejectedNoMarkup},
		{"first rule broken is the reason", func(b *openrtb.Bid) { b.ID, b.CrID, b.AdM = "", "", "" }, RejectedNoID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := validBid()
			tt.change(&b)
			if got, _, _ := judgeBid(validRequest, &b); got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

func TestJudgeResponse(t *testing.T) {
	tests := []struct {
		name string
		req  *openrtb.BidRequest
		resp openrtb.BidResponse
		want Reason
	}{
		{"the request's id", validRequest, openrtb.BidResponse{ID: "req", Cur: "USD"}, Valid},
		{"no cur is USD", validRequest, openrtb.BidResponse{ID: "req"}, Valid},
		{"usd in lower case", validRequest, openrtb.BidResponse{ID: "req", Cur: "usd"}, Valid},
		{"another id", validRequest, openrtb.BidResponse{ID: "other", Cur: "USD"}, RejectedResponseID},
		{"no id", validRequest, openrtb.BidResponse{}, RejectedResponseID},
		{"id in another case", validRequest, openrtb.BidResponse{ID: "REQ"}, RejectedResponseID},
		{"another currency", validRequest, openrtb.BidResponse{ID: "req", Cur: "EUR"}, RejectedCurrency},
		{"a currency the request offered", &openrtb.BidRequest{ID: "req", Cur: []string{"USD", "EUR"}},
			openrtb.BidResponse{ID: "req", Cur: "EUR"}, Valid},
		{"request without cur means USD", &openrtb.BidRequest{ID: "req"}, openrtb.BidResponse{ID: "req", Cur: "EUR"}, RejectedCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := judgeResponse(tt.req, &tt.resp); got != tt.want {
				t.Errorf("got %s; want %s", got, tt.want)
			}
		})
	}
}

// Every reason has a label and the OpenRTB 2.6 loss reason code it stands for.
func TestReasonLabelsAndLossCodes(t *testing.T) {
	tests := []struct {
		r         Reason
		label     string
		code      int
		rejection bool
	}{
		{Valid, "valid", 0, false},
		{Won, "won", 0, false},
		{LostToHigherBid, "lost_to_higher_bid", 102, false},
		{BelowFloor, "below_floor", 100, false},
		{RejectedResponseID, "response_id", 5, true},
		{RejectedCurrency, "currency", 3, true},
		{RejectedNoID, "no_id", 3, true},
		{RejectedImpID, "imp_id", 3, true},
		{RejectedNoPrice, "no_price", 9, true},
		{RejectedPrice, "invalid_price", 3, true},
		{RejectedNoCreativeID, "no_crid", 8, true},
		{RejectedNoMarkup, "no_markup", 7, true},
		{RejectedFormat, "format_not_offered", 204, true},
		{RejectedCreative, "invalid_creative", 200, true},
		{RejectedSize, "size_not_requested", 203, true},
		{RejectedAdvertiser, "blocked_advertiser", 205, true},
		{RejectedCategory, "blocked_category", 209, true},
	}
	if len(tests) != int(numReasons) {
		t.Fatalf("%d reasons tested; there are %d", len(tests), numReasons)
	}
	for _, tt := range tests {
		if got := tt.r.String(); got != tt.label {
			t.Errorf("reason %d: label %q; want %q", tt.r, got, tt.label)
		}
		if got := tt.r.LossCode(); got != tt.code {
			t.Errorf("%s: loss code %d; want %d", tt.label, got, tt.code)
		}
		if got := tt.r.Rejected(); got != tt.rejection {
			t.Errorf("%s: rejected %t; want %t", tt.label, got, tt.rejection)
		}
		if text, _ := tt.r.MarshalText(); string(text) != tt.label {
			t.Errorf("%s: text %q", tt.label, text)
		}
		var back Reason
		if err := back.UnmarshalText([]byte(tt.label)); err != nil || back != tt.r {
			t.Errorf("%s: read back as %s, %v", tt.label, back, err)
		}
	}
	var r Reason
	if err := r.UnmarshalText([]byte("nope")); err == nil {
		t.Error("an unknown label read as a reason")
	}
	if got := numReasons.String(); got != "unknown" {
		t.Errorf("out of range: %q", got)
	}
}

// A response to another request, or in another currency, rejects all its bids;
// otherwise each bid is judged on its own.
func TestJudge(t *testing.T) {
	bad := validBid()
	bad.CrID = ""
	resp := openrtb.BidResponse{ID: "req", SeatBid: []openrtb.SeatBid{
		{Seat: "a", Bid: []openrtb.Bid{validBid(), bad}},
		{Seat: "b", Bid: []openrtb.Bid{validBid()}},
	}}
	got := judge(validRequest, &resp, 0.5, nil)
	want := []BidFate{
		{Seat: "a", Bid: &resp.SeatBid[0].Bid[0], Price: 0.75, Reason: Valid, Kind: format.Banner},
		{Seat: "a", Bid: &resp.SeatBid[0].Bid[1], Price: 0.75, Reason: RejectedNoCreativeID},
		{Seat: "b", Bid: &resp.SeatBid[1].Bid[0], Price: 0.75, Reason: Valid, Kind: format.Banner},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d fates; want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("fate %d: got %+v; want %+v", i, got[i], want[i])
		}
	}
	resp.ID = "other"
	for i, f := range judge(validRequest, &resp, 1, nil) {
		if f.Reason != RejectedResponseID {
			t.Errorf("fate %d of an answer to another request: %s; want response_id", i, f.Reason)
		}
	}
}

func TestRank(t *testing.T) {
	fate := func(price float64, r Reason) BidFate { return BidFate{Price: price, Reason: r} }
	tests := []struct {
		name     string
		fates    []BidFate
		floor    float64
		wantBest int
		want     []Reason
	}{
		{"none", nil, 0, -1, nil},
		{"highest wins", []BidFate{fate(1, Valid), fate(3, Valid), fate(2, Valid)}, 0, 1,
			[]Reason{LostToHigherBid, Won, LostToHigherBid}},
		{"tie to the first listed", []BidFate{fate(2, Valid), fate(2, Valid)}, 0, 0, []Reason{Won, LostToHigherBid}},
		{"floor", []BidFate{fate(0.4, Valid), fate(0.5, Valid)}, 0.5, 1, []Reason{BelowFloor, Won}},
		{"all below floor", []BidFate{fate(0.4, Valid)}, 0.5, -1, []Reason{BelowFloor}},
		{"rejected bids keep their reason", []BidFate{fate(9, RejectedNoMarkup), fate(1, Valid)}, 0, 1,
			[]Reason{RejectedNoMarkup, Won}},
		{"deal at 0 against a 0 floor", []BidFate{fate(0, Valid)}, 0, 0, []Reason{Won}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rank(tt.fates, tt.floor); got != tt.wantBest {
				t.Errorf("winner %d; want %d", got, tt.wantBest)
			}
			for i, f := range tt.fates {
				if f.Reason != tt.want[i] {
					t.Errorf("fate %d: %s; want %s", i, f.Reason, tt.want[i])
				}
			}
		})
	}
}

const (
	testVAST = `<?xml version="1.0" encoding="UTF-8"?><VAST version="4.1"><Ad id="a"><InLine><AdSystem>x</AdSystem>` +
		`<AdTitle>t</AdTitle><Impression><![CDATA[https://t.example/i]]></Impression><Creatives><Creative><Linear>` +
		`<Duration>00:00:15</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4" width="320" height="480">` +
		`<![CDATA[https://cdn.example/v.mp4]]></MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>`
	testNative = `{"native":{"ver":"1.2","assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"url":"https://cdn.example/m.jpg","w":1200,"h":627}}],` +
		`"link":{"url":"https://adv.example/"}}}`
)

// Each format and each creative rule: the bid's format from its mtype, else
// the imp's only format, else its markup; a format not offered 204, broken
// VAST or a native response missing a required asset 200, a banner size not
// requested 203, a blocked advertiser 205, a blocked category 209.
func TestJudgeFormats(t *testing.T) {
	banner := &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}, {W: 320, H: 50}}, W: 320, H: 480}
	video := &openrtb.Video{MIMEs: []string{"video/mp4"}}
	native := &openrtb.Native{Request: format.NativeRequest, Ver: "1.2"}
	imp := func(b *openrtb.Banner, v *openrtb.Video, n *openrtb.Native) []openrtb.Imp {
		return []openrtb.Imp{{ID: "1", Banner: b, Video: v, Native: n}}
	}
	tests := []struct {
		name     string
		imps     []openrtb.Imp
		bcat     []string
		badv     []string
		bid      func(*openrtb.Bid)
		want     Reason
		wantKind format.Kind
	}{
		{"banner by mtype", imp(banner, video, native), nil, nil, func(b *openrtb.Bid) { b.MType, b.W, b.H = 1, 300, 250 }, Valid, format.Banner},
		{"banner, the slot size", imp(banner, nil, nil), nil, nil, func(b *openrtb.Bid) { b.W, b.H = 320, 480 }, Valid, format.Banner},
		{"banner without a size", imp(banner, nil, nil), nil, nil, func(*openrtb.Bid) {}, Valid, format.Banner},
		{"banner size not requested", imp(banner, nil, nil), nil, nil, func(b *openrtb.Bid) { b.W, b.H = 728, 90 }, RejectedSize, format.Banner},
		{"video by mtype", imp(banner, video, nil), nil, nil, func(b *openrtb.Bid) { b.MType, b.AdM = 2, testVAST }, Valid, format.Video},
		{"video, the imp's only format", imp(nil, video, nil), nil, nil, func(b *openrtb.Bid) { b.AdM = testVAST }, Valid, format.Video},
		{"video sniffed", imp(banner, video, nil), nil, nil, func(b *openrtb.Bid) { b.AdM = testVAST }, Valid, format.Video},
		{"VAST to a banner-only imp, mtype 2", imp(banner, nil, nil), nil, nil, func(b *openrtb.Bid) { b.MType, b.AdM = 2, testVAST }, RejectedFormat, format.Video},
		// Without mtype the imp's only format decides (the design's rule): banner.
		{"VAST to a banner-only imp, no mtype", imp(banner, nil, nil), nil, nil, func(b *openrtb.Bid) { b.AdM = testVAST }, Valid, format.Banner},
		{"VAST sniffed, banner and native offered", imp(banner, nil, native), nil, nil, func(b *openrtb.Bid) { b.AdM = testVAST }, RejectedFormat, format.Video},
		{"broken VAST", imp(nil, video, nil), nil, nil, func(b *openrtb.Bid) { b.AdM = "<VAST version=\"4.1\"></VAST>" }, RejectedCreative, format.Video},
		{"VAST 1", imp(nil, video, nil), nil, nil, func(b *openrtb.Bid) { b.MType, b.AdM = 2, "<VideoAdServingTemplate><Ad/></VideoAdServingTemplate>" }, RejectedCreative, format.Video},
		{"native by mtype", imp(banner, nil, native), nil, nil, func(b *openrtb.Bid) { b.MType, b.AdM = 4, testNative }, Valid, format.Native},
		{"native sniffed", imp(banner, nil, native), nil, nil, func(b *openrtb.Bid) { b.AdM = testNative }, Valid, format.Native},
		{"native missing a required asset", imp(nil, nil, native), nil, nil, func(b *openrtb.Bid) {
			b.AdM = `{"native":{"assets":[{"id":1,"title":{"text":"T"}}],"link":{"url":"u"}}}`
		}, RejectedCreative, format.Native},
		{"native to a video imp", imp(nil, video, nil), nil, nil, func(b *openrtb.Bid) { b.MType, b.AdM = 4, testNative }, RejectedFormat, format.Native},
		{"audio", imp(banner, video, nil), nil, nil, func(b *openrtb.Bid) { b.MType = 3 }, RejectedFormat, format.Audio},
		{"undefined mtype", imp(banner, nil, nil), nil, nil, func(b *openrtb.Bid) { b.MType = 9 }, RejectedFormat, format.Kind(9)},
		{"blocked advertiser", imp(banner, nil, nil), nil, []string{"Blocked.example"}, func(b *openrtb.Bid) { b.ADomain = []string{"ok.example", "blocked.example"} }, RejectedAdvertiser, format.Banner},
		{"blocked advertiser's subdomain", imp(banner, nil, nil), nil, []string{"blocked.example"}, func(b *openrtb.Bid) { b.ADomain = []string{"ads.blocked.example"} }, RejectedAdvertiser, format.Banner},
		{"a domain that only ends alike", imp(banner, nil, nil), nil, []string{"blocked.example"}, func(b *openrtb.Bid) { b.ADomain = []string{"notblocked.example"} }, Valid, format.Banner},
		{"blocked category", imp(banner, nil, nil), []string{"IAB26"}, nil, func(b *openrtb.Bid) { b.Cat = []string{"IAB26"} }, RejectedCategory, format.Banner},
		{"category under a blocked one", imp(banner, nil, nil), []string{"IAB25"}, nil, func(b *openrtb.Bid) { b.Cat = []string{"IAB1", "iab25-3"} }, RejectedCategory, format.Banner},
		{"a category that only starts alike", imp(banner, nil, nil), []string{"IAB2"}, nil, func(b *openrtb.Bid) { b.Cat = []string{"IAB25-3"} }, Valid, format.Banner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &openrtb.BidRequest{ID: "req", Imp: tt.imps, Cur: []string{"USD"}, Bcat: tt.bcat, Badv: tt.badv}
			b := validBid()
			tt.bid(&b)
			got, kind, vast := judgeBid(req, &b)
			if got != tt.want || kind != tt.wantKind {
				t.Errorf("got %s, %s; want %s, %s", got, kind, tt.want, tt.wantKind)
			}
			if got == Valid && kind == format.Video && (vast.Version != "4.1" || vast.Duration != 15) {
				t.Errorf("VAST facts %+v; want 4.1, 15 s", vast)
			}
		})
	}
}
