package bidreq

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"asap/service/internal/adquery"
	"asap/service/internal/format"
	"asap/service/internal/openrtb"
	"asap/service/internal/openrtb/openrtbtest"
	"asap/service/internal/placement"
)

func feedPlacement() *placement.Placement {
	return &placement.Placement{
		PKey: "demo-feed", Status: "OK", PublisherID: "pub-1",
		Ad: &placement.Ad{
			Upstream: "primary",
			Banner:   []placement.Size{{W: 300, H: 250}, {W: 320, H: 50}},
			Native:   true, BidFloor: 0.5, TmaxMs: 250,
			Bcat: []string{"IAB25", "IAB26"}, Badv: []string{"blocked.example"},
			HouseAd: &placement.HouseAd{Markup: `<div class="house">Try our app</div>`, W: 300, H: 250},
		},
	}
}

// encode is what the service sends: the request as JSON, checked against the schema.
func encode(t *testing.T, req *openrtb.BidRequest) []byte {
	t.Helper()
	b, err := Append(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	openrtbtest.ValidateRequest(t, b)
	return b
}

func mustQuery(t *testing.T, raw string) adquery.Query {
	t.Helper()
	q, err := adquery.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestBuildBidRequestMapsEveryField(t *testing.T) {
	r := &adquery.Request{
		Query: mustQuery(t, "pkey=demo-feed&uid=ifa-1&appId=com.example&appName=Example&appVersion=1.2&creative_key=ck-1"+
			"&w=300&h=250&os=iOS&osv=17.4&make=Apple&model=iPhone15,2&gdpr=1&gdpr_consent=CONSENT&us_privacy=1YNN"+
			"&gpp=GPP&gpp_sid=2,6&coppa=0&lmt=0"),
		UserAgent: "Mozilla/5.0 (iPhone)",
		IP:        "203.0.113.77",
	}
	got := Build(r, feedPlacement(), "mrid-1", 250*time.Millisecond)
	body := encode(t, got)

	var zero, one int8 = 0, 1
	secure := int8(1)
	want := &openrtb.BidRequest{
		ID: "mrid-1",
		Imp: []openrtb.Imp{{
			ID: "1", TagID: "demo-feed", BidFloor: 0.5, BidFloorCur: "USD", Secure: &secure,
			Banner: &openrtb.Banner{Format: []openrtb.Format{{W: 300, H: 250}, {W: 320, H: 50}}, W: 300, H: 250},
			Native: &openrtb.Native{Request: format.NativeRequest, Ver: "1.2"},
			Ext:    json.RawMessage(`{"creative_key":"ck-1"}`),
		}},
		App:    &openrtb.App{Bundle: "com.example", Name: "Example", Ver: "1.2", Publisher: &openrtb.Publisher{ID: "pub-1"}},
		Device: &openrtb.Device{UA: "Mozilla/5.0 (iPhone)", IP: "203.0.113.77", IFA: "ifa-1", OS: "iOS", OSV: "17.4", Make: "Apple", Model: "iPhone15,2", Lmt: &zero},
		User:   &openrtb.User{Consent: "CONSENT"},
		Regs:   &openrtb.Regs{GDPR: &one, COPPA: &zero, USPrivacy: "1YNN", GPP: "GPP", GPPSID: []int{2, 6}},
		Tmax:   250,
		Cur:    []string{"USD"},
		Bcat:   []string{"IAB25", "IAB26"},
		Badv:   []string{"blocked.example"},
		Source: &openrtb.Source{TID: "mrid-1"},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("got  %s\nwant %s", g, w)
	}
	var native map[string]any
	if err := json.Unmarshal([]byte(format.NativeRequest), &native); err != nil {
		t.Errorf("native request is not JSON: %v", err)
	}
	if !bytes.Contains(body, []byte(`"tagid":"demo-feed"`)) {
		t.Errorf("body lacks tagid: %s", body)
	}
}

// Build carries what the SDK sent; what an upstream may receive of it is
// package privacy's (its tests, and package ad's with real upstreams).
func TestBuildBidRequestDevice(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		ip       string
		wantIFA  string
		wantIP   string
		wantIPv6 string
		wantExt  string
	}{
		{name: "as sent", query: "pkey=p&uid=ifa-1", ip: "198.51.100.23", wantIFA: "ifa-1", wantIP: "198.51.100.23"},
		{name: "lmt=1 still carries the ids for privacy to remove", query: "pkey=p&uid=ifa-1&lmt=1", ip: "198.51.100.23", wantIFA: "ifa-1", wantIP: "198.51.100.23"},
		{name: "ipv4-mapped", query: "pkey=p&uid=ifa-1", ip: "::ffff:192.0.2.200", wantIFA: "ifa-1", wantIP: "192.0.2.200"},
		{name: "ipv6", query: "pkey=p", ip: "2001:db8::1", wantIPv6: "2001:db8::1"},
		{name: "no ip", query: "pkey=p&uid=ifa-1", ip: "", wantIFA: "ifa-1"},
		{name: "garbage ip", query: "pkey=p&uid=ifa-1", ip: "not-an-ip", wantIFA: "ifa-1"},
		{name: "atts", query: "pkey=p&atts=2", wantExt: `{"atts":2}`},
		{name: "atts 0", query: "pkey=p&atts=0", wantExt: `{"atts":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &adquery.Request{Query: mustQuery(t, tt.query), IP: tt.ip}
			req := Build(r, feedPlacement(), "m", time.Second)
			encode(t, req)
			d := req.Device
			if d.IFA != tt.wantIFA || d.IP != tt.wantIP || d.IPv6 != tt.wantIPv6 || string(d.Ext) != tt.wantExt {
				t.Errorf("got ifa %q ip %q ipv6 %q ext %s; want %q %q %q %s", d.IFA, d.IP, d.IPv6, d.Ext, tt.wantIFA, tt.wantIP, tt.wantIPv6, tt.wantExt)
			}
		})
	}
}

func TestBuildBidRequestMinimal(t *testing.T) {
	p := &placement.Placement{PKey: "n", Status: "OK", Ad: &placement.Ad{Upstream: "primary", Native: true}}
	req := Build(&adquery.Request{Query: mustQuery(t, "pkey=n&w=300&h=250")}, p, "m", 100*time.Millisecond)
	body := encode(t, req)
	if req.Imp[0].Banner != nil || req.Imp[0].Native == nil || req.App != nil || req.User != nil || req.Regs != nil {
		t.Errorf("got %s; want a native-only imp and no app, user or regs", body)
	}
}

func TestTmax(t *testing.T) {
	tests := []struct {
		tmaxMs int
		want   time.Duration
	}{{0, 250 * time.Millisecond}, {120, 120 * time.Millisecond}, {5000, time.Second}}
	for _, tt := range tests {
		if got := Tmax(&placement.Ad{TmaxMs: tt.tmaxMs}, 250*time.Millisecond, time.Second); got != tt.want {
			t.Errorf("Tmax(tmaxMs=%d) = %s; want %s", tt.tmaxMs, got, tt.want)
		}
	}
}
