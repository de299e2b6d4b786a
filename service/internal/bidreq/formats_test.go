package bidreq

import (
	"reflect"
	"testing"
	"time"

	"asap/service/internal/adquery"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
)

// Each format a placement offers maps to its imp field, and every request
// stays valid against the OpenRTB 2.6 schema.
func TestBuildFormats(t *testing.T) {
	yes, no := true, false
	one, zero := int8(1), int8(0)
	rv := &placement.Video{MIMEs: []string{"video/mp4"}, MinDuration: 5, MaxDuration: 30, Protocols: []int{2, 3, 5, 6, 7, 8},
		W: 320, H: 480, Plcmt: 3, Skip: &yes, API: []int{7}}
	tests := []struct {
		name       string
		ad         placement.Ad
		query      string
		wantBanner *openrtb.Banner
		wantVideo  *openrtb.Video
		wantNative bool
		wantInstl  int8
		wantRwdd   int8
	}{
		{name: "rewarded video", ad: placement.Ad{Video: rv, Interstitial: true, Rewarded: true},
			wantVideo: &openrtb.Video{MIMEs: []string{"video/mp4"}, MinDuration: 5, MaxDuration: 30, Protocols: []int{2, 3, 5, 6, 7, 8},
				W: 320, H: 480, Plcmt: 3, Linearity: 1, Skip: &one, API: []int{7}},
			wantInstl: 1, wantRwdd: 1},
		{name: "video sized by the SDK, not skippable", ad: placement.Ad{Video: &placement.Video{MIMEs: []string{"video/mp4"}, Skip: &no}},
			query:     "&w=360&h=640",
			wantVideo: &openrtb.Video{MIMEs: []string{"video/mp4"}, W: 360, H: 640, Linearity: 1, Skip: &zero}},
		{name: "native alone", ad: placement.Ad{Native: true}, wantNative: true},
		{name: "interstitial with sizes and the SDK's screen", ad: placement.Ad{Interstitial: true, Banner: []placement.Size{{W: 320, H: 480}, {W: 480, H: 320}}},
			query:      "&w=390&h=844",
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 390, H: 844}}, W: 390, H: 844}, wantInstl: 1},
		{name: "interstitial with sizes, no screen size", ad: placement.Ad{Interstitial: true, Banner: []placement.Size{{W: 320, H: 480}, {W: 480, H: 320}}},
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 320, H: 480}, {W: 480, H: 320}}}, wantInstl: 1},
		{name: "interstitial alone", ad: placement.Ad{Interstitial: true}, query: "&w=390&h=844",
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 390, H: 844}}, W: 390, H: 844}, wantInstl: 1},
		{name: "rewarded alone, no screen size", ad: placement.Ad{Rewarded: true},
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 320, H: 480}}}, wantRwdd: 1},
		{name: "rewarded with banner sizes", ad: placement.Ad{Rewarded: true, Banner: []placement.Size{{W: 300, H: 250}}}, query: "&w=300&h=250",
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}}, W: 300, H: 250}, wantRwdd: 1},
		{name: "every format", ad: placement.Ad{Banner: []placement.Size{{W: 300, H: 250}}, Native: true, Video: rv},
			wantBanner: &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}}},
			wantVideo: &openrtb.Video{MIMEs: []string{"video/mp4"}, MinDuration: 5, MaxDuration: 30, Protocols: []int{2, 3, 5, 6, 7, 8},
				W: 320, H: 480, Plcmt: 3, Linearity: 1, Skip: &one, API: []int{7}},
			wantNative: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ad.Upstream = "primary"
			p := &placement.Placement{PKey: "p", Status: "OK", Ad: &tt.ad}
			if err := p.Validate(); err != nil {
				t.Fatalf("placement: %v", err)
			}
			req := Build(&adquery.Request{Query: mustQuery(t, "pkey=p"+tt.query)}, p, "m", 100*time.Millisecond)
			encode(t, req) // validates against the schema
			imp := req.Imp[0]
			if !reflect.DeepEqual(imp.Banner, tt.wantBanner) {
				t.Errorf("banner %+v; want %+v", imp.Banner, tt.wantBanner)
			}
			if !reflect.DeepEqual(imp.Video, tt.wantVideo) {
				t.Errorf("video %+v; want %+v", imp.Video, tt.wantVideo)
			}
			if (imp.Native != nil) != tt.wantNative {
				t.Errorf("native %+v; want it %v", imp.Native, tt.wantNative)
			}
			if imp.Instl != tt.wantInstl || imp.Rwdd != tt.wantRwdd {
				t.Errorf("instl %d, rwdd %d; want %d, %d", imp.Instl, imp.Rwdd, tt.wantInstl, tt.wantRwdd)
			}
		})
	}
}
