// Package query is what the SDK API's hand-written query parsers (GET /v2 in
// server, GET /v2/ad in ad) and the access log share: the walk over a raw query's
// pairs, the decoding of a component, the one rule for a repeated parameter, and
// the one bad-parameter error.
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
			return "", "", raw, true, Bad("query", "malformed percent-encoding in a parameter name")
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
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}
