package server

import (
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

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
	b = appendLogString(b, l.method)
	b = append(b, `,"route":`...)
	b = appendLogString(b, l.route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"latency_ms":`...)
	// Microseconds as milliseconds with up to three decimals, as encoding/json
	// writes float64(µs)/1000: 'f' notation for every value from 0.001 up.
	b = strconv.AppendFloat(b, float64(l.latency.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, l.bytes, 10)
	b = append(b, `,"request_id":`...)
	b = appendLogString(b, l.requestID)
	if l.pkey != "" {
		b = append(b, `,"pkey":`...)
		b = appendLogString(b, l.pkey)
	}
	return append(b, "}\n"...)
}

// appendLogString appends s as a JSON string escaped as slog's JSON handler
// escapes it: quotes, backslashes and control characters, invalid UTF-8 as
// U+FFFD, and U+2028/U+2029; unlike encoding/json it leaves <, > and & alone.
func appendLogString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				const hex = "0123456789abcdef"
				b = append(b, `\u00`...)
				b = append(b, hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, "89"[r-'\u2028'])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
