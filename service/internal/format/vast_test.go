package format_test

import (
	"strings"
	"testing"

	"asap/service/internal/format"
	"asap/service/internal/format/formattest"
)

// Every IAB sample with a VAST root is read with its version, first Linear's
// duration and kind (decided by reading each document, listed in formattest); the
// VAST 1 samples are refused.
func TestReadVASTSamples(t *testing.T) {
	listed := map[string]bool{}
	for _, s := range formattest.Samples(t) {
		listed[s.Path] = true
		t.Run(s.Path, func(t *testing.T) {
			got, err := format.ReadVAST(string(s.Doc))
			if err != nil {
				t.Fatalf("ReadVAST: %v", err)
			}
			if want := (format.VAST{Version: s.Version, Duration: s.Duration, Wrapper: s.Wrapper}); got != want {
				t.Errorf("got %+v; want %+v", got, want)
			}
			if k := format.Sniff(string(s.Doc)); k != format.Video {
				t.Errorf("Sniff = %v; want video", k)
			}
		})
	}
	for _, f := range formattest.Files(t) {
		if listed[f.Path] {
			continue
		}
		// The samples not listed must be exactly the VAST 1 ones.
		if !strings.Contains(string(f.Doc), "<VideoAdServingTemplate") {
			t.Errorf("%s: a sample that Samples does not list and is not VAST 1", f.Path)
			continue
		}
		if _, err := format.ReadVAST(string(f.Doc)); err == nil || !strings.Contains(err.Error(), "VAST 1") {
			t.Errorf("%s: got error %v; want VAST 1 refused", f.Path, err)
		}
		if k := format.Sniff(string(f.Doc)); k != format.Video {
			t.Errorf("%s: Sniff = %v; want video", f.Path, k)
		}
	}
}

// The samples of a version with a schema validate against it: formattest's
// validator accepts what it must.
func TestValidateVASTSamples(t *testing.T) {
	for _, s := range formattest.Samples(t) {
		if !s.Schema {
			continue
		}
		t.Run(s.Path, func(t *testing.T) { formattest.ValidateVAST(t, s.Doc, s.Version) })
	}
}

func TestReadVAST(t *testing.T) {
	const linear = `<Creatives><Creative><Linear><Duration>%s</Duration><MediaFiles/></Linear></Creative></Creatives>`
	inline := func(version, duration string) string {
		return `<VAST version="` + version + `"><Ad id="1"><InLine><AdSystem>x</AdSystem>` +
			strings.Replace(linear, "%s", duration, 1) + `</InLine></Ad></VAST>`
	}
	tests := []struct {
		name    string
		adm     string
		want    format.VAST
		wantErr string // a part of the error; "" for none
	}{
		{"inline 4.1", inline("4.1", "00:00:30"), format.VAST{Version: "4.1", Duration: 30}, ""},
		{"milliseconds dropped", inline("4.2", "00:01:05.999"), format.VAST{Version: "4.2", Duration: 65}, ""},
		{"hours", inline("3.0", "01:00:00"), format.VAST{Version: "3.0", Duration: 3600}, ""},
		{"spaces and CDATA", inline("2.0", " <![CDATA[ 00:00:15 ]]> "), format.VAST{Version: "2.0", Duration: 15}, ""},
		{"4.3", inline("4.3", "00:00:06"), format.VAST{Version: "4.3", Duration: 6}, ""},
		{"2.0.1", inline("2.0.1", "00:00:06"), format.VAST{Version: "2.0.1", Duration: 6}, ""},
		{"declaration, comment, namespace", `<?xml version="1.0" encoding="UTF-8"?><!-- c --><VAST xmlns="http://www.iab.com/VAST" version="4.0">` +
			`<Ad><Wrapper><VASTAdTagURI><![CDATA[https://x/vast]]></VASTAdTagURI></Wrapper></Ad></VAST>`, format.VAST{Version: "4.0", Wrapper: true}, ""},
		{"US-ASCII", `<?xml version="1.0" encoding="US-ASCII"?><VAST version="4.1"><Ad><Wrapper/></Ad></VAST>`, format.VAST{Version: "4.1", Wrapper: true}, ""},
		{"first Ad decides Wrapper; first Linear with a Duration decides duration",
			`<VAST version="4.1"><Ad><Wrapper><Creatives><Creative><Linear/></Creative></Creatives></Wrapper></Ad>` +
				`<Ad><InLine>` + strings.Replace(linear, "%s", "00:00:20", 1) + strings.Replace(linear, "%s", "00:00:40", 1) + `</InLine></Ad></VAST>`,
			format.VAST{Version: "4.1", Duration: 20, Wrapper: true}, ""},
		{"Duration outside a Linear ignored", `<VAST version="4.1"><Ad><InLine><Duration>x</Duration>` +
			`<Creatives><Creative><NonLinearAds><NonLinear minSuggestedDuration="00:00:05"/></NonLinearAds></Creative></Creatives></InLine></Ad></VAST>`,
			format.VAST{Version: "4.1"}, ""},
		{"an Ad without a body is skipped", `<VAST version="4.1"><Ad/><Ad><InLine/></Ad></VAST>`, format.VAST{Version: "4.1"}, ""},

		{"empty", "", format.VAST{}, "no root element"},
		{"HTML", "<div>ad</div>", format.VAST{}, `root element is "div"; want VAST`},
		{"not XML", "just text", format.VAST{}, "text outside the root element"},
		{"VAST 1", `<VideoAdServingTemplate><Ad><InLine/></Ad></VideoAdServingTemplate>`, format.VAST{}, "VAST 1"},
		{"no version", `<VAST><Ad><InLine/></Ad></VAST>`, format.VAST{}, "no version"},
		{"version 1.0", inline("1.0", "00:00:01"), format.VAST{}, `version "1.0" is not supported; want 2.0 to 4.3`},
		{"version 4.4", inline("4.4", "00:00:01"), format.VAST{}, `version "4.4"`},
		{"version 5.0", inline("5.0", "00:00:01"), format.VAST{}, `version "5.0"`},
		{"version x", inline("x", "00:00:01"), format.VAST{}, `version "x"`},
		{"version 4", inline("4", "00:00:01"), format.VAST{}, `version "4"`},
		{"version 4.", inline("4.", "00:00:01"), format.VAST{}, `version "4."`},
		{"no Ad", `<VAST version="4.1"><Error>https://x/e</Error></VAST>`, format.VAST{}, "no Ad holding an InLine or a Wrapper"},
		{"Ad without body", `<VAST version="4.1"><Ad id="1"/></VAST>`, format.VAST{}, "no Ad holding"},
		{"InLine not in an Ad", `<VAST version="4.1"><InLine/></VAST>`, format.VAST{}, "no Ad holding"},
		{"Ad too deep", `<VAST version="4.1"><Extensions><Ad><InLine/></Ad></Extensions></VAST>`, format.VAST{}, "no Ad holding"},
		{"unclosed", `<VAST version="4.1"><Ad><InLine>`, format.VAST{}, "not well-formed XML"},
		{"mismatched", `<VAST version="4.1"><Ad><InLine></Ad></InLine></VAST>`, format.VAST{}, "not well-formed XML"},
		{"bad entity", `<VAST version="4.1"><Ad><InLine><AdTitle>&nbsp;</AdTitle></InLine></Ad></VAST>`, format.VAST{}, "not well-formed XML"},
		{"two roots", `<VAST version="4.1"><Ad><InLine/></Ad></VAST><VAST version="4.1"/>`, format.VAST{}, "more than one root element"},
		{"text after the root", `<VAST version="4.1"><Ad><InLine/></Ad></VAST>junk`, format.VAST{}, "text outside the root element"},
		{"Latin-1", `<?xml version="1.0" encoding="ISO-8859-1"?><VAST version="4.1"><Ad><InLine/></Ad></VAST>`, format.VAST{}, `encoding "ISO-8859-1" is not supported`},
		{"bad duration", inline("4.1", "30"), format.VAST{}, `Linear Duration "30"; want HH:MM:SS or HH:MM:SS.mmm`},
		{"bad minutes", inline("4.1", "00:60:00"), format.VAST{}, "Linear Duration"},
		{"empty duration", inline("4.1", ""), format.VAST{}, "Linear Duration"},
		{"bad fraction", inline("4.1", "00:00:01.x"), format.VAST{}, "Linear Duration"},
		{"long duration", inline("4.1", strings.Repeat("0", 100)), format.VAST{}, "longer than 64 bytes"},
		{"deep", `<VAST version="4.1"><Ad><InLine>` + strings.Repeat("<x>", 200) + strings.Repeat("</x>", 200) + `</InLine></Ad></VAST>`,
			format.VAST{}, "nested deeper than 100"},
		{"long root name cut in the error", "<" + strings.Repeat("a", 500) + "/>", format.VAST{}, `"` + strings.Repeat("a", 40) + `"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := format.ReadVAST(tt.adm)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadVAST: %v", err)
				}
				if got != tt.want {
					t.Errorf("got %+v; want %+v", got, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %+v, error %v; want an error with %q", got, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "VAST: ") {
				t.Errorf("error %q does not start with VAST:", err)
			}
			if got != (format.VAST{}) {
				t.Errorf("got %+v with the error; want the zero VAST", got)
			}
		})
	}
}

func FuzzReadVAST(f *testing.F) {
	for _, s := range formattest.Samples(f)[:6] {
		f.Add(string(s.Doc))
	}
	for _, s := range []string{"", "<VAST/>", `<VAST version="4.1"><Ad><InLine><Creatives><Creative><Linear><Duration>00:00:05.5</Duration></Linear></Creative></Creatives></InLine></Ad></VAST>`,
		`<?xml version="1.0" encoding="latin1"?><VAST/>`, "<a><b></a>", `<!DOCTYPE VAST [<!ENTITY e "x">]><VAST version="2.0"><Ad><InLine/></Ad></VAST>`, `<VAST version="4.1"><Ad><Wrapper/></Ad></VAST>x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, adm string) {
		v, err := format.ReadVAST(adm)
		if err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes: %.100s", len(err.Error()), err)
			}
			return
		}
		if v.Version == "" || v.Duration < 0 {
			t.Fatalf("accepted with %+v", v)
		}
		if format.Sniff(adm) != format.Video {
			t.Fatalf("ReadVAST accepts what Sniff calls %v", format.Sniff(adm))
		}
	})
}

// An error quoting the bidder's markup stays short.
func TestReadVASTErrorsBounded(t *testing.T) {
	long := strings.Repeat("n", 5000)
	for _, adm := range []string{
		`<VAST version="4.1"><` + long + `></x></VAST>`,
		`<VAST version="` + long + `"/>`,
		`<?xml version="1.0" encoding="` + long + `"?><VAST/>`,
		`<VAST version="4.1"><Ad><InLine><Creatives><Creative><Linear><Duration>` + long + `</Duration></Linear></Creative></Creatives></InLine></Ad></VAST>`,
	} {
		_, err := format.ReadVAST(adm)
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("got error of %d bytes: %.120v; want one under 300", len(err.Error()), err)
		}
	}
}

// BenchmarkReadVAST reads the IAB's simple 4.1 inline sample (3 KB), as ASAP does
// for every video bid it serves.
func BenchmarkReadVAST(b *testing.B) {
	var doc string
	for _, s := range formattest.Samples(b) {
		if s.Path == "4.1/Inline_Simple.xml" {
			doc = string(s.Doc)
		}
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := format.ReadVAST(doc); err != nil {
			b.Fatal(err)
		}
	}
}
