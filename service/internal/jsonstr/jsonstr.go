// Package jsonstr writes JSON strings by hand, for the encoders of the hot paths
// (the GET /v2 and /v2/ad answers, the OpenRTB BidRequest, the access log line).
//
// There is one rule, encoding/json's with HTML escaping off
// (json.Encoder.SetEscapeHTML(false)): quotes, backslashes and control characters
// escaped (\b \f \n \r \t short, the rest \u00XX), invalid UTF-8 as \ufffd,
// U+2028 and U+2029 escaped, and <, > and & left as they are — none of what ASAP
// writes is embedded in HTML by a browser.
package jsonstr

import (
	"unicode/utf8"

	"asap/service/internal/asciiscan"
)

// plain marks the ASCII bytes a JSON string holds as they are.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// Append appends s to b as a quoted JSON string (the package's one rule).
func Append(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		i = asciiscan.Skip(s, i, '"', '\\') // runs of plain ASCII, eight bytes at a time
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
