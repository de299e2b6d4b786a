package adquery

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"asap/service/internal/privacy"
	"asap/service/internal/query"
)

// absent is the privacy signals of a query that sends none.
var absent = privacy.Signals{GDPR: -1, COPPA: -1, LMT: -1, ATTS: -1}

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		want      Query
		wantParam string // the parameter a *query.Error names; "" for success
	}{
		{name: "pkey only", raw: "pkey=demo-feed", want: Query{PKey: "demo-feed", Signals: absent}},
		{
			name: "everything",
			raw: "pkey=p1&uid=6D92078A-8246-4BA4-AE5B-76104861E7DC&appId=com.example.news&appName=Example+News&appVersion=4.2.1" +
				"&creative_key=ck-1&campaign_key=cmp-1&w=320&h=50&os=Android&osv=14&make=Google&model=Pixel%208" +
				"&gdpr=1&gdpr_consent=CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA&us_privacy=1YNN&gpp=DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN" +
				"&gpp_sid=2,6&coppa=0&lmt=0&atts=2&unknown=ignored",
			want: Query{
				PKey: "p1", UID: "6D92078A-8246-4BA4-AE5B-76104861E7DC", AppID: "com.example.news", AppName: "Example News",
				AppVersion: "4.2.1", CreativeKey: "ck-1", CampaignKey: "cmp-1", W: 320, H: 50,
				Make: "Google", Model: "Pixel 8", Signals: privacy.Signals{OS: "Android", OSV: "14",
					GDPR: 1, GDPRConsent: "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
					USPrivacy: "1YNN", GPP: "DBACNY~CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA~1YNN", GPPSID: []int{2, 6},
					COPPA: 0, LMT: 0, ATTS: 2},
			},
		},
		{name: "utf-8 app name", raw: "pkey=p&appName=%E6%97%A5%E6%9C%AC%E3%83%8B%E3%83%A5%E3%83%BC%E3%82%B9",
			want: Query{PKey: "p", AppName: "日本ニュース", Signals: absent}},
		{name: "empty pairs", raw: "&&pkey=p&&", want: Query{PKey: "p", Signals: absent}},
		{name: "missing pkey", raw: "uid=x", wantParam: "pkey"},
		{name: "empty pkey", raw: "pkey=", wantParam: "pkey"},
		{name: "bad pkey", raw: "pkey=a/b", wantParam: "pkey"},
		{name: "long pkey", raw: "pkey=" + strings.Repeat("a", 65), wantParam: "pkey"},
		{name: "pkey twice", raw: "pkey=a&pkey=b", wantParam: "pkey"},
		{name: "pkey twice, same value", raw: "pkey=a&pkey=a", want: Query{PKey: "a", Signals: absent}},
		{name: "uid twice, same value once encoded", raw: "pkey=a&uid=x-y&uid=x%2Dy", want: Query{PKey: "a", UID: "x-y", Signals: absent}},
		{name: "w twice", raw: "pkey=a&w=300&h=250&w=320", wantParam: "w"},
		{name: "gdpr 2", raw: "pkey=p&gdpr=2", wantParam: "gdpr"},
		{name: "gdpr true", raw: "pkey=p&gdpr=true", wantParam: "gdpr"},
		{name: "coppa empty", raw: "pkey=p&coppa=", wantParam: "coppa"},
		{name: "lmt x", raw: "pkey=p&lmt=x", wantParam: "lmt"},
		{name: "atts 3", raw: "pkey=p&atts=3", want: Query{PKey: "p", Signals: privacy.Signals{GDPR: -1, COPPA: -1, LMT: -1, ATTS: 3}}},
		{name: "atts 0", raw: "pkey=p&atts=0", want: Query{PKey: "p", Signals: privacy.Signals{GDPR: -1, COPPA: -1, LMT: -1, ATTS: 0}}},
		{name: "atts 4", raw: "pkey=p&atts=4", wantParam: "atts"},
		{name: "atts -1", raw: "pkey=p&atts=-1", wantParam: "atts"},
		{name: "atts 03", raw: "pkey=p&atts=03", wantParam: "atts"},
		{name: "atts empty", raw: "pkey=p&atts=", wantParam: "atts"},
		{name: "w not int", raw: "pkey=p&w=abc&h=50", wantParam: "w"},
		{name: "w zero", raw: "pkey=p&w=0&h=50", wantParam: "w"},
		{name: "h huge", raw: "pkey=p&w=300&h=99999999999999999999", wantParam: "h"},
		{name: "h negative", raw: "pkey=p&w=300&h=-1", wantParam: "h"},
		{name: "w without h", raw: "pkey=p&w=300", wantParam: "h"},
		{name: "h without w", raw: "pkey=p&h=300", wantParam: "w"},
		{name: "gpp_sid letters", raw: "pkey=p&gpp_sid=2,x", wantParam: "gpp_sid"},
		{name: "gpp_sid empty item", raw: "pkey=p&gpp_sid=2,,3", wantParam: "gpp_sid"},
		{name: "gpp_sid too big", raw: "pkey=p&gpp_sid=256", wantParam: "gpp_sid"},
		{name: "gpp_sid too many", raw: "pkey=p&gpp_sid=" + strings.TrimSuffix(strings.Repeat("1,", 33), ","), wantParam: "gpp_sid"},
		{name: "uid too long", raw: "pkey=p&uid=" + strings.Repeat("a", 65), wantParam: "uid"},
		{name: "consent too long", raw: "pkey=p&gdpr_consent=" + strings.Repeat("a", 4097), wantParam: "gdpr_consent"},
		{name: "invalid utf-8", raw: "pkey=p&appName=%ff%fe", wantParam: "appName"},
		{name: "control character", raw: "pkey=p&model=a%0Ab", wantParam: "model"},
		{name: "bad escape", raw: "pkey=p&os=%zz", wantParam: "os"},
		{name: "us_privacy too long", raw: "pkey=p&us_privacy=" + strings.Repeat("1", 17), wantParam: "us_privacy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.raw)
			if tt.wantParam != "" {
				var pe *query.Error
				if !errors.As(err, &pe) || pe.Param != tt.wantParam {
					t.Fatalf("Parse(%q) error = %v; want a *query.Error naming %q", tt.raw, err, tt.wantParam)
				}
				if !strings.Contains(err.Error(), tt.wantParam) {
					t.Errorf("error %q does not name %q", err, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.raw, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzAdQuery: no query panics, an accepted query holds only bounded, valid values,
// and a rejected one names a parameter.
func FuzzAdQuery(f *testing.F) {
	for _, s := range []string{
		"pkey=demo-feed", "pkey=p&w=320&h=50&gdpr=1&gpp_sid=2,6", "pkey=p&appName=%ff", "pkey=%zz",
		"pkey=p&pkey=q", "pkey=p&uid=a%00b", "gpp_sid=,,,", "w=1&h=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := Parse(raw)
		if err != nil {
			var pe *query.Error
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("Parse(%q) = %v; want a *query.Error naming a parameter", raw, err)
			}
			return
		}
		if q.PKey == "" || len(q.PKey) > 64 {
			t.Fatalf("accepted pkey %q", q.PKey)
		}
		for _, s := range []string{q.UID, q.AppID, q.AppName, q.AppVersion, q.OS, q.OSV, q.Make, q.Model,
			q.CreativeKey, q.CampaignKey, q.GDPRConsent, q.USPrivacy, q.GPP} {
			if !utf8.ValidString(s) || len(s) > maxConsent {
				t.Fatalf("accepted value %q", s)
			}
		}
		for _, f := range []int8{q.GDPR, q.COPPA, q.LMT} {
			if f < -1 || f > 1 {
				t.Fatalf("accepted flag %d", f)
			}
		}
		if q.W < 0 || q.W > maxSize || q.H < 0 || q.H > maxSize || (q.W == 0) != (q.H == 0) {
			t.Fatalf("accepted size %dx%d", q.W, q.H)
		}
		if len(q.GPPSID) > maxSIDs {
			t.Fatalf("accepted %d gpp_sid", len(q.GPPSID))
		}
		// What this parser accepts, the standard library parses the same way.
		if v, err := url.ParseQuery(raw); err == nil && v.Get("pkey") != q.PKey {
			t.Fatalf("pkey %q; url.ParseQuery says %q", q.PKey, v.Get("pkey"))
		}
	})
}
