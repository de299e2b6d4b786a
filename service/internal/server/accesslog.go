package server

import (
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"asap/service/internal/jsonstr"
)

// accessSampler decides which requests the access log shows: every error (4xx
// and 5xx: what an operator looks for, and rare), every request at least slow
// long, and of the rest a fraction, drawn at random. The requests the limits
// refuse are of the rest: they come by the thousand a second exactly when the
// CPU is shortest, each line would cost a write, and asap_http_shed_total counts
// every one. At fleet scale a line per request is a bill (on the order of 100 GB
// of logs a day); the request metrics count every request, so totals come from
// them, not from lines.
type accessSampler struct {
	all       bool          // every request is logged: fraction 1
	threshold uint64        // else a request is kept when a random uint64 is below it
	slow      time.Duration // from this latency on a request is always kept
}

func newAccessSampler(fraction float64, slow time.Duration) accessSampler {
	s := accessSampler{slow: slow}
	// fraction·2⁶⁴: a draw below it has probability fraction. A fraction that
	// rounds to 2⁶⁴ or more (1, or just below) keeps everything.
	if t := math.Ldexp(fraction, 64); fraction >= 1 || t >= math.Ldexp(1, 64) {
		s.all = true
	} else if fraction > 0 {
		s.threshold = uint64(t)
	}
	return s
}

// keep reports whether the request answered status after d is logged; shed
// tells a request the limits refused. The draw is math/rand/v2's top-level
// source, the runtime's per-thread generator: no lock, no shared counter between
// cores, a few nanoseconds.
func (a accessSampler) keep(status int, d time.Duration, shed bool) bool {
	return a.all || status >= 400 && !shed || d >= a.slow || rand.Uint64() < a.threshold
}

// accessLine is one access log line's fields.
type accessLine struct {
	time      time.Time
	method    string
	route     string
	status    int
	latency   time.Duration
	bytes     int64
	requestID string
	pkey      string // omitted when empty
}

// writeAccessLine writes l to w as one JSON line, in the format of slog's JSON
// handler for Logger.LogAttrs(ctx, slog.LevelInfo, "request", <the fields>): the
// same keys in the same order, so log pipelines see no difference. It writes the
// line by hand because the access log is on every request's path, where slog's
// handler (reflection for floats, a record per call) cost a tenth of /v2's CPU.
// Strings follow jsonstr's one rule, which is slog's but for \b and \f (short
// escapes there, \u0008 and \u000c in slog): the same values once decoded.
// TestAccessLineMatchesSlog holds it to slog's output.
func writeAccessLine(w io.Writer, l *accessLine) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	*buf = appendAccessLine((*buf)[:0], l)
	w.Write(*buf) // a log line that cannot be written is not the client's problem
}

func appendAccessLine(b []byte, l *accessLine) []byte {
	b = append(b, `{"time":"`...)
	b = l.time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","method":`...)
	b = jsonstr.Append(b, l.method)
	b = append(b, `,"route":`...)
	b = jsonstr.Append(b, l.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"latency_ms":`...)
	// Microseconds as milliseconds with up to three decimals, as encoding/json
	// writes float64(µs)/1000: 'f' notation for every value from 0.001 up.
	b = strconv.AppendFloat(b, float64(l.latency.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, `,"request_id":`...)
	b = jsonstr.Append(b, l.requestID)
	if l.pkey != "" {
		b = append(b, `,"pkey":`...)
		b = jsonstr.Append(b, l.pkey)
	}
	return append(b, "}\n"...)
}
