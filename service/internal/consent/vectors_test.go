package consent

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// readLines decodes each line of a testdata JSONL file into a T.
func readLines[T any](t testing.TB, name string) []T {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d: %v", name, len(out)+1, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tcfVector is a line of tcf-v2.jsonl: a TC string and what the IAB library
// (@iabtechlabtcf/core) decoded from it.
type tcfVector struct {
	TCString                   string
	Version                    int
	PolicyVersion              int
	VendorListVersion          int
	CmpID                      int `json:"cmpId"`
	IsServiceSpecific          bool
	PublisherCountryCode       string
	PurposeConsents            []int
	PurposeLegitimateInterests []int
	SpecialFeatureOptins       []int
	VendorConsents             []int
	VendorLegitimateInterests  []int
	PublisherRestrictions      []restrictionVector
}

type restrictionVector struct {
	Purpose         int
	RestrictionType int
	Vendors         []int
}

func TestDecodeTCFMatchesIABLibrary(t *testing.T) {
	vectors := readLines[tcfVector](t, "tcf-v2.jsonl")
	// The restrictions the IAB library decodes (see testdata/SOURCE.txt).
	decoded := readLines[[]restrictionVector](t, "tcf-v2-restrictions.jsonl")
	if len(vectors) != 300 || len(decoded) != len(vectors) {
		t.Fatalf("got %d vectors and %d decoded restrictions; want 300 of each", len(vectors), len(decoded))
	}
	var ranged, fields, restricted int
	for i, v := range vectors {
		got, err := DecodeTCF(v.TCString)
		if err != nil {
			t.Errorf("vector %d: %v", i+1, err)
			continue
		}
		v.PublisherRestrictions = decoded[i]
		checkTCF(t, i+1, got, v)
		if got.VendorConsents.field == "" {
			ranged++
		} else {
			fields++
		}
		if len(got.Restrictions) > 0 {
			restricted++
		}
	}
	// The vectors must exercise both encodings and the restrictions section.
	if ranged == 0 || fields == 0 || restricted == 0 {
		t.Errorf("range-encoded %d, bit fields %d, with restrictions %d: want each > 0", ranged, fields, restricted)
	}
}

func checkTCF(t *testing.T, n int, got TCF, want tcfVector) {
	t.Helper()
	eq := func(field string, got, want any) {
		t.Helper()
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("vector %d %s: got %s; want %s", n, field, gj, wj)
		}
	}
	eq("version", got.Version, want.Version)
	eq("policyVersion", got.PolicyVersion, want.PolicyVersion)
	eq("vendorListVersion", got.VendorListVersion, want.VendorListVersion)
	eq("cmpId", got.CMPID, want.CmpID)
	eq("isServiceSpecific", got.IsServiceSpecific, want.IsServiceSpecific)
	eq("publisherCountryCode", got.PublisherCC, want.PublisherCountryCode)
	eq("purposeConsents", flags(24, got.PurposeConsent), orEmpty(want.PurposeConsents))
	eq("purposeLegitimateInterests", flags(24, got.PurposeLI), orEmpty(want.PurposeLegitimateInterests))
	eq("specialFeatureOptins", flags(12, got.SpecialFeatureOptIn), orEmpty(want.SpecialFeatureOptins))
	eq("vendorConsents", orEmpty(got.VendorConsents.IDs()), orEmpty(want.VendorConsents))
	eq("vendorLegitimateInterests", orEmpty(got.VendorLI.IDs()), orEmpty(want.VendorLegitimateInterests))
	for _, id := range want.VendorConsents {
		if !got.VendorConsents.Has(id) {
			t.Errorf("vector %d: VendorConsents.Has(%d) = false; want true", n, id)
		}
	}
	type restriction struct {
		Purpose, Type int
		Vendors       []int
	}
	var gotR, wantR []restriction
	for _, r := range got.Restrictions {
		gotR = append(gotR, restriction{r.Purpose, int(r.Type), r.Vendors.IDs()})
		for _, id := range r.Vendors.IDs() {
			if typ, ok := got.Restriction(r.Purpose, id); !ok || typ != r.Type {
				t.Errorf("vector %d: Restriction(%d, %d) = %d, %v; want %d, true", n, r.Purpose, id, typ, ok, r.Type)
			}
		}
	}
	for _, r := range want.PublisherRestrictions {
		wantR = append(wantR, restriction{r.Purpose, r.RestrictionType, r.Vendors})
	}
	eq("publisherRestrictions", gotR, wantR)
}

// flags lists the ids 1..n for which has holds.
func flags(n int, has func(int) bool) []int {
	out := []int{}
	for i := 1; i <= n; i++ {
		if has(i) {
			out = append(out, i)
		}
	}
	return out
}

func orEmpty(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

// gppVector is a line of gpp.jsonl: a GPP string and what the IAB library
// (@iabgpp/cmpapi) decoded from it.
type gppVector struct {
	GPPString  string `json:"gppString"`
	SectionIDs []int  `json:"sectionIds"`
	Sections   struct {
		USPv1 *struct{ Notice, OptOutSale, LspaCovered string } `json:"uspv1"`
		USNat *struct {
			SaleOptOut, SharingOptOut, TargetedAdvertisingOptOut uint8
			KnownChildSensitiveDataConsents                      []uint8
			MspaCoveredTransaction                               uint8
		} `json:"usnat"`
		USCA *struct {
			SaleOptOut, SharingOptOut, MspaCoveredTransaction uint8
		} `json:"usca"`
		TCFEUv2 *struct {
			PurposeConsents, PurposeLegitimateInterests, SpecialFeatureOptins []bool
			VendorConsents, VendorLegitimateInterests                         []int
			PolicyVersion                                                     int
		} `json:"tcfeuv2"`
	}
}

func TestDecodeGPPMatchesIABLibrary(t *testing.T) {
	vectors := readLines[gppVector](t, "gpp.jsonl")
	if len(vectors) != 200 {
		t.Fatalf("got %d vectors; want 200", len(vectors))
	}
	seen := map[int]int{}
	for i, v := range vectors {
		n := i + 1
		got, err := DecodeGPP(v.GPPString)
		if err != nil {
			t.Errorf("vector %d %q: %v", n, v.GPPString, err)
			continue
		}
		if !slices.Equal(got.SectionIDs, v.SectionIDs) {
			t.Errorf("vector %d: section ids %v; want %v", n, got.SectionIDs, v.SectionIDs)
		}
		for _, id := range got.SectionIDs {
			seen[id]++
		}
		s := v.Sections
		if (got.USPv1 != nil) != (s.USPv1 != nil) {
			t.Errorf("vector %d: uspv1 present %v; want %v", n, got.USPv1 != nil, s.USPv1 != nil)
		} else if s.USPv1 != nil {
			g := got.USPv1
			if gs, ws := string([]byte{g.Notice, g.OptOutSale, g.LSPACovered}), s.USPv1.Notice+s.USPv1.OptOutSale+s.USPv1.LspaCovered; gs != ws {
				t.Errorf("vector %d: uspv1 %s; want %s", n, gs, ws)
			}
		}
		nat, ok := got.Section(SectionUSNat)
		if ok != (s.USNat != nil) {
			t.Errorf("vector %d: usnat present %v; want %v", n, ok, s.USNat != nil)
		} else if ok {
			w := s.USNat
			if nat.SaleOptOut != w.SaleOptOut || nat.SharingOptOut != w.SharingOptOut || nat.TargetedAdvertisingOptOut != w.TargetedAdvertisingOptOut ||
				!slices.Equal(nat.KnownChildSensitiveDataConsents, w.KnownChildSensitiveDataConsents) || nat.MspaCoveredTransaction != w.MspaCoveredTransaction {
				t.Errorf("vector %d: usnat %+v; want %+v", n, nat, *w)
			}
		}
		ca, ok := got.Section(SectionUSCA)
		if ok != (s.USCA != nil) {
			t.Errorf("vector %d: usca present %v; want %v", n, ok, s.USCA != nil)
		} else if ok {
			w := s.USCA
			if ca.SaleOptOut != w.SaleOptOut || ca.SharingOptOut != w.SharingOptOut || ca.MspaCoveredTransaction != w.MspaCoveredTransaction {
				t.Errorf("vector %d: usca %+v; want %+v", n, ca, *w)
			}
		}
		if (got.TCFEUv2 != nil) != (s.TCFEUv2 != nil) {
			t.Errorf("vector %d: tcfeuv2 present %v; want %v", n, got.TCFEUv2 != nil, s.TCFEUv2 != nil)
		} else if s.TCFEUv2 != nil {
			g, w := got.TCFEUv2, s.TCFEUv2
			want := tcfVector{Version: 2, PolicyVersion: w.PolicyVersion, VendorListVersion: g.VendorListVersion, CmpID: g.CMPID,
				IsServiceSpecific: true, PublisherCountryCode: g.PublisherCC,
				PurposeConsents: positions(w.PurposeConsents), PurposeLegitimateInterests: positions(w.PurposeLegitimateInterests),
				SpecialFeatureOptins: positions(w.SpecialFeatureOptins), VendorConsents: w.VendorConsents, VendorLegitimateInterests: w.VendorLegitimateInterests}
			checkTCF(t, n, *g, want)
		}
	}
	for _, id := range []int{SectionTCFEUv2, SectionUSPv1, SectionUSNat, SectionUSCA} {
		if seen[id] == 0 {
			t.Errorf("no vector has section %d", id)
		}
	}
}

// positions lists the 1-based positions of the true flags.
func positions(flags []bool) []int {
	out := []int{}
	for i, f := range flags {
		if f {
			out = append(out, i+1)
		}
	}
	return out
}
