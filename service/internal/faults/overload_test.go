package faults

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestOverload is scenario 3: far more requests and connections than ASAP admits.
// Capacity is made a known figure rather than this machine's CPU: a 50 ms upstream
// and 32 requests in flight (production.env admits 1024 with 2048 queued; the
// ratio of queue to slots and the 50 ms queue timeout are kept) give about 600
// ad answers a second (the short form: 100 ms and 16, about 160), measured first
// at moderate concurrency. Then ten times that
// arrives over thousands of connections: only 200 and 503 answers, 503s within the
// queue timeout, goodput at least 90% of capacity, memory bounded. Last, every
// connection sends again as soon as it is answered (a storm of retries that
// ignore Retry-After): still only 200 and 503, memory bounded, and capacity is
// back once it stops.
func TestOverload(t *testing.T) {
	var (
		conns = pick(1500, 4000)
		d     = pick(2500*time.Millisecond, 15*time.Second)
		// The short form's capacity is lower, so that ten times it stays within what a
		// load generator slowed by the race detector can offer.
		slots   = pick(16, 32)
		latency = pick(100*time.Millisecond, 50*time.Millisecond)
		queueTO = 50 * time.Millisecond // production.env
	)
	up := startAdserver(t, "-fill", "1", "-latency", latency.String(), "-jitter", "0")
	rdb := startRedis(t)
	srv := startASAP(t, map[string]string{
		"ASAP_REDIS_URL":     rdb.URL(),
		"ASAP_UPSTREAMS":     "primary=" + up.auction,
		"ASAP_MAX_IN_FLIGHT": fmt.Sprint(slots),
		"ASAP_MAX_QUEUED":    fmt.Sprint(2 * slots),
		// The access log would measure the test machine's disk, not ASAP.
		"ASAP_ACCESS_LOG": "false",
	})
	url := func(int) string { return srv.base + "/v2/ad?pkey=demo-feed" }
	// Goodput is the upstream's bids: a house ad is a 200 too, served when the
	// upstream did not answer in time.
	var (
		bidMu sync.Mutex
		bids  []time.Time
	)
	ok := func(code int, h http.Header, body []byte) string {
		if adKind(code, body) == "bid" {
			bidMu.Lock()
			bids = append(bids, time.Now())
			bidMu.Unlock()
		}
		return wantStatus(http.StatusOK, http.StatusServiceUnavailable)(code, h, body)
	}
	bidsBetween := func(from, to time.Time) int {
		bidMu.Lock()
		defer bidMu.Unlock()
		n := 0
		for _, b := range bids {
			if !b.Before(from) && b.Before(to) {
				n++
			}
		}
		return n
	}
	// served returns the server's own count of GET /v2/ad answers, and of those
	// answered within 250 ms (its latency histogram), so far.
	served := func() (all, fast float64) {
		return srv.metric(t, "asap_http_request_duration_seconds_count", `route="/v2/ad"`),
			srv.metric(t, "asap_http_request_duration_seconds_bucket", `route="/v2/ad"`, `le="0.25"`)
	}
	ctx := context.Background()

	// Capacity: as many connections as slots, so nothing waits.
	capacityNow := func(d time.Duration) (float64, stats) {
		c := newClient(slots)
		defer c.CloseIdleConnections()
		closedLoop(ctx, c, slots, 300*time.Millisecond, url, ok)
		run := closedLoop(ctx, c, slots, d, url, ok)
		end := time.Now()
		return rate(bidsBetween(run.began, end), end.Sub(run.began)), summarize(run.all())
	}
	capacity, capStats := capacityNow(pick(1500*time.Millisecond, 5*time.Second))
	_, peak0 := srv.memory(t)

	// Ten times capacity, arriving whatever the answers, over conns connections.
	cpu0 := srv.cpuSeconds(t)
	all0, fast0 := served()
	opened := make(chan int, 1)
	go func() {
		time.Sleep(d / 2)
		opened <- srv.inbound(srv.sockets(t))
	}()
	// The adaptive limit, read in the middle of the flood: what holds goodput
	// down, the limit or the machine, shows here.
	limitMid := make(chan float64, 1)
	go func() {
		time.Sleep(d / 2)
		limitMid <- srv.metric(t, "asap_http_in_flight_limit", `route="/v2/ad"`)
	}()
	flood := pacedConns(ctx, conns, 10*capacity, d, false, url, ok)
	cpu1 := srv.cpuSeconds(t)
	all1, fast1 := served()
	fastShare := (fast1 - fast0) / max(all1-all0, 1)
	open := <-opened
	floodAll := summarize(flood.all())
	// The first second opens the connections; goodput is measured after it.
	goodput := rate(bidsBetween(flood.began.Add(time.Second), flood.began.Add(d)), d-time.Second)
	shed := summarize(flood.where(func(e event) bool { return e.code == http.StatusServiceUnavailable }))
	answered := summarize(flood.where(func(e event) bool { return e.code == http.StatusOK }))

	// Every connection retries at once, ignoring Retry-After.
	client := newClient(conns)
	storm := closedLoop(ctx, client, conns, d, url, ok)
	stormAll := summarize(storm.all())
	// While the storm's connections are still open: where the memory is.
	heap, stacks := srv.metric(t, "go_memstats_heap_inuse_bytes")/(1<<20), srv.metric(t, "go_memstats_stack_inuse_bytes")/(1<<20)
	goroutines := srv.goroutines(t)
	stormGoodput := rate(bidsBetween(storm.began, storm.began.Add(d)), d)
	client.CloseIdleConnections()
	_, peak := srv.memory(t)
	// Starved of CPU, the upstream may have been slower than tmax often enough to
	// open its breaker (house ads then, no bids): wait for bids before measuring.
	stormEnd := time.Now()
	for c := newClient(1); time.Since(stormEnd) < 15*time.Second; time.Sleep(50 * time.Millisecond) {
		if e := do(ctx, c, url(0), ok); e.code == http.StatusOK && bidsBetween(stormEnd, time.Now()) > 0 {
			break
		}
	}
	bidsAgain := time.Since(stormEnd)
	after, _ := capacityNow(time.Second)
	shedTotal := srv.metric(t, "asap_http_shed_total")

	t.Logf("capacity with %d connections: %.0f bids/s (%s)", slots, capacity, capStats)
	t.Logf("10× capacity (%.0f/s) over %d connections for %s (%d connections open): %s",
		10*capacity, conns, d, open, floodAll)
	t.Logf("  goodput %.0f bids/s after the first second = %.0f%% of capacity; asap used %.2f CPU s; load generator late for %d; in-flight limit %.0f of %d in the middle",
		goodput, 100*goodput/capacity, cpu1-cpu0, flood.late, <-limitMid, slots)
	t.Logf("  503s (as the load generator saw them): %s", shed)
	t.Logf("  200s (as the load generator saw them): %s", answered)
	t.Logf("  ASAP's own latency histogram: %.1f%% of %.0f answers within 250 ms", 100*fastShare, all1-all0)
	t.Logf("retry storm, %d connections sending back to back for %s: %s; goodput %.0f/s = %.0f%% of capacity (client and server share this machine's CPU)",
		conns, d, stormAll, stormGoodput, 100*stormGoodput/capacity)
	t.Logf("at the end of the retry storm: heap in use %.0f MiB, stacks %.0f MiB, %d goroutines", heap, stacks, goroutines)
	t.Logf("bids again %s after the retry storm; capacity then: %.0f bids/s; shed by the limiter in all: %.0f; peak RSS %.0f MiB (%.0f MiB before the overload)",
		bidsAgain.Round(time.Millisecond), after, shedTotal, peak, peak0)

	// A wrong answer is ASAP's doing whatever the machine. A request that got no
	// answer at all (EOF, a reset, a connection never accepted) is, beside other
	// work, the kernel's accept queue overflowing while ASAP waits for the CPU:
	// a budget, judged by make faults on a machine of its own.
	for what, run := range map[string]*loadRun{"10× capacity": flood, "retry storm": storm} {
		wrong := summarize(run.where(func(e event) bool { return e.problem != "" && e.code != 0 }))
		lost := summarize(run.where(func(e event) bool { return e.code == 0 }))
		if wrong.n > 0 {
			t.Errorf("%s: answers other than 200 and 503: %q", what, wrong.problems)
		}
		if lost.n > 0 {
			budget(t, "%s: %d requests got no answer: %q", what, lost.n, lost.problems)
		}
	}
	if shed.n == 0 {
		t.Errorf("no request was shed: the overload did not overload")
	}
	// The short form, measured over 1.5 s beside every other package's tests, gets
	// some slack; the full form holds the 90%.
	if share := pick(0.8, 0.9); goodput < share*capacity {
		budget(t, "goodput %.0f/s under 10× capacity, want at least %.0f%% of the capacity %.0f/s", goodput, 100*share, capacity)
	}
	// A shed request waits at most the queue timeout. The load generator's p99
	// also holds its own scheduling of thousands of goroutines on this shared
	// machine, so the bound is on the median it sees and on ASAP's own histogram;
	// and when it could not even keep its schedule (the race detector slows it
	// tenfold), its latencies measure itself, not ASAP.
	switch {
	case flood.late > floodAll.n/100:
		t.Logf("503 latency as seen by the load generator not judged: it fell behind for %d of %d requests", flood.late, floodAll.n)
	case shed.p50 > queueTO:
		budget(t, "503s: median %s, want within the queue timeout %s", shed.p50, queueTO)
	}
	if fastShare < 0.99 {
		budget(t, "ASAP answered %.1f%% of requests within 250 ms under 10× capacity, want 99%%", 100*fastShare)
	}
	// One second of measurement: in the short form, beside every other package's
	// tests, it only shows that ASAP serves again; the full form wants all of it.
	if share := pick(0.5, 0.9); after < share*capacity {
		budget(t, "capacity after the overload %.0f/s, want back to at least %.0f%% of %.0f/s", after, 100*share, capacity)
	}
	// The bound is the production task's memory (Pulumi.production.yaml): past it the
	// container is killed. The runtime's soft limit, GOMEMLIMIT, is a share of it
	// that the task definition sets.
	if limit := taskMemoryMiB(t); peak > limit {
		t.Errorf("peak RSS %.0f MiB under overload, want under the production task's memory, %.0f MiB", peak, limit)
	}
}

// taskMemoryMiB is asap:taskMemory of Pulumi.production.yaml, in MiB.
func taskMemoryMiB(t *testing.T) float64 {
	t.Helper()
	keys := stackConfig(t, filepath.Join("..", "..", "..", "Pulumi.production.yaml"))
	n, err := strconv.Atoi(keys["asap:taskMemory"])
	if err != nil || n <= 0 {
		t.Fatalf("Pulumi.production.yaml: asap:taskMemory = %q: want a number of MiB", keys["asap:taskMemory"])
	}
	return float64(n)
}
