package format

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// NativeRequest is the Native Ads 1.2 request ASAP offers for native placements
// (imp.native.request): a title and a main image, required, the assets every
// native layout of the SDK shows; a sponsor, a description, an icon and a
// call-to-action text, optional. It accepts image-pixel impression trackers
// (eventtrackers) and a privacy notice URL.
const NativeRequest = `{"ver":"1.2","context":1,"plcmttype":1,"plcmtcnt":1,"assets":[` +
	`{"id":1,"required":1,"title":{"len":90}},` +
	`{"id":2,"required":1,"img":{"type":3,"wmin":300,"hmin":157}},` +
	`{"id":3,"required":0,"data":{"type":1,"len":25}},` +
	`{"id":4,"required":0,"data":{"type":2,"len":140}},` +
	`{"id":5,"required":0,"img":{"type":1,"wmin":50,"hmin":50}},` +
	`{"id":6,"required":0,"data":{"type":12,"len":15}}],` +
	`"eventtrackers":[{"event":1,"methods":[1]}],"privacy":1}`

// The Native 1.2 numbers ASAP reads (Native Ads 1.2 §7.3, §7.4, §7.6, §7.7).
const (
	imgIcon       = 1
	imgMain       = 3
	dataSponsored = 1
	dataDesc      = 2
	dataCTA       = 12
	eventImp      = 1
	methodImg     = 1
)

// NativeAd is what the SDK needs to render a native ad, read from a Native 1.2
// response: the texts and images of the assets ASAP asked for, the click URL and
// the trackers.
type NativeAd struct {
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	Sponsored   string `json:"sponsored,omitempty"`
	CTA         string `json:"cta,omitempty"`
	Image       *Image `json:"image,omitempty"`
	Icon        *Image `json:"icon,omitempty"`
	// ClickURL is the response's link.url, where a click goes.
	ClickURL string `json:"click_url"`
	// ClickTrackers are the link's clicktrackers, fired on a click.
	ClickTrackers []string `json:"click_trackers,omitempty"`
	// ImpressionTrackers are the response's imptrackers and the URLs of its
	// eventtrackers of the impression event (1) by image pixel (method 1).
	ImpressionTrackers []string `json:"impression_trackers,omitempty"`
	// PrivacyURL is the response's privacy notice link.
	PrivacyURL string `json:"privacy_url,omitempty"`
}

// Image is an image asset: its URL and, when the bidder said, its size.
type Image struct {
	URL string `json:"url"`
	W   int64  `json:"w,omitempty"`
	H   int64  `json:"h,omitempty"`
}

// NativeAsset is one asset of a Native 1.2 request.
type NativeAsset struct {
	ID       int64
	Required bool
	// Kind is the asset's object: "title", "img", "video" or "data".
	Kind string
	// Type is the img type (1 icon, 3 main) or the data type (1 sponsored,
	// 2 description, 12 call to action, ...); 0 for a title or video.
	Type int64
	// Len is the maximum length of a title or data asset's text; 0 if not said.
	Len int64
	// W, H, WMin and HMin are an img asset's exact or minimum size; 0 if not said.
	W, H, WMin, HMin int64
}

// String names the asset as errors do: "asset 2 (main image)".
func (a NativeAsset) String() string {
	return "asset " + strconv.FormatInt(a.ID, 10) + " (" + describe(a.Kind, a.Type) + ")"
}

func describe(kind string, typ int64) string {
	switch {
	case kind == "img" && typ == imgIcon:
		return "icon"
	case kind == "img" && typ == imgMain:
		return "main image"
	case kind == "img" && typ != 0:
		return "image type " + strconv.FormatInt(typ, 10)
	case kind == "img":
		return "image"
	case kind == "data" && typ == dataSponsored:
		return "sponsored"
	case kind == "data" && typ == dataDesc:
		return "description"
	case kind == "data" && typ == dataCTA:
		return "call to action"
	case kind == "data":
		return "data type " + strconv.FormatInt(typ, 10)
	}
	return kind
}

// nativeAssets are NativeRequest's assets.
var nativeAssets = func() []NativeAsset {
	a, err := NativeAssets(NativeRequest)
	if err != nil {
		panic("format: NativeRequest: " + err.Error())
	}
	return a
}()

// NativeAssets reads the assets of a Native 1.2 request (the string an
// imp.native.request carries; a request wrapped as {"native": {...}}, as
// Native 1.0 had it, is read too). Every asset needs an id, unique, and one of
// title, img, video or data.
func NativeAssets(request string) ([]NativeAsset, error) {
	root, err := nativeRoot(request, "native request")
	if err != nil {
		return nil, err
	}
	raws, err := root.objects("assets")
	if err != nil {
		return nil, fmt.Errorf("native request: %w", err)
	}
	if len(raws) == 0 {
		return nil, errors.New("native request: no assets")
	}
	assets := make([]NativeAsset, 0, len(raws))
	ids := make(map[int64]bool, len(raws))
	for i, o := range raws {
		a, err := requestAsset(o)
		if err != nil {
			return nil, fmt.Errorf("native request: assets[%d]: %w", i, err)
		}
		if ids[a.ID] {
			return nil, fmt.Errorf("native request: assets[%d]: id %d given twice", i, a.ID)
		}
		ids[a.ID] = true
		assets = append(assets, a)
	}
	return assets, nil
}

func requestAsset(o object) (NativeAsset, error) {
	var a NativeAsset
	var err error
	if _, ok := o["id"]; !ok {
		return a, errors.New("no id")
	}
	if a.ID, err = o.int("id"); err != nil {
		return a, err
	}
	req, err := o.int("required")
	if err != nil {
		return a, err
	}
	a.Required = req == 1
	for _, kind := range [...]string{"title", "img", "video", "data"} {
		sub, err := o.object(kind)
		if err != nil {
			return a, err
		}
		if sub == nil {
			continue
		}
		if a.Kind != "" {
			return a, fmt.Errorf("both %s and %s", a.Kind, kind)
		}
		a.Kind = kind
		for _, f := range []struct {
			key string
			dst *int64
		}{{"type", &a.Type}, {"len", &a.Len}, {"w", &a.W}, {"h", &a.H}, {"wmin", &a.WMin}, {"hmin", &a.HMin}} {
			if *f.dst, err = sub.int(f.key); err != nil {
				return a, fmt.Errorf("%s.%w", kind, err)
			}
		}
	}
	if a.Kind == "" {
		return a, errors.New("none of title, img, video, data")
	}
	return a, nil
}

// ParseNative reads a Native 1.2 response (a bid's adm; the {"native": {...}}
// wrapper is read too) that answers NativeRequest: the assets answer the
// request's asset ids, and every asset the request marks required must be there
// with its text or URL, as must link.url. The error names what is missing or
// malformed.
func ParseNative(adm string) (NativeAd, error) { return ParseNativeFor(adm, nativeAssets) }

// ParseNativeFor is ParseNative for a response to a request with the given
// assets (NativeAssets reads them). A response asset without an id (the
// specification makes it optional only for assetsurl and dcourl responses, but
// bidders omit it) answers the first unanswered request asset of its kind and,
// for img and data, of its own type.
func ParseNativeFor(adm string, assets []NativeAsset) (NativeAd, error) {
	var n NativeAd
	root, err := nativeRoot(adm, "native")
	if err != nil {
		return n, err
	}
	raws, err := root.objects("assets")
	if err != nil {
		return n, fmt.Errorf("native: %w", err)
	}
	answered := make([]bool, len(assets))
	for i, o := range raws {
		if err := n.answer(o, assets, answered); err != nil {
			return NativeAd{}, fmt.Errorf("native: assets[%d]: %w", i, err)
		}
	}
	for i, a := range assets {
		if a.Required && !answered[i] {
			return NativeAd{}, fmt.Errorf("native: required %s missing", a)
		}
	}

	link, err := root.object("link")
	if err != nil {
		return NativeAd{}, fmt.Errorf("native: %w", err)
	}
	if n.ClickURL, err = link.str("url"); err != nil {
		return NativeAd{}, fmt.Errorf("native: link.%w", err)
	}
	if n.ClickURL == "" {
		return NativeAd{}, errors.New("native: link.url missing")
	}
	if n.ClickTrackers, err = link.strs("clicktrackers"); err != nil {
		return NativeAd{}, fmt.Errorf("native: link.%w", err)
	}
	if n.ImpressionTrackers, err = root.strs("imptrackers"); err != nil {
		return NativeAd{}, fmt.Errorf("native: %w", err)
	}
	events, err := root.objects("eventtrackers")
	if err != nil {
		return NativeAd{}, fmt.Errorf("native: %w", err)
	}
	for i, e := range events {
		event, err1 := e.int("event")
		method, err2 := e.int("method")
		url, err3 := e.str("url")
		if err := errors.Join(err1, err2, err3); err != nil {
			return NativeAd{}, fmt.Errorf("native: eventtrackers[%d].%w", i, err)
		}
		if event == eventImp && method == methodImg && url != "" {
			n.ImpressionTrackers = append(n.ImpressionTrackers, url)
		}
	}
	if n.PrivacyURL, err = root.str("privacy"); err != nil {
		return NativeAd{}, fmt.Errorf("native: %w", err)
	}
	return n, nil
}

// answer reads one response asset into n, marking the request asset it answers.
// An asset that answers nothing ASAP knows (an id the request does not have, a
// kind other than the request asset's) is skipped.
func (n *NativeAd) answer(o object, assets []NativeAsset, answered []bool) error {
	id, err := o.int("id")
	if err != nil {
		return err
	}
	var kind string
	var sub object
	for _, k := range [...]string{"title", "img", "video", "data"} {
		s, err := o.object(k)
		if err != nil {
			return err
		}
		if s != nil {
			if kind != "" {
				return fmt.Errorf("both %s and %s", kind, k)
			}
			kind, sub = k, s
		}
	}
	if kind == "" {
		return nil // a link-only asset, or one ASAP does not read
	}
	typ, err := sub.int("type") // Native 1.2 responses may say an img's or data's type
	if err != nil {
		return fmt.Errorf("%s.%w", kind, err)
	}
	i := -1
	for j, a := range assets {
		if _, hasID := o["id"]; hasID && a.ID == id ||
			!hasID && !answered[j] && a.Kind == kind && (typ == 0 || a.Type == typ) {
			i = j
			break
		}
	}
	if i < 0 || assets[i].Kind != kind {
		return nil
	}
	a := assets[i]
	switch kind {
	case "title":
		text, err := sub.str("text")
		if err != nil {
			return fmt.Errorf("title.%w", err)
		}
		if text == "" {
			return nil
		}
		n.Title = text
	case "img":
		url, err1 := sub.str("url")
		w, err2 := sub.int("w")
		h, err3 := sub.int("h")
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("img.%w", err)
		}
		if url == "" {
			return nil
		}
		img := &Image{URL: url, W: w, H: h}
		switch {
		case a.Type == imgIcon:
			n.Icon = img
		case a.Type == imgMain || n.Image == nil:
			n.Image = img
		}
	case "video":
		tag, err := sub.str("vasttag")
		if err != nil {
			return fmt.Errorf("video.%w", err)
		}
		if tag == "" {
			return nil
		}
	case "data":
		value, err := sub.str("value")
		if err != nil {
			return fmt.Errorf("data.%w", err)
		}
		if value == "" {
			return nil
		}
		switch a.Type {
		case dataSponsored:
			n.Sponsored = value
		case dataDesc:
			n.Description = value
		case dataCTA:
			n.CTA = value
		}
	}
	answered[i] = true
	return nil
}

// nativeRoot reads doc, a JSON object, unwrapping {"native": {...}}.
func nativeRoot(doc, what string) (object, error) {
	root, err := parseObject([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if inner, ok := root["native"]; ok {
		if root, err = parseObject(inner); err != nil {
			return nil, fmt.Errorf("%s: native: %w", what, err)
		}
	}
	return root, nil
}

// object is a JSON object's members, keys as written (matched exactly, unlike
// encoding/json's struct fields); a key given twice keeps its last value.
type object map[string]json.RawMessage

func parseObject(data []byte) (object, error) {
	o := object{}
	err := members(data, func(key string, v json.RawMessage) { o[key] = v })
	return o, err
}

// object returns the member key as an object; nil when absent or null.
func (o object) object(key string) (object, error) {
	v, ok := o[key]
	if !ok || string(v) == "null" {
		return nil, nil
	}
	sub, err := parseObject(v)
	if err != nil {
		return nil, fmt.Errorf("%s: want an object", key)
	}
	return sub, nil
}

// objects returns the member key as an array of objects; nil when absent or null.
func (o object) objects(key string) ([]object, error) {
	v, ok := o[key]
	if !ok {
		return nil, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(v, &raws); err != nil {
		return nil, fmt.Errorf("%s: want an array", key)
	}
	out := make([]object, len(raws))
	for i, raw := range raws {
		var err error
		if out[i], err = parseObject(raw); err != nil {
			return nil, fmt.Errorf("%s[%d]: want an object", key, i)
		}
	}
	return out, nil
}

// str returns the member key as a string; "" when absent or null.
func (o object) str(key string) (string, error) {
	var s string
	if v, ok := o[key]; ok {
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%s: want a string", key)
		}
	}
	return s, nil
}

// strs returns the member key as an array of strings; nil when absent or null.
func (o object) strs(key string) ([]string, error) {
	var s []string
	if v, ok := o[key]; ok {
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%s: want an array of strings", key)
		}
	}
	return s, nil
}

// int returns the member key as an integer (1200.0 is 1200); 0 when absent or null.
func (o object) int(key string) (int64, error) {
	v, ok := o[key]
	if !ok || string(v) == "null" {
		return 0, nil
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%s: want an integer", key)
	}
	return int64(f), nil
}
