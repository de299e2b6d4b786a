package ad_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"asap/service/config"
	"asap/service/internal/adquery"
	"asap/service/internal/consent/consenttest"
	"asap/service/internal/openrtb/openrtbtest"
	"asap/service/internal/placement"
)

// The privacy tests' placement offers one impression to three upstreams: alpha
// (IAB vendor 755), beta (vendor 32) and gamma (no vendor id).
const (
	alpha, beta   = 755, 32
	privacyIP     = "203.0.113.77"
	privacyIPCut  = "203.0.113.0"
	privacyQuery  = "pkey=auction&uid=ifa-1&appId=com.example"
	gdprTCFString = "gdpr=1&gdpr_consent="
)

// What an upstream received, as the tests name it.
const (
	notCalled = "not called"
	full      = "ifa, full IP"         // everything the SDK sent
	noIDs     = "no ifa, full IP"      // purpose 4 or a US opt-out
	coarse    = "ifa, truncated IP"    // special feature 1
	neither   = "no ifa, truncated IP" // COPPA, lmt, ATT
)

func newPrivacyHarness(t *testing.T, tweak func(*config.Ad)) *auctionHarness {
	t.Helper()
	return newAuctionHarness(t, []upstreamCase{{"alpha", bidAt(1.5, "alpha")}, {"beta", bidAt(1.2, "beta")}, {"gamma", bidAt(1.0, "gamma")}},
		placement.Ad{Upstreams: bidders("alpha", "beta", "gamma"), TmaxMs: generousTmaxMs},
		func(c *config.Ad) {
			if err := c.UpstreamVendors.Decode("alpha=755,beta=32"); err != nil {
				t.Fatal(err)
			}
			if tweak != nil {
				tweak(c)
			}
		})
}

// received runs one ad request and returns what each upstream received, and the
// requests themselves.
func (h *auctionHarness) received(t *testing.T, query string) (map[string]string, map[string]map[string]any) {
	t.Helper()
	h.mu.Lock()
	clear(h.bodies)
	h.mu.Unlock()
	q, err := adquery.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := h.svc.Serve(context.Background(), &adquery.Request{Query: q, UserAgent: "test", IP: privacyIP}, &out); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	got, reqs := map[string]string{}, map[string]map[string]any{}
	for _, name := range []string{"alpha", "beta", "gamma"} {
		bodies := h.bodies[name]
		if len(bodies) == 0 {
			got[name] = notCalled
			continue
		}
		if len(bodies) != 1 {
			t.Fatalf("%s received %d requests; want 1", name, len(bodies))
		}
		openrtbtest.ValidateRequest(t, bodies[0])
		var req map[string]any
		if err := json.Unmarshal(bodies[0], &req); err != nil {
			t.Fatal(err)
		}
		reqs[name] = req
		dev, _ := req["device"].(map[string]any)
		_, hasIFA := dev["ifa"]
		switch ip := dev["ip"]; {
		case hasIFA && ip == privacyIP:
			got[name] = full
		case !hasIFA && ip == privacyIP:
			got[name] = noIDs
		case hasIFA && ip == privacyIPCut:
			got[name] = coarse
		case !hasIFA && ip == privacyIPCut:
			got[name] = neither
		default:
			t.Fatalf("%s received device %v", name, dev)
		}
	}
	return got, reqs
}

// tc encodes a TC string for the query.
func tc(t consenttest.TCF) string { return t.Encode() }

var everything = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

func TestPrivacyTCF(t *testing.T) {
	h := newPrivacyHarness(t, nil)
	restricted := func(purpose, typ int, vendors ...int) []consenttest.Restriction {
		return []consenttest.Restriction{{Purpose: purpose, Type: typ, Vendors: vendors}}
	}
	for _, c := range []struct {
		name               string
		query              string
		alpha, beta, gamma string
	}{
		{"consent for both vendors", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}}),
			full, full, notCalled},
		{"consent for both, range-encoded", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, Ranges: true}),
			full, full, notCalled},
		{"consent for alpha only", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{alpha}}),
			full, notCalled, notCalled},
		{"beta on legitimate interest: basic ads, no personalised ads", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, PurposeLI: []int{2}, SpecialFeatures: []int{1},
			VendorConsents: []int{alpha}, VendorLI: []int{beta}}), full, noIDs, notCalled},
		{"purpose 2 LI without the purpose's LI bit", gdprTCFString + tc(consenttest.TCF{PurposeConsents: []int{1, 4}, SpecialFeatures: []int{1},
			VendorConsents: []int{alpha}, VendorLI: []int{alpha, beta}}), notCalled, notCalled, notCalled},
		{"no purpose 4 consent", gdprTCFString + tc(consenttest.TCF{PurposeConsents: []int{1, 2, 3}, SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}}),
			noIDs, noIDs, notCalled},
		{"no special feature 1", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, VendorConsents: []int{alpha, beta}}),
			coarse, coarse, notCalled},
		{"purpose 4 on LI, policy version 2 (TCF 2.0)", gdprTCFString + tc(consenttest.TCF{PolicyVersion: 2, PurposeConsents: []int{1, 2}, PurposeLI: []int{4},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, VendorLI: []int{beta}}), noIDs, full, notCalled},
		{"purpose 4 on LI, policy version 4 (TCF 2.2)", gdprTCFString + tc(consenttest.TCF{PolicyVersion: 4, PurposeConsents: []int{1, 2}, PurposeLI: []int{4},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, VendorLI: []int{beta}}), noIDs, noIDs, notCalled},
		{"purpose 4 on LI, policy version 5", gdprTCFString + tc(consenttest.TCF{PolicyVersion: 5, PurposeConsents: []int{1, 2}, PurposeLI: []int{4},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, VendorLI: []int{beta}}), noIDs, noIDs, notCalled},
		{"restriction: purpose 2 not allowed for alpha", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1},
			VendorConsents: []int{alpha, beta}, Restrictions: restricted(2, 0, alpha)}), notCalled, full, notCalled},
		{"restriction: purpose 4 not allowed for beta", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1},
			VendorConsents: []int{alpha, beta}, Restrictions: restricted(4, 0, beta)}), full, noIDs, notCalled},
		{"restriction: purpose 2 requires consent, beta has only LI", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, PurposeLI: []int{2},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha}, VendorLI: []int{alpha, beta}, Restrictions: restricted(2, 1, alpha, beta)}), full, notCalled, notCalled},
		{"restriction: purpose 2 requires LI, alpha has only consent", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, PurposeLI: []int{2},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, VendorLI: []int{beta}, Restrictions: restricted(2, 2, alpha, beta)}), notCalled, full, notCalled},
		{"restriction: purpose 4 requires LI, policy 4", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, PurposeLI: []int{2, 4},
			SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}, VendorLI: []int{alpha, beta}, Restrictions: restricted(4, 2, alpha)}), noIDs, full, notCalled},
		{"empty string", "gdpr=1", notCalled, notCalled, notCalled},
		{"malformed string", gdprTCFString + "not-a-consent-string", notCalled, notCalled, notCalled},
		{"truncated string", gdprTCFString + tc(consenttest.TCF{PurposeConsents: everything, VendorConsents: []int{alpha}})[:30], notCalled, notCalled, notCalled},
		{"TCF v1 string", gdprTCFString + "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", notCalled, notCalled, notCalled},
		{"gdpr=0 with a malformed string", "gdpr=0&gdpr_consent=junk", full, full, full},
		{"no gdpr, default 0", "", full, full, full},
		{"tcfeuv2 of gpp, listed", "gdpr=1&gpp_sid=2&gpp=" + consenttest.GPP(consenttest.Section{ID: 2,
			Value: tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{beta}})}), notCalled, full, notCalled},
		{"tcfeuv2 of gpp, not listed", "gdpr=1&gpp_sid=7&gpp=" + consenttest.GPP(consenttest.Section{ID: 2,
			Value: tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{beta}})}), notCalled, notCalled, notCalled},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _ := h.received(t, privacyQuery+"&"+c.query)
			want := map[string]string{"alpha": c.alpha, "beta": c.beta, "gamma": c.gamma}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("%s: received %s; want %s", name, got[name], w)
				}
			}
		})
	}
}

func TestPrivacyGDPRDefault(t *testing.T) {
	h := newPrivacyHarness(t, func(c *config.Ad) { c.GDPRDefault = true })
	consented := tc(consenttest.TCF{PurposeConsents: everything, SpecialFeatures: []int{1}, VendorConsents: []int{alpha, beta}})
	for query, want := range map[string][3]string{
		"":                           {notCalled, notCalled, notCalled},
		"gdpr_consent=" + consented:  {full, full, notCalled},
		"gdpr=0":                     {full, full, full},
		"gdpr=1&gdpr_consent=" + "x": {notCalled, notCalled, notCalled},
	} {
		got, _ := h.received(t, privacyQuery+"&"+query)
		if g := [3]string{got["alpha"], got["beta"], got["gamma"]}; g != want {
			t.Errorf("%q: received %q; want %q", query, g, want)
		}
	}
}

func TestPrivacyUSAndDevice(t *testing.T) {
	h := newPrivacyHarness(t, nil)
	gpp := func(sid string, sections ...consenttest.Section) string {
		return "gpp_sid=" + sid + "&gpp=" + consenttest.GPP(sections...)
	}
	nat := func(u consenttest.USNat) consenttest.Section { return consenttest.Section{ID: 7, Value: u.Encode()} }
	ca := func(u consenttest.USCA) consenttest.Section { return consenttest.Section{ID: 8, Value: u.Encode()} }
	for _, c := range []struct {
		name, query string
		want        string // what every upstream receives
	}{
		{"us_privacy without opt-out", "us_privacy=1YNN", full},
		{"us_privacy opted out of sale", "us_privacy=1YYN", noIDs},
		{"us_privacy opted out, no notice field", "us_privacy=1-Y-", noIDs},
		{"us_privacy unreadable", "us_privacy=1XY", noIDs},
		{"usnat without opt-out", gpp("7", nat(consenttest.USNat{SaleOptOut: 2, SharingOptOut: 2, TargetedAdvertisingOptOut: 2})), full},
		{"usnat sale opt-out", gpp("7", nat(consenttest.USNat{SaleOptOut: 1})), noIDs},
		{"usnat sharing opt-out", gpp("7", nat(consenttest.USNat{SharingOptOut: 1})), noIDs},
		{"usnat targeted advertising opt-out", gpp("7", nat(consenttest.USNat{TargetedAdvertisingOptOut: 1})), noIDs},
		{"usnat opt-out not listed in gpp_sid", gpp("2", nat(consenttest.USNat{SaleOptOut: 1})), full},
		{"usnat known child, consent given", gpp("7", nat(consenttest.USNat{KnownChildSensitiveDataConsents: [3]uint8{0, 0, 2}})), neither},
		{"usnat known child, consent refused", gpp("7", nat(consenttest.USNat{KnownChildSensitiveDataConsents: [3]uint8{1, 0, 0}})), neither},
		{"usca sharing opt-out", gpp("8", ca(consenttest.USCA{SharingOptOut: 1})), noIDs},
		{"usca known child", gpp("8", ca(consenttest.USCA{KnownChildSensitiveDataConsents: [2]uint8{0, 1}})), neither},
		{"uspv1 section opted out", gpp("6", consenttest.Section{ID: 6, Value: "1YYN"}), noIDs},
		{"listed section unreadable", "gpp_sid=7&gpp=DBABLA~C", noIDs},
		{"coppa=1", "coppa=1", neither},
		{"coppa=0", "coppa=0", full},
		{"lmt=1", "lmt=1", neither},
		{"atts denied on iOS 17", "atts=2&os=ios&osv=17.1", neither},
		{"atts not determined on iOS 14", "atts=0&os=iOS&osv=14.0", neither},
		{"atts restricted on iPadOS", "atts=1&os=iPadOS&osv=16", neither},
		{"atts authorized on iOS 17", "atts=3&os=ios&osv=17.1", full},
		{"atts denied on iOS 13", "atts=2&os=ios&osv=13.7", full},
		{"atts denied on Android", "atts=2&os=android&osv=14", full},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, reqs := h.received(t, privacyQuery+"&"+c.query)
			for _, name := range []string{"alpha", "beta", "gamma"} {
				if got[name] != c.want {
					t.Errorf("%s: received %s; want %s", name, got[name], c.want)
				}
			}
			dev, _ := reqs["alpha"]["device"].(map[string]any)
			if strings.Contains(c.query, "atts=") {
				ext, _ := dev["ext"].(map[string]any)
				if want := float64(c.query[strings.Index(c.query, "atts=")+5] - '0'); ext["atts"] != want {
					t.Errorf("device.ext %v; want atts %v", dev["ext"], want)
				}
				if lmt := dev["lmt"]; (lmt == float64(1)) != (c.want == neither) {
					t.Errorf("device.lmt %v; want 1 exactly when ATT restricts", lmt)
				}
			}
		})
	}
}

// Each upstream's decision is counted and shown in the trace, with what was removed.
func TestPrivacyMetricsAndTrace(t *testing.T) {
	h := newPrivacyHarness(t, nil)
	query := privacyQuery + "&" + gdprTCFString + tc(consenttest.TCF{PurposeConsents: []int{1, 2}, VendorConsents: []int{alpha}})
	h.received(t, query)
	for _, c := range []struct {
		upstream, action string
		want             float64
	}{
		{"alpha", "blocked", 0}, {"alpha", "ids_removed", 1}, {"alpha", "geo_coarsened", 1},
		{"beta", "blocked", 1}, {"beta", "ids_removed", 0}, {"gamma", "blocked", 1},
	} {
		if got := h.metric(t, "asap_privacy_actions_total", "upstream", c.upstream, "action", c.action); got != c.want {
			t.Errorf("asap_privacy_actions_total{upstream=%q,action=%q} = %v; want %v", c.upstream, c.action, got, c.want)
		}
	}

	q, _ := adquery.Parse(query)
	tr, err := h.svc.Trace(context.Background(), &adquery.Request{Query: q, UserAgent: "test", IP: privacyIP})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(tr)
	var trace struct {
		Upstreams []struct {
			Name    string
			Outcome string
			Privacy struct {
				GDPR         bool `json:"gdpr"`
				VendorID     int  `json:"vendorId"`
				Blocked      bool `json:"blocked"`
				IDsRemoved   bool `json:"ids_removed"`
				GeoCoarsened bool `json:"geo_coarsened"`
				Why          []string
				Removed      []string
			}
		}
	}
	if err := json.Unmarshal(raw, &trace); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, u := range trace.Upstreams {
		byName[u.Name] = i
	}
	a, b, g := trace.Upstreams[byName["alpha"]], trace.Upstreams[byName["beta"]], trace.Upstreams[byName["gamma"]]
	if a.Outcome != "answered" || !a.Privacy.GDPR || a.Privacy.VendorID != alpha || a.Privacy.Blocked || !a.Privacy.IDsRemoved || !a.Privacy.GeoCoarsened ||
		!slices.Equal(a.Privacy.Removed, []string{"device.ifa", "device.ip truncated"}) ||
		!slices.Equal(a.Privacy.Why, []string{"tcf purpose 4: no consent", "tcf special feature 1: no opt-in"}) {
		t.Errorf("alpha in the trace: %+v", a)
	}
	if b.Outcome != "blocked" || !b.Privacy.Blocked || !slices.Contains(b.Privacy.Why, "tcf purpose 2: no consent or legitimate interest") {
		t.Errorf("beta in the trace: %+v", b)
	}
	if g.Outcome != "blocked" || !g.Privacy.Blocked || g.Privacy.VendorID != 0 || !slices.Contains(g.Privacy.Why, "gdpr: upstream has no vendor id") {
		t.Errorf("gamma in the trace: %+v", g)
	}
	if len(trace.Upstreams) != 3 {
		t.Errorf("the trace shows %d upstreams; want 3: %s", len(trace.Upstreams), raw)
	}
}

// Every upstream blocked: no call at all, and the SDK gets 204 (no house ad here).
func TestPrivacyAllBlocked(t *testing.T) {
	h := newPrivacyHarness(t, nil)
	q, _ := adquery.Parse(privacyQuery + "&gdpr=1")
	var out bytes.Buffer
	status, err := h.svc.Serve(context.Background(), &adquery.Request{Query: q, IP: privacyIP}, &out)
	if err != nil || status != http.StatusNoContent {
		t.Fatalf("got %d, %v; want 204", status, err)
	}
	if got := h.metric(t, "asap_ad_no_fills_total", "reason", "blocked"); got != 1 {
		t.Errorf("no fills for blocked = %v; want 1", got)
	}
}

// BenchmarkServePrivacy is one ad request through the service against the fixed
// demo ad server, without GDPR and under GDPR with consenttest.Large (1,000
// vendors, range-encoded) granting the upstream's vendor everything, and with the
// string but without GDPR: the last two send the upstream the same request, so
// they differ by enforcement alone.
func BenchmarkServePrivacy(b *testing.B) {
	h := newBenchHarness(b, func(c *config.Ad) {
		if err := c.UpstreamVendors.Decode("primary=755"); err != nil {
			b.Fatal(err)
		}
	})
	base := "pkey=feed&uid=ifa-1&appId=com.example&w=300&h=250"
	for _, c := range []struct{ name, query string }{
		{"gdpr=0", base + "&gdpr=0"},
		// The string carried but not enforced: what remains between this and the
		// next is enforcement's own cost.
		{"gdpr=0 with the string", base + "&gdpr=0&gdpr_consent=" + consenttest.Large().Encode()},
		{"gdpr=1 with the string", base + "&gdpr=1&gdpr_consent=" + consenttest.Large().Encode()},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchServe(b, h, c.query, func(body []byte) {
				if !bytes.Contains(body, []byte(`"ifa":"ifa-1"`)) {
					b.Fatalf("the upstream lost the ifa: %s", body)
				}
			})
		})
	}
}
