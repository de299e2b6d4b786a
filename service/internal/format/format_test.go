package format_test

import (
	"testing"

	"asap/service/internal/format"
	"asap/service/internal/openrtb"
)

func TestKindString(t *testing.T) {
	tests := []struct {
		k    format.Kind
		want string
	}{
		{format.Banner, "banner"}, {format.Video, "video"}, {format.Audio, "audio"}, {format.Native, "native"},
		{0, "mtype 0"}, {5, "mtype 5"}, {255, "mtype 255"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q; want %q", tt.k, got, tt.want)
		}
	}
	// The kinds are OpenRTB's mtype numbers.
	if format.Banner != 1 || format.Video != 2 || format.Audio != 3 || format.Native != 4 {
		t.Error("kinds are not the OpenRTB mtype values")
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		set      format.Set
		has      []format.Kind
		only     format.Kind
		wantOnly bool
		str      string
	}{
		{format.SetOf(), nil, 0, false, "none"},
		{format.SetOf(format.Banner), []format.Kind{format.Banner}, format.Banner, true, "banner"},
		{format.SetOf(format.Native), []format.Kind{format.Native}, format.Native, true, "native"},
		{format.SetOf(format.Video, format.Banner), []format.Kind{format.Banner, format.Video}, 0, false, "banner+video"},
		{format.SetOf(format.Banner, format.Video, format.Audio, format.Native), []format.Kind{1, 2, 3, 4}, 0, false, "banner+video+audio+native"},
		{format.SetOf(0, 5, 200), nil, 0, false, "none"}, // kinds OpenRTB does not define are not members
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			for k := format.Kind(0); k < 255; k++ {
				want := false
				for _, h := range tt.has {
					want = want || h == k
				}
				if got := tt.set.Has(k); got != want {
					t.Errorf("Has(%v) = %v; want %v", k, got, want)
				}
			}
			if k, ok := tt.set.Only(); k != tt.only || ok != tt.wantOnly {
				t.Errorf("Only() = %v, %v; want %v, %v", k, ok, tt.only, tt.wantOnly)
			}
			if got := tt.set.String(); got != tt.str {
				t.Errorf("String() = %q; want %q", got, tt.str)
			}
		})
	}
}

func TestOffered(t *testing.T) {
	tests := []struct {
		name string
		imp  openrtb.Imp
		want format.Set
	}{
		{"nothing", openrtb.Imp{ID: "1"}, format.SetOf()},
		{"banner", openrtb.Imp{Banner: &openrtb.Banner{}}, format.SetOf(format.Banner)},
		{"video", openrtb.Imp{Video: &openrtb.Video{}}, format.SetOf(format.Video)},
		{"audio", openrtb.Imp{Audio: &openrtb.Audio{}}, format.SetOf(format.Audio)},
		{"native", openrtb.Imp{Native: &openrtb.Native{}}, format.SetOf(format.Native)},
		{"interstitial banner and video", openrtb.Imp{Instl: 1, Rwdd: 1, Banner: &openrtb.Banner{}, Video: &openrtb.Video{}},
			format.SetOf(format.Banner, format.Video)},
		{"all", openrtb.Imp{Banner: &openrtb.Banner{}, Video: &openrtb.Video{}, Audio: &openrtb.Audio{}, Native: &openrtb.Native{}},
			format.SetOf(format.Banner, format.Video, format.Audio, format.Native)},
	}
	for _, tt := range tests {
		if got := format.Offered(&tt.imp); got != tt.want {
			t.Errorf("%s: Offered = %v; want %v", tt.name, got, tt.want)
		}
	}
}

const (
	vastDoc   = `<VAST version="4.1"><Ad><InLine><Creatives><Creative><Linear><Duration>00:00:30</Duration></Linear></Creative></Creatives></InLine></Ad></VAST>`
	nativeDoc = `{"native":{"ver":"1.2","assets":[{"id":1,"title":{"text":"T"}}],"link":{"url":"https://adv.example/"}}}`
)

func TestOf(t *testing.T) {
	bannerOnly := format.SetOf(format.Banner)
	several := format.SetOf(format.Banner, format.Video, format.Native)
	tests := []struct {
		name    string
		mtype   int8
		offered format.Set
		adm     string
		want    format.Kind
	}{
		{"mtype wins over the markup", 1, several, vastDoc, format.Banner},
		{"mtype video", 2, bannerOnly, "<div>ad</div>", format.Video},
		{"mtype native", 4, several, "", format.Native},
		{"mtype audio", 3, several, "", format.Audio},
		{"unknown mtype is returned as is", 9, several, "", format.Kind(9)},
		{"negative mtype", -1, several, vastDoc, format.Kind(255)},
		{"no mtype, banner only: banner even for VAST", 0, bannerOnly, vastDoc, format.Banner},
		{"no mtype, video only", 0, format.SetOf(format.Video), "<div>ad</div>", format.Video},
		{"no mtype, several: VAST", 0, several, vastDoc, format.Video},
		{"no mtype, several: native", 0, several, nativeDoc, format.Native},
		{"no mtype, several: html", 0, several, "<div>ad</div>", format.Banner},
		{"no mtype, nothing offered: sniffed", 0, format.SetOf(), vastDoc, format.Video},
	}
	for _, tt := range tests {
		if got := format.Of(tt.mtype, tt.offered, tt.adm); got != tt.want {
			t.Errorf("%s: Of(%d, %v, ...) = %v; want %v", tt.name, tt.mtype, tt.offered, got, tt.want)
		}
	}
	if format.SetOf(format.Banner, format.Video, format.Audio, format.Native).Has(format.Of(9, several, "")) {
		t.Error("an unknown mtype is in a Set")
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		adm  string
		want format.Kind
	}{
		{vastDoc, format.Video},
		{"\ufeff \n" + `<?xml version="1.0" encoding="UTF-8"?>` + "\n<!-- served by x -->\n" + `<!DOCTYPE VAST><VAST version="3.0"/>`, format.Video},
		{`<vast:VAST xmlns:vast="http://www.iab.com/VAST" version="4.2">`, format.Video},
		{`<VAST>`, format.Video}, // broken, but VAST: ReadVAST says why
		{`<VideoAdServingTemplate><Ad/></VideoAdServingTemplate>`, format.Video},
		{`<!DOCTYPE VAST [<!ENTITY e "x"> <!ELEMENT VAST ANY>]><VAST version="4.1"/>`, format.Video},
		{`<VASTER/>`, format.Banner},
		{`<vast version="4.1"/>`, format.Banner}, // XML names are case-sensitive
		{`<?xml version="1.0"?><html/>`, format.Banner},
		{`<?xml version="1.0"`, format.Banner},
		{`<!-- unterminated`, format.Banner},
		{`<div><VAST/></div>`, format.Banner},
		{`<script src="https://x/ad.js"></script>`, format.Banner},
		{"", format.Banner},
		{"   ", format.Banner},
		{nativeDoc, format.Native},
		{` {"ver":"1.2","assets":[],"link":{"url":"u"}}`, format.Native},
		{`{"link":{"url":"u"}}`, format.Native},
		{`{"native":"x"}`, format.Banner},
		{`{"Native":{"assets":[]}}`, format.Banner}, // keys match exactly
		{`{"native":{}} trailing`, format.Banner},
		{`{"native":{}`, format.Banner},
		{`{"ad":"<div/>"}`, format.Banner},
		{`[{"native":{}}]`, format.Banner},
	}
	for _, tt := range tests {
		if got := format.Sniff(tt.adm); got != tt.want {
			t.Errorf("Sniff(%q) = %v; want %v", tt.adm, got, tt.want)
		}
	}
}

func FuzzSniff(f *testing.F) {
	for _, s := range []string{vastDoc, nativeDoc, "<div/>", `<?xml version="1.0"?><!--c--><VAST/>`, `{"assets":[]}`, "\ufeff<VAST", "<!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, adm string) {
		k := format.Sniff(adm)
		if k != format.Banner && k != format.Video && k != format.Native {
			t.Fatalf("Sniff = %v", k)
		}
		if k == format.Native && format.Sniff(" "+adm) != format.Native {
			t.Fatal("leading space changed the answer")
		}
	})
}
