package placement_test

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/mod/semver"

	"asap/service/internal/placement"
)

func TestVersionRangeContains(t *testing.T) {
	tests := []struct {
		rng string
		in  []string
		out []string
	}{
		{">=5.2.0 <6", []string{"5.2.0", "5.2", "5.2.1", "5.10.0", "v5.99.99", "6.0.0-beta.1"}, []string{"5.1.9", "5", "6", "6.0.0", "7.1", "", "5.2.x", "5.2.0.1", "latest"}},
		{">= 5.2.0  < 6", []string{"5.2.0", "5.3"}, []string{"6.0.0", "4"}},
		{"5.2.0", []string{"5.2.0", "5.2", "v5.2.0", "5.2.0+build.7"}, []string{"5.2.1", "5.2.0-rc.1"}},
		{"=5", []string{"5.0.0", "5"}, []string{"5.0.1"}},
		{">5.2.0", []string{"5.2.1", "6"}, []string{"5.2.0", "5.2.0-rc.1", "5.1"}},
		{"<=5.2", []string{"5.2.0", "5.1.99", "0.0.1", "5.2.0-alpha"}, []string{"5.2.1"}},
		{"<1.0.0", []string{"0.9", "1.0.0-alpha"}, []string{"1.0.0", "1"}},
		{">=1.0.0-alpha <1.0.0", []string{"1.0.0-alpha", "1.0.0-beta", "1.0.0-alpha.1"}, []string{"1.0.0", "0.9.9"}},
		{"v2 <v3", []string{"2.0.0"}, []string{"2.0.1"}},
	}
	for _, tt := range tests {
		r, err := placement.ParseVersionRange(tt.rng)
		if err != nil {
			t.Fatalf("ParseVersionRange(%q): %v", tt.rng, err)
		}
		for _, v := range tt.in {
			if !r.Contains(v) {
				t.Errorf("%q.Contains(%q) = false; want true", tt.rng, v)
			}
		}
		for _, v := range tt.out {
			if r.Contains(v) {
				t.Errorf("%q.Contains(%q) = true; want false", tt.rng, v)
			}
		}
	}
}

func TestParseVersionRangeErrors(t *testing.T) {
	tests := []struct{ rng, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{">=", `">=": want a version after the operator`},
		{">=5.2.0 <", `"<": want a version after the operator`},
		{">=5.2.x", `"5.2.x" is not a semantic version`},
		{"5.2.0.1", `"5.2.0.1" is not a semantic version`},
		{">>5", `">5": want one operator then a version`},
		{">=5<6", `"5<6": want one operator then a version`},
		{"~5.2", `"~5.2" is not a semantic version`},
		{"5 || 6", `"||" is not a semantic version`},
		{strings.Repeat(">=1 ", 9), "more than 8 comparators"},
		{strings.Repeat("1", 129), "longer than 128 bytes"},
	}
	for _, tt := range tests {
		_, err := placement.ParseVersionRange(tt.rng)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseVersionRange(%q) = %v; want an error containing %q", tt.rng, err, tt.want)
		}
	}
}

// TestVersionRangeJSON: a range round-trips as its text; a bad one decodes with
// its error kept for Validate; null and absence are no range.
func TestVersionRangeJSON(t *testing.T) {
	var r placement.TargetingRule
	if err := json.Unmarshal([]byte(`{"appVersion": ">=5.2.0 <6", "os": "android", "keyType": "t", "keyValue": "v"}`), &r); err != nil {
		t.Fatal(err)
	}
	if !r.AppVersion.Contains("5.3") || r.AppVersion.Err() != nil {
		t.Errorf("decoded range does not contain 5.3 (err %v)", r.AppVersion.Err())
	}
	b, _ := json.Marshal(r)
	var again placement.TargetingRule
	if err := json.Unmarshal(b, &again); err != nil || again.AppVersion.String() != ">=5.2.0 <6" || again.OS != "android" {
		t.Errorf("json.Marshal = %s, which decodes to %q, %q (%v); want the rule back", b, again.AppVersion, again.OS, err)
	}
	var none placement.TargetingRule
	for _, in := range []string{`{"keyType": "t"}`, `{"appVersion": null}`} {
		if err := json.Unmarshal([]byte(in), &none); err != nil || !none.AppVersion.IsZero() {
			t.Errorf("%s: appVersion %q, IsZero false or %v; want no range", in, none.AppVersion, err)
		}
	}
	if b, _ := json.Marshal(none); strings.Contains(string(b), "appVersion") {
		t.Errorf("no range marshals as %s; want appVersion left out", b)
	}
	var bad placement.TargetingRule
	if err := json.Unmarshal([]byte(`{"appVersion": ">=x"}`), &bad); err != nil || bad.AppVersion.Err() == nil || bad.AppVersion.Contains("1") {
		t.Errorf("bad range: unmarshal %v, Err %v; want decoded with its error kept, containing nothing", err, bad.AppVersion.Err())
	}
	if err := json.Unmarshal([]byte(`{"appVersion": 5}`), &bad); err == nil {
		t.Error("a number as appVersion decoded without an error")
	}
}

// FuzzVersionRange: any text parses or is refused without a panic; a parsed
// range prints as written, and a single comparator agrees with semver.Compare.
func FuzzVersionRange(f *testing.F) {
	for _, s := range []string{">=5.2.0 <6", "5", "v1.2.3-rc.1+b", "<=0.0.0", ">= 1 < 2", ">>", "", "1.2.3.4", "=v"} {
		f.Add(s, "5.2.1")
	}
	f.Fuzz(func(t *testing.T, rng, version string) {
		r, err := placement.ParseVersionRange(rng)
		if err != nil {
			if r.Contains(version) {
				t.Fatalf("refused range %q contains %q", rng, version)
			}
			return
		}
		if r.String() != rng {
			t.Fatalf("String() = %q; want %q", r.String(), rng)
		}
		got := r.Contains(version)
		v := "v" + strings.TrimPrefix(version, "v")
		if !semver.IsValid(v) && got {
			t.Fatalf("%q contains %q, which is not a semantic version", rng, version)
		}
		fields := strings.Fields(rng)
		if len(fields) != 1 || !semver.IsValid(v) || len(version) > 128 {
			return
		}
		op, w := fields[0], ""
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(op, o); ok {
				op, w = o, rest
				break
			}
		}
		if w == "" {
			op, w = "=", fields[0]
		}
		n := semver.Compare(v, "v"+strings.TrimPrefix(w, "v"))
		want := map[string]bool{">=": n >= 0, "<=": n <= 0, ">": n > 0, "<": n < 0, "=": n == 0}[op]
		if got != want {
			t.Fatalf("%q.Contains(%q) = %v; want %v", rng, version, got, want)
		}
	})
}

func TestKeyForRules(t *testing.T) {
	p := &placement.Placement{
		KeyType: "creative_key", KeyValue: "default",
		Targeting: []placement.TargetingRule{
			{CustomKeys: map[string]string{"section": "sports"}, AppVersion: placement.MustParseVersionRange(">=5.2.0 <6"), KeyType: "campaign_key", KeyValue: "sports-new"},
			{CustomKeys: map[string]string{"section": "sports"}, KeyType: "campaign_key", KeyValue: "sports"},
			{AppVersion: placement.MustParseVersionRange(">=6"), OS: "android", KeyType: "campaign_key", KeyValue: "android-6"},
			{OS: "iOS", KeyType: "campaign_key", KeyValue: "ios"},
		},
	}
	sports := placement.CustomKeys(map[string]string{"section": "sports"})
	tests := []struct {
		name string
		t    placement.Target
		want string
	}{
		{"nothing matches", placement.Target{}, "default"},
		{"customKeys and version: first rule", placement.Target{CustomKey: sports, AppVersion: "5.3.1"}, "sports-new"},
		{"customKeys, version out of range: second", placement.Target{CustomKey: sports, AppVersion: "6.0.0"}, "sports"},
		{"customKeys, no version: second", placement.Target{CustomKey: sports}, "sports"},
		{"customKeys, version not semver: second", placement.Target{CustomKey: sports, AppVersion: "5.3.x"}, "sports"},
		{"version and os", placement.Target{AppVersion: "6.1", OS: "android"}, "android-6"},
		{"os without regard to case", placement.Target{AppVersion: "6.1", OS: "ANDROID"}, "android-6"},
		{"version without os", placement.Target{AppVersion: "6.1"}, "default"},
		{"os without version", placement.Target{OS: "android"}, "default"},
		{"os only rule", placement.Target{OS: "ios", AppVersion: "6.1"}, "ios"},
		{"first match wins over a later one", placement.Target{CustomKey: sports, AppVersion: "6.1", OS: "android"}, "sports"},
	}
	for _, tt := range tests {
		if _, got := p.KeyFor(tt.t); got != tt.want {
			t.Errorf("%s: keyValue %q; want %q", tt.name, got, tt.want)
		}
	}
}

// BenchmarkKeyForAppVersion is targeting that reaches a rule on appVersion and os.
func BenchmarkKeyForAppVersion(b *testing.B) {
	p := &placement.Placement{Targeting: []placement.TargetingRule{
		{CustomKeys: map[string]string{"section": "sports"}, KeyValue: "sports"},
		{AppVersion: placement.MustParseVersionRange(">=5.2.0 <6"), OS: "android", KeyValue: "new"},
	}}
	t := placement.Target{CustomKey: placement.CustomKeys(map[string]string{"section": "news"}), AppVersion: "5.3.1", OS: "Android"}
	b.ReportAllocs()
	for b.Loop() {
		if _, v := p.KeyFor(t); v != "new" {
			b.Fatal(v)
		}
	}
}
