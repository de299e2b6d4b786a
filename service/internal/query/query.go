// Package query is what the SDK API's hand-written query parsers (GET /v2 in
// server, GET /v2/ad in adquery) and the access log share: the walk over a raw
// query's pairs, the decoding of a component, the one rule for a repeated
// parameter, the rules for a placement key and for a text value, and the one
// bad-parameter error, each with one wording on both endpoints.
//
// The rule for a repeated parameter: given again with the same value, it is taken
// once; given again with a different value, the request is refused (400 naming the
// parameter), since ASAP cannot know which one the SDK meant. The access log names
// a pkey only when the request's pkey passes that rule.
package query

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"asap/service/internal/asciiscan"
	"asap/service/internal/placement"
)

// ErrBadInput marks a request the client must change: a missing, malformed or
// oversized parameter. Every *Error matches it with errors.Is; it maps to 400.
var ErrBadInput = errors.New("bad input")

// Error is a bad query parameter: the one bad-input error of the SDK API. Its
// text is written for the client.
type Error struct {
	// Param names the query parameter, such as "pkey" or "customKeys[section]";
	// "query" when no one parameter is to blame.
	Param string
	// Problem says what is wrong with it.
	Problem string
}

// Error returns "<param>: <problem>".
func (e *Error) Error() string { return e.Param + ": " + e.Problem }

// Is makes errors.Is(err, ErrBadInput) hold.
func (e *Error) Is(target error) bool { return target == ErrBadInput }

// Bad returns an *Error for param with the problem formatted from format and args.
func Bad(param, format string, args ...any) error {
	return &Error{Param: param, Problem: fmt.Sprintf(format, args...)}
}

// Next returns the first non-empty name=value pair of the raw query raw: its name
// decoded, its value as sent (for the caller to decode, check or skip), and the
// rest of raw after it. ok is false when raw holds no more pairs. A name with
// malformed percent-encoding is an *Error.
func Next(raw string) (name, value, rest string, ok bool, err error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawName, value, _ := strings.Cut(pair, "=")
		name, err := Unescape(rawName)
		if err != nil {
			return "", "", raw, true, Bad("query", "a parameter name has "+MalformedEncoding)
		}
		return name, value, raw, true, nil
	}
	return "", "", "", false, nil
}

// Repeated applies the rule for a repeated parameter: param was given before with
// the decoded value old and now again with value. It returns nil when the two are
// the same (the parameter is taken once) and an *Error naming param when they differ.
func Repeated(param, old, value string) error {
	if old == value {
		return nil
	}
	return Bad(param, "given twice with different values")
}

// Unescape decodes one query component (a name or a value of a raw query), as
// url.QueryUnescape does, without allocating when nothing is encoded: the common case.
func Unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 { // two vector scans, faster than ContainsAny's one bytewise
		return s, nil
	}
	return url.QueryUnescape(s)
}

// MalformedEncoding is the problem of a name or value whose percent-encoding
// is malformed, worded once.
const MalformedEncoding = "malformed percent-encoding"

// UnescapeValue decodes the raw value of param, or returns the *Error every
// parser gives for malformed percent-encoding.
func UnescapeValue(param, raw string) (string, error) {
	v, err := Unescape(raw)
	if err != nil {
		return "", Bad(param, MalformedEncoding)
	}
	return v, nil
}

// PKey applies the rule for a placement key, the same on every endpoint:
// present and [A-Za-z0-9_-]{1,64}.
func PKey(v string) error {
	switch {
	case v == "":
		return Bad("pkey", "required: the placement key")
	case !placement.ValidKey(v):
		return Bad("pkey", "must match [A-Za-z0-9_-]{1,64}")
	}
	return nil
}

// Text applies the rule for a decoded text value of param, the same on every
// endpoint: at most max bytes of UTF-8 without control characters (C0, DEL,
// C1). It returns nil or an *Error naming param.
func Text(param, v string, max int) error {
	if len(v) > max {
		return Bad(param, "longer than %d bytes", max)
	}
	for i := asciiscan.Skip(v, 0, 0x7f, 0x7f); i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return Bad(param, "holds a control character")
		} else if c >= utf8.RuneSelf {
			return textSlow(param, v[i:])
		}
	}
	return nil
}

func textSlow(param, v string) error {
	if !utf8.ValidString(v) {
		return Bad(param, "not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return Bad(param, "holds a control character")
		}
	}
	return nil
}
