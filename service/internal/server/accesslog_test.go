package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestAccessLineMatchesSlog holds the hand-written access log line to what slog's
// JSON handler writes for the same record, byte for byte.
func TestAccessLineMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 26, 1, 19, 56, 54_321_000, time.UTC)
	tests := []struct {
		name string
		line accessLine
	}{
		{"v2 hit", accessLine{at, "GET", "/v2", 200, 518 * time.Microsecond, 511, "194cdff8-1", "demo-feed"}},
		{"no pkey", accessLine{at, "GET", "unmatched", 404, 3 * time.Millisecond, 0, "194cdff8-2", ""}},
		{"zero latency", accessLine{at, "HEAD", "/healthz", 200, 400 * time.Nanosecond, 0, "x", ""}},
		{"slow", accessLine{at, "GET", "/v2/ad", 204, 1234567 * time.Microsecond, 0, "y", "p"}},
		{"request id to escape", accessLine{at, "GET", "/v2", 200, time.Millisecond, 1, `a"b\c<d>&e` + "\x7f\u2028\u2029é\xff\t\n\r\x01", "k"}},
		{"local time", accessLine{at.In(time.FixedZone("X", 2*3600)), "GET", "/v2", 503, time.Microsecond, 42, "z", "k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			r := slog.NewRecord(tt.line.time, slog.LevelInfo, "request", 0)
			r.AddAttrs(
				slog.String("method", tt.line.method),
				slog.String("route", tt.line.route),
				slog.Int("status", tt.line.status),
				slog.Float64("latency_ms", float64(tt.line.latency.Microseconds())/1000),
				slog.Int64("bytes", tt.line.bytes),
				slog.String("request_id", tt.line.requestID),
			)
			if tt.line.pkey != "" {
				r.AddAttrs(slog.String("pkey", tt.line.pkey))
			}
			if err := slog.NewJSONHandler(&want, nil).Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			writeAccessLine(&got, &tt.line)
			if got.String() != want.String() {
				t.Errorf("got  %s\nwant %s", got.String(), want.String())
			}
		})
	}
	// \b and \f: jsonstr escapes them short, slog as \u0008 and \u000c; the line
	// must decode to the same values.
	t.Run("backspace and form feed", func(t *testing.T) {
		l := accessLine{at, "GET", "/v2", 200, time.Millisecond, 1, "a\bb\fc", "k"}
		var got bytes.Buffer
		writeAccessLine(&got, &l)
		var fields map[string]any
		if err := json.Unmarshal(got.Bytes(), &fields); err != nil {
			t.Fatalf("line %s: %v", got.String(), err)
		}
		if fields["request_id"] != l.requestID {
			t.Errorf("request_id decodes to %q; want %q", fields["request_id"], l.requestID)
		}
	})
}

func BenchmarkAccessLine(b *testing.B) {
	l := accessLine{time.Now(), "GET", "/v2", 200, 518 * time.Microsecond, 511, "194cdff8-1", "demo-feed"}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		writeAccessLine(&buf, &l)
	}
}

// TestQueryPkey: the access log reads the pkey as the parsers do (decoded, the
// one rule for a repeated parameter) and names it only when it is well formed.
func TestQueryPkey(t *testing.T) {
	for raw, want := range map[string]string{
		"pkey=demo-feed":                  "demo-feed",
		"pkey=demo%2Dfeed":                "demo-feed",
		"uid=x&pkey=demo-feed":            "demo-feed",
		"pkey=demo-feed&pkey=demo-feed":   "demo-feed",
		"pkey=demo-feed&pkey=demo-paused": "",
		"pkey=a/b":                        "",
		"pkey=%zz":                        "",
		"":                                "",
		"pkeyx=demo-feed":                 "",
		"&&pkey=demo-feed&":               "demo-feed",
		"pkey=" + strings.Repeat("a", 65): "",
	} {
		if got := queryPkey(raw); got != want {
			t.Errorf("queryPkey(%q) = %q; want %q", raw, got, want)
		}
	}
}
