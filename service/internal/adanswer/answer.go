// Package adanswer is the SDK's answer to GET /v2/ad: the creative to render,
// its price and its beacons, encoded as the SDK parses it.
package adanswer

import (
	"bytes"
	"fmt"
	"strconv"

	"asap/service/internal/format"
	"asap/service/internal/jsonstr"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
)

// Answer is the SDK's answer to GET /v2/ad.
type Answer struct {
	MRID              string     `json:"mrid"`
	AdserverRequestID string     `json:"adserverRequestId"`
	Creatives         []Creative `json:"creatives"`
}

// Creative is one ad of an Answer.
type Creative struct {
	// AuctionWinID is the winning bid's id; HouseAuctionWinID for a house ad.
	AuctionWinID string       `json:"auctionWinId"`
	CPM          float64      `json:"cpm"`
	Creative     CreativeBody `json:"creative"`
	Beacons      Beacons      `json:"beacons"`
}

// CreativeBody is what the SDK renders. Type and the fields after ADomain are
// additions SDKs in the field ignore.
type CreativeBody struct {
	// Type is the creative's format: "banner" (HTML markup), "video" (Markup is
	// a VAST document) or "native" (Markup is the Native response, Native it
	// parsed).
	Type        string   `json:"type"`
	CreativeKey string   `json:"creative_key"`
	CampaignKey string   `json:"campaign_key"`
	DealID      string   `json:"deal_id"`
	Markup      string   `json:"markup"`
	W           int64    `json:"w"`
	H           int64    `json:"h"`
	ADomain     []string `json:"adomain"`
	// VASTVersion is a video's VAST version; Duration its first linear's
	// duration in seconds (absent when the VAST does not say: a wrapper).
	VASTVersion string `json:"vast_version,omitempty"`
	Duration    int    `json:"duration,omitempty"`
	// Native is a native creative, parsed for the SDK to render.
	Native *format.NativeAd `json:"native,omitempty"`
	// Interstitial and Rewarded are set when the impression was full screen,
	// or rewarded.
	Interstitial bool `json:"interstitial,omitempty"`
	Rewarded     bool `json:"rewarded,omitempty"`
}

// Beacons are the URLs the SDK calls: Impression when the ad is shown (the bid's
// burl).
type Beacons struct {
	Impression []string `json:"impression"`
}

// HouseAuctionWinID is the auctionWinId of a house ad: there was no auction to win.
const HouseAuctionWinID = "house"

var noStrings = []string{}

// Win is the answer serving the winning bid b of the response with id
// responseID at the adjusted price price (the SDK's cpm), with markup and burl
// already macro-substituted. Its creative is a banner; the caller sets what
// another format adds.
func Win(mrid, responseID string, b *openrtb.Bid, price float64, markup, burl string) Answer {
	c := Creative{
		AuctionWinID: b.ID,
		CPM:          price,
		Creative: CreativeBody{
			Type:        format.Banner.String(),
			CreativeKey: b.CrID,
			CampaignKey: b.CID,
			DealID:      b.DealID,
			Markup:      markup,
			W:           b.W,
			H:           b.H,
			ADomain:     b.ADomain,
		},
		Beacons: Beacons{Impression: noStrings},
	}
	if c.Creative.ADomain == nil {
		c.Creative.ADomain = noStrings
	}
	if burl != "" {
		c.Beacons.Impression = []string{burl}
	}
	return Answer{MRID: mrid, AdserverRequestID: responseID, Creatives: []Creative{c}}
}

// House is the answer serving the placement's house ad h: no auction, no
// price, no beacons.
func House(mrid string, h *placement.HouseAd) Answer {
	return Answer{MRID: mrid, Creatives: []Creative{{
		AuctionWinID: HouseAuctionWinID,
		Creative: CreativeBody{
			Type:    format.Banner.String(),
			Markup:  h.Markup,
			W:       int64(h.W),
			H:       int64(h.H),
			ADomain: noStrings,
		},
		Beacons: Beacons{Impression: noStrings},
	}}}
}

// Encode appends a as JSON to buf. Markup is not HTML-escaped: it is JSON for a
// renderer, not HTML for a browser, and escaping would grow it.
//
// It writes what a json.Encoder with HTML escaping off writes, newline included,
// by hand: this is on every ad request's path. TestEncodeMatchesEncodingJSON holds
// the two to the same bytes.
func (a *Answer) Encode(buf *bytes.Buffer) error {
	b := buf.AvailableBuffer()
	b = append(b, `{"mrid":`...)
	b = jsonstr.Append(b, a.MRID)
	b = append(b, `,"adserverRequestId":`...)
	b = jsonstr.Append(b, a.AdserverRequestID)
	b = append(b, `,"creatives":`...)
	if a.Creatives == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range a.Creatives {
			if i > 0 {
				b = append(b, ',')
			}
			c := &a.Creatives[i]
			b = append(b, `{"auctionWinId":`...)
			b = jsonstr.Append(b, c.AuctionWinID)
			b = append(b, `,"cpm":`...)
			var err error
			if b, err = openrtb.AppendJSONFloat(b, c.CPM); err != nil {
				return fmt.Errorf("adanswer: encode: %w", err)
			}
			cb := &c.Creative
			b = append(b, `,"creative":{"type":`...)
			b = jsonstr.Append(b, cb.Type)
			b = append(b, `,"creative_key":`...)
			b = jsonstr.Append(b, c.Creative.CreativeKey)
			b = append(b, `,"campaign_key":`...)
			b = jsonstr.Append(b, c.Creative.CampaignKey)
			b = append(b, `,"deal_id":`...)
			b = jsonstr.Append(b, c.Creative.DealID)
			b = append(b, `,"markup":`...)
			b = jsonstr.Append(b, c.Creative.Markup)
			b = append(b, `,"w":`...)
			b = strconv.AppendInt(b, c.Creative.W, 10)
			b = append(b, `,"h":`...)
			b = strconv.AppendInt(b, c.Creative.H, 10)
			b = append(b, `,"adomain":`...)
			b = appendStrings(b, c.Creative.ADomain)
			if cb.VASTVersion != "" {
				b = append(b, `,"vast_version":`...)
				b = jsonstr.Append(b, cb.VASTVersion)
			}
			if cb.Duration != 0 {
				b = append(b, `,"duration":`...)
				b = strconv.AppendInt(b, int64(cb.Duration), 10)
			}
			if cb.Native != nil {
				b = append(b, `,"native":`...)
				b = appendNative(b, cb.Native)
			}
			if cb.Interstitial {
				b = append(b, `,"interstitial":true`...)
			}
			if cb.Rewarded {
				b = append(b, `,"rewarded":true`...)
			}
			b = append(b, `},"beacons":{"impression":`...)
			b = appendStrings(b, c.Beacons.Impression)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	buf.Write(append(b, "}\n"...))
	return nil
}

// appendNative appends n as encoding/json writes it (format.NativeAd's tags).
func appendNative(b []byte, n *format.NativeAd) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	str := func(key, v string) {
		if v != "" {
			sep()
			b = append(b, key...)
			b = jsonstr.Append(b, v)
		}
	}
	img := func(key string, im *format.Image) {
		if im == nil {
			return
		}
		sep()
		b = append(b, key...)
		b = append(b, `{"url":`...)
		b = jsonstr.Append(b, im.URL)
		if im.W != 0 {
			b = append(b, `,"w":`...)
			b = strconv.AppendInt(b, im.W, 10)
		}
		if im.H != 0 {
			b = append(b, `,"h":`...)
			b = strconv.AppendInt(b, im.H, 10)
		}
		b = append(b, '}')
	}
	list := func(key string, v []string) {
		if len(v) > 0 {
			sep()
			b = append(b, key...)
			b = appendStrings(b, v)
		}
	}
	str(`"title":`, n.Title)
	str(`"description":`, n.Description)
	str(`"sponsored":`, n.Sponsored)
	str(`"cta":`, n.CTA)
	img(`"image":`, n.Image)
	img(`"icon":`, n.Icon)
	sep()
	b = append(b, `"click_url":`...)
	b = jsonstr.Append(b, n.ClickURL)
	list(`"click_trackers":`, n.ClickTrackers)
	list(`"impression_trackers":`, n.ImpressionTrackers)
	str(`"privacy_url":`, n.PrivacyURL)
	return append(b, '}')
}

// appendStrings appends v as a JSON array, or null when it is nil.
func appendStrings(b []byte, v []string) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, s)
	}
	return append(b, ']')
}
