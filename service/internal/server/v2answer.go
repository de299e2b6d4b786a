package server

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/experiment"
	"asap/service/internal/jsonstr"
	"asap/service/internal/placement"
)

// encodedV2 is the GET /v2 answer of one placement, encoded once: only the mrid
// and keyType/keyValue (which targeting chooses per request) are written per
// request, around the pre-encoded parts. A placement with experiments has one
// more answer per arm, in arms.
type encodedV2 struct {
	p    *placement.Placement // the placement as cached: the key of v2Answers
	view *placement.Placement // what this answer is of: p, or the arm's p.ForArm
	head []byte               // `","pkey":...,"keyType":`
	tail []byte               // `,"status":...}`, with the arm's experimentId

	// arms are the answers of p.Experiments, in order; nil in an arm's answer.
	arms []encodedV2
	// requests counts this answer's requests when p has experiments (nil else).
	requests prometheus.Counter
}

// arm returns the answer of arm i of the placement's experiments, or the
// control answer for -1.
func (e *encodedV2) arm(i int) *encodedV2 {
	if i < 0 {
		return e
	}
	return &e.arms[i]
}

// append appends the answer with the given mrid and keys to b: the bytes
// appendV2 writes.
func (e *encodedV2) append(b []byte, mrid uuid.UUID, keyType, keyValue string) []byte {
	b = append(b, `{"mrid":"`...)
	b = appendUUID(b, mrid)
	b = append(b, e.head...)
	b = jsonstr.Append(b, keyType)
	b = append(b, `,"keyValue":`...)
	b = jsonstr.Append(b, keyValue)
	return append(b, e.tail...)
}

// v2Answers holds the encoded answer of every placement served, by pkey. A
// placement the cache replaces (a change, a refresh) is a new *Placement, so its
// answer is encoded again on first use.
type v2Answers struct {
	m sync.Map // pkey → *encodedV2
	n atomic.Int64
	// experiments gives the request counters of placements with experiments.
	// Nil counts nothing.
	experiments *experiment.Metrics
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
	e := &encodedV2{p: p, view: p, head: appendV2Head(nil, p), tail: appendV2Tail(nil, p, "")}
	if len(p.Experiments) > 0 {
		e.requests = as.experiments.Requests("/v2", p, -1)
		e.arms = make([]encodedV2, len(p.Experiments))
		for i := range p.Experiments {
			a := p.ForArm(i)
			e.arms[i] = encodedV2{
				p: p, view: a, head: appendV2Head(nil, a), tail: appendV2Tail(nil, a, p.Experiments[i].ID),
				requests: as.experiments.Requests("/v2", p, i),
			}
		}
	}
	as.m.Store(p.PKey, e)
	return e
}

// appendV2 appends the GET /v2 answer, the JSON the SDKs in the field parse: the
// field names, their order and status "OK" are frozen; fields added since
// (experimentId, only in an experiment arm's answer) come last. It writes the
// JSON by hand because this is the hottest path of the server;
// TestAppendV2MatchesEncodingJSON holds it to what encoding/json would write.
func appendV2(b []byte, mrid uuid.UUID, p *placement.Placement, keyType, keyValue, experimentID string) []byte {
	b = append(b, `{"mrid":"`...)
	b = appendUUID(b, mrid)
	b = appendV2Head(b, p)
	b = jsonstr.Append(b, keyType)
	b = append(b, `,"keyValue":`...)
	b = jsonstr.Append(b, keyValue)
	return appendV2Tail(b, p, experimentID)
}

// appendV2Head appends the part of the answer between the mrid and keyType's value.
func appendV2Head(b []byte, p *placement.Placement) []byte {
	b = append(b, `","pkey":`...)
	b = jsonstr.Append(b, p.PKey)
	b = append(b, `,"adServer":`...)
	b = jsonstr.Append(b, p.AdServer)
	return append(b, `,"keyType":`...)
}

// appendV2Tail appends the part of the answer after keyValue's value, with
// experimentId when it is not "" (an experiment arm's answer).
func appendV2Tail(b []byte, p *placement.Placement, experimentID string) []byte {
	b = append(b, `,"status":`...)
	b = jsonstr.Append(b, p.Status)
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
		b = jsonstr.Append(b, n.Key)
		b = append(b, `,"name":`...)
		b = jsonstr.Append(b, n.Name)
		b = append(b, `,"androidClassName":`...)
		b = jsonstr.Append(b, n.AndroidClassName)
		b = append(b, `,"iosClassName":`...)
		b = jsonstr.Append(b, n.IOSClassName)
		b = append(b, `,"parameters":`...)
		b = appendObject(b, n.Parameters)
		b = append(b, '}')
	}
	b = append(b, ']')
	if experimentID != "" {
		b = append(b, `,"experimentId":`...)
		b = jsonstr.Append(b, experimentID)
	}
	return append(b, '}')
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
