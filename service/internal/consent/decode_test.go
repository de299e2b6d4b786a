package consent

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"asap/service/internal/consent/consenttest"
)

// The test encoder must write what the IAB library decodes: each vector's
// decoded contents, encoded again in both encodings, decode to the same.
func TestTestEncoderRoundTripsVectors(t *testing.T) {
	for i, v := range readLines[tcfVector](t, "tcf-v2.jsonl") {
		for _, ranges := range []bool{false, true} {
			in := consenttest.TCF{PolicyVersion: v.PolicyVersion, CMPID: v.CmpID, PurposeConsents: v.PurposeConsents,
				PurposeLI: v.PurposeLegitimateInterests, SpecialFeatures: v.SpecialFeatureOptins,
				VendorConsents: v.VendorConsents, VendorLI: v.VendorLegitimateInterests, Ranges: ranges}
			got, err := DecodeTCF(in.Encode())
			if err != nil {
				t.Fatalf("vector %d ranges=%v: %v", i+1, ranges, err)
			}
			if (got.VendorConsents.field == "") != ranges {
				t.Errorf("vector %d: range encoding %v; want %v", i+1, got.VendorConsents.field == "", ranges)
			}
			want := v
			want.IsServiceSpecific, want.VendorListVersion, want.PublisherCountryCode = true, 150, "DE"
			want.PublisherRestrictions = nil
			checkTCF(t, i+1, got, want)
		}
	}
}

func TestDecodeTCFFields(t *testing.T) {
	s := consenttest.TCF{PolicyVersion: 2, CMPID: 300, PurposeConsents: []int{1, 24}, PurposeLI: []int{2},
		SpecialFeatures: []int{1}, VendorConsents: []int{755}, Ranges: true,
		Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 2, Vendors: []int{5, 6, 7, 755}}, {Purpose: 2, Type: 0, Vendors: []int{7}}}}.Encode()
	got, err := DecodeTCF(s + ".IAAA.YAAAAAAAAAAA") // later segments are skipped
	if err != nil {
		t.Fatal(err)
	}
	if got.Created.Year() != 2023 || got.ConsentLanguage != "EN" || got.PolicyVersion != 2 || got.CMPID != 300 {
		t.Errorf("created %v, language %q, policy %d, cmp %d; want 2023, EN, 2, 300", got.Created, got.ConsentLanguage, got.PolicyVersion, got.CMPID)
	}
	if !got.PurposeConsent(24) || got.PurposeConsent(25) || got.PurposeConsent(0) || !got.SpecialFeatureOptIn(1) || got.SpecialFeatureOptIn(2) {
		t.Error("purpose 24 or special feature 1 not read, or out-of-range ids answered true")
	}
	if !got.VendorConsents.Has(755) || got.VendorConsents.Has(754) || got.VendorConsents.Has(0) || got.VendorLI.Has(1) {
		t.Error("vendor 755 not read, or another vendor answered true")
	}
	for _, c := range []struct {
		vendor   int
		wantType RestrictionType
		wantOK   bool
	}{{5, RequireLI, true}, {7, NotAllowed, true}, {755, RequireLI, true}, {8, 0, false}} {
		if typ, ok := got.Restriction(2, c.vendor); typ != c.wantType || ok != c.wantOK {
			t.Errorf("Restriction(2, %d) = %d, %v; want %d, %v", c.vendor, typ, ok, c.wantType, c.wantOK)
		}
	}
}

func TestDecodeTCFRejects(t *testing.T) {
	valid := consenttest.TCF{VendorConsents: []int{1}}.Encode()
	var overlong consenttest.Writer // claims 4095 range entries with no room for them
	overlong.Int(2, 6)
	overlong.Int(0, 207)
	overlong.Int(1, 16)
	overlong.Bool(true)
	overlong.Int(4095, 12)
	var backwards consenttest.Writer
	backwards.Int(2, 6)
	backwards.Int(0, 207)
	backwards.Int(10, 16)
	backwards.Bool(true)
	backwards.Int(1, 12)
	backwards.Bool(true)
	backwards.Int(9, 16)
	backwards.Int(3, 16)
	for name, s := range map[string]string{
		"empty":                       "",
		"not base64":                  "CQ!u26",
		"version 1":                   "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA",
		"version 3":                   consenttest.TCF{Version: 3}.Encode(),
		"truncated header":            valid[:20],
		"truncated bit field":         consenttest.TCF{VendorConsents: []int{3000}}.Encode()[:60],
		"range list too long":         overlong.String(),
		"range ends before it starts": backwards.String(),
		"only a later segment":        ".IAAA",
	} {
		if _, err := DecodeTCF(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v; want ErrMalformed", name, err)
		}
	}
}

func TestDecodeUSPrivacy(t *testing.T) {
	for _, c := range []struct {
		in      string
		wantOut bool
		wantErr bool
	}{
		{"1YYN", true, false}, {"1NYY", true, false}, {"1-Y-", true, false}, {"1yyn", true, false},
		{"1YNN", false, false}, {"1---", false, false},
		{"", false, true}, {"2YYN", false, true}, {"1YY", false, true}, {"1YYNN", false, true}, {"1YXN", false, true},
	} {
		u, err := DecodeUSPrivacy(c.in)
		if (err != nil) != c.wantErr || u.OptedOutOfSale() != c.wantOut {
			t.Errorf("DecodeUSPrivacy(%q) = %+v, %v; want opted out %v, error %v", c.in, u, err, c.wantOut, c.wantErr)
		}
	}
}

func TestDecodeGPPSections(t *testing.T) {
	nat := consenttest.USNat{SaleOptOut: 2, SharingOptOut: 1, TargetedAdvertisingOptOut: 2, KnownChildSensitiveDataConsents: [3]uint8{0, 1, 2}}
	ca := consenttest.USCA{SaleOptOut: 1, KnownChildSensitiveDataConsents: [2]uint8{2, 0}}
	tcf := consenttest.TCF{VendorConsents: []int{32}}.Encode()
	s := consenttest.GPP(consenttest.Section{ID: 2, Value: tcf}, consenttest.Section{ID: 6, Value: "1NYN"},
		consenttest.Section{ID: 7, Value: nat.Encode() + ".QA"}, consenttest.Section{ID: 8, Value: ca.Encode()},
		consenttest.Section{ID: 30, Value: "anything"})
	g, err := DecodeGPP(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.SectionIDs, []int{2, 6, 7, 8, 30}) {
		t.Errorf("section ids %v; want [2 6 7 8 30]", g.SectionIDs)
	}
	if g.TCFEUv2 == nil || !g.TCFEUv2.VendorConsents.Has(32) || g.USPv1 == nil || !g.USPv1.OptedOutOfSale() {
		t.Errorf("tcfeuv2 %v, uspv1 %v; want vendor 32 consented and sale opted out", g.TCFEUv2, g.USPv1)
	}
	gotNat, _ := g.Section(SectionUSNat)
	if gotNat.SharingOptOut != 1 || gotNat.SaleOptOut != 2 || !slices.Equal(gotNat.KnownChildSensitiveDataConsents, []uint8{0, 1, 2}) {
		t.Errorf("usnat %+v", gotNat)
	}
	gotCA, _ := g.Section(SectionUSCA)
	if gotCA.SaleOptOut != 1 || !slices.Equal(gotCA.KnownChildSensitiveDataConsents, []uint8{2, 0}) {
		t.Errorf("usca %+v", gotCA)
	}

	// A usnat string of the first version (12 sensitive-data and 2 child fields, 11 characters).
	var w consenttest.Writer
	w.Int(1, 6)
	w.Int(0, 12)
	w.Int(1, 2) // sale opted out
	w.Int(2, 2)
	w.Int(2, 2)
	w.Int(0, 24)
	w.Int(1, 2) // child consents 1, 2
	w.Int(2, 2)
	w.Int(0, 2)
	w.Int(1, 2)
	w.Int(0, 4)
	w.Int(0, 6) // to 66 bits, as the IAB encoder pads
	v1 := w.String()
	g, err = DecodeGPP(consenttest.GPP(consenttest.Section{ID: 7, Value: v1}))
	if len(v1) != 11 || err != nil || g.US[0].SaleOptOut != 1 || !slices.Equal(g.US[0].KnownChildSensitiveDataConsents, []uint8{1, 2}) {
		t.Errorf("usnat v1 %q: %+v, %v; want sale opted out, child consents [1 2]", v1, g.US, err)
	}
}

func TestDecodeGPPRejects(t *testing.T) {
	one := consenttest.GPP(consenttest.Section{ID: 6, Value: "1YNN"})
	header, _, _ := strings.Cut(one, "~")
	var wrongType consenttest.Writer
	wrongType.Int(2, 6)
	wrongType.Int(1, 6)
	wrongType.Int(0, 12)
	var hugeRange consenttest.Writer // ids 1 to 1,000,000 in one range entry
	hugeRange.Int(3, 6)
	hugeRange.Int(1, 6)
	hugeRange.Int(1, 12)
	hugeRange.Bool(true)
	hugeRange.Fibonacci(1)
	hugeRange.Fibonacci(1000000)
	for name, s := range map[string]string{
		"empty":                     "",
		"header only, one id":       header,
		"fewer ids than sections":   one + "~1YNN",
		"wrong type":                wrongType.String(),
		"range beyond the sections": hugeRange.String() + "~1YNN",
		"bad uspv1":                 consenttest.GPP(consenttest.Section{ID: 6, Value: "1XNN"}),
		"bad tcfeuv2":               consenttest.GPP(consenttest.Section{ID: 2, Value: "BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"}),
		"truncated usnat":           consenttest.GPP(consenttest.Section{ID: 7, Value: "CYg"}),
		"usca of version 2":         consenttest.GPP(consenttest.Section{ID: 8, Value: "CUkAAACA"}),
		"not base64 header":         "DB*C~1YNN",
	} {
		if _, err := DecodeGPP(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s %q: got %v; want ErrMalformed", name, s, err)
		}
	}
}

// A hostile string of the 4,096 bytes the query allows costs memory in
// proportion to its length, not to the counts it claims.
func TestHostileStringsAllocateInProportion(t *testing.T) {
	var tcf consenttest.Writer // as many single-id range entries as fit
	tcf.Int(2, 6)
	tcf.Int(0, 207)
	tcf.Int(65535, 16)
	tcf.Bool(true)
	entries := (4090*6 - 6 - 207 - 16 - 1 - 12) / 17
	tcf.Int(entries, 12)
	for i := range entries {
		tcf.Bool(false)
		tcf.Int(65535-i, 16)
	}
	var gpp consenttest.Writer // a header naming ids 1..1023 as single ids
	gpp.Int(3, 6)
	gpp.Int(1, 6)
	gpp.Int(1023, 12)
	for range 1023 {
		gpp.Bool(false)
		gpp.Fibonacci(1)
	}
	gppString := gpp.String() + strings.Repeat("~A", 1023)
	for name, decode := range map[string]func(){
		"TCF ranges":  func() { _, _ = DecodeTCF(tcf.String()) },
		"GPP ids":     func() { _, _ = DecodeGPP(gppString) },
		"TCF garbage": func() { _, _ = DecodeTCF(strings.Repeat("_", 4096)) },
		"GPP garbage": func() { _, _ = DecodeGPP(strings.Repeat("~", 4096)) },
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		decode()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
			t.Errorf("%s: allocated %d bytes; want at most 64 KiB for a 4 KiB string", name, got)
		}
	}
}
