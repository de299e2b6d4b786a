package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/consent"
	"asap/service/internal/consent/consenttest"
	"asap/service/internal/privacy"
	"asap/service/internal/testwait"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name          string
		raw           string
		wantStatus    int
		wantKeepAlive bool
		wantErr       bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, true, false},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n", 200, true, false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, true, false},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 503, false, false},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, true, false},
		{"body to the end", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, false, false},
		{"garbage", "SSH-2.0-OpenSSH\r\n", 0, false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, true},
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 200, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.raw))
			status, keepAlive, err := readResponse(br)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v; want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if status != tt.wantStatus || keepAlive != tt.wantKeepAlive {
				t.Errorf("got status %d keep-alive %t; want %d %t", status, keepAlive, tt.wantStatus, tt.wantKeepAlive)
			}
			if n := br.Buffered(); n != 0 {
				t.Errorf("%d bytes left unread after the response", n)
			}
		})
	}
}

// TestClosedLoopCountsAnswers runs the closed loop against a real server that
// answers with a fixed length, chunked, then fails, and checks what it counts.
// Each run ends when the server has seen a number of requests (an event), not
// after a time: on a busy machine a short run could see no answer at all.
func TestClosedLoopCountsAnswers(t *testing.T) {
	var posts, bodies atomic.Int64
	type run struct {
		seen, stopAt int64
		stop         context.CancelFunc
	}
	var current atomic.Pointer[run]
	// loop runs the closed loop until the server has seen stopAt requests. With at
	// most 2 connections, each sending its next request only once it has read the
	// last answer, the server seeing 5 means at least 2 answers were counted.
	loop := func(tg target, conns int) throughput {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		current.Store(&run{stopAt: 5, stop: cancel})
		return closedLoop(ctx, tg, conns, time.Hour)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cur := current.Load(); cur != nil {
			if n := atomic.AddInt64(&cur.seen, 1); n == cur.stopAt {
				cur.stop()
			}
		}
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/fail":
			http.Error(w, "no", http.StatusInternalServerError)
		case "/post":
			// A POST cut by the end of the loop arrives with a short body: only
			// requests that arrived whole count.
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return
			}
			posts.Add(1)
			if string(b) == "body" {
				bodies.Add(1)
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	for _, uri := range []string{"/", "/chunked"} {
		got := loop(target{method: http.MethodGet, addr: addr, uri: uri}, 2)
		if got.ok == 0 || got.failed != 0 {
			t.Errorf("%s: ok %d failed %d (%s); want answers and no failures", uri, got.ok, got.failed, got.firstError)
		}
	}
	got := loop(target{method: http.MethodPost, addr: addr, uri: "/post", body: []byte("body")}, 1)
	if got.ok == 0 || got.failed != 0 || posts.Load() != bodies.Load() {
		t.Errorf("POST: ok %d failed %d, %d posts of which %d with the body; want all with it", got.ok, got.failed, posts.Load(), bodies.Load())
	}
	got = loop(target{method: http.MethodGet, addr: addr, uri: "/fail"}, 1)
	if got.ok != 0 || got.failed == 0 || !strings.Contains(got.firstError, "500") {
		t.Errorf("/fail: ok %d failed %d (%q); want failures naming status 500", got.ok, got.failed, got.firstError)
	}
}

// TestOpenLoop checks what the open loop counts, not how fast it sends: how many
// requests go out in a given time is this machine's business, so any number of
// them will do, as long as every one is answered and the quantiles are ordered.
func TestOpenLoop(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	got := openLoop(context.Background(), target{method: http.MethodGet, addr: strings.TrimPrefix(srv.URL, "http://"), uri: "/"}, 200, 0, time.Second)
	if got.sent == 0 || got.ok != got.sent {
		t.Errorf("sent %d, ok %d (%s); want some sent, all ok", got.sent, got.ok, got.firstError)
	}
	if got.p50 <= 0 || got.p50 > got.p99 || got.p99 > got.p999 || got.p999 > got.max {
		t.Errorf("quantiles p50 %s p99 %s p99.9 %s max %s; want 0 < p50 ≤ p99 ≤ p99.9 ≤ max", got.p50, got.p99, got.p999, got.max)
	}
}

func TestQuantileAndMedian(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var sorted []time.Duration
	for i := 1; i <= 1000; i++ {
		sorted = append(sorted, ms(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, ms(500)}, {0.99, ms(990)}, {0.999, ms(999)}, {1, ms(1000)}, {0, ms(1)}} {
		if got := quantile(sorted, tt.q); got != tt.want {
			t.Errorf("quantile(1..1000 ms, %v) = %s; want %s", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %s; want 0", got)
	}
	if got, want := median([]float64{3, 1, 2}), 2.0; got != want {
		t.Errorf("median(3 1 2) = %v; want %v", got, want)
	}
	if got, want := median([]time.Duration{4, 1, 3, 2}), time.Duration(2); got != want { // (2+3)/2 in integer nanoseconds
		t.Errorf("median(4 1 3 2) = %v; want %v", got, want)
	}
}

func TestParseCommandStats(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=1450,usec=1401,usec_per_call=0.97,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|list:calls=3,usec=11,usec_per_call=11.00,rejected_calls=0,failed_calls=0\r\nnot a stat\r\n"
	got := parseCommandStats(info)
	if len(got) != 2 || got["get"] != 1450 || got["client|list"] != 3 {
		t.Errorf("parseCommandStats = %v; want get 1450, client|list 3", got)
	}
	d := diffStats(map[string]int64{"get": 10, "ping": 5}, map[string]int64{"get": 12, "ping": 5, "set": 1})
	if len(d) != 2 || d["get"] != 2 || d["set"] != 1 {
		t.Errorf("diffStats = %v; want get 2, set 1", d)
	}
}

// TestP99Spread: the spread is over every latency run of every round, and the
// target holds the ASAP /v2/ad row's half-range to 0.5 ms.
func TestP99Spread(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	run := func(p99 float64) latency { return latency{sent: 10, ok: 10, p99: ms(p99)} }
	r := &report{
		opts:       options{rate: 2000, latencyRuns: 2},
		contenders: []contender{{route: "/v2/ad", name: nameASAP, asap: true}},
		results: map[string][]sample{"/v2/ad " + nameASAP: {
			{tput: throughput{ok: 1, elapsed: time.Second}, lat: run(1.1), runs: []latency{run(1.0), run(1.2)}},
			{tput: throughput{ok: 1, elapsed: time.Second}, lat: run(1.5), runs: []latency{run(1.4), run(2.4)}},
		}},
	}
	s, _ := r.summary("/v2/ad", nameASAP)
	if s.p99Lo != ms(1.0) || s.p99Hi != ms(2.4) || s.latencyRuns != 4 {
		t.Errorf("spread %s–%s over %d runs; want 1ms–2.4ms over 4", s.p99Lo, s.p99Hi, s.latencyRuns)
	}
	if got := fmtSpread(s); got != "1.30 ms (1.00–2.40)" {
		t.Errorf("fmtSpread = %q; want %q", got, "1.30 ms (1.00–2.40)")
	}
	for _, tr := range r.targets() {
		if strings.HasPrefix(tr.what, "/v2/ad p99 stable") && tr.result != "**missed**: 0.20 ms over" {
			t.Errorf("%s: %q (%s); want missed by 0.20 ms", tr.what, tr.result, tr.measured)
		}
	}
}

func TestTargetsVerdicts(t *testing.T) {
	smp := func(rps float64, p99 time.Duration) []sample {
		return []sample{{tput: throughput{ok: int64(rps), elapsed: time.Second}, lat: latency{sent: 10, ok: 10, p99: p99}}}
	}
	r := &report{
		opts: options{rate: 2000},
		contenders: []contender{
			{route: "/v2", name: nameASAP, asap: true}, {route: "/v2", name: nameEcho},
			{route: "/v2/ad", name: nameASAP, asap: true}, {route: "/v2/ad", name: nameProxy},
			{route: "/v2/ad", name: nameUpstream},
		},
		results: map[string][]sample{
			"/v2 " + nameASAP:        smp(95, 0),
			"/v2 " + nameEcho:        smp(100, 0),
			"/v2/ad " + nameASAP:     smp(90, 3*time.Millisecond),
			"/v2/ad " + nameProxy:    smp(100, 0),
			"/v2/ad " + nameUpstream: smp(200, time.Millisecond),
		},
		lookups: map[string]int64{`result="hit"`: 100},
	}
	got := map[string]string{}
	for _, tr := range r.targets() {
		got[tr.what] = tr.result
	}
	want := map[string]string{
		"/v2 throughput ≥ 0.9× bare Echo":                            "met",
		"/v2/ad throughput ≥ 1.0× httputil.ReverseProxy":             "**missed**: 10% short",
		"/v2/ad throughput ≥ 0.7× nginx":                             "—",
		"/v2/ad p99 at 2000 req/s within 1 ms of the upstream's p99": "**missed**: 1.00 ms over",
		"zero Redis commands per request in steady state":            "met",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q; want %q", k, got[k], w)
		}
	}
	if !strings.Contains(r.markdown(), "| /v2 | ASAP | 95 | 0.95× bare Echo |") {
		t.Errorf("markdown lacks the /v2 ASAP row with its ratio:\n%s", r.markdown())
	}
}

// TestConsentTargetPairsRounds: the consent target judges the median of the
// rounds' own ratios, from their interleaved slices, not the ratio of the
// medians, which a slow round of the baseline alone would move; the 2.6 kB
// string's row is reported, never judged.
func TestConsentTargetPairsRounds(t *testing.T) {
	rounds := func(rps ...float64) []sample {
		var out []sample
		for _, n := range rps {
			out = append(out, sample{tput: throughput{ok: int64(n), elapsed: time.Second}, cpu: time.Second})
		}
		return out
	}
	r := &report{interleaved: map[string][]sample{
		// Each round the string costs 3%; the third round, the machine was busy.
		nameASAP:        rounds(10000, 10000, 6000),
		nameASAPConsent: rounds(9700, 9700, 5820),
	}}
	got := r.consentTargets()
	if len(got) != 2 || got[0].result != "met" || !strings.Contains(got[0].measured, "0.970×") || !strings.Contains(got[0].measured, "(0.97, 0.97, 0.97)") ||
		!strings.Contains(got[0].measured, "CPU per request +3.1%") {
		t.Fatalf("consent targets: %q; want the first met at 0.970×, each round 0.97", got)
	}
	if got[1].measured != "not measured" || got[1].result != "—" {
		t.Errorf("the 2.6 kB row, not run: %q, %q; want not measured", got[1].measured, got[1].result)
	}
	r.interleaved[nameASAPConsent] = rounds(9000, 9000, 6000)
	if got := r.consentTargets(); got[0].result == "met" {
		t.Errorf("consent target with the string 10%% slower in two rounds of three: %q, %q; want missed", got[0].measured, got[0].result)
	}
	r.interleaved[nameASAPConsentRanges] = rounds(9000, 9000, 6000)
	if got := r.consentTargets(); got[1].result != "reported" || !strings.Contains(got[1].measured, "0.900×") {
		t.Errorf("the 2.6 kB row: %q, %q; want reported at 0.900×", got[1].measured, got[1].result)
	}
}

// interleave gives each target the same number of slices, in the order
// A B C C B A.
func TestInterleave(t *testing.T) {
	if got := fmt.Sprint(abba(3)); got != "[0 1 2 2 1 0]" {
		t.Errorf("abba(3) = %s; want [0 1 2 2 1 0]", got)
	}
	var counts [3]atomic.Int64
	var cs []contender
	for i := range counts {
		s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { counts[i].Add(1) }))
		t.Cleanup(s.Close)
		cs = append(cs, contender{name: fmt.Sprint(i), pid: os.Getpid(),
			target: target{method: http.MethodGet, addr: strings.TrimPrefix(s.URL, "http://"), uri: "/"}})
	}
	const slice = 50 * time.Millisecond
	smps := interleave(context.Background(), cs, 1, slice, 2)
	for i, s := range smps {
		// Each slice's clock starts just after its deadline is set, so four come to
		// a hair under 4 × slice: more than three and a half means four.
		if tp := s.tput; tp.ok == 0 || tp.ok > counts[i].Load() || tp.failed != 0 || tp.elapsed <= 7*slice/2 || s.cpu <= 0 {
			t.Errorf("contender %d: %+v, %d requests served; want answers and CPU over four slices of %s", i, s, counts[i].Load(), slice)
		}
	}
}

// cpuTicks reads /proc/stat where there is one: stolen time within the total,
// and both counting up.
func TestCPUTicks(t *testing.T) {
	steal0, total0, ok := cpuTicks()
	if _, err := os.Stat("/proc/stat"); err != nil {
		if ok {
			t.Fatal("cpuTicks ok without /proc/stat")
		}
		t.Skip("no /proc/stat here")
	}
	if !ok || total0 <= 0 || steal0 < 0 || steal0 > total0 {
		t.Fatalf("cpuTicks = %d, %d, %v", steal0, total0, ok)
	}
	testwait.For(t, "the CPU clock to tick", func() bool {
		_, total1, _ := cpuTicks()
		return total1 > total0
	})
	if steal1, _, _ := cpuTicks(); steal1 < steal0 {
		t.Errorf("steal went back from %d to %d", steal0, steal1)
	}
}

// The consent rows' strings are what their comments say: 1,000 vendors each,
// the typical one in bit fields (the shorter encoding, which the IAB's encoder
// picks) and about as long as the longest string the IAB's library made, the
// other range-encoded; and the upstreams' vendor keeps everything under both, so
// the rows measure the cost of enforcing, not a smaller request.
func TestConsentString(t *testing.T) {
	longest := 0 // of the IAB-made TC strings
	f, err := os.Open(filepath.Join("..", "..", "internal", "consent", "testdata", "tcf-v2.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var v struct{ TCString string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		longest = max(longest, len(v.TCString))
	}
	for _, c := range []struct {
		name, s string
		want    consenttest.TCF
		ranges  bool
	}{{"typical", typicalString, consenttest.Typical(), false}, {"ranges", consentString, consenttest.Large(), true}} {
		tc, err := consent.DecodeTCF(c.s)
		if err != nil {
			t.Fatal(c.name, err)
		}
		if n := len(tc.VendorConsents.IDs()); n != 1000 || (tc.VendorConsents.Ranges() > 0) != c.ranges {
			t.Errorf("%s: %d vendors, %d ranges; want 1,000, range-encoded %t", c.name, n, tc.VendorConsents.Ranges(), c.ranges)
		}
		if c.s != c.want.Encode() {
			t.Errorf("%s: the string is not consenttest's", c.name)
		}
		s := privacy.Signals{GDPR: 1, GDPRConsent: c.s, COPPA: -1, LMT: -1, ATTS: -1}
		e := privacy.NewDecider(false, 0).Evaluate(&s)
		if d := e.For(consentVendor); d.Blocked || d.RemoveIDs || d.CoarsenGeo {
			t.Errorf("%s: vendor %d: %+v (%s); want the whole request", c.name, consentVendor, d, d.Why)
		}
	}
	ranged := consenttest.Typical()
	ranged.Ranges = true
	switch {
	case len(consentString) != 2628:
		t.Errorf("the range-encoded string is %d bytes; want 2,628", len(consentString))
	case len(ranged.Encode()) <= len(typicalString):
		t.Errorf("the typical string's vendors take %d bytes in ranges, %d in bit fields; want bit fields the shorter", len(ranged.Encode()), len(typicalString))
	case len(typicalString) > longest || len(typicalString) < longest*9/10:
		t.Errorf("the typical string is %d bytes; want within 10%% under the longest IAB-made string, %d", len(typicalString), longest)
	case 2*longest > len(consentString):
		t.Errorf("the range-encoded string is %d bytes, the longest IAB-made one %d; the row's name says more than twice", len(consentString), longest)
	}
	if !strings.Contains(adURI, adPrivacy) {
		t.Errorf("adURI lacks %q, which the consent rows replace", adPrivacy)
	}
}
