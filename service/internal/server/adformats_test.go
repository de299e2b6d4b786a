package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/config"
	"asap/service/internal/adanswer"
	"asap/service/internal/format"
	"asap/service/internal/format/formattest"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
)

// bidding is an upstream answering every bid request with the bids it holds
// (their impid "1"), in a response carrying the request's id.
type bidding struct{ bids atomic.Pointer[[]openrtb.Bid] }

func (b *bidding) set(bids ...openrtb.Bid) { b.bids.Store(&bids) }

func (b *bidding) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req openrtb.BidRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	bids := *b.bids.Load()
	resp := openrtb.BidResponse{ID: req.ID, Cur: "USD", SeatBid: []openrtb.SeatBid{{Seat: "s", Bid: bids}}}
	json.NewEncoder(w).Encode(resp)
}

// formatPlacements are the placements of the format tests, each with a tmax
// no busy machine turns into a timeout.
func formatPlacements() []*placement.Placement {
	video := &placement.Video{MIMEs: []string{"video/mp4"}, MinDuration: 5, MaxDuration: 60, Protocols: []int{2, 3, 5, 6, 7, 8, 11, 12},
		W: 320, H: 480, Plcmt: 3, API: []int{7}}
	ad := func(a placement.Ad) *placement.Ad {
		a.Upstream, a.TmaxMs = "primary", 60_000
		return &a
	}
	return []*placement.Placement{
		{PKey: "rewarded-video", Status: "OK", Ad: ad(placement.Ad{Video: video, Interstitial: true, Rewarded: true})},
		{PKey: "native-feed", Status: "OK", Ad: ad(placement.Ad{Native: true})},
		{PKey: "every-format", Status: "OK", Ad: ad(placement.Ad{Banner: []placement.Size{{W: 300, H: 250}}, Native: true, Video: video})},
		{PKey: "banner-only", Status: "OK", Ad: ad(placement.Ad{Banner: []placement.Size{{W: 300, H: 250}, {W: 320, H: 50}},
			Bcat: []string{"IAB25"}, Badv: []string{"blocked.example"}})},
	}
}

func newFormatServer(t *testing.T) (*adServer, *bidding) {
	t.Helper()
	up := &bidding{}
	up.set()
	s := newAdServerWith(t, up, func(c *config.Config) { c.Ad.MaxTmax = time.Minute })
	for _, p := range formatPlacements() {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		s.placements.Set(p)
	}
	return s, up
}

// ad fetches pkey's ad (answers checked against openapi.yaml) and returns
// the status and, for a 200, the creative.
func (s *adServer) ad(t *testing.T, pkey string) (int, *adanswer.CreativeBody) {
	t.Helper()
	rec := s.get(t, "/v2/ad?pkey="+pkey+"&uid=ifa-1&w=320&h=480", "192.0.2.1:1234", "")
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var a adanswer.Answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || len(a.Creatives) != 1 {
		t.Fatalf("answer %s: %v", rec.Body.Bytes(), err)
	}
	return rec.Code, &a.Creatives[0].Creative
}

// Every IAB VAST sample with an Ad, bid by an upstream, reaches the SDK as
// the video creative: its markup unchanged and still valid against the
// schema of its version, its version and first linear's duration beside it,
// marked rewarded and interstitial.
func TestAdVASTSamples(t *testing.T) {
	s, up := newFormatServer(t)
	for _, sample := range formattest.Samples(t) {
		t.Run(sample.Path, func(t *testing.T) {
			for _, mtype := range []int8{2, 0} { // the imp's only format decides without mtype
				up.set(openrtb.Bid{ID: "v", ImpID: "1", Price: 2, CrID: "cr-v", AdM: string(sample.Doc), MType: mtype, W: 320, H: 480})
				status, c := s.ad(t, "rewarded-video")
				if status != http.StatusOK {
					t.Fatalf("mtype %d: status %d; want 200", mtype, status)
				}
				if c.Type != "video" || c.Markup != string(sample.Doc) || c.VASTVersion != sample.Version ||
					c.Duration != sample.Duration || !c.Rewarded || !c.Interstitial {
					t.Errorf("mtype %d: creative type %q, vast_version %q, duration %d, rewarded %t, interstitial %t, markup unchanged %t; "+
						"want video, %q, %d, true, true, true", mtype, c.Type, c.VASTVersion, c.Duration, c.Rewarded, c.Interstitial,
						c.Markup == string(sample.Doc), sample.Version, sample.Duration)
				}
				if sample.Schema && mtype == 2 {
					formattest.ValidateVAST(t, []byte(c.Markup), sample.Version)
				}
			}
		})
	}
}

const (
	testVAST = `<?xml version="1.0" encoding="UTF-8"?><VAST version="4.1"><Ad id="a"><InLine><AdSystem>x</AdSystem>` +
		`<AdTitle>t</AdTitle><Impression><![CDATA[https://t.example/i?p=${AUCTION_PRICE}]]></Impression><Creatives><Creative><Linear>` +
		`<Duration>00:00:15</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4" width="320" height="480">` +
		`<![CDATA[https://cdn.example/v.mp4]]></MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>`
	testNative = `{"native":{"ver":"1.2","assets":[{"id":1,"title":{"text":"Title"}},` +
		`{"id":2,"img":{"url":"https://cdn.example/m.jpg","w":1200,"h":627}},{"id":3,"data":{"value":"Sponsor Inc"}},` +
		`{"id":5,"img":{"url":"https://cdn.example/i.png","w":80,"h":80}},{"id":6,"data":{"value":"Install"}}],` +
		`"link":{"url":"https://adv.example/landing","clicktrackers":["https://t.example/c"]},` +
		`"imptrackers":["https://t.example/i1?p=${AUCTION_PRICE}"],"eventtrackers":[{"event":1,"method":1,"url":"https://t.example/i2"}],` +
		`"privacy":"https://adv.example/privacy"}}`
)

// Each format served, by mtype or without it; each bid the impression did not
// ask for rejected, counted by upstream and reason.
func TestAdFormats(t *testing.T) {
	s, up := newFormatServer(t)
	bid := func(change func(*openrtb.Bid)) openrtb.Bid {
		b := openrtb.Bid{ID: "b", ImpID: "1", Price: 1.5, CrID: "cr", AdM: "<div>ad</div>", W: 300, H: 250}
		change(&b)
		return b
	}
	tests := []struct {
		name       string
		pkey       string
		bid        openrtb.Bid
		wantType   string // "" for a 204
		wantReason string // the rejection counted
	}{
		{"banner by mtype", "every-format", bid(func(b *openrtb.Bid) { b.MType = 1 }), "banner", ""},
		{"banner without mtype, markup HTML", "every-format", bid(func(*openrtb.Bid) {}), "banner", ""},
		{"video without mtype, markup VAST", "every-format", bid(func(b *openrtb.Bid) { b.AdM = testVAST }), "video", ""},
		{"native by mtype", "native-feed", bid(func(b *openrtb.Bid) { b.MType, b.AdM = 4, testNative }), "native", ""},
		{"native without mtype, the imp's only format", "native-feed", bid(func(b *openrtb.Bid) { b.AdM = testNative }), "native", ""},
		{"native without mtype, markup native", "every-format", bid(func(b *openrtb.Bid) { b.AdM = testNative }), "native", ""},
		{"video to a banner-only slot: 204", "banner-only", bid(func(b *openrtb.Bid) { b.MType, b.AdM = 2, testVAST }), "", "format_not_offered"},
		{"audio: 204", "every-format", bid(func(b *openrtb.Bid) { b.MType = 3 }), "", "format_not_offered"},
		{"broken VAST: 200", "rewarded-video", bid(func(b *openrtb.Bid) { b.AdM = `<VAST version="4.1"><Ad id="x"></Ad></VAST>` }), "", "invalid_creative"},
		{"native without its title: 200", "native-feed", bid(func(b *openrtb.Bid) { b.AdM = strings.Replace(testNative, `{"id":1,"title":{"text":"Title"}},`, "", 1) }), "", "invalid_creative"},
		{"size not requested: 203", "banner-only", bid(func(b *openrtb.Bid) { b.W, b.H = 728, 90 }), "", "size_not_requested"},
		{"blocked advertiser: 205", "banner-only", bid(func(b *openrtb.Bid) { b.ADomain = []string{"blocked.example"} }), "", "blocked_advertiser"},
		{"blocked category: 209", "banner-only", bid(func(b *openrtb.Bid) { b.Cat = []string{"IAB25-3"} }), "", "blocked_category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, s.reg, "asap_upstream_bids_rejected_total", tt.wantReason, "primary")
			up.set(tt.bid)
			status, c := s.ad(t, tt.pkey)
			if tt.wantType == "" {
				if status != http.StatusNoContent {
					t.Fatalf("status %d; want 204", status)
				}
				if got := counter(t, s.reg, "asap_upstream_bids_rejected_total", tt.wantReason, "primary"); got != before+1 {
					t.Errorf("rejections for %s: %v; want %v", tt.wantReason, got, before+1)
				}
				return
			}
			if status != http.StatusOK || c.Type != tt.wantType {
				t.Fatalf("status %d, creative %+v; want 200, %s", status, c, tt.wantType)
			}
			switch tt.wantType {
			case "video":
				if c.VASTVersion != "4.1" || c.Duration != 15 || !strings.Contains(c.Markup, "https://t.example/i?p=1.5") {
					t.Errorf("video %q, %d s, markup %s; want 4.1, 15 s, macros replaced", c.VASTVersion, c.Duration, c.Markup)
				}
			case "native":
				want := format.NativeAd{Title: "Title", Sponsored: "Sponsor Inc", CTA: "Install",
					Image: &format.Image{URL: "https://cdn.example/m.jpg", W: 1200, H: 627}, Icon: &format.Image{URL: "https://cdn.example/i.png", W: 80, H: 80},
					ClickURL: "https://adv.example/landing", ClickTrackers: []string{"https://t.example/c"},
					ImpressionTrackers: []string{"https://t.example/i1?p=1.5", "https://t.example/i2"}, PrivacyURL: "https://adv.example/privacy"}
				got, _ := json.Marshal(c.Native)
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) || !strings.Contains(c.Markup, `"imptrackers":["https://t.example/i1?p=1.5"]`) {
					t.Errorf("native %s, markup %s\nwant %s, the raw response with macros replaced", got, c.Markup, wantJSON)
				}
			}
		})
	}
}
