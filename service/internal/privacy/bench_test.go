package privacy

import (
	"testing"

	"asap/service/internal/consent/consenttest"
)

// realisticTC is consenttest.Large: 1,000 vendors, range-encoded.
func realisticTC() string { return consenttest.Large().Encode() }

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
