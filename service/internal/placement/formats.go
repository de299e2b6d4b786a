package placement

import (
	"errors"
	"fmt"
	"strings"
)

// Video is what a placement's video impression offers, in the names of the
// placement record; it becomes the BidRequest's imp.video with OpenRTB's names.
type Video struct {
	// MIMEs are the media types the SDK's player plays, such as "video/mp4". At
	// least one.
	MIMEs []string `json:"mimes"`
	// MinDuration and MaxDuration bound the ad's duration in seconds; 0 means no
	// bound.
	MinDuration int `json:"minDuration,omitempty"`
	MaxDuration int `json:"maxDuration,omitempty"`
	// Protocols are the VAST versions the player supports (AdCOM creative
	// subtypes: 2 VAST 2.0, 3 VAST 3.0, 5–8 wrappers and VAST 4.0, 11–16 VAST 4.1
	// to 4.3 and their wrappers). Empty: not said.
	Protocols []int `json:"protocols,omitempty"`
	// W and H are the player's size in device-independent pixels; 0: the SDK's
	// w and h when it sends them.
	W int `json:"w,omitempty"`
	H int `json:"h,omitempty"`
	// Plcmt is OpenRTB 2.6's video placement type: 1 instream, 2 accompanying
	// content, 3 interstitial, 4 no content (standalone). 0: not said.
	Plcmt int `json:"plcmt,omitempty"`
	// Skip says whether the player lets the user skip the ad; nil: not said.
	Skip *bool `json:"skip,omitempty"`
	// API are the API frameworks the player supports (AdCOM: 7 OMID 1, 8 SIMID
	// 1.0, ...).
	API []int `json:"api,omitempty"`
}

// Bounds of the enumerated video fields (AdCOM 1.0 lists; 500 and above are
// exchange-specific values, which OpenRTB allows).
const (
	maxProtocol       = 16
	maxAPI            = 9
	maxPlcmt          = 4
	exchangeSpecific  = 500
	maxVideoDuration  = 3600
	maxFormatsPerList = 32
)

// validateFormats checks what the impression offers: at least one format, and
// the video fields each named when wrong.
func (a *Ad) validateFormats() []error {
	var errs []error
	if len(a.Banner) == 0 && !a.Native && a.Video == nil && !a.Interstitial && !a.Rewarded {
		errs = append(errs, errors.New("ad: offers no format: want banner sizes, native, video, interstitial or rewarded"))
	}
	for i, s := range a.Banner {
		if s.W <= 0 || s.H <= 0 {
			errs = append(errs, fmt.Errorf("ad.banner[%d]: w and h must be positive", i))
		}
	}
	if v := a.Video; v != nil {
		errs = append(errs, v.validate()...)
	}
	return errs
}

func (v *Video) validate() []error {
	var errs []error
	if len(v.MIMEs) == 0 {
		errs = append(errs, errors.New(`ad.video.mimes is empty: want the media types the player plays, such as "video/mp4"`))
	}
	if len(v.MIMEs) > maxFormatsPerList {
		errs = append(errs, fmt.Errorf("ad.video.mimes: %d media types; want at most %d", len(v.MIMEs), maxFormatsPerList))
	}
	for i, m := range v.MIMEs {
		if typ, sub, ok := strings.Cut(m, "/"); !ok || typ == "" || sub == "" || strings.ContainsAny(m, " \t\r\n\"") {
			errs = append(errs, fmt.Errorf("ad.video.mimes[%d] %q: want a media type such as \"video/mp4\"", i, m))
		}
	}
	if v.MinDuration < 0 || v.MinDuration > maxVideoDuration {
		errs = append(errs, fmt.Errorf("ad.video.minDuration %d: want seconds from 0 to %d", v.MinDuration, maxVideoDuration))
	}
	if v.MaxDuration < 0 || v.MaxDuration > maxVideoDuration {
		errs = append(errs, fmt.Errorf("ad.video.maxDuration %d: want seconds from 0 to %d", v.MaxDuration, maxVideoDuration))
	}
	if v.MaxDuration > 0 && v.MinDuration > v.MaxDuration {
		errs = append(errs, fmt.Errorf("ad.video.minDuration %d is above maxDuration %d", v.MinDuration, v.MaxDuration))
	}
	errs = append(errs, enumerated("ad.video.protocols", v.Protocols, maxProtocol)...)
	errs = append(errs, enumerated("ad.video.api", v.API, maxAPI)...)
	if v.W < 0 || v.H < 0 || (v.W == 0) != (v.H == 0) {
		errs = append(errs, fmt.Errorf("ad.video.w %d and h %d: want both positive, or neither", v.W, v.H))
	}
	if v.Plcmt < 0 || v.Plcmt > maxPlcmt {
		errs = append(errs, fmt.Errorf("ad.video.plcmt %d: want 1 instream, 2 accompanying content, 3 interstitial or 4 no content (0: not said)", v.Plcmt))
	}
	return errs
}

// enumerated checks a list of AdCOM values: each from 1 to max, or
// exchange-specific (500 and above), each once.
func enumerated(name string, vals []int, max int) []error {
	var errs []error
	if len(vals) > maxFormatsPerList {
		return []error{fmt.Errorf("%s: %d values; want at most %d", name, len(vals), maxFormatsPerList)}
	}
	seen := make(map[int]bool, len(vals))
	for i, v := range vals {
		switch {
		case (v < 1 || v > max) && v < exchangeSpecific:
			errs = append(errs, fmt.Errorf("%s[%d] %d: want a value from 1 to %d (or 500 and above, exchange-specific)", name, i, v, max))
		case seen[v]:
			errs = append(errs, fmt.Errorf("%s[%d] %d is listed twice", name, i, v))
		}
		seen[v] = true
	}
	return errs
}
