package format_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"asap/service/internal/format"
)

// full answers every asset of NativeRequest, with trackers of every kind.
const full = `{"ver":"1.2","assets":[
 {"id":1,"title":{"text":"Grow your garden"}},
 {"id":2,"img":{"url":"https://cdn.example/main.jpg","w":1200,"h":627}},
 {"id":3,"data":{"value":"Sponsor Inc"}},
 {"id":4,"data":{"value":"Everything for your garden."}},
 {"id":5,"img":{"url":"https://cdn.example/icon.png","w":80,"h":80}},
 {"id":6,"data":{"value":"Install"}}],
 "link":{"url":"https://adv.example/landing","clicktrackers":["https://t.example/c"]},
 "imptrackers":["https://t.example/i1"],
 "eventtrackers":[{"event":1,"method":1,"url":"https://t.example/i2"},{"event":1,"method":2,"url":"https://t.example/omid.js"},
  {"event":2,"method":1,"url":"https://t.example/view50"},{"event":1,"method":1}],
 "privacy":"https://adv.example/privacy"}`

var fullWant = format.NativeAd{
	Title: "Grow your garden", Description: "Everything for your garden.", Sponsored: "Sponsor Inc", CTA: "Install",
	Image:              &format.Image{URL: "https://cdn.example/main.jpg", W: 1200, H: 627},
	Icon:               &format.Image{URL: "https://cdn.example/icon.png", W: 80, H: 80},
	ClickURL:           "https://adv.example/landing",
	ClickTrackers:      []string{"https://t.example/c"},
	ImpressionTrackers: []string{"https://t.example/i1", "https://t.example/i2"},
	PrivacyURL:         "https://adv.example/privacy",
}

// minimal answers the required assets only.
const minimal = `{"assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"url":"https://cdn.example/m.jpg"}}],"link":{"url":"https://adv.example/"}}`

var minimalWant = format.NativeAd{Title: "T", Image: &format.Image{URL: "https://cdn.example/m.jpg"}, ClickURL: "https://adv.example/"}

func TestParseNative(t *testing.T) {
	tests := []struct {
		name    string
		adm     string
		want    format.NativeAd
		wantErr string
	}{
		{"every asset", full, fullWant, ""},
		{"wrapped", `{"native":` + full + `}`, fullWant, ""},
		{"required only", minimal, minimalWant, ""},
		{"unknown fields and assets skipped", `{"x":1,"assets":[{"id":1,"title":{"text":"T"},"ext":{}},{"id":9,"data":{"value":"?"}},{"id":7,"link":{"url":"u"}},` +
			`{"id":2,"img":{"url":"https://cdn.example/m.jpg","type":3}}],"link":{"url":"https://adv.example/","fallback":"f"},"jstracker":"<script/>"}`, minimalWant, ""},
		{"ids missing: matched by kind and type", `{"assets":[{"img":{"type":1,"url":"https://cdn.example/i.png"}},{"title":{"text":"T"}},` +
			`{"img":{"url":"https://cdn.example/m.jpg"}},{"data":{"type":12,"value":"Go"}}],"link":{"url":"https://adv.example/"}}`,
			format.NativeAd{Title: "T", Image: &format.Image{URL: "https://cdn.example/m.jpg"}, Icon: &format.Image{URL: "https://cdn.example/i.png"},
				CTA: "Go", ClickURL: "https://adv.example/"}, ""},
		{"integral floats", `{"assets":[{"id":1.0,"title":{"text":"T"}},{"id":2,"img":{"url":"https://cdn.example/m.jpg","w":1.2e3,"h":6.27e2}}],"link":{"url":"https://adv.example/"}}`,
			format.NativeAd{Title: "T", Image: &format.Image{URL: "https://cdn.example/m.jpg", W: 1200, H: 627}, ClickURL: "https://adv.example/"}, ""},
		{"nulls", `{"assets":[{"id":1,"title":{"text":"T"},"img":null},{"id":2,"img":{"url":"https://cdn.example/m.jpg","w":null}}],"link":{"url":"https://adv.example/","clicktrackers":null},"imptrackers":null,"privacy":null}`,
			minimalWant, ""},

		{"title missing", `{"assets":[{"id":2,"img":{"url":"https://cdn.example/m.jpg"}}],"link":{"url":"u"}}`, format.NativeAd{}, "native: required asset 1 (title) missing"},
		{"title empty", `{"assets":[{"id":1,"title":{"text":""}},{"id":2,"img":{"url":"https://cdn.example/m.jpg"}}],"link":{"url":"u"}}`, format.NativeAd{}, "required asset 1 (title) missing"},
		{"image missing", `{"assets":[{"id":1,"title":{"text":"T"}}],"link":{"url":"u"}}`, format.NativeAd{}, "required asset 2 (main image) missing"},
		{"image answered with data", `{"assets":[{"id":1,"title":{"text":"T"}},{"id":2,"data":{"value":"x"}}],"link":{"url":"u"}}`, format.NativeAd{}, "required asset 2 (main image) missing"},
		{"image without url", `{"assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"w":10}}],"link":{"url":"u"}}`, format.NativeAd{}, "required asset 2 (main image) missing"},
		{"no assets (assetsurl)", `{"assetsurl":"https://x/assets","link":{"url":"u"}}`, format.NativeAd{}, "required asset 1 (title) missing"},
		{"no link", `{"assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"url":"m"}}]}`, format.NativeAd{}, "native: link.url missing"},
		{"link without url", `{"assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"url":"m"}}],"link":{}}`, format.NativeAd{}, "link.url missing"},
		{"keys match exactly", `{"Assets":[{"id":1,"title":{"text":"T"}},{"id":2,"img":{"url":"m"}}],"link":{"url":"u"}}`, format.NativeAd{}, "required asset 1 (title) missing"},
		{"title not a string", `{"assets":[{"id":1,"title":{"text":5}}],"link":{"url":"u"}}`, format.NativeAd{}, "native: assets[0]: title.text: want a string"},
		{"id not an integer", `{"assets":[{"id":1.5,"title":{"text":"T"}}],"link":{"url":"u"}}`, format.NativeAd{}, "native: assets[0]: id: want an integer"},
		{"w not an integer", `{"assets":[{"id":2,"img":{"url":"m","w":"300"}}],"link":{"url":"u"}}`, format.NativeAd{}, "assets[0]: img.w: want an integer"},
		{"asset of two kinds", `{"assets":[{"id":1,"title":{"text":"T"},"img":{"url":"m"}}],"link":{"url":"u"}}`, format.NativeAd{}, "assets[0]: both title and img"},
		{"assets not an array", `{"assets":{},"link":{"url":"u"}}`, format.NativeAd{}, "native: assets: want an array"},
		{"asset not an object", `{"assets":[1],"link":{"url":"u"}}`, format.NativeAd{}, "native: assets[0]: want an object"},
		{"link not an object", minimal[:len(minimal)-1] + `,"link":"u"}`, format.NativeAd{}, "native: link: want an object"},
		{"trackers not strings", strings.Replace(minimal, `"link"`, `"imptrackers":[1],"link"`, 1), format.NativeAd{}, "native: imptrackers: want an array of strings"},
		{"eventtracker method not a number", strings.Replace(minimal, `"link"`, `"eventtrackers":[{"event":1,"method":"img","url":"u"}],"link"`, 1), format.NativeAd{}, "native: eventtrackers[0].method: want an integer"},
		{"wrapper not an object", `{"native":"x"}`, format.NativeAd{}, "native: native: not a JSON object"},
		{"not JSON", `<div>ad</div>`, format.NativeAd{}, "native: not a JSON object"},
		{"trailing data", minimal + `{}`, format.NativeAd{}, "native: data after the JSON object"},
		{"empty", ``, format.NativeAd{}, "native: not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := format.ParseNative(tt.adm)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseNative: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got  %+v\nwant %+v", got, tt.want)
				}
				if k := format.Sniff(tt.adm); k != format.Native {
					t.Errorf("Sniff = %v; want native", k)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %+v, error %v; want an error with %q", got, err, tt.wantErr)
			}
		})
	}
}

// The SDK gets the parsed ad as the contract spells it.
func TestNativeAdJSON(t *testing.T) {
	b, err := json.Marshal(fullWant)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"title":"Grow your garden","description":"Everything for your garden.","sponsored":"Sponsor Inc","cta":"Install",` +
		`"image":{"url":"https://cdn.example/main.jpg","w":1200,"h":627},"icon":{"url":"https://cdn.example/icon.png","w":80,"h":80},` +
		`"click_url":"https://adv.example/landing","click_trackers":["https://t.example/c"],` +
		`"impression_trackers":["https://t.example/i1","https://t.example/i2"],"privacy_url":"https://adv.example/privacy"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestNativeAssets(t *testing.T) {
	got, err := format.NativeAssets(format.NativeRequest)
	if err != nil {
		t.Fatal(err)
	}
	want := []format.NativeAsset{
		{ID: 1, Required: true, Kind: "title", Len: 90},
		{ID: 2, Required: true, Kind: "img", Type: 3, WMin: 300, HMin: 157},
		{ID: 3, Kind: "data", Type: 1, Len: 25},
		{ID: 4, Kind: "data", Type: 2, Len: 140},
		{ID: 5, Kind: "img", Type: 1, WMin: 50, HMin: 50},
		{ID: 6, Kind: "data", Type: 12, Len: 15},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if !json.Valid([]byte(format.NativeRequest)) {
		t.Error("NativeRequest is not JSON")
	}

	tests := []struct {
		name, request, wantErr string
	}{
		{"wrapped, video asset", `{"native":{"ver":"1.1","assets":[{"id":7,"required":1,"video":{"mimes":["video/mp4"]}}]}}`, ""},
		{"not JSON", `x`, "native request: not a JSON object"},
		{"no assets", `{"ver":"1.2"}`, "native request: no assets"},
		{"no id", `{"assets":[{"title":{"len":5}}]}`, "native request: assets[0]: no id"},
		{"id twice", `{"assets":[{"id":1,"title":{}},{"id":1,"img":{}}]}`, "assets[1]: id 1 given twice"},
		{"no kind", `{"assets":[{"id":1,"required":1}]}`, "assets[0]: none of title, img, video, data"},
		{"two kinds", `{"assets":[{"id":1,"title":{},"data":{}}]}`, "assets[0]: both title and data"},
		{"bad type", `{"assets":[{"id":1,"img":{"type":"main"}}]}`, "assets[0]: img.type: want an integer"},
	}
	for _, tt := range tests {
		_, err := format.NativeAssets(tt.request)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: error %v; want %q", tt.name, err, tt.wantErr)
		}
	}
}

// ParseNativeFor checks the assets of another request: a required video and an
// optional description.
func TestParseNativeFor(t *testing.T) {
	assets, err := format.NativeAssets(`{"assets":[{"id":10,"required":1,"video":{}},{"id":11,"data":{"type":2}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := format.ParseNativeFor(`{"assets":[{"id":10,"video":{"vasttag":"<VAST/>"}},{"id":11,"data":{"value":"D"}}],"link":{"url":"u"}}`, assets)
	if err != nil {
		t.Fatal(err)
	}
	if want := (format.NativeAd{Description: "D", ClickURL: "u"}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
	if _, err := format.ParseNativeFor(`{"assets":[{"id":11,"data":{"value":"D"}}],"link":{"url":"u"}}`, assets); err == nil ||
		err.Error() != "native: required asset 10 (video) missing" {
		t.Errorf("got error %v; want the video named", err)
	}
}

func FuzzParseNative(f *testing.F) {
	for _, s := range []string{full, minimal, `{"native":` + minimal + `}`, `{"assets":[{"img":{"type":1,"url":"u"}}],"link":{"url":"u"}}`, `{}`, `[]`, `{"native":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, adm string) {
		n, err := format.ParseNative(adm)
		if err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if n.Title == "" || n.Image == nil || n.Image.URL == "" || n.ClickURL == "" {
			t.Fatalf("accepted without a required asset: %+v", n)
		}
		if format.Sniff(adm) != format.Native {
			t.Fatalf("ParseNative accepts what Sniff calls %v", format.Sniff(adm))
		}
	})
}

func FuzzNativeAssets(f *testing.F) {
	f.Add(format.NativeRequest)
	f.Add(`{"native":{"assets":[{"id":1,"video":{}}]}}`)
	f.Fuzz(func(t *testing.T, request string) {
		assets, err := format.NativeAssets(request)
		if err == nil && len(assets) == 0 {
			t.Fatal("no assets and no error")
		}
	})
}

// BenchmarkParseNative parses a response with every asset of NativeRequest.
func BenchmarkParseNative(b *testing.B) {
	b.SetBytes(int64(len(full)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := format.ParseNative(full); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSniff sniffs markup without an mtype on an imp offering several formats.
func BenchmarkSniff(b *testing.B) {
	for _, bm := range []struct{ name, adm string }{{"vast", vastDoc}, {"native", full}, {"html", "<div>ad</div>"}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				format.Sniff(bm.adm)
			}
		})
	}
}
