// Package consenttest encodes consent strings for tests: TCF v2 TC strings with
// chosen consents, legitimate interests, restrictions and encodings, US Privacy
// strings, and GPP strings of chosen sections. Its output decodes with package
// consent (its tests check that against the IAB vectors); it is not an IAB
// encoder and never runs outside tests.
package consenttest

import (
	"slices"
	"strings"
)

// TCF describes a TC string to encode. Ids are 1-based; zero values encode
// nothing (no consent, no legitimate interest, no opt-in).
type TCF struct {
	// Version is the string's version; 0 means 2.
	Version int
	// PolicyVersion is the TCF policy version; 0 means 4.
	PolicyVersion int
	// CMPID is the CMP's id; 0 means 7.
	CMPID           int
	PurposeConsents []int
	PurposeLI       []int
	SpecialFeatures []int
	VendorConsents  []int
	VendorLI        []int
	// Ranges encodes both vendor sections as range lists instead of bit fields.
	Ranges       bool
	Restrictions []Restriction
}

// Large is a TC string as large CMPs send: 1,000 vendors with consent out of ids
// up to 3,000 (755 among them), range-encoded, vendors with legitimate interest,
// every purpose ASAP checks, special feature 1, and a publisher restriction
// (require consent for purpose 2) naming 755. Encoded, it is 2,628 bytes.
func Large() TCF {
	var consents, lis []int
	for id := 1; id <= 3000 && len(consents) < 1000; id++ {
		if id%3 != 0 || id%7 == 0 {
			consents = append(consents, id)
		}
		if id%11 == 0 {
			lis = append(lis, id)
		}
	}
	return TCF{PurposeConsents: []int{1, 2, 3, 4, 7, 9, 10}, PurposeLI: []int{2, 7, 8, 9, 10},
		SpecialFeatures: []int{1}, VendorConsents: consents, VendorLI: lis, Ranges: true,
		Restrictions: []Restriction{{Purpose: 2, Type: 1, Vendors: []int{10, 20, 30, 755}}}}
}

// Typical is a TC string as a CMP sends one: 1,000 vendors with consent spread
// over ids up to 3,000 (755 among them), vendors with legitimate interest, and
// Large's purposes, special feature and restriction, written as the IAB's
// reference encoder (@iabtechlabtcf/core, VendorVectorEncoder) writes each vendor
// section: in the shorter of its two encodings, here bit fields (ranges of these
// ids would take several times the bits). Encoded, it is 1,057 bytes, about the
// longest of the strings the IAB's library made (service/internal/consent/testdata,
// up to 1,090). Large's vendors, so written, would take 524.
func Typical() TCF {
	var consents, lis []int
	for id := 1; id <= 3000; id++ {
		if id%3 == 2 {
			consents = append(consents, id)
		}
		if id%11 == 0 {
			lis = append(lis, id)
		}
	}
	t := Large()
	t.VendorConsents, t.VendorLI, t.Ranges = consents, lis, false
	return t
}

// Restriction is a publisher restriction: for Purpose, Type (0 not allowed, 1
// require consent, 2 require legitimate interest) applies to Vendors.
type Restriction struct {
	Purpose, Type int
	Vendors       []int
}

// Encode returns the TC string: the core segment only.
func (t TCF) Encode() string {
	var w Writer
	w.Int(cmpOr(t.Version, 2), 6)
	w.Int(17000000000, 36) // created, deciseconds: 2023-11-14
	w.Int(17000000000, 36) // last updated
	w.Int(cmpOr(t.CMPID, 7), 12)
	w.Int(1, 12) // CMP version
	w.Int(1, 6)  // consent screen
	w.Int(4, 6)  // consent language "EN"
	w.Int(13, 6)
	w.Int(150, 12) // vendor list version
	w.Int(cmpOr(t.PolicyVersion, 4), 6)
	w.Bool(true)  // IsServiceSpecific
	w.Bool(false) // UseNonStandardTexts
	w.Flags(t.SpecialFeatures, 12)
	w.Flags(t.PurposeConsents, 24)
	w.Flags(t.PurposeLI, 24)
	w.Bool(false) // PurposeOneTreatment
	w.Int(3, 6)   // publisher country "DE"
	w.Int(4, 6)
	for _, ids := range [][]int{t.VendorConsents, t.VendorLI} {
		maxID := 0
		if len(ids) > 0 {
			maxID = slices.Max(ids)
		}
		w.Int(maxID, 16)
		w.Bool(t.Ranges)
		if t.Ranges {
			w.Ranges(ids)
		} else {
			for id := 1; id <= maxID; id++ {
				w.Bool(slices.Contains(ids, id))
			}
		}
	}
	w.Int(len(t.Restrictions), 12)
	for _, r := range t.Restrictions {
		w.Int(r.Purpose, 6)
		w.Int(r.Type, 2)
		w.Ranges(r.Vendors)
	}
	return w.String()
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Writer builds a base64url segment bit by bit.
type Writer struct{ bits []bool }

// Int appends v as n bits, most significant first.
func (w *Writer) Int(v, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, v>>i&1 == 1)
	}
}

// Bool appends one bit.
func (w *Writer) Bool(b bool) { w.bits = append(w.bits, b) }

// Flags appends n bits, bit i set when i+1 is in ids.
func (w *Writer) Flags(ids []int, n int) {
	for i := 1; i <= n; i++ {
		w.Bool(slices.Contains(ids, i))
	}
}

// Ranges appends NumEntries and the ids as runs of consecutive ids.
func (w *Writer) Ranges(ids []int) {
	ids = slices.Sorted(slices.Values(ids))
	ids = slices.Compact(ids)
	type run struct{ first, last int }
	var runs []run
	for _, id := range ids {
		if k := len(runs) - 1; k >= 0 && runs[k].last+1 == id {
			runs[k].last = id
			continue
		}
		runs = append(runs, run{id, id})
	}
	w.Int(len(runs), 12)
	for _, r := range runs {
		w.Bool(r.first != r.last)
		w.Int(r.first, 16)
		if r.first != r.last {
			w.Int(r.last, 16)
		}
	}
}

// Fibonacci appends v (≥ 1) Fibonacci-coded, lowest term first, ended by an extra 1.
func (w *Writer) Fibonacci(v int) {
	fib := []int{1, 2}
	for fib[len(fib)-1] <= v {
		fib = append(fib, fib[len(fib)-1]+fib[len(fib)-2])
	}
	code := make([]bool, len(fib))
	last := 0
	for i := len(fib) - 1; i >= 0; i-- {
		if fib[i] <= v {
			v -= fib[i]
			code[i] = true
			last = max(last, i)
		}
	}
	w.bits = append(w.bits, code[:last+1]...)
	w.Bool(true)
}

// String returns the bits as base64url without padding, the last character
// padded with zero bits.
func (w *Writer) String() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b strings.Builder
	for i := 0; i < len(w.bits); i += 6 {
		v := 0
		for j := range 6 {
			v <<= 1
			if i+j < len(w.bits) && w.bits[i+j] {
				v |= 1
			}
		}
		b.WriteByte(alphabet[v])
	}
	return b.String()
}

// Section is one GPP section: its id and its encoded string.
type Section struct {
	ID    int
	Value string
}

// GPP returns a GPP string of the sections, which must be in increasing id order.
func GPP(sections ...Section) string {
	var w Writer
	w.Int(3, 6)
	w.Int(1, 6)
	w.Int(len(sections), 12)
	last := 0
	parts := []string{""}
	for _, s := range sections {
		w.Bool(false)
		w.Fibonacci(s.ID - last)
		last = s.ID
		parts = append(parts, s.Value)
	}
	parts[0] = w.String()
	return strings.Join(parts, "~")
}

// USNat describes a usnat section (version 2): each field 0 not applicable, 1
// opted out (yes), 2 did not opt out (no).
type USNat struct {
	SaleOptOut, SharingOptOut, TargetedAdvertisingOptOut uint8
	KnownChildSensitiveDataConsents                      [3]uint8
}

// Encode returns the section's core segment.
func (u USNat) Encode() string {
	return usCore(2, 6, []uint8{u.SaleOptOut, u.SharingOptOut, u.TargetedAdvertisingOptOut}, 16, u.KnownChildSensitiveDataConsents[:])
}

// usCore writes a US section's core segment: version, notices (each 1: given),
// the opt-outs, sensitive (not applicable) sensitive-data fields, the child
// consents, no personal-data consent, not an MSPA covered transaction, no modes.
func usCore(version, notices int, optOuts []uint8, sensitive int, child []uint8) string {
	var w Writer
	w.Int(version, 6)
	for range notices {
		w.Int(1, 2)
	}
	for _, v := range optOuts {
		w.Int(int(v), 2)
	}
	w.Int(0, 2*sensitive)
	for _, c := range child {
		w.Int(int(c), 2)
	}
	w.Int(0, 2) // personal data consents
	w.Int(2, 2) // MSPA covered transaction: no
	w.Int(0, 4) // MSPA modes
	return w.String()
}

// USCA describes a usca section (version 1).
type USCA struct {
	SaleOptOut, SharingOptOut       uint8
	KnownChildSensitiveDataConsents [2]uint8
}

// Encode returns the section's core segment.
func (u USCA) Encode() string {
	return usCore(1, 3, []uint8{u.SaleOptOut, u.SharingOptOut}, 9, u.KnownChildSensitiveDataConsents[:])
}
