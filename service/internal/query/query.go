// Package query holds the helpers that the SDK API's hand-written query parsers
// (GET /v2 in server, GET /v2/ad in ad) share.
package query

import (
	"net/url"
	"strings"
)

// Unescape decodes one query component (a name or a value of a raw query), as
// url.QueryUnescape does, without allocating when nothing is encoded: the common case.
func Unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}
