package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"asap/service/internal/testwait"
)

// TestWinNoticesToABlackhole is scenario 2 continued: the winning bid's nurl points
// at a host that accepts and never answers. ASAP fires win notices itself, in the
// background, with bounded concurrency and a timeout: the SDKs' answers are not
// delayed, the notices in flight stay within ASAP_NOTICE_CONCURRENCY, the rest wait
// in the bounded queue (or are dropped), and once each has had its
// ASAP_NOTICE_TIMEOUT no connection to the blackhole is left.
func TestWinNoticesToABlackhole(t *testing.T) {
	// A short timeout and queue (production: 2s and 4096) so that the queue
	// drains, and overflows in the full form, within the test's time.
	var (
		rps        = pick(60.0, 400.0)
		d          = pick(2*time.Second, 10*time.Second)
		noticeTO   = 500 * time.Millisecond
		queue      = 256
		concurrent = 64 // ASAP_NOTICE_CONCURRENCY's default
	)
	hole := startBlackhole(t)
	nurl := strings.TrimSuffix(hole.URL(), "/openrtb2/auction") + "/win?price=${AUCTION_PRICE}"
	up := rawUpstream(t, func(c net.Conn) {
		eachRequest(c, func(id, imp string) string {
			body := fmt.Sprintf(`{"id":%q,"seatbid":[{"seat":"s","bid":[{"id":"b","impid":%q,"price":2,"crid":"c","adm":"<div>ad</div>","nurl":%q}]}]}`,
				id, imp, nurl)
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		})
	})
	rdb := startRedis(t)
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL":      rdb.URL(),
		"ASAP_UPSTREAMS":      "primary=" + up,
		"ASAP_NOTICE_TIMEOUT": noticeTO.String(),
		"ASAP_NOTICE_QUEUE":   fmt.Sprint(queue),
	})
	g0, f0 := srv.goroutines(t), srv.fds(t)

	client := newClient(32)
	peak := make(chan int, 1)
	go func() {
		time.Sleep(d - 500*time.Millisecond)
		peak <- srv.goroutines(t)
	}()
	run := openLoop(context.Background(), client, rps, d, 32,
		func(int) string { return srv.base + "/v2/ad?pkey=demo-feed" },
		func(code int, h http.Header, body []byte) string {
			if k := adKind(code, body); k != "bid" {
				return fmt.Sprintf("answer %q (status %d), want the bid", k, code)
			}
			return ""
		})
	client.CloseIdleConnections()
	gPeak := <-peak
	accepted, openAtEnd := hole.open()
	// The queued notices go on being tried, ASAP_NOTICE_CONCURRENCY at a time,
	// each for ASAP_NOTICE_TIMEOUT; then no connection to the blackhole is left.
	loadEnd := time.Now()
	bids := float64(len(run.all()))
	notices := func() (failed, dropped float64) {
		return srv.metric(t, "asap_upstream_win_notices_total", `outcome="failed"`),
			srv.metric(t, "asap_upstream_win_notices_total", `outcome="dropped"`)
	}
	var failed, dropped float64
	var openAfter int
	testwait.For(t, "every notice done and no connection to the blackhole open", func() bool {
		failed, dropped = notices()
		_, openAfter = hole.open()
		return failed+dropped >= bids && openAfter == 0
	})
	drained := time.Since(loadEnd)
	g1, f1 := srv.settle(t, g0, f0, 5)
	s := summarize(run.all())

	t.Logf("GET /v2/ad with every nurl at a blackhole, %.0f req/s for %s: %s", rps, d, s)
	t.Logf("blackhole: %d notice connections accepted, %d open at the end of the load (ASAP_NOTICE_CONCURRENCY %d)", accepted, openAtEnd, concurrent)
	t.Logf("notices: %.0f failed after the %s timeout, %.0f dropped (queue of %d full); all done and no connection open %s after the load",
		failed, noticeTO, dropped, queue, drained.Round(100*time.Millisecond))
	t.Logf("server goroutines %d before, %d under load, %d after; open files %d before, %d after", g0, gPeak, g1, f0, f1)

	if s.failures > 0 {
		t.Errorf("answers: %s", s)
	}
	// The upstream answers at once: the SDK's answer must not wait for its notice.
	if limit := pick(250*time.Millisecond, 50*time.Millisecond); s.p99 > limit {
		budget(t, "p99 %s with notices hanging, want under %s", s.p99, limit)
	}
	if openAtEnd > concurrent {
		t.Errorf("%d notices in flight at once, want at most ASAP_NOTICE_CONCURRENCY %d", openAtEnd, concurrent)
	}
	if openAfter > 0 || failed+dropped < bids {
		t.Errorf("%s after the load: %d notice connections still open, %.0f of %.0f notices done; want all done, none open",
			drained, openAfter, failed+dropped, bids)
	}
	if g1 > g0+5 || f1 > f0+5 {
		t.Errorf("goroutines %d before, %d after; open files %d before, %d after", g0, g1, f0, f1)
	}
}
