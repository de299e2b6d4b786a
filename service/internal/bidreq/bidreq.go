// Package bidreq maps one SDK ad request for a placement to the OpenRTB 2.6
// BidRequest that ASAP's upstreams are sent: the imp the placement offers, and
// the app, device, user and regs the SDK's query describes.
package bidreq

import (
	"encoding/json"
	"net/netip"
	"time"

	"asap/service/internal/adquery"
	"asap/service/internal/format"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
)

// Currency is the only currency ASAP bids and pays in.
const Currency = "USD"

var (
	one     int8 = 1
	zero    int8 = 0
	usd          = []string{Currency}
	secure  int8 = 1
	flagPtr      = [2]*int8{&zero, &one}
)

// Tmax is the OpenRTB tmax of a placement: its own tmaxMs, else def, capped at max.
func Tmax(ad *placement.Ad, def, max time.Duration) time.Duration {
	t := def
	if ad != nil && ad.TmaxMs > 0 {
		t = time.Duration(ad.TmaxMs) * time.Millisecond
	}
	return min(t, max)
}

// Build maps a request for placement p to the OpenRTB 2.6 BidRequest
// with id mrid and the given tmax. p.Ad must not be nil.
//
// The request carries every identifier the SDK sent: what each upstream may
// receive of them (lmt, coppa, consent strings, ATT) is package privacy's to
// decide, on a copy, before the request is encoded for that upstream.
func Build(r *adquery.Request, p *placement.Placement, mrid string, tmax time.Duration) *openrtb.BidRequest {
	ad := p.Ad
	imp := openrtb.Imp{
		ID:          "1",
		TagID:       p.PKey,
		BidFloor:    ad.BidFloor,
		BidFloorCur: Currency,
		Secure:      &secure,
	}
	imp.Banner = banner(r, ad)
	if ad.Native {
		imp.Native = &openrtb.Native{Request: format.NativeRequest, Ver: "1.2"}
	}
	if ad.Video != nil {
		imp.Video = video(r, ad.Video)
	}
	if ad.Interstitial {
		imp.Instl = 1
	}
	if ad.Rewarded {
		imp.Rwdd = 1
	}
	if r.CreativeKey != "" || r.CampaignKey != "" {
		imp.Ext = keysExt(r.CreativeKey, r.CampaignKey)
	}

	req := &openrtb.BidRequest{
		ID:     mrid,
		Imp:    []openrtb.Imp{imp},
		Tmax:   tmax.Milliseconds(),
		Cur:    usd,
		Bcat:   ad.Bcat,
		Badv:   ad.Badv,
		Source: &openrtb.Source{TID: mrid},
	}
	if r.AppID != "" || r.AppName != "" || r.AppVersion != "" || p.PublisherID != "" {
		req.App = &openrtb.App{Bundle: r.AppID, Name: r.AppName, Ver: r.AppVersion}
		if p.PublisherID != "" {
			req.App.Publisher = &openrtb.Publisher{ID: p.PublisherID}
		}
	}

	dev := &openrtb.Device{UA: r.UserAgent, OS: r.OS, OSV: r.OSV, Make: r.Make, Model: r.Model, IFA: r.UID}
	if r.LMT >= 0 {
		dev.Lmt = flagPtr[r.LMT]
	}
	if r.ATTS >= 0 {
		dev.Ext = attsExt[r.ATTS]
	}
	if ip, err := netip.ParseAddr(r.IP); err == nil {
		ip = ip.Unmap()
		if ip.Is4() {
			dev.IP = ip.String()
		} else {
			dev.IPv6 = ip.String()
		}
	}
	req.Device = dev

	if r.GDPRConsent != "" {
		req.User = &openrtb.User{Consent: r.GDPRConsent}
	}
	if r.GDPR >= 0 || r.COPPA >= 0 || r.USPrivacy != "" || r.GPP != "" || len(r.GPPSID) > 0 {
		regs := &openrtb.Regs{USPrivacy: r.USPrivacy, GPP: r.GPP, GPPSID: r.GPPSID}
		if r.GDPR >= 0 {
			regs.GDPR = flagPtr[r.GDPR]
		}
		if r.COPPA >= 0 {
			regs.COPPA = flagPtr[r.COPPA]
		}
		req.Regs = regs
	}
	return req
}

// fullScreen is the banner of a full-screen impression (interstitial or
// rewarded, without banner sizes of its own) whose SDK sent no screen size: the
// portrait phone interstitial of the IAB's guidelines.
var fullScreen = openrtb.Format{W: 320, H: 480}

// banner is the imp's banner: the placement's sizes, the SDK's slot size as w
// and h; for an interstitial, the screen size the SDK sends as its only
// format, else the placement's sizes. An interstitial or rewarded impression
// offering no other format offers a full-screen banner. Nil when the
// impression offers no banner.
func banner(r *adquery.Request, ad *placement.Ad) *openrtb.Banner {
	fullOnly := (ad.Interstitial || ad.Rewarded) && len(ad.Banner) == 0 && !ad.Native && ad.Video == nil
	if len(ad.Banner) == 0 && !fullOnly {
		return nil
	}
	b := &openrtb.Banner{}
	switch {
	case (ad.Interstitial || fullOnly) && r.W > 0:
		b.Format = []openrtb.Format{{W: int64(r.W), H: int64(r.H)}}
	case fullOnly:
		b.Format = []openrtb.Format{fullScreen}
	default:
		b.Format = make([]openrtb.Format, len(ad.Banner))
		for i, s := range ad.Banner {
			b.Format[i] = openrtb.Format{W: int64(s.W), H: int64(s.H)}
		}
	}
	if r.W > 0 {
		b.W, b.H = int64(r.W), int64(r.H)
	}
	return b
}

// linear is OpenRTB's linearity of an in-stream (linear) ad: the only kind
// whose duration the SDK is told.
const linear = 1

// video maps the placement's video to imp.video; its size is the placement's,
// else the SDK's slot size.
func video(r *adquery.Request, v *placement.Video) *openrtb.Video {
	out := &openrtb.Video{
		MIMEs: v.MIMEs, MinDuration: int64(v.MinDuration), MaxDuration: int64(v.MaxDuration),
		Protocols: v.Protocols, W: int64(v.W), H: int64(v.H), Plcmt: v.Plcmt, Linearity: linear, API: v.API,
	}
	if out.W == 0 && r.W > 0 {
		out.W, out.H = int64(r.W), int64(r.H)
	}
	if v.Skip != nil {
		out.Skip = flagPtr[0]
		if *v.Skip {
			out.Skip = flagPtr[1]
		}
	}
	return out
}

// attsExt is device.ext for each App Tracking Transparency status.
var attsExt = [4]json.RawMessage{
	json.RawMessage(`{"atts":0}`), json.RawMessage(`{"atts":1}`), json.RawMessage(`{"atts":2}`), json.RawMessage(`{"atts":3}`),
}

// keysExt is imp.ext: the creative or campaign key the SDK got from GET /v2, so the
// upstream can honour a direct-sold line item.
func keysExt(creativeKey, campaignKey string) json.RawMessage {
	ext, err := json.Marshal(struct {
		CreativeKey string `json:"creative_key,omitempty"`
		CampaignKey string `json:"campaign_key,omitempty"`
	}{creativeKey, campaignKey})
	if err != nil {
		return nil // strings always marshal
	}
	return ext
}

// Append appends req to b as JSON and a newline: the bytes of a json.Encoder
// with HTML escaping off, without its reflection (see openrtb.AppendBidRequest).
func Append(b []byte, req *openrtb.BidRequest) ([]byte, error) {
	b, err := openrtb.AppendBidRequest(b, req)
	if err != nil {
		return b, err
	}
	return append(b, '\n'), nil
}
