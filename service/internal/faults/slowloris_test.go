package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowloris is scenario 5: hundreds of connections dribbling their headers a
// few bytes at a time, and idle connections that send nothing, while real SDK
// requests arrive. The real requests keep their latency; the server cuts the slow
// and idle connections after its read-header timeout (production.env: 2s).
func TestSlowloris(t *testing.T) {
	var (
		slow   = pick(200, 1000)
		idle   = pick(100, 500)
		rps    = pick(100.0, 300.0)
		header = 2 * time.Second // ASAP_READ_HEADER_TIMEOUT of production.env
	)
	rdb := startRedis(t)
	srv := startASAP(t, map[string]string{"ASAP_REDIS_URL": rdb.URL()})
	addr := strings.TrimPrefix(srv.base, "http://")
	paths := warmPaths([]string{"demo-feed", "demo-article"})
	url := func(i int) string { return srv.base + paths[i%len(paths)] }
	ctx := context.Background()

	client := newClient(16)
	baseline := summarize(openLoop(ctx, client, rps, time.Second, 16, url, checkWarm).all())
	client.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	g0, f0 := srv.goroutines(t), srv.fds(t)

	dribbled, idled := make(chan []time.Duration, 1), make(chan []time.Duration, 1)
	go func() { dribbled <- holdConns(t, addr, slow, 250*time.Millisecond, header+3*time.Second) }()
	go func() { idled <- holdConns(t, addr, idle, 0, header+3*time.Second) }()
	time.Sleep(500 * time.Millisecond) // let the attack open its connections
	peakG, peakF := srv.goroutines(t), srv.fds(t)
	during := summarize(openLoop(ctx, client, rps, header, 16, url, checkWarm).all())
	cuts := [][]time.Duration{<-dribbled, <-idled}
	client.CloseIdleConnections()
	g1, f1 := srv.settle(t, g0, f0, 5)

	t.Logf("baseline: %s", baseline)
	t.Logf("with %d slow and %d idle connections: %s", slow, idle, during)
	t.Logf("server goroutines %d → %d during the attack → %d after; open files %d → %d → %d", g0, peakG, g1, f0, peakF, f1)
	for i, what := range []string{"dribbling", "idle"} {
		c := cuts[i]
		if len(c) == 0 {
			continue
		}
		t.Logf("%s connections cut after %s (first) to %s (last)", what, c[0].Round(time.Millisecond), c[len(c)-1].Round(time.Millisecond))
	}

	if during.failures > 0 {
		t.Errorf("real requests failed during the attack: %s", during)
	}
	// Generous: the machine is shared (and the short form runs beside every other
	// package's tests); an attack that worked would hold them for seconds.
	if limit := pick(500*time.Millisecond, 100*time.Millisecond); during.p99 > limit {
		budget(t, "real requests' p99 %s during the attack, want under %s (baseline p99 %s)", during.p99, limit, baseline.p99)
	}
	for i, want := range []int{slow, idle} {
		c := cuts[i]
		if len(c) != want {
			budget(t, "%d of %d attacking connections were cut within %s", len(c), want, header+3*time.Second)
			continue
		}
		if c[0] < header-100*time.Millisecond || c[len(c)-1] > header+time.Second {
			budget(t, "connections cut after %s to %s, want about the read-header timeout %s", c[0], c[len(c)-1], header)
		}
	}
	if g1 > g0+5 || f1 > f0+5 {
		t.Errorf("after the attack: %d goroutines (%d before), %d open files (%d before)", g1, g0, f1, f0)
	}
}

// holdConns opens n connections to addr. With every > 0 each sends a request line
// and then one header line every interval, never ending its headers (slowloris);
// with every == 0 it sends nothing. It returns, sorted, how long after being
// opened the server closed each of them, waiting at most limit.
func holdConns(t *testing.T, addr string, n int, every, limit time.Duration) []time.Duration {
	var (
		mu   sync.Mutex
		cuts []time.Duration
		wg   sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				t.Errorf("attacking connection %d: %v", i, err)
				return
			}
			defer c.Close()
			start := time.Now()
			if every > 0 {
				fmt.Fprintf(c, "GET /v2?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\n")
			}
			buf := make([]byte, 512)
			for line := 0; time.Since(start) < limit; line++ {
				wait := limit - time.Since(start)
				if every > 0 {
					wait = min(wait, every)
				}
				c.SetReadDeadline(time.Now().Add(wait))
				_, err := c.Read(buf)
				if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					if every > 0 {
						// The write fails once the server has closed; the next Read says so.
						fmt.Fprintf(c, "X-Slow-%d: x\r\n", line)
					}
					continue
				}
				mu.Lock()
				cuts = append(cuts, time.Since(start))
				mu.Unlock()
				return
			}
		})
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // do not overflow the listen backlog
		}
	}
	wg.Wait()
	slices.Sort(cuts)
	return cuts
}
