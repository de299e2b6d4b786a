package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

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
)

// v2Query is the parsed query of GET /v2.
type v2Query struct {
	// pkey is the placement key. pubAppName and pubAppVersion are checked (well
	// formed, bounded) but not kept: the answer does not depend on them.
	pkey string
	// customKeys are the customKeys[<name>]=<value> pairs, in the order given, each
	// name once; nil when there are none. A slice, not a map: there are a handful,
	// and a map cost an allocation of a few hundred bytes per request.
	customKeys []customKey
}

// customKey is one customKeys[<name>]=<value> pair.
type customKey struct{ name, value string }

// customKey returns the value of customKeys[name], and whether the query has it.
func (q *v2Query) customKey(name string) (string, bool) {
	for _, k := range q.customKeys {
		if k.name == name {
			return k.value, true
		}
	}
	return "", false
}

// parseV2Query reads the raw query of GET /v2. Unknown parameters are ignored, as
// SDKs in the field may send more than this version reads. Every error is an
// *InputError naming the parameter.
func parseV2Query(raw string) (v2Query, error) {
	var q v2Query
	seenPkey := false
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := query.Unescape(rawKey)
		if err != nil {
			return q, badInput("query", "malformed percent-encoding in a parameter name")
		}
		switch {
		case key == "pkey":
			v, err := query.Unescape(rawValue)
			if err != nil {
				return q, badInput("pkey", "malformed percent-encoding")
			}
			if seenPkey && v != q.pkey {
				return q, badInput("pkey", "given twice with different values")
			}
			q.pkey, seenPkey = v, true
		case key == "pubAppName", key == "pubAppVersion":
			n, ok := unescapedLen(rawValue)
			if !ok {
				return q, badInput(key, "malformed percent-encoding")
			}
			if n > maxAppField {
				return q, badInput(key, "longer than %d bytes", maxAppField)
			}
		case strings.HasPrefix(key, "customKeys"):
			name, hasPrefix := strings.CutPrefix(key, "customKeys[")
			name, hasSuffix := strings.CutSuffix(name, "]")
			if !hasPrefix || !hasSuffix || name == "" {
				return q, badInput("customKeys", "want customKeys[<name>]=<value>")
			}
			if len(name) > maxCustomKeyName {
				return q, badInput("customKeys", "a key name is longer than %d bytes", maxCustomKeyName)
			}
			v, err := query.Unescape(rawValue)
			if err != nil {
				return q, badInput(customKeyParam(name), "malformed percent-encoding")
			}
			if len(v) > maxCustomKeyValue {
				return q, badInput(customKeyParam(name), "longer than %d bytes", maxCustomKeyValue)
			}
			if old, dup := q.customKey(name); dup {
				if old != v {
					return q, badInput(customKeyParam(name), "given twice with different values")
				}
				continue
			}
			if len(q.customKeys) == maxCustomKeys {
				return q, badInput("customKeys", "more than %d keys", maxCustomKeys)
			}
			if q.customKeys == nil {
				q.customKeys = make([]customKey, 0, 4)
			}
			q.customKeys = append(q.customKeys, customKey{name, v})
		}
	}
	switch {
	case q.pkey == "":
		return q, badInput("pkey", "required: the placement key")
	case !placement.ValidKey(q.pkey):
		return q, badInput("pkey", "must match [A-Za-z0-9_-]{1,64}")
	}
	return q, nil
}

// The mrid of every answer is a random UUID: from a pool of random bytes refilled
// 16 at a time by 256, rather than a crypto/rand read per request. mrids identify
// requests; they are not secrets.
func init() { uuid.EnableRandPool() }

// customKeyParam names the parameter of customKeys[name] in an error.
func customKeyParam(name string) string { return "customKeys[" + name + "]" }

// unescapedLen returns the length s has once decoded as a query component, and
// false when its percent-encoding is malformed, without decoding it.
func unescapedLen(s string) (int, bool) {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return 0, false
		}
		n -= 2
		i += 2
	}
	return n, true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// v2 serves GET /v2: how the placement behaves in the SDK.
func (s *Server) v2(c echo.Context) error {
	q, err := parseV2Query(c.Request().URL.RawQuery)
	if err != nil {
		return err
	}
	p, err := s.placements.Get(c.Request().Context(), q.pkey)
	if err != nil {
		return lookupError(s.log, q.pkey, err)
	}
	keyType, keyValue := p.KeyFor(q.customKey)

	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	*buf = s.v2Answers.get(p).append((*buf)[:0], uuid.New(), keyType, keyValue)

	res := c.Response()
	h := res.Header()
	// Shared, never-mutated slices: http.Header.Set would allocate two per request.
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheControlNoStore
	res.WriteHeader(http.StatusOK)
	res.Write(*buf) // an error here means the client left; nothing to answer
	return nil
}

var (
	contentTypeJSON     = []string{echo.MIMEApplicationJSON}
	cacheControlNoStore = []string{"no-store"}
	bufPool             = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

// lookupError turns a placement lookup failure into the error the client sees:
// not found (404), or unavailable (503) for anything else, so that no failure of
// the store becomes a 500. The store's own error is not shown: it may name hosts.
func lookupError(log *slog.Logger, pkey string, err error) error {
	if errors.Is(err, placement.ErrNotFound) {
		return &placementError{pkey: pkey, err: placement.ErrNotFound}
	}
	if !errors.Is(err, placement.ErrUnavailable) {
		log.Debug("placement lookup failed", "pkey", pkey, "error", err)
	}
	return &placementError{pkey: pkey, err: placement.ErrUnavailable}
}

// placementError is a failed placement lookup, worded for the client. It wraps
// placement.ErrNotFound or placement.ErrUnavailable.
type placementError struct {
	pkey string
	err  error
}

func (e *placementError) Error() string { return fmt.Sprintf("pkey %q: %v", e.pkey, e.err) }
func (e *placementError) Unwrap() error { return e.err }

// encodedV2 is the GET /v2 answer of one placement, encoded once: only the mrid
// and keyType/keyValue (which targeting chooses per request) are written per
// request, around the pre-encoded parts.
type encodedV2 struct {
	p    *placement.Placement
	head []byte // `","pkey":...,"keyType":`
	tail []byte // `,"status":...}`
}

// append appends the answer with the given mrid and keys to b: the bytes
// appendV2 writes.
func (e *encodedV2) append(b []byte, mrid uuid.UUID, keyType, keyValue string) []byte {
	b = append(b, `{"mrid":"`...)
	b = appendUUID(b, mrid)
	b = append(b, e.head...)
	b = appendString(b, keyType)
	b = append(b, `,"keyValue":`...)
	b = appendString(b, keyValue)
	return append(b, e.tail...)
}

// v2Answers holds the encoded answer of every placement served, by pkey. A
// placement the cache replaces (a change, a refresh) is a new *Placement, so its
// answer is encoded again on first use.
type v2Answers struct {
	m sync.Map // pkey → *encodedV2
	n atomic.Int64
}

// maxV2Answers bounds v2Answers: past it, the map starts over. Only placements
// that exist are added, so only deleted ones piling up can reach it.
const maxV2Answers = 100_000

func (as *v2Answers) get(p *placement.Placement) *encodedV2 {
	if v, ok := as.m.Load(p.PKey); ok {
		if e := v.(*encodedV2); e.p == p {
			return e
		}
	} else if as.n.Add(1) > maxV2Answers {
		as.m.Clear()
		as.n.Store(1)
	}
	e := &encodedV2{p: p, head: appendV2Head(nil, p), tail: appendV2Tail(nil, p)}
	as.m.Store(p.PKey, e)
	return e
}

// appendV2 appends the GET /v2 answer, the JSON the SDKs in the field parse: the
// field names, their order and status "OK" are frozen. It writes the JSON by hand
// because this is the hottest path of the server; TestAppendV2MatchesEncodingJSON
// holds it to what encoding/json would write.
func appendV2(b []byte, mrid uuid.UUID, p *placement.Placement, keyType, keyValue string) []byte {
	b = append(b, `{"mrid":"`...)
	b = appendUUID(b, mrid)
	b = appendV2Head(b, p)
	b = appendString(b, keyType)
	b = append(b, `,"keyValue":`...)
	b = appendString(b, keyValue)
	return appendV2Tail(b, p)
}

// appendV2Head appends the part of the answer between the mrid and keyType's value.
func appendV2Head(b []byte, p *placement.Placement) []byte {
	b = append(b, `","pkey":`...)
	b = appendString(b, p.PKey)
	b = append(b, `,"adServer":`...)
	b = appendString(b, p.AdServer)
	return append(b, `,"keyType":`...)
}

// appendV2Tail appends the part of the answer after keyValue's value.
func appendV2Tail(b []byte, p *placement.Placement) []byte {
	b = append(b, `,"status":`...)
	b = appendString(b, p.Status)
	b = append(b, `,"articlesBeforeFirstAd":`...)
	b = strconv.AppendInt(b, int64(p.ArticlesBeforeFirstAd), 10)
	b = append(b, `,"articlesBetweenAds":`...)
	b = strconv.AppendInt(b, int64(p.ArticlesBetweenAds), 10)
	b = append(b, `,"mediationNetworks":[`...)
	for i, n := range p.MediationNetworks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendString(b, n.Key)
		b = append(b, `,"name":`...)
		b = appendString(b, n.Name)
		b = append(b, `,"androidClassName":`...)
		b = appendString(b, n.AndroidClassName)
		b = append(b, `,"iosClassName":`...)
		b = appendString(b, n.IOSClassName)
		b = append(b, `,"parameters":`...)
		b = appendObject(b, n.Parameters)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendString appends s as a JSON string, escaped as encoding/json escapes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendObject appends raw when it is a JSON object, else {}: SDKs expect
// "parameters" to be an object, never null.
func appendObject(b []byte, raw json.RawMessage) []byte {
	if string(raw) == "{}" {
		return append(b, "{}"...)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return append(b, "{}"...)
	}
	return append(b, raw...)
}

// appendUUID appends u in its canonical 8-4-4-4-12 form.
func appendUUID(b []byte, u uuid.UUID) []byte {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return append(b, s[:]...)
}
