package query

import (
	"net/url"
	"testing"
)

func TestUnescapeMatchesQueryUnescape(t *testing.T) {
	for _, in := range []string{"", "demo-feed", "a+b", "a%20b", "%E2%9C%93", "%", "%zz", "%4", "caf%C3%A9+au+lait", "100%25"} {
		got, gotErr := Unescape(in)
		want, wantErr := url.QueryUnescape(in)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("Unescape(%q) = %q, %v; want %q, %v", in, got, gotErr, want, wantErr)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"demo-feed", "a+b%20c", "%", "%G0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, gotErr := Unescape(in)
		want, wantErr := url.QueryUnescape(in)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("Unescape(%q) = %q, %v; want %q, %v", in, got, gotErr, want, wantErr)
		}
	})
}
