// Package asciiscan skips, sixteen bytes a step, runs of printable ASCII: most
// of what ASAP checks byte by byte (query values, the strings it writes as JSON)
// is printable ASCII, and a consent string of a few kB is checked in a couple of
// hundred steps instead of a few thousand.
package asciiscan

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Skip returns the index, from i, of the first byte of s that may be outside
// 0x20–0x7f or equal to stop1 or stop2: every byte of s[i:Skip(...)] is in
// 0x20–0x7f and is neither. It looks eight bytes at a time, so it stops at the
// start of the word holding such a byte, or within the last seven bytes of s;
// the caller's own byte loop goes on from there.
func Skip(s string, i int, stop1, stop2 byte) int {
	m1, m2 := ones*uint64(stop1), ones*uint64(stop2)
	// Two words a step: one test and one branch for sixteen bytes.
	for ; i+16 <= len(s); i += 16 {
		w := s[i : i+16] // one bounds check; the loads below need none
		if stops(load(w[:8]), m1, m2)|stops(load(w[8:]), m1, m2) != 0 {
			if stops(load(w[:8]), m1, m2) != 0 {
				return i
			}
			return i + 8
		}
	}
	if i+8 <= len(s) && stops(load(s[i:i+8]), m1, m2) == 0 {
		i += 8
	}
	return i
}

// load reads the eight bytes of w as a little-endian word (the compiler makes
// it one load).
func load(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// stops has a byte's high bit set when that byte of x, or one after it, is
// under 0x20, over 0x7f, or equal to the stop a byte of m1 or m2 holds.
func stops(x, m1, m2 uint64) uint64 {
	// A byte's high bit in below is set when the byte is under 0x20, in
	// zero1 or zero2 when it equals the stop; borrows can set more bits only
	// above a byte that already did, so "some byte is set" is exact.
	below := (x - ones*0x20) &^ x
	y1, y2 := x^m1, x^m2
	zero1 := (y1 - ones) &^ y1
	zero2 := (y2 - ones) &^ y2
	return (below | zero1 | zero2 | x) & highs
}
