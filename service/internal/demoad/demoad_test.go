package demoad_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"asap/service/internal/demoad"
	"asap/service/internal/format"
	"asap/service/internal/format/formattest"
	"asap/service/internal/openrtb"
	"asap/service/internal/openrtb/openrtbtest"
)

const bannerRequest = `{"id":"req-1","imp":[{"id":"1","tagid":"demo-feed","bidfloor":2,"bidfloorcur":"USD",` +
	`"banner":{"format":[{"w":320,"h":50}]}}],"tmax":250}`

func post(t *testing.T, srv *httptest.Server, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(srv.URL+"/openrtb2/auction", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestAuctionBids(t *testing.T) {
	demo := demoad.New(demoad.Options{})
	srv := httptest.NewServer(demo.Handler())
	defer srv.Close()
	resp := post(t, srv, bannerRequest)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; want 200", resp.StatusCode)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	openrtbtest.ValidateResponse(t, buf.Bytes())
	var br openrtb.BidResponse
	if err := json.Unmarshal(buf.Bytes(), &br); err != nil {
		t.Fatal(err)
	}
	if br.ID != "req-1" || len(br.SeatBid) != 1 || len(br.SeatBid[0].Bid) != 1 {
		t.Fatalf("got %+v; want one seatbid with one bid for req-1", br)
	}
	b := br.SeatBid[0].Bid[0]
	if b.Price < 2 || b.ImpID != "1" || b.W != 320 || b.H != 50 || !strings.Contains(b.AdM, "${AUCTION_PRICE}") ||
		!strings.HasPrefix(b.NURL, srv.URL+"/win?") || !strings.HasPrefix(b.BURL, srv.URL+"/imp?") {
		t.Errorf("got bid %+v; want a 320x50 banner at or above the floor, with macros and own nurl/burl", b)
	}
	for _, u := range []string{b.NURL, b.BURL} {
		r, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
	}
	if got, want := demo.Stats(), (demoad.Stats{Requests: 1, Bids: 1, Wins: 1, Imps: 1}); got != want {
		t.Errorf("stats %+v; want %+v", got, want)
	}
}

func TestAuctionModes(t *testing.T) {
	tests := []struct {
		name       string
		opts       demoad.Options
		body       string
		wantStatus int
	}{
		{"no fill", demoad.Options{NoFill: true}, bannerRequest, http.StatusNoContent},
		{"status", demoad.Options{Status: 503}, bannerRequest, http.StatusServiceUnavailable},
		{"not openrtb", demoad.Options{}, `{"imp":[]}`, http.StatusBadRequest},
		{"fixed ignores the body", demoad.Options{Fixed: true}, `anything`, http.StatusOK},
		{"native only", demoad.Options{}, `{"id":"n","imp":[{"id":"1","native":{"request":"{\"assets\":[{\"id\":1,\"title\":{}}]}"}}]}`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(demoad.New(tt.opts).Handler())
			defer srv.Close()
			resp := post(t, srv, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.StatusCode == http.StatusOK {
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				openrtbtest.ValidateResponse(t, buf.Bytes())
			}
		})
	}
}

// Latency delays answers by exactly Latency: measured on the fake clock of
// testing/synctest, so the machine's speed does not enter.
func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := demoad.New(demoad.Options{Fill: 1, Latency: 20 * time.Millisecond}).Handler()
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/openrtb2/auction", strings.NewReader(bannerRequest)))
		if took := time.Since(start); took != 20*time.Millisecond {
			t.Errorf("answer after %s; want the 20ms latency", took)
		}
		if rec.Code != http.StatusOK {
			t.Errorf("status %d; want 200 at -fill 1", rec.Code)
		}
	})
}

// Fill 0.5 fills some and not all of many auctions.
func TestFillRate(t *testing.T) {
	filled := map[int]int{}
	srv2 := httptest.NewServer(demoad.New(demoad.Options{Fill: 0.5}).Handler())
	defer srv2.Close()
	for range 200 {
		filled[post(t, srv2, bannerRequest).StatusCode]++
	}
	if filled[http.StatusOK] == 0 || filled[http.StatusNoContent] == 0 {
		t.Errorf("answers by status %v; want both 200 and 204 at fill 0.5", filled)
	}
}

func TestBaseURL(t *testing.T) {
	srv := httptest.NewServer(demoad.New(demoad.Options{BaseURL: "http://localhost:8081/"}).Handler())
	defer srv.Close()
	var br openrtb.BidResponse
	if err := json.NewDecoder(post(t, srv, bannerRequest).Body).Decode(&br); err != nil {
		t.Fatal(err)
	}
	if b := br.SeatBid[0].Bid[0]; !strings.HasPrefix(b.NURL, "http://localhost:8081/win?") || !strings.HasPrefix(b.BURL, "http://localhost:8081/imp?") {
		t.Errorf("nurl %q burl %q; want them under http://localhost:8081/", b.NURL, b.BURL)
	}
}

// TestFixedNURL: the fixed bid carries a nurl unless FixedNoNURL, and a burl either way.
func TestFixedNURL(t *testing.T) {
	for _, noNURL := range []bool{false, true} {
		srv := httptest.NewServer(demoad.New(demoad.Options{Fixed: true, FixedNoNURL: noNURL}).Handler())
		var resp openrtb.BidResponse
		if err := json.NewDecoder(post(t, srv, "{}").Body).Decode(&resp); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		bid := resp.SeatBid[0].Bid[0]
		if gotNURL := bid.NURL != ""; gotNURL == noNURL || bid.BURL == "" {
			t.Errorf("FixedNoNURL %t: nurl %q, burl %q; want a nurl %t and a burl", noNURL, bid.NURL, bid.BURL, !noNURL)
		}
	}
}

// auction posts body to a demo with opts and returns its one bid (the answer
// validated against the OpenRTB schema).
func auction(t *testing.T, opts demoad.Options, body string) openrtb.Bid {
	t.Helper()
	srv := httptest.NewServer(demoad.New(opts).Handler())
	defer srv.Close()
	resp := post(t, srv, body)
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s); want 200", resp.StatusCode, buf.Bytes())
	}
	openrtbtest.ValidateResponse(t, buf.Bytes())
	var br openrtb.BidResponse
	if err := json.Unmarshal(buf.Bytes(), &br); err != nil {
		t.Fatal(err)
	}
	return br.SeatBid[0].Bid[0]
}

// imp is a request with one imp offering the given format objects.
func imp(formats string) string {
	return `{"id":"req-1","imp":[{"id":"1","tagid":"demo-feed","bidfloor":1` + formats + `}]}`
}

var (
	bannerObj = `,"banner":{"format":[{"w":320,"h":480}]}`
	videoObj  = `,"video":{"mimes":["video/webm","video/mp4"],"minduration":5,"maxduration":30,"protocols":[2,3,5,6,7,8],"w":320,"h":480,"plcmt":3,"skip":1}`
	nativeObj = func() string {
		b, _ := json.Marshal(format.NativeRequest)
		return `,"native":{"ver":"1.2","request":` + string(b) + `}`
	}()
	audioObj = `,"audio":{"mimes":["audio/mp4"],"maxduration":10}`
)

// A video imp gets a VAST 4.1 InLine ad that the IAB's 4.1 schema accepts, with
// the clip's duration and the player's size, mtype 2.
func TestVideoBid(t *testing.T) {
	bid := auction(t, demoad.Options{}, imp(videoObj))
	if bid.MType != 2 || bid.W != 320 || bid.H != 480 {
		t.Errorf("mtype %d, %dx%d; want 2, 320x480", bid.MType, bid.W, bid.H)
	}
	v, err := format.ReadVAST(bid.AdM)
	if err != nil {
		t.Fatal(err)
	}
	if want := (format.VAST{Version: "4.1", Duration: 16}); v != want {
		t.Errorf("got %+v; want %+v", v, want)
	}
	for _, want := range []string{`type="video/mp4"`, `.mp4]]></MediaFile>`, `skipoffset="00:00:05"`, "<Impression", "${AUCTION_PRICE}"} {
		if !strings.Contains(bid.AdM, want) {
			t.Errorf("VAST lacks %s:\n%s", want, bid.AdM)
		}
	}
	formattest.ValidateVAST(t, []byte(bid.AdM), "4.1")
}

// The Duration stays within the imp's range, and an audio imp gets a VAST audio ad.
func TestVASTDurationAndAudio(t *testing.T) {
	tests := []struct {
		name, imp    string
		wantMType    int8
		wantDuration int
	}{
		{"max below the clip", `,"video":{"mimes":["video/mp4"],"maxduration":6}`, 2, 6},
		{"min above the clip", `,"video":{"mimes":["video/mp4"],"minduration":20,"maxduration":60}`, 2, 20},
		{"audio", audioObj, 3, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bid := auction(t, demoad.Options{}, imp(tt.imp))
			v, err := format.ReadVAST(bid.AdM)
			if err != nil {
				t.Fatal(err)
			}
			if bid.MType != tt.wantMType || v.Duration != tt.wantDuration {
				t.Errorf("mtype %d, duration %d; want %d, %d", bid.MType, v.Duration, tt.wantMType, tt.wantDuration)
			}
			formattest.ValidateVAST(t, []byte(bid.AdM), "4.1")
		})
	}
}

// A native imp gets a Native 1.2 response with every asset of ASAP's request,
// mtype 4; one for another request answers that request's assets.
func TestNativeBid(t *testing.T) {
	bid := auction(t, demoad.Options{}, imp(nativeObj))
	if bid.MType != 4 {
		t.Errorf("mtype %d; want 4", bid.MType)
	}
	n, err := format.ParseNative(bid.AdM)
	if err != nil {
		t.Fatalf("ParseNative: %v\n%s", err, bid.AdM)
	}
	if n.Title == "" || n.Description == "" || n.Sponsored == "" || n.CTA == "" || n.Image == nil || n.Icon == nil ||
		n.Image.W < 300 || n.Icon.W != 80 || len(n.ImpressionTrackers) != 1 || len(n.ClickTrackers) != 1 || n.PrivacyURL == "" {
		t.Errorf("got %+v; want every asset and tracker", n)
	}
	if len(n.Title) > 90 {
		t.Errorf("title of %d bytes; the request allows 90", len(n.Title))
	}

	other := `{"assets":[{"id":7,"required":1,"img":{"type":3,"w":600,"h":600}},{"id":8,"required":1,"data":{"type":2,"len":10}},{"id":9,"required":1,"video":{"mimes":["video/mp4"]}}]}`
	b, _ := json.Marshal(other)
	bid = auction(t, demoad.Options{}, imp(`,"native":{"request":`+string(b)+`}`))
	assets, err := format.NativeAssets(other)
	if err != nil {
		t.Fatal(err)
	}
	n, err = format.ParseNativeFor(bid.AdM, assets)
	if err != nil {
		t.Fatalf("ParseNativeFor: %v\n%s", err, bid.AdM)
	}
	if n.Image == nil || n.Image.W != 600 || n.Image.H != 600 || len(n.Description) > 10 {
		t.Errorf("got %+v; want the exact image size and a description of at most 10 bytes", n)
	}
}

// Among several formats the demo bids the first of its preference order that the
// imp offers; a format it is not told to bid gets no bid.
func TestFormatPreference(t *testing.T) {
	all := imp(bannerObj + videoObj + nativeObj)
	tests := []struct {
		name      string
		formats   []format.Kind
		body      string
		wantMType int8 // 0: no bid (204)
	}{
		{"default: video first", nil, all, 2},
		{"default: banner before native", nil, imp(bannerObj + nativeObj), 1},
		{"default: native", nil, imp(nativeObj), 4},
		{"default: banner", nil, imp(bannerObj), 1},
		{"banner first", []format.Kind{format.Banner, format.Video}, all, 1},
		{"native only", []format.Kind{format.Native}, all, 4},
		{"video only, not offered", []format.Kind{format.Video}, imp(bannerObj + nativeObj), 0},
		{"nothing offered", nil, imp(""), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(demoad.New(demoad.Options{Formats: tt.formats}).Handler())
			defer srv.Close()
			resp := post(t, srv, tt.body)
			if tt.wantMType == 0 {
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status %d; want 204", resp.StatusCode)
				}
				return
			}
			var br openrtb.BidResponse
			if err := json.NewDecoder(resp.Body).Decode(&br); err != nil {
				t.Fatal(err)
			}
			if got := br.SeatBid[0].Bid[0].MType; got != tt.wantMType {
				t.Errorf("mtype %d; want %d", got, tt.wantMType)
			}
		})
	}
}

// A native request the demo cannot read is a 400 naming the problem.
func TestNativeRequestUnreadable(t *testing.T) {
	srv := httptest.NewServer(demoad.New(demoad.Options{}).Handler())
	defer srv.Close()
	resp := post(t, srv, imp(`,"native":{"request":"{\"assets\":[{\"id\":1}]}"}`))
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(buf.String(), "native request: assets[0]: none of title, img, video, data") {
		t.Errorf("status %d, body %q; want 400 naming the asset", resp.StatusCode, buf.String())
	}
}

func TestParseFormats(t *testing.T) {
	if got, err := demoad.ParseFormats(demoad.FormatList(demoad.DefaultFormats)); err != nil || !slices.Equal(got, demoad.DefaultFormats) {
		t.Errorf("FormatList and ParseFormats do not round-trip: %v, %v", got, err)
	}
	got, err := demoad.ParseFormats(" native, banner ")
	if err != nil || len(got) != 2 || got[0] != format.Native || got[1] != format.Banner {
		t.Errorf("got %v, %v; want [native banner]", got, err)
	}
	for _, bad := range []string{"", "html", "video,video", "video,"} {
		if _, err := demoad.ParseFormats(bad); err == nil {
			t.Errorf("ParseFormats(%q): no error", bad)
		}
	}
}
