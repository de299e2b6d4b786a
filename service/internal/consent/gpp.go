package consent

import (
	"strings"
)

// GPP section ids ASAP reads (the IAB GPP section registry).
const (
	SectionTCFEUv2 = 2
	SectionUSPv1   = 6
	SectionUSNat   = 7
	SectionUSCA    = 8
	SectionUSVA    = 9
	SectionUSCO    = 10
	SectionUSUT    = 11
	SectionUSCT    = 12
)

// GPP is a decoded IAB GPP string: its header's section ids and the sections ASAP
// reads. Sections of other ids are kept undecoded.
type GPP struct {
	// SectionIDs are the header's section ids, in string order.
	SectionIDs []int
	// TCFEUv2 is the tcfeuv2 section (id 2), when present.
	TCFEUv2 *TCF
	// USPv1 is the uspv1 section (id 6), when present.
	USPv1 *USPrivacy
	// US are the usnat and state sections ASAP reads (ids 7 to 12), in string order.
	US []USSection
}

// USSection is a US national or state section: the fields ASAP acts on. Each
// field is 0 (not applicable), 1 (opted out, or yes) or 2 (did not opt out, or no).
// A state section without one of the fields (California has no targeted
// advertising opt-out, for example) holds 0 there.
type USSection struct {
	// ID is the GPP section id (7 usnat, 8 usca, 9 usva, 10 usco, 11 usut, 12 usct).
	ID                        int
	SaleOptOut                uint8
	SharingOptOut             uint8
	TargetedAdvertisingOptOut uint8
	// KnownChildSensitiveDataConsents has one entry per age band the section defines.
	KnownChildSensitiveDataConsents []uint8
	MspaCoveredTransaction          uint8
}

// Section returns the US section with id, if the string has one.
func (g *GPP) Section(id int) (USSection, bool) {
	for _, s := range g.US {
		if s.ID == id {
			return s, true
		}
	}
	return USSection{}, false
}

// maxSectionID bounds the ids a header may name: the registry's ids are far
// below it, and a Fibonacci range must not expand into millions of ids.
const maxSectionID = 1023

// DecodeGPP decodes a GPP string: the header (type 3, version 1, section ids as a
// Fibonacci range), then one '~'-separated section per id. A malformed header, a
// section count other than the header's, or a malformed section ASAP reads is an
// error wrapping ErrMalformed.
func DecodeGPP(s string) (GPP, error) {
	header, rest, _ := strings.Cut(s, "~")
	n := strings.Count(rest, "~") + 1
	if rest == "" {
		n = 0
	}
	ids, err := gppHeader(header, n)
	if err != nil {
		return GPP{}, err
	}
	if len(ids) != n {
		return GPP{}, malformed("GPP header names %d sections, the string has %d", len(ids), n)
	}
	g := GPP{SectionIDs: ids}
	for _, id := range ids {
		var sec string
		sec, rest, _ = strings.Cut(rest, "~")
		switch id {
		case SectionTCFEUv2:
			t, err := DecodeTCF(sec)
			if err != nil {
				return GPP{}, err
			}
			g.TCFEUv2 = &t
		case SectionUSPv1:
			u, err := DecodeUSPrivacy(sec)
			if err != nil {
				return GPP{}, err
			}
			g.USPv1 = &u
		default:
			layout, ok := usLayouts[id]
			if !ok {
				continue
			}
			us, err := decodeUS(id, layout, sec)
			if err != nil {
				return GPP{}, err
			}
			g.US = append(g.US, us)
		}
	}
	return g, nil
}

// gppHeader reads the header segment; it names at most max sections (the number
// the string carries), which bounds the work a hostile range can ask for.
func gppHeader(header string, max int) ([]int, error) {
	b, err := newBits(header)
	if err != nil {
		return nil, err
	}
	typ, version := b.int(6), b.int(6)
	if b.err == nil && (typ != 3 || version != 1) {
		return nil, malformed("GPP header type %d version %d, want type 3 version 1", typ, version)
	}
	n := b.int(12)
	if b.err != nil {
		return nil, b.err
	}
	if n > max {
		return nil, malformed("GPP header names %d entries, the string has %d sections", n, max)
	}
	ids := make([]int, 0, n)
	last := 0
	for range n {
		isRange := b.bool()
		first := last + fibonacci(&b)
		end := first
		if isRange {
			end = first + fibonacci(&b)
		}
		if b.err != nil {
			return nil, b.err
		}
		if end > maxSectionID || end-first >= max-len(ids) {
			return nil, malformed("GPP section ids %d-%d: more sections than the string has", first, end)
		}
		for id := first; id <= end; id++ {
			ids = append(ids, id)
		}
		last = end
	}
	return ids, nil
}

// fibonacci reads a Fibonacci-coded integer: Zeckendorf bits, lowest term first,
// ended by the second of two consecutive 1s.
func fibonacci(b *bits) int {
	v, prev := 0, false
	f1, f2 := 1, 2 // the term of the current bit and the next
	for i := 0; b.err == nil; i++ {
		bit := b.bool()
		if bit && prev {
			return v
		}
		if i > 40 { // terms beyond this exceed any section id by far
			b.err = malformed("Fibonacci integer too long at bit %d", b.pos())
			return 0
		}
		if bit {
			v += f1
		}
		prev = bit
		f1, f2 = f2, f1+f2
	}
	return 0
}

// usField is one field of a US section's core segment: count 2-bit values.
type usField struct {
	kind  usKind
	count int
}

type usKind uint8

const (
	usSkip usKind = iota
	usSale
	usSharing
	usTargeted
	usChild
	usMspa
)

// usLayouts are the core segments (after the 6-bit version) of the US sections
// ASAP reads, from the IAB GPP US specifications. usnat's layout is the current
// one; usnatV1 is its first, 12 sensitive-data and 2 child fields long.
var (
	usnatV1 = []usField{{usSkip, 6}, {usSale, 1}, {usSharing, 1}, {usTargeted, 1}, {usSkip, 12}, {usChild, 2}, {usSkip, 1}, {usMspa, 1}, {usSkip, 2}}
	usnatV2 = []usField{{usSkip, 6}, {usSale, 1}, {usSharing, 1}, {usTargeted, 1}, {usSkip, 16}, {usChild, 3}, {usSkip, 1}, {usMspa, 1}, {usSkip, 2}}

	usLayouts = map[int][]usField{
		SectionUSNat: usnatV2,
		SectionUSCA:  {{usSkip, 3}, {usSale, 1}, {usSharing, 1}, {usSkip, 9}, {usChild, 2}, {usSkip, 1}, {usMspa, 1}, {usSkip, 2}},
		SectionUSVA:  {{usSkip, 3}, {usSale, 1}, {usTargeted, 1}, {usSkip, 8}, {usChild, 1}, {usMspa, 1}, {usSkip, 2}},
		SectionUSCO:  {{usSkip, 3}, {usSale, 1}, {usTargeted, 1}, {usSkip, 7}, {usChild, 1}, {usMspa, 1}, {usSkip, 2}},
		SectionUSUT:  {{usSkip, 4}, {usSale, 1}, {usTargeted, 1}, {usSkip, 8}, {usChild, 1}, {usMspa, 1}, {usSkip, 2}},
		SectionUSCT:  {{usSkip, 3}, {usSale, 1}, {usTargeted, 1}, {usSkip, 8}, {usChild, 3}, {usMspa, 1}, {usSkip, 2}},
	}
)

// decodeUS decodes a US section's core segment; later segments (GPC) are skipped.
func decodeUS(id int, layout []usField, sec string) (USSection, error) {
	core, _, _ := strings.Cut(sec, ".")
	b, err := newBits(core)
	if err != nil {
		return USSection{}, err
	}
	// usnat strings made before the sensitive-data list grew are 11 characters
	// (66 bits); the IAB libraries read them with the first layout.
	if id == SectionUSNat && len(b.s) == 11 {
		layout = usnatV1
	}
	us := USSection{ID: id}
	// usnat is at version 2 (the longer lists); the state sections at 1.
	if v := b.int(6); b.err == nil && (v < 1 || v > 2 || v == 2 && id != SectionUSNat) {
		return USSection{}, malformed("GPP section %d version %d", id, v)
	}
	for _, f := range layout {
		for range f.count {
			v := uint8(b.read(2))
			switch f.kind {
			case usSale:
				us.SaleOptOut = v
			case usSharing:
				us.SharingOptOut = v
			case usTargeted:
				us.TargetedAdvertisingOptOut = v
			case usChild:
				us.KnownChildSensitiveDataConsents = append(us.KnownChildSensitiveDataConsents, v)
			case usMspa:
				us.MspaCoveredTransaction = v
			}
		}
	}
	if b.err != nil {
		return USSection{}, b.err
	}
	return us, nil
}
