package placement

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// TargetingRule overrides keyType/keyValue when every condition it sets holds for
// the request: all of its CustomKeys equal the request's customKeys, the request's
// app version is in AppVersion, and its os is OS. A rule sets at least one
// condition. The first matching rule wins.
type TargetingRule struct {
	CustomKeys map[string]string `json:"customKeys,omitempty"`
	// AppVersion is a range of the request's pubAppVersion, such as ">=5.2.0 <6".
	// A request without a version, or with one that is not a semantic version,
	// matches no rule that sets AppVersion.
	AppVersion VersionRange `json:"appVersion,omitzero"`
	// OS is the request's os, compared without regard to case ("android" matches
	// "Android"). A request without an os matches no rule that sets OS.
	OS       string `json:"os,omitempty"`
	KeyType  string `json:"keyType"`
	KeyValue string `json:"keyValue"`
}

// Target is what a request offers targeting rules.
type Target struct {
	// CustomKey returns the value of the request's customKeys[name], and whether
	// the request has it. Nil means the request has none.
	CustomKey func(name string) (value string, ok bool)
	// AppVersion is the request's app version (pubAppVersion); "" when it has none.
	AppVersion string
	// OS is the request's os; "" when it has none.
	OS string
}

// KeyFor returns keyType and keyValue for a request: those of the first
// targeting rule that matches t, else the placement's own.
func (p *Placement) KeyFor(t Target) (keyType, keyValue string) {
	for i := range p.Targeting {
		if r := &p.Targeting[i]; r.matches(&t) {
			return r.KeyType, r.KeyValue
		}
	}
	return p.KeyType, p.KeyValue
}

// CustomKeys returns a Target's CustomKey for a map of customKeys.
func CustomKeys(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func (r *TargetingRule) matches(t *Target) bool {
	if r.OS != "" && !strings.EqualFold(r.OS, t.OS) {
		return false
	}
	if !r.AppVersion.IsZero() && !r.AppVersion.Contains(t.AppVersion) {
		return false
	}
	for k, want := range r.CustomKeys {
		if t.CustomKey == nil {
			return false
		}
		if got, ok := t.CustomKey(k); !ok || got != want {
			return false
		}
	}
	return true
}

// validateTargeting reports the problems of rules, each named by prefix and index
// (prefix is "targeting" for the record's own rules).
func validateTargeting(prefix string, rules []TargetingRule) []error {
	var errs []error
	for i, r := range rules {
		if len(r.CustomKeys) == 0 && r.AppVersion.IsZero() && r.OS == "" {
			errs = append(errs, fmt.Errorf("%s[%d]: no condition: set customKeys, appVersion or os", prefix, i))
		}
		if err := r.AppVersion.Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d].appVersion %q: %w", prefix, i, r.AppVersion, err))
		}
		if len(r.OS) > maxOS {
			errs = append(errs, fmt.Errorf("%s[%d].os: longer than %d bytes", prefix, i, maxOS))
		}
	}
	return errs
}

// maxOS bounds a rule's os, as GET /v2 bounds the request's.
const maxOS = 64

// Bounds of a version range: targeting needs a comparator or two.
const (
	maxRangeLen         = 128
	maxRangeComparators = 8
)

// VersionRange is a range of app versions in semantic-version order
// (https://semver.org: numeric major.minor.patch, a pre-release before its
// release, build metadata ignored). It is written as comparators separated by
// spaces, all of which must hold: ">=5.2.0 <6" is 5.2.0 up to, not including, 6.0.0.
// A comparator is an operator (>=, >, <=, <, or = and none for "equal") and a
// version; a version may leave out its minor and patch numbers (6 is 6.0.0) and
// may start with "v". The zero VersionRange is no range (IsZero).
//
// A VersionRange decoded from JSON keeps the text and its syntax error, if any,
// so that Validate names every bad range of a record at once; such a range
// contains no version.
type VersionRange struct {
	text string
	cmps []comparator
	err  error
}

// comparator is one operator and its version, in x/mod/semver's form ("v1.2.3").
type comparator struct {
	op      string // one of >=, >, <=, <, =
	version string
}

// ParseVersionRange parses s (see VersionRange), naming what is wrong with it.
func ParseVersionRange(s string) (VersionRange, error) {
	r := VersionRange{text: s}
	r.cmps, r.err = parseComparators(s)
	if r.err != nil {
		r.cmps = nil
	}
	return r, r.err
}

func parseComparators(s string) ([]comparator, error) {
	if len(s) > maxRangeLen {
		return nil, fmt.Errorf("longer than %d bytes", maxRangeLen)
	}
	var cmps []comparator
	rest := strings.TrimSpace(s)
	if rest == "" {
		return nil, errors.New(`empty: want comparators such as ">=5.2.0 <6"`)
	}
	for rest != "" {
		var c comparator
		c.op, rest = cutOperator(rest)
		rest = strings.TrimLeft(rest, " ")
		v, after, _ := strings.Cut(rest, " ")
		if v == "" {
			return nil, fmt.Errorf("%q: want a version after the operator", c.op)
		}
		if strings.ContainsAny(v, "<>=") {
			return nil, fmt.Errorf("%q: want one operator then a version (comparators are separated by spaces)", v)
		}
		c.version = "v" + strings.TrimPrefix(v, "v")
		if !semver.IsValid(c.version) {
			return nil, fmt.Errorf("%q is not a semantic version (want such as 5, 5.2 or 5.2.0)", v)
		}
		if len(cmps) == maxRangeComparators {
			return nil, fmt.Errorf("more than %d comparators", maxRangeComparators)
		}
		cmps = append(cmps, c)
		rest = strings.TrimLeft(after, " ")
	}
	return cmps, nil
}

// cutOperator splits the operator off the front of s; none is "=".
func cutOperator(s string) (op, rest string) {
	for _, op := range [...]string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(s, op); ok {
			return op, rest
		}
	}
	return "=", s
}

// MustParseVersionRange is ParseVersionRange for ranges known to be good; it
// panics on a bad one.
func MustParseVersionRange(s string) VersionRange {
	r, err := ParseVersionRange(s)
	if err != nil {
		panic(fmt.Sprintf("placement: version range %q: %v", s, err))
	}
	return r
}

// IsZero reports whether r is no range: the zero VersionRange.
func (r VersionRange) IsZero() bool { return r.text == "" && r.err == nil && r.cmps == nil }

// Err is the syntax error of a range decoded from JSON; nil for a good one.
func (r VersionRange) Err() error { return r.err }

// String returns the range as written.
func (r VersionRange) String() string { return r.text }

// Contains reports whether version (an app version such as "5.2.1", "v5.2" or
// "6.0.0-beta.1") is in the range. A version that is not a semantic version is in
// no range.
func (r VersionRange) Contains(version string) bool {
	if len(r.cmps) == 0 || version == "" || len(version) > maxRangeLen {
		return false
	}
	v := "v" + strings.TrimPrefix(version, "v")
	if !semver.IsValid(v) {
		return false
	}
	for _, c := range r.cmps {
		n := semver.Compare(v, c.version)
		var ok bool
		switch c.op {
		case ">=":
			ok = n >= 0
		case ">":
			ok = n > 0
		case "<=":
			ok = n <= 0
		case "<":
			ok = n < 0
		default:
			ok = n == 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// MarshalJSON writes the range as the string it was written as.
func (r VersionRange) MarshalJSON() ([]byte, error) { return json.Marshal(r.text) }

// UnmarshalJSON reads a range from a JSON string. A string that is not a good
// range is kept with its error (Err) for Validate to report; only a value that is
// not a string fails here.
func (r *VersionRange) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*r = VersionRange{}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("want a version range as a string, such as \">=5.2.0 <6\": %w", err)
	}
	*r, _ = ParseVersionRange(s)
	if s == "" {
		// "" is kept as a bad range, not as no range, so that Validate names it.
		r.err = errors.New(`empty: want comparators such as ">=5.2.0 <6", or leave appVersion out`)
	}
	return nil
}
