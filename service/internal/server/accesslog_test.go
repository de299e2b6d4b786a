package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
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

// TestAccessSampler: errors and slow requests are always kept, the rest and the
// requests the limits refused at the configured fraction.
func TestAccessSampler(t *testing.T) {
	const slow = 250 * time.Millisecond
	tests := []struct {
		name     string
		fraction float64
		status   int
		latency  time.Duration
		shed     bool // refused by the limits
		want     bool
	}{
		{"every request at 1", 1, 200, time.Millisecond, false, true},
		{"none of the rest at 0", 0, 200, time.Millisecond, false, false},
		{"no bid at 0", 0, 204, time.Millisecond, false, false},
		{"bad request at 0", 0, 400, time.Millisecond, false, true},
		{"unknown placement at 0", 0, 404, time.Millisecond, false, true},
		{"Redis unavailable at 0", 0, 503, time.Microsecond, false, true},
		{"shed at 0", 0, 503, time.Microsecond, true, false},
		{"shed at 1", 1, 503, time.Microsecond, true, true},
		{"shed after a slow wait at 0", 0, 503, slow, true, true},
		{"panic at 0", 0, 500, time.Millisecond, false, true},
		{"slow at 0", 0, 200, slow, false, true},
		{"just under slow at 0", 0, 200, slow - 1, false, false},
		{"just below 1 rounds to every request", math.Nextafter(1, 0), 200, time.Millisecond, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccessSampler(tt.fraction, slow)
			for range 1000 { // a draw is random: the answer must hold for every one
				if got := a.keep(tt.status, tt.latency, tt.shed); got != tt.want {
					t.Fatalf("keep(%d, %s, %t) at %v = %v; want %v", tt.status, tt.latency, tt.shed, tt.fraction, got, tt.want)
				}
			}
		})
	}
	t.Run("zero slow keeps every request", func(t *testing.T) {
		if !newAccessSampler(0, 0).keep(200, 0, false) {
			t.Error("ASAP_ACCESS_LOG_SLOW=0 dropped a request; want every request slow enough")
		}
	})
	// The fraction kept: 100,000 draws at 0.01 keep 1,000 ± 31 (one standard
	// deviation); the bounds are 10 deviations wide, so only a broken sampler fails.
	for _, fraction := range []float64{0.01, 0.5} {
		a := newAccessSampler(fraction, slow)
		const n = 100_000
		kept := 0
		for range n {
			if a.keep(200, time.Millisecond, false) {
				kept++
			}
		}
		want := fraction * n
		sd := math.Sqrt(n * fraction * (1 - fraction))
		if math.Abs(float64(kept)-want) > 10*sd {
			t.Errorf("at %v kept %d of %d; want %.0f ± %.0f", fraction, kept, n, want, 10*sd)
		}
	}
}

// BenchmarkAccessSampler is the decision every request pays, on every core at
// once (a shared counter or a locked source would show here): a sampled 200.
func BenchmarkAccessSampler(b *testing.B) {
	a := newAccessSampler(0.01, 250*time.Millisecond)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.keep(200, time.Millisecond, false)
		}
	})
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
