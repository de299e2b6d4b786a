package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sdkRun sends n GET /v2/ad of pkey: one after the other in the short form, which
// asserts no time (every answer is an event); at rps for d in the full form, whose
// latency is held to tmax.
func sdkRun(t *testing.T, srv *asap, pkey string, n int, rps float64, d time.Duration, check checkFunc) stats {
	t.Helper()
	client := newClient(32)
	defer client.CloseIdleConnections()
	url := func(int) string { return srv.base + "/v2/ad?pkey=" + pkey }
	var events []event
	if *full {
		events = openLoop(context.Background(), client, rps, d, 32, url, check).all()
	} else {
		for i := range n {
			events = append(events, do(context.Background(), client, url(i), check))
		}
	}
	s := summarize(events)
	if s.failures > 0 {
		t.Errorf("%d wrong answers: %q", s.failures, s.problems)
	}
	return s
}

// TestUpstreamFloodsHeaders: an upstream that answers every bid request with
// headers without end (40 MB of them each, if ASAP read them all). ASAP stops at
// ASAP_UPSTREAM_MAX_HEADER_BYTES (64 KiB): its resident memory stays where it was
// and the SDK gets its 204 (the placement has no house ad) within tmax. Before the
// cap, four such answers grew ASAP's memory by ~80 MiB.
func TestUpstreamFloodsHeaders(t *testing.T) {
	const flood = 40 << 20 // bytes of headers the upstream would send per answer
	var (
		n     = 20 // requests in the short form
		rps   = 100.0
		d     = 10 * time.Second
		tmax  = 250 * time.Millisecond // demo-feed's tmaxMs
		slack = 10 * time.Millisecond
	)
	var answers, flooded atomic.Int64 // answers begun; header bytes the upstream got out
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			answers.Add(1)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
			line := []byte("X-Flood: " + strings.Repeat("f", 1014) + "\r\n")
			for sent := 0; sent < flood; sent += len(line) {
				if _, err := c.Write(line); err != nil {
					return // ASAP hung up: the connection is done
				}
				flooded.Add(int64(len(line)))
			}
			io.WriteString(c, "Content-Length: 2\r\n\r\n{}")
		}
	})
	rdb := startRedis(t, adPlacement(t, "ad-flood", "flood", true))
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL":        rdb.URL(),
		"ASAP_UPSTREAMS":        "flood=" + up,
		"ASAP_BREAKER_FAILURES": "1000000", // every request reaches the flood
	})
	rss0, _ := srv.memory(t)

	s := sdkRun(t, srv, "ad-flood", n, rps, d, wantStatus(http.StatusNoContent))
	rss1, peak := srv.memory(t)
	refused := srv.metric(t, "asap_upstream_errors_total", `upstream="flood"`, `reason="headers_too_large"`)
	t.Logf("SDK: %s", s)
	t.Logf("%d flooded answers (%.1f MiB of headers got out of the upstream, %.1f KiB per answer) refused at the cap: %.0f; ASAP's resident memory %.1f → %.1f MiB (peak %.1f)",
		answers.Load(), float64(flooded.Load())/(1<<20), float64(flooded.Load())/1024/float64(max(answers.Load(), 1)), refused, rss0, rss1, peak)
	if int64(refused) != answers.Load() || answers.Load() < int64(s.n) {
		t.Errorf("%.0f answers refused for their headers, %d flooded, %d SDK requests; want all of them refused", refused, answers.Load(), s.n)
	}
	// Without the cap one answer alone is 40 MB; with it, growth is noise.
	if grew := rss1 - rss0; grew > 32 {
		t.Errorf("resident memory grew by %.1f MiB (%.1f → %.1f): the headers are not bounded", grew, rss0, rss1)
	}
	if *full {
		if problem := latencyProblem(s, tmax, slack); problem != "" {
			t.Error(problem)
		}
	}
}

// TestUpstreamHangsUpAfterReading: an upstream that answers the first bid request
// on each connection and, on the next one, reads it and hangs up. The request was
// written, so ASAP does not send it again on a new connection: the upstream
// receives every bid request exactly once (the transport before the fix sent it a
// second time), and the SDK gets the bid or a 204.
func TestUpstreamHangsUpAfterReading(t *testing.T) {
	var (
		n     = 20
		rps   = 200.0
		d     = 10 * time.Second
		tmax  = 250 * time.Millisecond
		slack = 10 * time.Millisecond
	)
	var mu sync.Mutex
	seen := map[string]int{} // bid request id → copies received
	var hangups atomic.Int64
	up := rawUpstream(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var bid struct {
				ID  string `json:"id"`
				Imp []struct {
					ID string `json:"id"`
				} `json:"imp"`
			}
			json.NewDecoder(req.Body).Decode(&bid)
			mu.Lock()
			seen[bid.ID]++
			mu.Unlock()
			if i > 0 {
				hangups.Add(1)
				return // read, never answered: the deferred Close hangs up
			}
			imp := ""
			if len(bid.Imp) > 0 {
				imp = bid.Imp[0].ID
			}
			if _, err := io.WriteString(c, bidAnswer(bid.ID, imp, "once")); err != nil {
				return
			}
		}
	})
	rdb := startRedis(t, adPlacement(t, "ad-hangup", "hangup", true))
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL":        rdb.URL(),
		"ASAP_UPSTREAMS":        "hangup=" + up,
		"ASAP_BREAKER_FAILURES": "1000000",
	})
	var bids, nobids atomic.Int64
	s := sdkRun(t, srv, "ad-hangup", n, rps, d, func(code int, h http.Header, body []byte) string {
		switch adKind(code, body) {
		case "bid":
			bids.Add(1)
		case "none":
			nobids.Add(1)
		default:
			return fmt.Sprintf("status %d: %.200s", code, body)
		}
		return ""
	})
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for id, copies := range seen {
		if copies != 1 {
			twice++
			if twice <= 5 {
				t.Errorf("bid request %s received %d times; want once", id, copies)
			}
		}
	}
	t.Logf("SDK: %s", s)
	t.Logf("%d bid requests received, %d more than once; %d hang-ups after reading; SDK got %d bids, %d 204s",
		len(seen), twice, hangups.Load(), bids.Load(), nobids.Load())
	if hangups.Load() == 0 {
		t.Error("the upstream never hung up: the scenario tested nothing")
	}
	// In the full form a request may end at tmax before it is written.
	if len(seen) > s.n || (!*full && len(seen) != s.n) {
		t.Errorf("the upstream received %d distinct bid requests for %d SDK requests", len(seen), s.n)
	}
	if *full {
		if problem := latencyProblem(s, tmax, slack); problem != "" {
			t.Error(problem)
		}
	}
}
