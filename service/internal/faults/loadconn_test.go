package faults

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"asap/service/internal/h1"
)

// loadConn is one keep-alive connection of the load generator of the overload
// scenarios, through ASAP's own upstream transport (h1.Transport: each exchange
// on the caller's goroutine, a plain answer read by its fast path). At tens of
// thousands of requests a second net/http's client (two goroutines per
// connection) takes the CPU the server under test needs on this machine, and the
// load asked for is not sent; wrk is written in C for the same reason.
type loadConn struct{ t h1.Transport }

func newLoadConn() *loadConn {
	return &loadConn{t: h1.Transport{MaxIdleConnsPerHost: 1, Dialer: net.Dialer{Timeout: 5 * time.Second}}}
}

// get sends GET url and records the answer, judged by check.
func (c *loadConn) get(url string, check checkFunc) event {
	start := time.Now()
	// A deadline far above any budget, there only so that a hung server cannot
	// hang the test (as newClient's timeout).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return event{problem: err.Error()}
	}
	res, err := c.t.RoundTrip(req)
	if err != nil {
		return event{latency: time.Since(start), problem: err.Error()}
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	e := event{latency: time.Since(start), code: res.StatusCode}
	switch {
	case err != nil:
		e.problem = "reading the body: " + err.Error()
	case check != nil:
		e.problem = check(res.StatusCode, res.Header, body)
	}
	return e
}

func (c *loadConn) close() { c.t.CloseIdleConnections() }

// pacedConns runs conns workers for d, each on a connection of its own, together
// sending rate requests per second (each worker rate/conns, staggered), whatever
// the answers' latency up to the worker's next turn: SDKs on their own
// connections. A worker behind its schedule sends on until ctx ends and counts the
// requests it sent late. The workers are loadConns.
func pacedConns(ctx context.Context, conns int, rate float64, d time.Duration, url func(i int) string, check checkFunc) *loadRun {
	run := &loadRun{began: time.Now()}
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			c := newLoadConn()
			defer c.close()
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
				e := c.get(url(i), check)
				e.start, e.end = next, time.Since(run.began)
				run.add(e)
				next += interval
			}
		})
	}
	wg.Wait()
	return run
}

// loadClosedLoop runs conns loadConns for d, each sending its next request when
// the last one is answered: closedLoop with the load generator of pacedConns.
func loadClosedLoop(ctx context.Context, conns int, d time.Duration, url func(i int) string, check checkFunc) *loadRun {
	run := &loadRun{began: time.Now()}
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			c := newLoadConn()
			defer c.close()
			for i := w; time.Since(run.began) < d && ctx.Err() == nil; i += conns {
				start := time.Since(run.began)
				e := c.get(url(i), check)
				e.start, e.end = start, time.Since(run.began)
				run.add(e)
			}
		})
	}
	wg.Wait()
	return run
}
