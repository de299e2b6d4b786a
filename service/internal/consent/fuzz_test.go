package consent

import (
	"testing"
)

func FuzzDecodeTCF(f *testing.F) {
	for i, v := range readLines[tcfVector](f, "tcf-v2.jsonl") {
		if i%10 == 0 {
			f.Add(v.TCString)
		}
	}
	f.Add("CQ")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeTCF(s)
		if err != nil {
			return
		}
		bits := len(s) * 6
		// Every range costs at least 17 bits of the string: the decoder cannot
		// hold more than the string carries.
		n := len(got.VendorConsents.ranges) + len(got.VendorLI.ranges)
		for _, r := range got.Restrictions {
			n += len(r.Vendors.ranges)
		}
		if n*17 > bits {
			t.Fatalf("%d ranges from %d bits", n, bits)
		}
		for _, id := range []int{-1, 0, 1, 2, 755, 65535, 70000} {
			got.VendorConsents.Has(id)
			got.VendorLI.Has(id)
			got.Restriction(2, id)
		}
		if got.Version != 2 {
			t.Fatalf("accepted version %d", got.Version)
		}
	})
}

func FuzzDecodeGPP(f *testing.F) {
	for i, v := range readLines[gppVector](f, "gpp.jsonl") {
		if i%5 == 0 {
			f.Add(v.GPPString)
		}
	}
	f.Add("DBABTA~1YNN")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeGPP(s)
		if err != nil {
			return
		}
		if len(got.SectionIDs) > len(s)/2+1 {
			t.Fatalf("%d section ids from a %d-byte string", len(got.SectionIDs), len(s))
		}
		for _, id := range got.SectionIDs {
			if id < 1 || id > maxSectionID {
				t.Fatalf("section id %d", id)
			}
		}
	})
}

func FuzzDecodeUSPrivacy(f *testing.F) {
	f.Add("1YNN")
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := DecodeUSPrivacy(s); err == nil && u.OptedOutOfSale() != (s[2] == 'Y' || s[2] == 'y') {
			t.Fatalf("%q: opted out %v", s, u.OptedOutOfSale())
		}
	})
}
