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
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/testwait"
)

// rawUpstream is an upstream written against the socket: serve gets every
// accepted connection, to answer as no well-behaved HTTP server would. It returns
// the auction URL.
func rawUpstream(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/openrtb2/auction"
}

// eachRequest calls answer with the id and first imp id of every bid request
// read from c, and writes what it returns, until c fails.
func eachRequest(c net.Conn, answer func(id, impID string) string) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		var bidReq struct {
			ID  string `json:"id"`
			Imp []struct {
				ID string `json:"id"`
			} `json:"imp"`
		}
		json.Unmarshal(body, &bidReq)
		imp := ""
		if len(bidReq.Imp) > 0 {
			imp = bidReq.Imp[0].ID
		}
		if _, err := io.WriteString(c, answer(bidReq.ID, imp)); err != nil {
			return
		}
	}
}

// bidAnswer is an HTTP/1.1 answer holding one bid for request id with creative crid.
func bidAnswer(id, impID, crid string) string {
	body := fmt.Sprintf(`{"id":%q,"seatbid":[{"seat":"s","bid":[{"id":"b-%s","impid":%q,"price":2,"crid":%q,"adm":"<div>%s</div>"}]}]}`,
		id, crid, impID, crid, crid)
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// TestUpstreamMisbehaves is scenario 2 continued: upstreams that break HTTP
// itself. One appends an answer nobody asked for after each real one (an
// upstream out of step with its requests); one sends its body a byte at a time;
// one answers with something that is not HTTP; one closes half way through its
// body. No SDK ever gets an answer meant for another request; every answer comes
// within tmax as an ad, a house ad or 204; no connection is left behind.
func TestUpstreamMisbehaves(t *testing.T) {
	var (
		rps   = pick(80.0, 200.0)
		d     = pick(2*time.Second, 10*time.Second)
		tmax  = 250 * time.Millisecond // demo-feed's tmaxMs
		slack = pick(150*time.Millisecond, 10*time.Millisecond)
	)
	var seq atomic.Int64
	outOfStep := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(id, imp string) string {
			k := seq.Add(1)
			return bidAnswer(id, imp, fmt.Sprintf("good-%d", k)) + bidAnswer("nobody", imp, fmt.Sprintf("unsolicited-%d", k))
		})
	})
	trickle := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(id, imp string) string {
			full := bidAnswer(id, imp, "trickled")
			head, body, _ := strings.Cut(full, "\r\n\r\n")
			io.WriteString(c, head+"\r\n\r\n")
			for i := range len(body) {
				time.Sleep(20 * time.Millisecond)
				if _, err := c.Write([]byte{body[i]}); err != nil {
					return ""
				}
			}
			return ""
		})
	})
	garbage := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(string, string) string { return "SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage\r\n\r\n" })
	})
	truncated := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(id, imp string) string {
			full := bidAnswer(id, imp, "truncated")
			io.WriteString(c, full[:len(full)-20])
			c.Close()
			return ""
		})
	})
	rdb := startRedis(t,
		adPlacement(t, "ad-out-of-step", "outofstep", false),
		adPlacement(t, "ad-trickle", "trickle", false),
		adPlacement(t, "ad-garbage", "garbage", true),
		adPlacement(t, "ad-truncated", "truncated", false),
	)
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL": rdb.URL(),
		"ASAP_UPSTREAMS": "outofstep=" + outOfStep + ",trickle=" + trickle + ",garbage=" + garbage + ",truncated=" + truncated,
	})
	// Pooled connections to the upstreams and to Redis (whose pool fills in the
	// background) are not a leak: they are taken out of the count.
	upstreams := []string{outOfStep, trickle, garbage, truncated, rdb.URL()}
	files := func() (int, int) {
		socks, pooled := srv.sockets(t), 0
		for _, u := range upstreams {
			pooled += socks["out:"+portOf(u)]
		}
		return srv.fds(t) - pooled, pooled
	}
	f0, _ := files()

	pkeys := []string{"ad-out-of-step", "ad-trickle", "ad-garbage", "ad-truncated"}
	var crossed atomic.Int64
	check := func(code int, h http.Header, body []byte) string {
		switch adKind(code, body) {
		case "bad":
			return fmt.Sprintf("status %d: %.200s", code, body)
		case "bid":
			var a struct {
				MRID      string `json:"mrid"`
				AdRequest string `json:"adserverRequestId"`
			}
			if err := json.Unmarshal(body, &a); err != nil || a.AdRequest != a.MRID || strings.Contains(string(body), "unsolicited") {
				crossed.Add(1)
				return fmt.Sprintf("an answer meant for another request: %.300s", body)
			}
		}
		return ""
	}
	client := newClient(32)
	runs := make([]chan *loadRun, len(pkeys))
	for i, k := range pkeys {
		runs[i] = make(chan *loadRun, 1)
		go func() {
			runs[i] <- openLoop(context.Background(), client, rps/float64(len(pkeys)), d, 16,
				func(int) string { return srv.base + "/v2/ad?pkey=" + k }, check)
		}()
	}
	for i, k := range pkeys {
		s := summarize((<-runs[i]).all())
		t.Logf("%-15s %s", k+":", s)
		if s.failures > 0 {
			t.Errorf("%s: %d wrong answers: %q", k, s.failures, s.problems)
		}
		if problem := latencyProblem(s, tmax, slack); problem != "" {
			budget(t, "%s: %s", k, problem)
		}
	}
	for _, up := range []string{"outofstep", "trickle", "garbage", "truncated"} {
		t.Logf("%s upstream: %.0f timeouts, errors %.0f, refused by the open breaker %.0f", up,
			srv.metric(t, "asap_upstream_timeouts_total", `upstream="`+up+`"`),
			srv.metric(t, "asap_upstream_errors_total", `upstream="`+up+`"`),
			srv.metric(t, "asap_upstream_errors_total", `upstream="`+up+`"`, `reason="breaker_open"`))
	}
	client.CloseIdleConnections()
	var f1, pooled int
	testwait.For(t, "open files back to where they were", func() bool {
		f1, pooled = files()
		return f1 <= f0+3
	})
	t.Logf("answers meant for another request: %d; open files %d → %d besides %d pooled connections to the upstreams and Redis", crossed.Load(), f0, f1, pooled)
	if f1 > f0+3 {
		t.Errorf("open files %d → %d after the run, besides %d pooled connections", f0, f1, pooled)
	}
}
