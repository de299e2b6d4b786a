package server

import (
	"strings"

	"github.com/google/uuid"

	"asap/service/internal/placement"
	"asap/service/internal/query"
)

// Bounds of the GET /v2 query. SDKs send a handful of short customKeys; anything
// past these is refused with 400 rather than carried into targeting.
const (
	maxCustomKeys     = 32
	maxCustomKeyName  = 64
	maxCustomKeyValue = 256
	maxAppField       = 256
	maxShortField     = 64 // uid and os, as GET /v2/ad bounds them
)

// v2Query is the parsed query of GET /v2.
type v2Query struct {
	// pkey is the placement key. pubAppName is checked (well formed, bounded)
	// but not kept: the answer does not depend on it.
	pkey string
	// appVersion (pubAppVersion) and os are what targeting rules match besides
	// customKeys; uid, the advertising id, picks the user's experiment arm.
	appVersion, os, uid string
	// The customKeys[<name>]=<value> pairs, in the order given, each name once: the
	// first few in an array held in the query itself, any more in a slice. Not a map
	// (an allocation of a few hundred bytes per request) and not a slice alone (one
	// of 128 bytes): SDKs send a handful, and the handler keeps the query on its stack.
	firstKeys [inlineCustomKeys]customKey
	moreKeys  []customKey
	nKeys     int
}

// inlineCustomKeys is how many customKeys a v2Query holds without allocating.
const inlineCustomKeys = 4

// customKey is one customKeys[<name>]=<value> pair.
type customKey struct{ name, value string }

// target returns what the query offers targeting rules.
func (q *v2Query) target() placement.Target {
	return placement.Target{CustomKey: q.customKey, AppVersion: q.appVersion, OS: q.os}
}

// customKey returns the value of customKeys[name], and whether the query has it.
func (q *v2Query) customKey(name string) (string, bool) {
	for _, k := range q.firstKeys[:min(q.nKeys, inlineCustomKeys)] {
		if k.name == name {
			return k.value, true
		}
	}
	for _, k := range q.moreKeys {
		if k.name == name {
			return k.value, true
		}
	}
	return "", false
}

// addCustomKey appends a pair whose name the query does not have yet.
func (q *v2Query) addCustomKey(k customKey) {
	if q.nKeys < inlineCustomKeys {
		q.firstKeys[q.nKeys] = k
	} else {
		q.moreKeys = append(q.moreKeys, k)
	}
	q.nKeys++
}

// parseV2Query reads the raw query of GET /v2. Unknown parameters are ignored, as
// SDKs in the field may send more than this version reads. Every error is an
// *query.Error naming the parameter; a repeated parameter follows query.Repeated.
func parseV2Query(raw string) (v2Query, error) {
	var q v2Query
	seenPkey := false
	var seen uint8 // pubAppVersion 1, os 2, uid 4
	for {
		key, rawValue, rest, ok, err := query.Next(raw)
		if !ok {
			break
		}
		if err != nil {
			return q, err
		}
		raw = rest
		switch {
		case key == "pkey":
			v, err := query.UnescapeValue("pkey", rawValue)
			if err != nil {
				return q, err
			}
			if seenPkey {
				if err := query.Repeated("pkey", q.pkey, v); err != nil {
					return q, err
				}
			}
			q.pkey, seenPkey = v, true
		case key == "pubAppVersion", key == "os", key == "uid":
			v, err := query.UnescapeValue(key, rawValue)
			if err != nil {
				return q, err
			}
			dst, limit, bit := &q.appVersion, maxAppField, uint8(1)
			switch key {
			case "os":
				dst, limit, bit = &q.os, maxShortField, 2
			case "uid":
				dst, limit, bit = &q.uid, maxShortField, 4
			}
			if err := query.Text(key, v, limit); err != nil {
				return q, err
			}
			if seen&bit != 0 {
				if err := query.Repeated(key, *dst, v); err != nil {
					return q, err
				}
			}
			*dst, seen = v, seen|bit
		case key == "pubAppName":
			v, err := query.UnescapeValue(key, rawValue)
			if err != nil {
				return q, err
			}
			if err := query.Text(key, v, maxAppField); err != nil {
				return q, err
			}
		case strings.HasPrefix(key, "customKeys"):
			name, hasPrefix := strings.CutPrefix(key, "customKeys[")
			name, hasSuffix := strings.CutSuffix(name, "]")
			if !hasPrefix || !hasSuffix || name == "" {
				return q, query.Bad("customKeys", "want customKeys[<name>]=<value>")
			}
			if len(name) > maxCustomKeyName {
				return q, query.Bad("customKeys", "a key name is longer than %d bytes", maxCustomKeyName)
			}
			if err := query.Text("customKeys", name, maxCustomKeyName); err != nil {
				return q, err
			}
			v, err := query.UnescapeValue("customKeys", rawValue)
			if err == nil {
				err = query.Text("customKeys", v, maxCustomKeyValue)
			}
			if err != nil {
				return q, renamed(err, customKeyParam(name))
			}
			if old, dup := q.customKey(name); dup {
				if err := query.Repeated(customKeyParam(name), old, v); err != nil {
					return q, err
				}
				continue
			}
			if q.nKeys == maxCustomKeys {
				return q, query.Bad("customKeys", "more than %d keys", maxCustomKeys)
			}
			q.addCustomKey(customKey{name, v})
		}
	}
	return q, query.PKey(q.pkey)
}

// The mrid of every answer is a random UUID: from a pool of random bytes refilled
// 16 at a time by 256, rather than a crypto/rand read per request. mrids identify
// requests; they are not secrets.
func init() { uuid.EnableRandPool() }

// renamed returns err, a fresh *query.Error, naming param: the parameter name
// of a customKeys[<name>] pair is built only when an error names it, as building
// it for every pair would cost GET /v2 an allocation per key.
func renamed(err error, param string) error {
	if e, ok := err.(*query.Error); ok {
		e.Param = param
	}
	return err
}

// customKeyParam names the parameter of customKeys[name] in an error.
func customKeyParam(name string) string { return "customKeys[" + name + "]" }
