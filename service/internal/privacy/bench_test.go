package privacy

import (
	"testing"

	"asap/service/internal/consent/consenttest"
)

// realisticTC is a TC string as large CMPs send: 1,000 vendors with consent out of
// ids up to 3,000, range-encoded, legitimate interests, and a publisher restriction.
func realisticTC() string {
	var consents, lis []int
	for id := 1; id <= 3000 && len(consents) < 1000; id++ {
		if id%3 != 0 || id%7 == 0 {
			consents = append(consents, id)
		}
		if id%11 == 0 {
			lis = append(lis, id)
		}
	}
	return consenttest.TCF{PurposeConsents: []int{1, 2, 3, 4, 7, 9, 10}, PurposeLI: []int{2, 7, 8, 9, 10},
		SpecialFeatures: []int{1}, VendorConsents: consents, VendorLI: lis, Ranges: true,
		Restrictions: []consenttest.Restriction{{Purpose: 2, Type: 1, Vendors: []int{10, 20, 30, 755}}}}.Encode()
}

// BenchmarkDecide is the per-request cost of the decision for three upstreams
// (two vendor ids and one without) with a 1,000-vendor range-encoded TC string:
// with the cache of decoded strings, and decoding every time.
func BenchmarkDecide(b *testing.B) {
	s := signals(realisticTC())
	for _, c := range []struct {
		name  string
		bytes int
	}{{"cached", 4 << 20}, {"uncached", 0}} {
		b.Run(c.name, func(b *testing.B) {
			d := NewDecider(false, c.bytes)
			b.ReportAllocs()
			b.SetBytes(int64(len(s.GDPRConsent)))
			for b.Loop() {
				e := d.Evaluate(&s)
				for _, v := range []int{755, 32, 0} {
					_ = e.For(v)
				}
			}
		})
	}
}

func TestRealisticTCIsRangeEncodedWith1000Vendors(t *testing.T) {
	s := signals(realisticTC())
	e := NewDecider(false, 0).Evaluate(&s)
	if e.tcf == nil || e.tcf.VendorConsents.Ranges() == 0 || len(e.tcf.VendorConsents.IDs()) != 1000 {
		t.Fatalf("want a range-encoded string with 1,000 vendors")
	}
	if got := e.For(755); got.Blocked || got.RemoveIDs {
		t.Errorf("vendor 755: %+v (%s); want called with ids", got, got.Why)
	}
}
