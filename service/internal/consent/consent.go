// Package consent decodes the consent strings an SDK passes on a user's behalf:
// IAB TCF v2 TC strings (DecodeTCF), IAB GPP strings (DecodeGPP) and the IAB US
// Privacy string (DecodeUSPrivacy). Decoding needs no network call and no vendor
// list; it reads only what the string carries.
//
// The decoders take outside input: every one is bounded by the length of its
// string (a range list or a restriction list is checked against the bits left
// before anything is allocated), reads the base64url characters in place, and
// answers a malformed string with an error wrapping ErrMalformed, never a panic.
package consent

import (
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every decoding error: the string is not one the
// decoder can read (bad characters, truncated, a field out of range).
var ErrMalformed = errors.New("malformed consent string")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// sextet maps a base64 character to its 6-bit value, or -1. Both the URL-safe
// alphabet the specifications use and the standard one some CMPs emit are read.
var sextet = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	t['-'], t['+'] = 62, 62
	t['_'], t['/'] = 63, 63
	return t
}()

// bits reads big-endian bit fields from base64 characters in place, a few
// characters at a time through a 64-bit buffer.
type bits struct {
	s   string // the segment's characters, 6 bits each
	i   int    // the next character to load
	acc uint64 // loaded bits; the low n are unread
	n   int
	err error // the first read past the end
}

// newBits checks that s is a base64 segment (trailing '=' padding allowed) and
// returns a reader at its first bit.
func newBits(s string) (bits, error) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if s == "" {
		return bits{}, malformed("empty segment")
	}
	for i := 0; i < len(s); i++ {
		if sextet[s[i]] < 0 {
			return bits{}, malformed("character %q at %d is not base64url", s[i], i)
		}
	}
	return bits{s: s}, nil
}

// pos is the next bit to read.
func (b *bits) pos() int { return b.i*6 - b.n }

// left is the number of bits not yet read.
func (b *bits) left() int { return len(b.s)*6 - b.pos() }

// read returns the next n (at most 48) bits as an unsigned integer. Past the end
// it returns 0 and records the error, so a decoder checks b.err once per section.
func (b *bits) read(n int) uint64 {
	if b.err != nil {
		return 0
	}
	if n > b.left() {
		b.err = malformed("truncated: %d bits wanted at bit %d, %d left", n, b.pos(), b.left())
		b.i, b.n = len(b.s), 0
		return 0
	}
	for b.n < n {
		b.acc = b.acc<<6 | uint64(sextet[b.s[b.i]])
		b.i++
		b.n += 6
	}
	b.n -= n
	return b.acc >> b.n & (1<<n - 1)
}

// skip moves past n bits, which the caller has checked are there.
func (b *bits) skip(n int) {
	p := b.pos() + n
	b.i, b.n = p/6, 0
	if r := p % 6; r != 0 {
		b.acc = uint64(sextet[b.s[b.i]])
		b.i++
		b.n = 6 - r
	}
}

// int reads n bits as an int.
func (b *bits) int(n int) int { return int(b.read(n)) }

// bool reads one bit.
func (b *bits) bool() bool { return b.read(1) == 1 }

// at reports bit i of s (0 is the first bit), which the caller has bounds-checked.
func bitAt(s string, i int) bool {
	return uint8(sextet[s[i/6]])>>(5-i%6)&1 == 1
}
