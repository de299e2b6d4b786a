package faults

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"asap/service/internal/h1"
)

// event is one request of a load run.
type event struct {
	start   time.Duration // since the run began
	end     time.Duration // since the run began: when the answer (or the failure) came
	latency time.Duration
	code    int    // 0 when no answer came
	problem string // why the request failed: transport error or wrong answer; "" when it did not
	// retryAfter is a 503's Retry-After (whole seconds, RFC 9110 §10.2.3); 0 when
	// it had none.
	retryAfter time.Duration
}

// checkFunc judges an answer; it returns a problem or "".
type checkFunc func(code int, h http.Header, body []byte) string

// loadRun is the record of a load run.
type loadRun struct {
	began  time.Time
	mu     sync.Mutex
	events []event
	late   int // requests the pool had no free worker for when due
	waited int // turns not taken: the client was waiting out a Retry-After (pacedConns with backoff)
}

func (r *loadRun) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// newClient returns an HTTP client for load: keep-alive connections, up to conns
// of them, and a timeout far above any budget of the scenarios, there only so
// that a hung server cannot hang the test.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// do sends one GET and records it.
func do(ctx context.Context, c *http.Client, url string, check checkFunc) event {
	start := time.Now()
	var e event
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		e.problem = err.Error()
		return e
	}
	res, err := c.Do(req)
	if err != nil {
		e.latency, e.problem = time.Since(start), err.Error()
		return e
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	e.latency, e.code = time.Since(start), res.StatusCode
	if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n > 0 && e.code == http.StatusServiceUnavailable {
		e.retryAfter = time.Duration(n) * time.Second
	}
	switch {
	case err != nil:
		e.problem = "reading the body: " + err.Error()
	case check != nil:
		e.problem = check(res.StatusCode, res.Header, body)
	}
	return e
}

// openLoop sends rate requests per second for d from a pool of workers, whatever
// the answers' latency (up to the pool's size), asking url(i) for the i-th request.
// It stops early when ctx ends.
func openLoop(ctx context.Context, c *http.Client, rate float64, d time.Duration, workers int, url func(i int) string, check checkFunc) *loadRun {
	run := &loadRun{began: time.Now()}
	type job struct{ i int }
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				// When it was sent, not when it was due: on a busy machine a worker
				// may get the CPU late, and phases are told apart by send time.
				start := time.Since(run.began)
				// Stopping the run stops the dispatch; requests already sent finish.
				e := do(context.WithoutCancel(ctx), c, url(j.i), check)
				e.start, e.end = start, time.Since(run.began)
				run.add(e)
			}
		})
	}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	sent := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			elapsed := now.Sub(run.began)
			if elapsed >= d {
				break loop
			}
			for due := int(elapsed.Seconds() * rate); sent < due; sent++ {
				select {
				case jobs <- job{i: sent}:
				default:
					run.mu.Lock()
					run.late++
					run.mu.Unlock()
				}
			}
		}
	}
	close(jobs)
	wg.Wait()
	return run
}

// closedLoop runs conns workers, each sending its next request as soon as the last
// is answered, for d.
func closedLoop(ctx context.Context, c *http.Client, conns int, d time.Duration, url func(i int) string, check checkFunc) *loadRun {
	run := &loadRun{began: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// The deadline, not ctx.Err alone, says the run is over: a dial or read cut
	// by the deadline can fail before ctx's own timer has marked it done, and
	// each request sent meanwhile would fail at once, a run of false failures.
	deadline, _ := ctx.Deadline()
	over := func() bool { return ctx.Err() != nil || !time.Now().Before(deadline) }
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for i := w; !over(); i += conns {
				start := time.Since(run.began)
				e := do(ctx, c, url(i), check)
				if over() && e.code == 0 {
					return // cut by the end of the run, not a failure
				}
				e.start, e.end = start, time.Since(run.began)
				run.add(e)
			}
		})
	}
	wg.Wait()
	return run
}

// stats summarises some events of a run.
type stats struct {
	n        int
	codes    map[int]int
	failures int
	problems []string // the first few distinct problems
	p50, p99 time.Duration
	max      time.Duration
}

func summarize(events []event) stats {
	s := stats{n: len(events), codes: map[int]int{}}
	lat := make([]time.Duration, 0, len(events))
	for _, e := range events {
		s.codes[e.code]++
		if e.problem != "" {
			s.failures++
			if len(s.problems) < 5 && !slices.Contains(s.problems, e.problem) {
				s.problems = append(s.problems, e.problem)
			}
		}
		lat = append(lat, e.latency)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		s.p50 = lat[len(lat)/2]
		s.p99 = lat[len(lat)*99/100]
		s.max = lat[len(lat)-1]
	}
	return s
}

// where selects the events for which keep holds.
func (r *loadRun) where(keep func(e event) bool) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (r *loadRun) all() []event { return r.where(func(event) bool { return true }) }

// String is one line of figures: count, statuses, failures, latency.
func (s stats) String() string {
	codes := make([]int, 0, len(s.codes))
	for c := range s.codes {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, statuses", s.n)
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", s.codes[c], c)
	}
	fmt.Fprintf(&b, ", %d failed, latency p50 %s p99 %s max %s", s.failures, ms(s.p50), ms(s.p99), ms(s.max))
	if len(s.problems) > 0 {
		fmt.Fprintf(&b, "; problems: %q", s.problems)
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

// rate is the number of events per second over d.
func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// wantStatus returns a check accepting only the given statuses.
func wantStatus(codes ...int) checkFunc {
	return func(code int, h http.Header, body []byte) string {
		if !slices.Contains(codes, code) {
			return fmt.Sprintf("status %d, want one of %v: %.200s", code, codes, body)
		}
		if code == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
			return "503 without Retry-After"
		}
		return ""
	}
}

// newLoadClient is a client of the load generator of the overload scenarios, with
// up to conns keep-alive connections, through ASAP's own upstream transport
// (h1.Transport: each exchange on the caller's goroutine, a plain answer read by
// its fast path). At
// tens of thousands of requests a second net/http's Transport (two goroutines per
// connection) takes the CPU the server under test needs on this machine, and the
// load asked for is not sent; wrk is written in C for the same reason. The
// timeout is newClient's.
func newLoadClient(conns int) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &h1.Transport{MaxIdleConnsPerHost: conns, Dialer: net.Dialer{Timeout: 5 * time.Second}},
	}
}

// pacedConns runs conns workers for d, each on a connection of its own, together
// sending rate requests per second (each worker rate/conns, staggered), whatever
// the answers' latency up to the worker's next turn: SDKs on their own
// connections. A worker behind its schedule sends on until ctx ends and counts the
// requests it sent late. Each worker is a newLoadClient.
//
// With backoff, a worker answered 503 with Retry-After lets its turns go by until
// that time and a random share of it more have passed, as docs/api.md asks of
// SDKs, and counts them in waited: the user asked for no ad meanwhile. (Without
// the random share, the clients refused together come back together, a second
// later, and are refused together again.) Without it, a worker asks again at
// its next turn, whatever the answer said.
func pacedConns(ctx context.Context, conns int, rate float64, d time.Duration, backoff bool, url func(i int) string, check checkFunc) *loadRun {
	run := &loadRun{began: time.Now()}
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			c := newLoadClient(1)
			defer c.CloseIdleConnections()
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			next := time.Duration(w) * interval / time.Duration(conns)
			for i := w; next < d && ctx.Err() == nil; i += conns {
				if wait := next - time.Since(run.began); wait > 0 {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				} else if wait < -interval {
					run.mu.Lock()
					run.late++
					run.mu.Unlock()
				}
				e := do(context.WithoutCancel(ctx), c, url(i), check)
				e.start, e.end = next, time.Since(run.began)
				run.add(e)
				next += interval
				if backoff && e.retryAfter > 0 {
					skipped := 0
					until := e.end + e.retryAfter + rand.N(e.retryAfter)
					for ; next < until && next < d; next += interval {
						skipped++
						i += conns
					}
					run.mu.Lock()
					run.waited += skipped
					run.mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return run
}

// latencyProblem judges, for budget, the latency of answers that ASAP must give within tmax:
// the 99th percentile within tmax + slack, and the slowest within tmax + slack and
// a margin for this shared machine's scheduling (the load generator measures its
// own delays too). It returns "" when they are.
func latencyProblem(s stats, tmax, slack time.Duration) string {
	margin := pick(tmax, 100*time.Millisecond)
	switch {
	case s.p99 > tmax+slack:
		return fmt.Sprintf("p99 %s, want within tmax %s + %s", s.p99, tmax, slack)
	case s.max > tmax+slack+margin:
		return fmt.Sprintf("slowest answer %s, want within tmax %s + %s (+ %s for the machine)", s.max, tmax, slack, margin)
	}
	return ""
}
