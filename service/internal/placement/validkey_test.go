package placement

import (
	"strings"
	"testing"
)

func TestValidKeyMatchesKeyPattern(t *testing.T) {
	for _, s := range []string{
		"", "a", "demo-feed", "Demo_Feed-09", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"a b", "a/b", "a.b", "é", "a\n", "\x00", "-", "_",
	} {
		if got, want := ValidKey(s), KeyPattern.MatchString(s); got != want {
			t.Errorf("ValidKey(%q) = %v; KeyPattern says %v", s, got, want)
		}
	}
}

func FuzzValidKey(f *testing.F) {
	f.Add("demo-feed")
	f.Add("a\nb")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidKey(s), KeyPattern.MatchString(s); got != want {
			t.Errorf("ValidKey(%q) = %v; KeyPattern says %v", s, got, want)
		}
	})
}
