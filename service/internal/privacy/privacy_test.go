package privacy

import (
	"slices"
	"sync"
	"testing"

	"asap/service/internal/consent/consenttest"
)

// signals returns GDPR signals with a TC string; flags absent.
func signals(tc string) Signals {
	return Signals{GDPR: 1, GDPRConsent: tc, COPPA: -1, LMT: -1, ATTS: -1}
}

func none() Signals { return Signals{GDPR: -1, COPPA: -1, LMT: -1, ATTS: -1} }

func TestTCFDecisions(t *testing.T) {
	const v = 755
	all := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		name                          string
		tcf                           consenttest.TCF
		vendor                        int
		wantBlocked, wantIDs, wantGeo bool
		wantWhy                       Reason
	}{
		{"full consent", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{v}}, v, false, false, false, 0},
		{"full consent, range encoded", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{1, 2, v}, Ranges: true}, v, false, false, false, 0},
		{"another vendor's consent", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{32}}, v, true, true, false, NoPurpose2 | NoPurpose4},
		{"no vendor id", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{v}}, 0, true, true, true, NoVendorID},
		{"purpose 2 by legitimate interest", consenttest.TCF{PurposeConsents: []int{1}, PurposeLI: []int{2}, SpecialFeatures: []int{1}, VendorLI: []int{v}}, v, false, true, false, NoPurpose4},
		{"purpose 2 LI without the vendor's LI", consenttest.TCF{PurposeLI: []int{2}, VendorConsents: []int{v}}, v, true, true, true, NoPurpose2 | NoPurpose4 | NoSpecialFeature1},
		{"purpose 4 by LI, policy 4: none", consenttest.TCF{PolicyVersion: 4, PurposeConsents: []int{2}, PurposeLI: []int{4}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v}}, v, false, true, false, NoPurpose4},
		{"purpose 4 by LI, policy 5: none", consenttest.TCF{PolicyVersion: 5, PurposeConsents: []int{2}, PurposeLI: []int{4}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v}}, v, false, true, false, NoPurpose4},
		{"purpose 4 by LI, policy 2: allowed", consenttest.TCF{PolicyVersion: 2, PurposeConsents: []int{2}, PurposeLI: []int{4}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v}}, v, false, false, false, 0},
		{"no special feature 1", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{2}, VendorConsents: []int{v}}, v, false, false, true, NoSpecialFeature1},
		{"restriction not allowed, purpose 2", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 0, Vendors: []int{v}}}}, v, true, false, false, NoPurpose2},
		{"restriction not allowed, another vendor", consenttest.TCF{PurposeConsents: all, SpecialFeatures: []int{1}, VendorConsents: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 0, Vendors: []int{v + 1}}}}, v, false, false, false, 0},
		{"restriction require consent, only LI", consenttest.TCF{PurposeConsents: []int{4}, PurposeLI: []int{2}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 1, Vendors: []int{v}}}}, v, true, false, false, NoPurpose2},
		{"restriction require consent, consent", consenttest.TCF{PurposeConsents: []int{2, 4}, SpecialFeatures: []int{1}, VendorConsents: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 1, Vendors: []int{v}}}}, v, false, false, false, 0},
		{"restriction require LI, only consent", consenttest.TCF{PurposeConsents: []int{2, 4}, SpecialFeatures: []int{1}, VendorConsents: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 2, Vendors: []int{v}}}}, v, true, false, false, NoPurpose2},
		{"restriction require LI, LI", consenttest.TCF{PurposeConsents: []int{4}, PurposeLI: []int{2}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 2, Vendors: []int{v}}}}, v, false, false, false, 0},
		{"restriction require LI on purpose 4, policy 4", consenttest.TCF{PurposeConsents: []int{2, 4}, PurposeLI: []int{4}, SpecialFeatures: []int{1}, VendorConsents: []int{v}, VendorLI: []int{v},
			Restrictions: []consenttest.Restriction{{Purpose: 4, Type: 2, Vendors: []int{v}}}}, v, false, true, false, NoPurpose4},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := signals(c.tcf.Encode())
			for _, d := range []*Decider{NewDecider(false, 0), NewDecider(false, 1<<20)} {
				e := d.Evaluate(&s)
				got := e.For(c.vendor)
				if got.Blocked != c.wantBlocked || got.RemoveIDs != c.wantIDs || got.CoarsenGeo != c.wantGeo || got.Why != c.wantWhy {
					t.Errorf("got %+v (%s); want blocked %v, ids removed %v, geo coarsened %v (%s)",
						got, got.Why, c.wantBlocked, c.wantIDs, c.wantGeo, c.wantWhy)
				}
			}
		})
	}
}

func TestGDPRApplies(t *testing.T) {
	consented := consenttest.TCF{PurposeConsents: []int{2, 4}, SpecialFeatures: []int{1}, VendorConsents: []int{7}}.Encode()
	for _, c := range []struct {
		name        string
		gdpr        int8
		def         bool
		tc          string
		gpp         string
		sid         []int
		wantBlocked bool
	}{
		{"gdpr=0 without a string", 0, true, "", "", nil, false},
		{"gdpr=1 without a string", 1, false, "", "", nil, true},
		{"absent gdpr, default 1", -1, true, "", "", nil, true},
		{"absent gdpr, default 0", -1, false, "", "", nil, false},
		{"gdpr=1 with a malformed string", 1, false, "not-a-tc-string!", "", nil, true},
		{"gdpr=1 with a TCF v1 string", 1, false, "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA", "", nil, true},
		{"gdpr=1 with consent", 1, false, consented, "", nil, false},
		{"gdpr=1, consent in gpp tcfeuv2 listed", 1, false, "", consenttest.GPP(consenttest.Section{ID: 2, Value: consented}), []int{2}, false},
		{"gdpr=1, consent in gpp tcfeuv2 not listed", 1, false, "", consenttest.GPP(consenttest.Section{ID: 2, Value: consented}), []int{7}, true},
		{"gdpr=1, gpp unreadable", 1, false, "", "DBABMA~junk", []int{2}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := none()
			s.GDPR, s.GDPRConsent, s.GPP, s.GPPSID = c.gdpr, c.tc, c.gpp, c.sid
			e := NewDecider(c.def, 0).Evaluate(&s)
			if got := e.For(7); got.Blocked != c.wantBlocked {
				t.Errorf("blocked %v (%s); want %v", got.Blocked, got.Why, c.wantBlocked)
			}
		})
	}
}

func TestUSDecisions(t *testing.T) {
	gpp := func(sections ...consenttest.Section) string { return consenttest.GPP(sections...) }
	nat := func(u consenttest.USNat) consenttest.Section { return consenttest.Section{ID: 7, Value: u.Encode()} }
	ca := func(u consenttest.USCA) consenttest.Section { return consenttest.Section{ID: 8, Value: u.Encode()} }
	noOptOut := consenttest.USNat{SaleOptOut: 2, SharingOptOut: 2, TargetedAdvertisingOptOut: 2}
	for _, c := range []struct {
		name             string
		usp, gpp         string
		sid              []int
		wantIDs, wantGeo bool
		wantWhy          Reason
	}{
		{"nothing", "", "", nil, false, false, 0},
		{"us_privacy 1YNN", "1YNN", "", nil, false, false, 0},
		{"us_privacy 1YYN", "1YYN", "", nil, true, false, USPrivacyOptOut},
		{"us_privacy 1-Y-", "1-Y-", "", nil, true, false, USPrivacyOptOut},
		{"us_privacy unreadable", "1XYZ", "", nil, true, false, USPrivacyUnusable},
		{"usnat no opt-out", "", gpp(nat(noOptOut)), []int{7}, false, false, 0},
		{"usnat sale opt-out", "", gpp(nat(consenttest.USNat{SaleOptOut: 1, SharingOptOut: 2})), []int{7}, true, false, GPPOptOut},
		{"usnat sharing opt-out", "", gpp(nat(consenttest.USNat{SaleOptOut: 2, SharingOptOut: 1})), []int{7}, true, false, GPPOptOut},
		{"usnat targeted opt-out", "", gpp(nat(consenttest.USNat{TargetedAdvertisingOptOut: 1})), []int{7}, true, false, GPPOptOut},
		{"usnat opt-out not listed", "", gpp(nat(consenttest.USNat{SaleOptOut: 1})), []int{2}, false, false, 0},
		{"usnat child consent 1", "", gpp(nat(consenttest.USNat{KnownChildSensitiveDataConsents: [3]uint8{0, 1, 0}})), []int{7}, true, true, GPPChild},
		{"usnat child consent 2", "", gpp(nat(consenttest.USNat{KnownChildSensitiveDataConsents: [3]uint8{0, 0, 2}})), []int{7}, true, true, GPPChild},
		{"usca sale opt-out", "", gpp(ca(consenttest.USCA{SaleOptOut: 1})), []int{8}, true, false, GPPOptOut},
		{"usca child", "", gpp(ca(consenttest.USCA{KnownChildSensitiveDataConsents: [2]uint8{2, 0}})), []int{8}, true, true, GPPChild},
		{"uspv1 in gpp opted out", "", gpp(consenttest.Section{ID: 6, Value: "1NYN"}), []int{6}, true, false, GPPOptOut},
		{"listed section absent", "", gpp(nat(noOptOut)), []int{7, 8}, true, false, GPPUnusable},
		{"gpp unreadable, US listed", "", "DBABLA~C", []int{7}, true, false, GPPUnusable},
		{"gpp unreadable, no US listed", "", "DBABLA~C", []int{2}, false, false, 0},
		{"unknown state listed", "", gpp(nat(noOptOut)), []int{7, 13}, false, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := none()
			s.USPrivacy, s.GPP, s.GPPSID = c.usp, c.gpp, c.sid
			e := NewDecider(false, 1<<20).Evaluate(&s)
			got := e.For(0)
			if got.Blocked || got.RemoveIDs != c.wantIDs || got.CoarsenGeo != c.wantGeo || got.Why != c.wantWhy {
				t.Errorf("got %+v (%s); want ids removed %v, geo coarsened %v (%s)", got, got.Why, c.wantIDs, c.wantGeo, c.wantWhy)
			}
		})
	}
}

func TestDeviceDecisions(t *testing.T) {
	for _, c := range []struct {
		name                      string
		coppa, lmt, atts          int8
		os, osv                   string
		wantIDs, wantGeo, wantLMT bool
	}{
		{"nothing", -1, -1, -1, "ios", "17.1", false, false, false},
		{"coppa=1", 1, -1, -1, "android", "14", true, true, false},
		{"lmt=1", -1, 1, -1, "android", "14", true, true, false},
		{"lmt=0", -1, 0, -1, "android", "14", false, false, false},
		{"atts 3 on iOS 17", -1, -1, 3, "ios", "17.1", false, false, false},
		{"atts 2 on iOS 17", -1, -1, 2, "ios", "17.1", true, true, true},
		{"atts 0 on iPadOS 14", -1, -1, 0, "iPadOS", "14.0", true, true, true},
		{"atts 1 on iOS without a version", -1, -1, 1, "iOS", "", true, true, true},
		{"atts 2 on iOS 13", -1, -1, 2, "ios", "13.7", false, false, false},
		{"atts 2 on Android", -1, -1, 2, "android", "14", false, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := Signals{GDPR: -1, COPPA: c.coppa, LMT: c.lmt, ATTS: c.atts, OS: c.os, OSV: c.osv}
			e := NewDecider(false, 0).Evaluate(&s)
			got := e.For(1)
			if got.RemoveIDs != c.wantIDs || got.CoarsenGeo != c.wantGeo || e.SetLMT != c.wantLMT {
				t.Errorf("got %+v, set lmt %v; want ids removed %v, geo coarsened %v, set lmt %v", got, e.SetLMT, c.wantIDs, c.wantGeo, c.wantLMT)
			}
		})
	}
}

func TestReasonNames(t *testing.T) {
	if got := (NoPurpose2 | ATT).Names(); !slices.Equal(got, []string{reasonNames[2], reasonNames[12]}) {
		t.Errorf("got %q", got)
	}
	if len(reasonNames) != 13 || ATT != 1<<12 {
		t.Errorf("%d names for %d reasons", len(reasonNames), 13)
	}
}

func TestMemoBounded(t *testing.T) {
	m := newMemo(4096, func(s string) (string, error) { return s, nil }, func(*string) int { return 0 })
	for i := range 1000 {
		s := string(rune('a'+i%26)) + string(make([]byte, i%300))
		if v, _ := m.get(s); *v != s {
			t.Fatalf("got %q; want %q", *v, s)
		}
		if m.size > 4096 {
			t.Fatalf("cache holds %d bytes; want at most 4096", m.size)
		}
	}
}

// Base holds every rule For applies that does not depend on the vendor.
func TestBaseIsForWithoutTheVendorPart(t *testing.T) {
	tc := consenttest.TCF{PurposeConsents: []int{2, 4}, VendorConsents: []int{7}}.Encode() // no special feature 1
	for _, s := range []Signals{
		{GDPR: 1, GDPRConsent: tc, COPPA: -1, LMT: 1, ATTS: -1},
		{GDPR: 0, USPrivacy: "1YYN", COPPA: -1, LMT: -1, ATTS: -1},
		{GDPR: -1, COPPA: -1, LMT: -1, ATTS: 2, OS: "ios", OSV: "17"},
		none(),
	} {
		e := NewDecider(false, 0).Evaluate(&s)
		base, vendor := e.Base(), e.For(7)
		if base.Blocked || base.RemoveIDs != vendor.RemoveIDs || base.CoarsenGeo != vendor.CoarsenGeo || base.Why != vendor.Why {
			t.Errorf("%+v: base %+v (%s); for the consented vendor %+v (%s)", s, base, base.Why, vendor, vendor.Why)
		}
		if e.Restricts() != (s.GDPR == 1 || base.RemoveIDs || base.CoarsenGeo) {
			t.Errorf("%+v: Restricts() = %v", s, e.Restricts())
		}
	}
}

// One Decider serves every request at once: concurrent evaluations of shared
// and distinct strings, through a cache small enough to start over often, decide
// as a lone one does (run under -race).
func TestDeciderConcurrent(t *testing.T) {
	d := NewDecider(false, 16<<10)
	strs := make([]string, 8)
	for i := range strs {
		strs[i] = consenttest.TCF{PurposeConsents: []int{2, 4}, SpecialFeatures: []int{1}, VendorConsents: []int{7 + i}, Ranges: i%2 == 0}.Encode()
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 500 {
				i := (g + n) % len(strs)
				s := signals(strs[i])
				e := d.Evaluate(&s)
				if got := e.For(7 + i); got.Blocked || got.RemoveIDs || got.CoarsenGeo {
					t.Errorf("string %d: %+v (%s); want the whole request", i, got, got.Why)
					return
				}
				if got := e.For(100); !got.Blocked {
					t.Errorf("string %d: vendor 100 %+v; want blocked", i, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
