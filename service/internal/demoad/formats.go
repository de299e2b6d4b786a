package demoad

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strings"

	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

// DefaultFormats is the order in which the demo picks among the formats an imp
// offers: video, the best paid, first; then banner before native, as the demo
// bid before it had formats.
var DefaultFormats = []format.Kind{format.Video, format.Banner, format.Native, format.Audio}

// FormatList writes kinds as ParseFormats reads them: "video,banner".
func FormatList(kinds []format.Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.String()
	}
	return strings.Join(names, ",")
}

// ParseFormats reads a preference list such as "video,native,banner" (the
// -formats flag): each name once, at least one.
func ParseFormats(s string) ([]format.Kind, error) {
	var kinds []format.Kind
	seen := format.SetOf()
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		k, ok := kindByName(name)
		if !ok {
			return nil, fmt.Errorf("format %q: want banner, video, audio or native", name)
		}
		if seen.Has(k) {
			return nil, fmt.Errorf("format %q listed twice", name)
		}
		seen |= format.SetOf(k)
		kinds = append(kinds, k)
	}
	return kinds, nil
}

func kindByName(name string) (format.Kind, bool) {
	for _, k := range DefaultFormats {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

// pick returns the first format of prefs that imp offers.
func pick(imp *openrtb.Imp, prefs []format.Kind) (format.Kind, bool) {
	offered := format.Offered(imp)
	for _, k := range prefs {
		if offered.Has(k) {
			return k, true
		}
	}
	return 0, false
}

// The demo's video: the IAB's public sample clip in three renditions.
const (
	clipSeconds = 16
	clipBase    = "https://iab-publicfiles.s3.amazonaws.com/vast/VAST-4.0-Short-Intro"
)

// vastAd is a VAST 4.1 InLine ad for imp (video or audio), valid against the
// IAB's vast_4.1.xsd: the impression pixel goes to base's /imp (the price through
// ${AUCTION_PRICE}), the tracking events to its /event, the click to the demo
// advertiser.
// The Duration is the clip's, kept within the imp's minduration and
// maxduration; a skippable video may be skipped after 5 seconds.
func vastAd(imp *openrtb.Imp, kind format.Kind, base string) (adm string, duration int64) {
	duration = clipSeconds
	var minDur, maxDur int64
	var mimes []string
	skip := false
	if kind == format.Audio && imp.Audio != nil {
		minDur, maxDur, mimes = imp.Audio.MinDuration, imp.Audio.MaxDuration, imp.Audio.MIMEs
	} else if imp.Video != nil {
		minDur, maxDur, mimes = imp.Video.MinDuration, imp.Video.MaxDuration, imp.Video.MIMEs
		skip = imp.Video.Skip != nil && *imp.Video.Skip == 1
	}
	if maxDur > 0 {
		duration = min(duration, maxDur)
	}
	duration = max(duration, minDur)

	esc := html.EscapeString
	pixel := base + "/imp?auction=${AUCTION_ID}&price=${AUCTION_PRICE}&via=vast"
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<VAST version="4.1" xmlns="http://www.iab.com/VAST"><Ad id="demo-ad-1"><InLine>`)
	b.WriteString(`<AdSystem version="1.0">ASAP demo ad server</AdSystem>`)
	fmt.Fprintf(&b, `<Impression id="demo"><![CDATA[%s]]></Impression>`, pixel)
	b.WriteString(`<AdServingId>${AUCTION_ID}</AdServingId>`)
	fmt.Fprintf(&b, `<AdTitle>Demo %s ad for %s</AdTitle>`, kind, esc(imp.TagID))
	b.WriteString(`<Advertiser>Demo advertiser</Advertiser>`)
	b.WriteString(`<Creatives><Creative id="demo-creative-1" adId="demo-ad-1">`)
	b.WriteString(`<UniversalAdId idRegistry="demo-advertiser.example">demo-creative-1</UniversalAdId>`)
	if skip {
		b.WriteString(`<Linear skipoffset="00:00:05">`)
	} else {
		b.WriteString(`<Linear>`)
	}
	b.WriteString(`<TrackingEvents>`) // before Duration: the schema's order
	for _, event := range []string{"start", "firstQuartile", "midpoint", "thirdQuartile", "complete"} {
		fmt.Fprintf(&b, `<Tracking event="%s"><![CDATA[%s/event?auction=${AUCTION_ID}&event=%s]]></Tracking>`, event, base, event)
	}
	b.WriteString(`</TrackingEvents>`)
	fmt.Fprintf(&b, `<Duration>%02d:%02d:%02d</Duration>`, duration/3600, duration/60%60, duration%60)
	b.WriteString(`<MediaFiles>`)
	if kind == format.Audio {
		fmt.Fprintf(&b, `<MediaFile delivery="progressive" type="%s" bitrate="128" width="0" height="0">`+ // the 4.1 schema requires a size, even of audio
			`<![CDATA[https://demo-advertiser.example/audio/demo-ad-16s]]></MediaFile>`,
			esc(mediaType(mimes, "audio/mpeg")))
	} else {
		typ := esc(mediaType(mimes, "video/mp4"))
		for _, r := range []struct {
			suffix        string
			bitrate, w, h int
		}{{"", 2000, 1280, 720}, {"-mid-resolution", 1000, 854, 480}, {"-low-resolution", 600, 640, 360}} {
			fmt.Fprintf(&b, `<MediaFile delivery="progressive" type="%s" bitrate="%d" width="%d" height="%d" scalable="1" maintainAspectRatio="1" codec="H.264">`+
				`<![CDATA[%s%s.mp4]]></MediaFile>`, typ, r.bitrate, r.w, r.h, clipBase, r.suffix)
		}
	}
	b.WriteString(`</MediaFiles>`)
	if kind != format.Audio {
		b.WriteString(`<VideoClicks><ClickThrough id="demo"><![CDATA[https://demo-advertiser.example/]]></ClickThrough></VideoClicks>`)
	}
	b.WriteString(`</Linear></Creative></Creatives></InLine></Ad></VAST>`)
	return b.String(), duration
}

// mediaType is def when the imp accepts it, else the imp's first MIME type of
// def's kind ("video/", "audio/"), else def.
func mediaType(mimes []string, def string) string {
	kind, _, _ := strings.Cut(def, "/")
	for _, m := range mimes {
		if m == def {
			return m
		}
	}
	for _, m := range mimes {
		if strings.HasPrefix(m, kind+"/") {
			return m
		}
	}
	return def
}

// nativeAd is a Native 1.2 response answering every asset of the imp's native
// request, required or not, that the demo can fill (title, img, data; a video
// asset gets a VAST tag), with impression and click trackers at base.
func nativeAd(imp *openrtb.Imp, base string) (string, error) {
	assets, err := format.NativeAssets(imp.Native.Request)
	if err != nil {
		return "", err
	}
	type img struct {
		URL string `json:"url"`
		W   int64  `json:"w,omitempty"`
		H   int64  `json:"h,omitempty"`
	}
	type asset struct {
		ID    int64 `json:"id"`
		Title *struct {
			Text string `json:"text"`
		} `json:"title,omitempty"`
		Img   *img `json:"img,omitempty"`
		Video *struct {
			VASTTag string `json:"vasttag"`
		} `json:"video,omitempty"`
		Data *struct {
			Value string `json:"value"`
		} `json:"data,omitempty"`
	}
	out := make([]asset, 0, len(assets))
	for _, a := range assets {
		o := asset{ID: a.ID}
		switch a.Kind {
		case "title":
			o.Title = &struct {
				Text string `json:"text"`
			}{fit("Demo native ad for "+imp.TagID, a.Len)}
		case "img":
			w, h := max(a.W, a.WMin, 1200), max(a.H, a.HMin, 627)
			name := "main"
			if a.Type == 1 {
				w, h, name = max(a.W, a.WMin, 80), max(a.H, a.HMin, 80), "icon"
			}
			if a.W > 0 && a.H > 0 { // an exact size asked
				w, h = a.W, a.H
			}
			o.Img = &img{URL: fmt.Sprintf("https://demo-advertiser.example/%s-%dx%d.png", name, w, h), W: w, H: h}
		case "video":
			vast, _ := vastAd(&openrtb.Imp{TagID: imp.TagID}, format.Video, base)
			o.Video = &struct {
				VASTTag string `json:"vasttag"`
			}{vast}
		case "data":
			o.Data = &struct {
				Value string `json:"value"`
			}{fit(dataValue(a.Type), a.Len)}
		}
		out = append(out, o)
	}
	resp := map[string]any{
		"ver":    "1.2",
		"assets": out,
		"link": map[string]any{
			"url":           "https://demo-advertiser.example/",
			"clicktrackers": []string{base + "/event?auction=${AUCTION_ID}&event=click"},
		},
		"eventtrackers": []map[string]any{{"event": 1, "method": 1, "url": base + "/imp?auction=${AUCTION_ID}&price=${AUCTION_PRICE}&via=native"}},
		"privacy":       "https://demo-advertiser.example/privacy",
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return "", errors.New("encode the native response")
	}
	return string(b), nil
}

// dataValue is the demo's text for a Native data asset type.
func dataValue(typ int64) string {
	switch typ {
	case 1:
		return "Demo advertiser"
	case 2:
		return "An ad of the ASAP demo ad server, in every format it is offered."
	case 3:
		return "5"
	case 12:
		return "Learn more"
	}
	return "Demo"
}

// fit cuts s to n bytes when n > 0 (and drops a rune cut in half).
func fit(s string, n int64) string {
	if n > 0 && int64(len(s)) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}
