package query

import (
	"errors"
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

// FuzzNext holds the walk over a query's pairs to url.ParseQuery: for every query
// that url.ParseQuery accepts, Next yields the same (name, value) pairs.
func FuzzNext(f *testing.F) {
	for _, s := range []string{"", "pkey=demo-feed", "a=1&&b=2&a=3", "k%20=v+w", "x", "=v", "%zz=1", "a=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got := url.Values{}
		for rest := raw; ; {
			name, value, r, ok, err := Next(rest)
			if !ok {
				break
			}
			if err != nil {
				t.Fatalf("Next(%q): %v; url.ParseQuery accepts the query", rest, err)
			}
			v, err := Unescape(value)
			if err != nil {
				t.Fatalf("Unescape(%q): %v; url.ParseQuery accepts the query", value, err)
			}
			got.Add(name, v)
			rest = r
		}
		if got.Encode() != want.Encode() {
			t.Errorf("Next over %q = %v; url.ParseQuery = %v", raw, got, want)
		}
	})
}

func TestRepeated(t *testing.T) {
	if err := Repeated("pkey", "a", "a"); err != nil {
		t.Errorf("Repeated with the same value = %v; want nil", err)
	}
	err := Repeated("pkey", "a", "b")
	var qe *Error
	if !errors.As(err, &qe) || qe.Param != "pkey" || !errors.Is(err, ErrBadInput) {
		t.Errorf("Repeated with another value = %v; want an *Error naming pkey that is ErrBadInput", err)
	}
}

func TestText(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // the problem; "" for none
	}{
		{"", ""}, {"News", ""}, {"Café au lait ☕", ""},
		{"a\nb", "holds a control character"}, {"a\x7fb", "holds a control character"},
		{"a\u0085b", "holds a control character"}, {"é\tx", "holds a control character"},
		{"a\xffb", "not valid UTF-8"}, {"12345", "longer than 4 bytes"},
	} {
		max := 64
		if tt.in == "12345" {
			max = 4
		}
		err := Text("p", tt.in, max)
		var qe *Error
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Text(%q) = %v; want nil", tt.in, err)
		case tt.want != "" && (!errors.As(err, &qe) || qe.Param != "p" || qe.Problem != tt.want):
			t.Errorf("Text(%q) = %v; want p: %s", tt.in, err, tt.want)
		}
	}
}

func TestPKey(t *testing.T) {
	for in, want := range map[string]string{"demo-feed": "", "": "pkey: required: the placement key",
		"demo feed": "pkey: must match [A-Za-z0-9_-]{1,64}"} {
		if err := PKey(in); (err == nil) != (want == "") || (err != nil && err.Error() != want) {
			t.Errorf("PKey(%q) = %v; want %q", in, err, want)
		}
	}
}
