package asciiscan_test

import (
	"testing"

	"asap/service/internal/asciiscan"
)

// skipped is what Skip must return, byte by byte: it may stop early only at the
// start of the eight-byte word that holds the first stopping byte, or in the last
// seven bytes.
func check(t *testing.T, s string, i int, stop1, stop2 byte) {
	t.Helper()
	first := len(s) // the first stopping byte from i
	for j := i; j < len(s); j++ {
		if c := s[j]; c < 0x20 || c >= 0x80 || c == stop1 || c == stop2 {
			first = j
			break
		}
	}
	got := asciiscan.Skip(s, i, stop1, stop2)
	words := i + (first-i)/8*8 // the start of the word holding it
	if got != words {
		t.Fatalf("Skip(%q, %d, %q, %q) = %d; want %d (first stopping byte at %d)", s, i, stop1, stop2, got, words, first)
	}
}

func TestSkipEveryPosition(t *testing.T) {
	for _, stop := range []byte{0x00, 0x1f, 0x7f, 0x80, 0xff, '"', '\\', 0x7e} {
		for n := range 20 {
			for at := range n {
				b := []byte("abcdefghijklmnopqrstuvwxyz"[:n])
				b[at] = stop
				for i := range at + 1 {
					check(t, string(b), i, '"', '\\')
					check(t, string(b), i, 0x7f, 0x7f)
				}
			}
		}
	}
	check(t, "", 0, '"', '\\')
	check(t, "ASCII all the way, no stop here at all!!", 0, '"', '\\')
}

func FuzzSkip(f *testing.F) {
	f.Add("CP1R2oAP1R2oAAHABBENCWEoAPLAAEPAAAYgK8RkYAAgAFAAQAB", 0, byte('"'), byte('\\'))
	f.Add("a\x7fbcdefghijk", 1, byte(0x7f), byte(0x7f))
	f.Fuzz(func(t *testing.T, s string, i int, stop1, stop2 byte) {
		if i < 0 || i > len(s) {
			return
		}
		check(t, s, i, stop1, stop2)
	})
}

// BenchmarkSkip compares Skip with the byte-at-a-time loop it replaces, on a
// consent string's worth of printable ASCII.
func BenchmarkSkip(b *testing.B) {
	plain := make([]byte, 2600)
	for i := range plain {
		plain[i] = 'A' + byte(i%26)
	}
	s := string(plain)
	b.Run("Skip", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			asciiscan.Skip(s, 0, '"', '\\')
		}
	})
	b.Run("bytes", func(b *testing.B) {
		b.SetBytes(int64(len(s)))
		for b.Loop() {
			for i := 0; i < len(s); i++ {
				if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
					break
				}
			}
		}
	})
}
