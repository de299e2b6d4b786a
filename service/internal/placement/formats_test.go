package placement_test

import (
	"strings"
	"testing"

	"asap/service/internal/placement"
)

// Formats decode with their design names and validate with every problem
// named at once.
func TestFormats(t *testing.T) {
	ok := `[{"pkey": "rv", "status": "OK", "ad": {"upstream": "primary", "interstitial": true, "rewarded": true,
		"video": {"mimes": ["video/mp4"], "minDuration": 5, "maxDuration": 30, "protocols": [2, 3, 5, 6, 7, 8],
		          "w": 320, "h": 480, "plcmt": 3, "skip": true, "api": [7]}}}]`
	if _, err := placement.Decode([]byte(ok)); err != nil {
		t.Fatalf("a rewarded video placement: %v", err)
	}
	ps, _ := placement.Decode([]byte(`[{"pkey": "rv", "status": "OK", "ad": {"upstream": "primary", "rewarded": true,
		"video": {"mimes": ["video/mp4"], "skip": false}}}]`))
	if len(ps) != 1 || ps[0].Ad.Video.Skip == nil || *ps[0].Ad.Video.Skip || !ps[0].Ad.Rewarded {
		t.Fatalf("decoded %+v; want skip false kept, rewarded", ps)
	}
	for _, tt := range []struct {
		name, ad string
		wantErrs []string
	}{
		{"interstitial alone", `"interstitial": true`, nil},
		{"rewarded with banner", `"rewarded": true, "banner": [{"w": 320, "h": 480}]`, nil},
		{"native alone", `"native": true`, nil},
		{"nothing offered", `"bidfloor": 1`, []string{"ad: offers no format"}},
		{"every video problem", `"video": {"mimes": ["mp4", ""], "minDuration": 40, "maxDuration": 30, "protocols": [0, 3, 3, 17],
			"w": 320, "plcmt": 9, "api": [12]}`, []string{
			`ad.video.mimes[0] "mp4"`, `ad.video.mimes[1] ""`, "ad.video.minDuration 40 is above maxDuration 30",
			"ad.video.protocols[0] 0", "ad.video.protocols[2] 3 is listed twice", "ad.video.protocols[3] 17",
			"ad.video.w 320 and h 0", "ad.video.plcmt 9", "ad.video.api[0] 12",
		}},
		{"no mimes", `"video": {}`, []string{"ad.video.mimes is empty"}},
		{"durations out of range", `"video": {"mimes": ["video/mp4"], "minDuration": -1, "maxDuration": 4000}`,
			[]string{"ad.video.minDuration -1", "ad.video.maxDuration 4000"}},
		{"exchange-specific values", `"video": {"mimes": ["video/mp4"], "protocols": [501], "api": [600]}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := placement.Decode([]byte(`[{"pkey": "p", "status": "OK", "ad": {"upstream": "primary", ` + tt.ad + `}}]`))
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Decode: %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Decode: nil; want an error")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not mention %q", err, want)
				}
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.wantErrs) {
				t.Errorf("%d problems; want %d:\n%v", n, len(tt.wantErrs), err)
			}
		})
	}
}
