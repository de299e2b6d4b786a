// Package asciiscan skips, eight bytes at a time, runs of printable ASCII: most
// of what ASAP checks byte by byte (query values, the strings it writes as JSON)
// is printable ASCII, and a consent string of a few kB is checked in a few
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
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte's high bit in below is set when the byte is under 0x20, in
		// zero1 or zero2 when it equals the stop; borrows can set more bits only
		// above a byte that already did, so "some byte is set" is exact.
		below := (x - ones*0x20) &^ x
		y1, y2 := x^m1, x^m2
		zero1 := (y1 - ones) &^ y1
		zero2 := (y2 - ones) &^ y2
		if (below|zero1|zero2|x)&highs != 0 {
			return i
		}
	}
	return i
}
