package openrtb

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeBidResponse decodes a BidResponse, matching field names exactly as
// OpenRTB spells them: "seatBid" is not "seatbid" but an unknown field, skipped as
// the specification asks. A field given twice is an error: a document that
// different parsers read differently is not one to pay on.
//
// Decoding the upstream's answer with encoding/json's reflection was a tenth of
// ASAP's CPU per ad request in make bench, and encoding/json matches names
// case-insensitively. A hand-written decoder reads the common shape of a
// BidResponse (the fields of this package, unknown fields skipped); anything it
// is not sure to decode exactly (a null, a number out of range, an escaped key,
// malformed JSON) makes it give up, and decodeExact decodes the input instead:
// encoding/json for each value, keys compared exactly. FuzzDecodeBidResponse
// holds the two to the same answers, and both to json.Unmarshal's wherever case
// and repetition of names cannot tell them apart.
func DecodeBidResponse(data []byte, resp *BidResponse) error {
	var fast BidResponse
	if decodeFast(data, &fast) {
		*resp = fast
		return nil
	}
	return decodeExact(data, resp)
}

// errFallback makes the fast decoder give up; it never leaves this file.
var errFallback = errors.New("openrtb: not for the fast decoder")

// decodeFast reports whether it decoded data into resp.
func decodeFast(data []byte, resp *BidResponse) bool {
	d := decoder{data: data}
	var seen uint32
	if d.object(func(key []byte) error { return d.bidResponseField(key, resp, &seen) }) != nil {
		return false
	}
	d.space()
	return d.i == len(d.data)
}

// decoder reads JSON from data at i.
type decoder struct {
	data []byte
	i    int
}

func (d *decoder) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.space()
	if d.i < len(d.data) {
		return d.data[d.i]
	}
	return 0
}

func (d *decoder) expect(c byte) error {
	if d.peek() != c {
		return errFallback
	}
	d.i++
	return nil
}

// object reads an object, calling field for every key with d at its value; field
// must read the value.
func (d *decoder) object(field func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		key, err := d.rawKey()
		if err != nil {
			return err
		}
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return errFallback
		}
	}
}

// array reads an array, calling elem with d at each element.
func (d *decoder) array(elem func() error) error {
	if err := d.expect('['); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return errFallback
		}
	}
}

// rawKey reads a key without escapes (a key with escapes is left to decodeExact).
func (d *decoder) rawKey() ([]byte, error) {
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return d.data[start : d.i-1], nil
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, errFallback
		}
		d.i++
	}
	return nil, errFallback
}

var (
	responseFields = []string{"id", "seatbid", "bidid", "cur", "customdata", "nbr", "ext"}
	seatBidFields  = []string{"bid", "seat", "group", "ext"}
	bidFields      = []string{"id", "impid", "price", "nurl", "burl", "lurl", "adm", "adid", "adomain", "bundle",
		"iurl", "cid", "crid", "cat", "attr", "dealid", "w", "h", "exp", "mtype", "ext"}
)

// once reports whether key, when it is one of names, is seen for the first time
// in its object. A field given twice is left to decodeExact, which refuses it.
func once(key []byte, names []string, seen *uint32) bool {
	for i, n := range names {
		if string(key) == n {
			if *seen&(1<<i) != 0 {
				return false
			}
			*seen |= 1 << i
			return true
		}
	}
	return true // not a field: skipped, however often it comes
}

func (d *decoder) bidResponseField(key []byte, r *BidResponse, seen *uint32) (err error) {
	if !once(key, responseFields, seen) {
		return errFallback
	}
	switch string(key) {
	case "id":
		r.ID, err = d.str()
	case "seatbid":
		r.SeatBid = r.SeatBid[:0]
		err = d.array(func() error {
			var sb SeatBid
			var seen uint32
			if err := d.object(func(k []byte) error { return d.seatBidField(k, &sb, &seen) }); err != nil {
				return err
			}
			r.SeatBid = append(r.SeatBid, sb)
			return nil
		})
		if err == nil && r.SeatBid == nil {
			r.SeatBid = []SeatBid{}
		}
	case "bidid":
		r.BidID, err = d.str()
	case "cur":
		r.Cur, err = d.str()
	case "customdata":
		r.CustomData, err = d.str()
	case "nbr":
		var n int64
		if n, err = d.integer(strconv.IntSize); err == nil {
			v := int(n)
			r.NBR = &v
		}
	case "ext":
		r.Ext, err = d.raw()
	default:
		err = d.skip()
	}
	return err
}

func (d *decoder) seatBidField(key []byte, sb *SeatBid, seen *uint32) (err error) {
	if !once(key, seatBidFields, seen) {
		return errFallback
	}
	switch string(key) {
	case "bid":
		sb.Bid = sb.Bid[:0]
		err = d.array(func() error {
			var b Bid
			var seen uint32
			if err := d.object(func(k []byte) error { return d.bidField(k, &b, &seen) }); err != nil {
				return err
			}
			sb.Bid = append(sb.Bid, b)
			return nil
		})
		if err == nil && sb.Bid == nil {
			sb.Bid = []Bid{}
		}
	case "seat":
		sb.Seat, err = d.str()
	case "group":
		var n int64
		n, err = d.integer(8)
		sb.Group = int8(n)
	case "ext":
		sb.Ext, err = d.raw()
	default:
		err = d.skip()
	}
	return err
}

func (d *decoder) bidField(key []byte, b *Bid, seen *uint32) (err error) {
	if !once(key, bidFields, seen) {
		return errFallback
	}
	switch string(key) {
	case "id":
		b.ID, err = d.str()
	case "impid":
		b.ImpID, err = d.str()
	case "price":
		b.Price, err = d.float()
	case "nurl":
		b.NURL, err = d.str()
	case "burl":
		b.BURL, err = d.str()
	case "lurl":
		b.LURL, err = d.str()
	case "adm":
		b.AdM, err = d.str()
	case "adid":
		b.AdID, err = d.str()
	case "adomain":
		b.ADomain, err = d.strs()
	case "bundle":
		b.Bundle, err = d.str()
	case "iurl":
		b.IURL, err = d.str()
	case "cid":
		b.CID, err = d.str()
	case "crid":
		b.CrID, err = d.str()
	case "cat":
		b.Cat, err = d.strs()
	case "attr":
		b.Attr, err = d.ints()
	case "dealid":
		b.DealID, err = d.str()
	case "w":
		b.W, err = d.integer(64)
	case "h":
		b.H, err = d.integer(64)
	case "exp":
		b.Exp, err = d.integer(64)
	case "mtype":
		var n int64
		n, err = d.integer(8)
		b.MType = int8(n)
	case "ext":
		b.Ext, err = d.raw()
	default:
		err = d.skip()
	}
	return err
}

// str reads a string, decoding escapes as encoding/json does. Invalid UTF-8 and
// surrogate escapes are left to encoding/json.
func (d *decoder) str() (string, error) {
	if err := d.expect('"'); err != nil {
		return "", err
	}
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := string(d.data[start:d.i])
			d.i++
			return s, nil
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			return "", errFallback
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.data[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", errFallback
			}
			d.i += size
			continue
		}
		d.i++
	}
	return "", errFallback
}

// escapedStr finishes a string that has escapes; the plain part from start to d.i
// has been checked.
func (d *decoder) escapedStr(start int) (string, error) {
	b := make([]byte, 0, len(d.data)-start)
	b = append(b, d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b), nil
		case c == '\\':
			if d.i+1 >= len(d.data) {
				return "", errFallback
			}
			e := d.data[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				if d.i+4 > len(d.data) {
					return "", errFallback
				}
				r, err := strconv.ParseUint(string(d.data[d.i:d.i+4]), 16, 16)
				if err != nil || utf16.IsSurrogate(rune(r)) {
					return "", errFallback
				}
				b = utf8.AppendRune(b, rune(r))
				d.i += 4
			default:
				return "", errFallback
			}
			continue
		case c < 0x20:
			return "", errFallback
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d.data[d.i:])
			if r == utf8.RuneError && size == 1 {
				return "", errFallback
			}
			b = append(b, d.data[d.i:d.i+size]...)
			d.i += size
			continue
		}
		b = append(b, c)
		d.i++
	}
	return "", errFallback
}

func (d *decoder) strs() ([]string, error) {
	out := []string{}
	err := d.array(func() error {
		s, err := d.str()
		out = append(out, s)
		return err
	})
	return out, err
}

func (d *decoder) ints() ([]int, error) {
	out := []int{}
	err := d.array(func() error {
		n, err := d.integer(strconv.IntSize)
		out = append(out, int(n))
		return err
	})
	return out, err
}

// number returns the next JSON number literal (grammar checked).
func (d *decoder) number() ([]byte, error) {
	d.space()
	start := d.i
	if d.i < len(d.data) && d.data[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.data) && d.data[d.i] == '0':
		d.i++
	case d.i < len(d.data) && '1' <= d.data[d.i] && d.data[d.i] <= '9':
		d.digits()
	default:
		return nil, errFallback
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return nil, errFallback
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return nil, errFallback
		}
	}
	return d.data[start:d.i], nil
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.data) && '0' <= d.data[d.i] && d.data[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

func (d *decoder) float() (float64, error) {
	lit, err := d.number()
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return 0, errFallback
	}
	return f, nil
}

// integer reads an integer that fits bits; anything else (a fraction, an
// exponent, an overflow) is left to encoding/json and its errors.
func (d *decoder) integer(bits int) (int64, error) {
	lit, err := d.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(lit), 10, bits)
	if err != nil {
		return 0, errFallback
	}
	return n, nil
}

// raw reads any value and returns a copy of its bytes, as json.RawMessage keeps it.
func (d *decoder) raw() (json.RawMessage, error) {
	if d.peek() == 'n' { // null: encoding/json's handling of it is its own
		return nil, errFallback
	}
	start := d.i
	if err := d.skip(); err != nil {
		return nil, err
	}
	return append(json.RawMessage(nil), d.data[start:d.i]...), nil
}

// skip reads and checks any value. depth bounds nesting as encoding/json does.
func (d *decoder) skip() error { return d.skipDepth(0) }

func (d *decoder) skipDepth(depth int) error {
	if depth > 1000 {
		return errFallback
	}
	switch d.peek() {
	case '{':
		return d.object(func([]byte) error { return d.skipDepth(depth + 1) })
	case '[':
		return d.array(func() error { return d.skipDepth(depth + 1) })
	case '"':
		_, err := d.str()
		return err
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, err := d.number()
		return err
	}
}

func (d *decoder) literal(s string) error {
	if len(d.data)-d.i < len(s) || string(d.data[d.i:d.i+len(s)]) != s {
		return errFallback
	}
	d.i += len(s)
	return nil
}
