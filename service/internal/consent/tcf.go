package consent

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// TCF is the core segment of a decoded IAB TCF v2 TC string. Later segments
// (disclosed vendors, publisher TC) are skipped.
type TCF struct {
	// Version is the string's version: DecodeTCF accepts only 2.
	Version int
	// Created and LastUpdated are when the CMP made and last changed the string
	// (decisecond precision).
	Created, LastUpdated time.Time
	// CMPID and CMPVersion name the consent management platform.
	CMPID, CMPVersion int
	// ConsentScreen is the CMP's screen number the user gave consent on.
	ConsentScreen int
	// ConsentLanguage is the two-letter language of the consent dialog.
	ConsentLanguage string
	// VendorListVersion is the Global Vendor List version the string refers to.
	VendorListVersion int
	// PolicyVersion is the TCF policy version: 4 and later (TCF 2.2) allow no
	// legitimate interest for purposes 3 to 6.
	PolicyVersion int
	// IsServiceSpecific and UseNonStandardTexts are the flags of those names.
	IsServiceSpecific, UseNonStandardTexts bool
	// PurposeOneTreatment is set when purpose 1 was not disclosed.
	PurposeOneTreatment bool
	// PublisherCC is the publisher's two-letter country code.
	PublisherCC string

	specialFeatures uint16 // bit f-1: special feature f opted in
	purposeConsent  uint32 // bit p-1: purpose p consented
	purposeLI       uint32 // bit p-1: legitimate interest established for purpose p

	// VendorConsents and VendorLI are the vendors with consent and with
	// legitimate interest established.
	VendorConsents, VendorLI VendorSet
	// Restrictions are the publisher restrictions, in string order.
	Restrictions []Restriction
}

// RestrictionType is what a publisher restriction requires of a vendor for a purpose.
type RestrictionType uint8

// The restriction types of the TCF v2 specification.
const (
	NotAllowed     RestrictionType = 0 // the vendor may not process for the purpose
	RequireConsent RestrictionType = 1 // only consent is a legal basis
	RequireLI      RestrictionType = 2 // only legitimate interest is a legal basis
)

// Restriction is one publisher restriction: for Purpose, Type applies to Vendors.
type Restriction struct {
	Purpose int
	Type    RestrictionType
	Vendors VendorSet
}

// PurposeConsent reports whether the user consented to purpose p (1–24).
func (t *TCF) PurposeConsent(p int) bool { return p >= 1 && p <= 24 && t.purposeConsent>>(p-1)&1 == 1 }

// PurposeLI reports whether legitimate interest was established for purpose p (1–24).
func (t *TCF) PurposeLI(p int) bool { return p >= 1 && p <= 24 && t.purposeLI>>(p-1)&1 == 1 }

// SpecialFeatureOptIn reports whether the user opted in to special feature f (1–12).
func (t *TCF) SpecialFeatureOptIn(f int) bool {
	return f >= 1 && f <= 12 && t.specialFeatures>>(f-1)&1 == 1
}

// Restriction returns the publisher restriction on vendor for purpose, and
// whether there is one. When hostile strings carry several, NotAllowed wins.
func (t *TCF) Restriction(purpose, vendor int) (RestrictionType, bool) {
	var (
		got   RestrictionType
		found bool
	)
	for i := range t.Restrictions {
		r := &t.Restrictions[i]
		if r.Purpose != purpose || !r.Vendors.Has(vendor) {
			continue
		}
		if !found || r.Type == NotAllowed {
			got, found = r.Type, true
		}
	}
	return got, found
}

// VendorSet is a set of vendor ids as a TC string encodes it: a bit field read in
// place from the string, or a sorted list of ranges.
type VendorSet struct {
	max    int
	field  string // the bit field's segment; "" for ranges
	at     int    // the bit of vendor 1 in field
	ranges []idRange
}

type idRange struct{ first, last int }

// Has reports whether id is in the set.
func (v VendorSet) Has(id int) bool {
	if id < 1 {
		return false
	}
	if v.field != "" {
		return id <= v.max && bitAt(v.field, v.at+id-1)
	}
	i, _ := slices.BinarySearchFunc(v.ranges, id, func(r idRange, id int) int { return cmp.Compare(r.last, id) })
	return i < len(v.ranges) && v.ranges[i].first <= id
}

// MaxID is the set's MaxVendorId field (0 for a restriction's set).
func (v VendorSet) MaxID() int { return v.max }

// IDs returns the set's ids in increasing order.
func (v VendorSet) IDs() []int {
	var ids []int
	if v.field != "" {
		for id := 1; id <= v.max; id++ {
			if bitAt(v.field, v.at+id-1) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for _, r := range v.ranges {
		for id := r.first; id <= r.last; id++ {
			ids = append(ids, id)
		}
	}
	return ids
}

// Bit widths of the core segment's fixed fields, from the TCF v2 specification.
const (
	tcfHeaderBits = 6 + 36 + 36 + 12 + 12 + 6 + 12 + 12 + 6 + 1 + 1 + 12 + 24 + 24 + 1 + 12
	rangeEntryMin = 1 + 16 // IsARange + one vendor id
)

// DecodeTCF decodes the core segment of a TCF v2 TC string. An empty string, a
// malformed one, or one of another version is an error wrapping ErrMalformed.
func DecodeTCF(s string) (TCF, error) {
	core, _, _ := strings.Cut(s, ".")
	b, err := newBits(core)
	if err != nil {
		return TCF{}, err
	}
	var t TCF
	t.Version = b.int(6)
	if b.err == nil && t.Version != 2 {
		return TCF{}, malformed("TC string version %d, want 2", t.Version)
	}
	t.Created = deciseconds(b.read(36))
	t.LastUpdated = deciseconds(b.read(36))
	t.CMPID = b.int(12)
	t.CMPVersion = b.int(12)
	t.ConsentScreen = b.int(6)
	t.ConsentLanguage = letters(&b)
	t.VendorListVersion = b.int(12)
	t.PolicyVersion = b.int(6)
	t.IsServiceSpecific = b.bool()
	t.UseNonStandardTexts = b.bool()
	t.specialFeatures = uint16(reverse(b.read(12), 12))
	t.purposeConsent = uint32(reverse(b.read(24), 24))
	t.purposeLI = uint32(reverse(b.read(24), 24))
	t.PurposeOneTreatment = b.bool()
	t.PublisherCC = letters(&b)
	if b.err != nil {
		return TCF{}, b.err
	}
	if t.VendorConsents, err = vendorSection(&b); err != nil {
		return TCF{}, err
	}
	if t.VendorLI, err = vendorSection(&b); err != nil {
		return TCF{}, err
	}
	if t.Restrictions, err = restrictions(&b); err != nil {
		return TCF{}, err
	}
	return t, nil
}

func deciseconds(ds uint64) time.Time { return time.UnixMilli(int64(ds) * 100).UTC() }

// letters reads two 6-bit letters (0 is 'A').
func letters(b *bits) string {
	c1, c2 := b.read(6), b.read(6)
	if c1 > 25 || c2 > 25 {
		if b.err == nil {
			b.err = malformed("letter code out of range at bit %d", b.pos()-12)
		}
		return ""
	}
	return string([]byte{byte('A' + c1), byte('A' + c2)})
}

// reverse turns an n-bit field whose first bit is item 1 into a mask whose bit 0 is item 1.
func reverse(v uint64, n int) uint64 {
	var out uint64
	for i := range n {
		out |= (v >> (n - 1 - i) & 1) << i
	}
	return out
}

// vendorSection reads MaxVendorId, IsRangeEncoding and a bit field or a range list.
func vendorSection(b *bits) (VendorSet, error) {
	max := b.int(16)
	isRange := b.bool()
	if b.err != nil {
		return VendorSet{}, b.err
	}
	if !isRange {
		if max > b.left() {
			return VendorSet{}, malformed("vendor bit field of %d bits, %d left", max, b.left())
		}
		v := VendorSet{max: max, field: b.s, at: b.pos()}
		b.skip(max)
		return v, nil
	}
	ranges, err := rangeList(b)
	return VendorSet{max: max, ranges: ranges}, err
}

// rangeList reads NumEntries and that many single ids or ranges, and returns them
// sorted and merged.
func rangeList(b *bits) ([]idRange, error) {
	n := b.int(12)
	if b.err != nil {
		return nil, b.err
	}
	if n*rangeEntryMin > b.left() {
		return nil, malformed("%d range entries cannot fit in %d bits", n, b.left())
	}
	ranges := make([]idRange, 0, n)
	for range n {
		isRange := b.bool()
		r := idRange{first: b.int(16)}
		r.last = r.first
		if isRange {
			r.last = b.int(16)
		}
		if b.err != nil {
			return nil, b.err
		}
		if r.first < 1 || r.last < r.first {
			return nil, malformed("vendor range %d-%d", r.first, r.last)
		}
		ranges = append(ranges, r)
	}
	slices.SortFunc(ranges, func(a, c idRange) int { return cmp.Compare(a.first, c.first) })
	merged := ranges[:0]
	for _, r := range ranges {
		if k := len(merged) - 1; k >= 0 && r.first <= merged[k].last+1 {
			merged[k].last = max(merged[k].last, r.last)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// restrictions reads the publisher-restrictions section. A string that ends
// before it (older CMPs) has none.
func restrictions(b *bits) ([]Restriction, error) {
	if b.left() < 12 {
		return nil, nil
	}
	n := b.int(12)
	if n == 0 {
		return nil, nil
	}
	const minEntry = 6 + 2 + 12
	if n*minEntry > b.left() {
		return nil, malformed("%d publisher restrictions cannot fit in %d bits", n, b.left())
	}
	out := make([]Restriction, 0, n)
	for range n {
		r := Restriction{Purpose: b.int(6), Type: RestrictionType(b.read(2))}
		ranges, err := rangeList(b)
		if err != nil {
			return nil, err
		}
		r.Vendors = VendorSet{ranges: ranges}
		out = append(out, r)
	}
	return out, nil
}

// Ranges is the number of ranges the set holds (0 for a bit field), a measure
// of its memory.
func (v VendorSet) Ranges() int { return len(v.ranges) }
