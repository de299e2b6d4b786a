package upstream_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"asap/service/internal/testwait"
	"asap/service/internal/upstream"
)

func TestNotifierDropsWhenFullAndNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 1, Queue: 2, Timeout: 5 * time.Second}, reg)
	if err != nil {
		t.Fatal(err)
	}
	// One in flight (after the worker takes it), two queued, the rest dropped.
	if !n.Notify(srv.URL + "/1") {
		t.Fatal("first notice not queued")
	}
	testwait.For(t, "the first notice in flight", func() bool { return hits.Load() > 0 })
	// The worker is held by the first notice: Notify returning at all while it is
	// shows that Notify queues or drops, and never waits.
	queued := 0
	for i := range 10 {
		if n.Notify(srv.URL + "/" + string(rune('a'+i))) {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("queued %d; want 2", queued)
	}
	if n.Notify("ftp://x/") {
		t.Errorf("a non-http URL was queued")
	}
	close(release)
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Notify(srv.URL) {
		t.Errorf("queued after Close")
	}
	outcomes := []struct {
		outcome string
		want    float64
	}{{"sent", 3}, {"dropped", 10}, {"failed", 0}}
	for _, o := range outcomes {
		if got := counter(t, reg, o.outcome); got != o.want {
			t.Errorf("%s = %v; want %v", o.outcome, got, o.want)
		}
	}
}

// Close gives up on notices that outlive its context and cancels them. The
// notices would wait for ever (an hour) otherwise, so Close returning at all is
// the cancellation.
func TestNotifierCloseBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 1, Queue: 4, Timeout: time.Hour}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(srv.URL)
	n.Notify(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v; want DeadlineExceeded", err)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	return counterOf(t, reg, "asap_upstream_win_notices_total", "outcome", outcome)
}

// counterOf returns the value of the counter name whose label is value (0 when
// there is none).
func counterOf(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var _ = testutil.ToFloat64

// With one worker held by a first notice, the notices queued meanwhile go by
// host, the host that queued first first, at most Pipeline per exchange, and
// each exchange pipelined: host A's sink reads a whole exchange's requests before
// it answers any, which a client waiting for each answer would never let it do.
func TestNotifierPipelinesByHost(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	served := func(host string) {
		mu.Lock()
		order = append(order, host)
		mu.Unlock()
	}
	release := make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served("hold")
		<-release
	}))
	defer hold.Close()
	const depth = 2
	a := pipelineSink(t, depth, func() { served("A") })
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served("B") }))
	defer b.Close()

	reg := prometheus.NewRegistry()
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 1, Queue: 16, Timeout: 10 * time.Second, Pipeline: depth}, reg)
	if err != nil {
		t.Fatal(err)
	}
	n.Notify(hold.URL + "/hold")
	testwait.For(t, "the worker held", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 1 })
	for i, host := range []string{a, a, b.URL, a, a} {
		if !n.Notify(host + "/win?n=" + strconv.Itoa(i)) {
			t.Fatalf("notice %d dropped", i)
		}
	}
	close(release)
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A's first two (one exchange), then B's (its turn), then A's other two.
	if want := []string{"hold", "A", "A", "B", "A", "A"}; !slices.Equal(order, want) {
		t.Errorf("served %v; want %v", order, want)
	}
	if got := counter(t, reg, "sent"); got != 6 {
		t.Errorf("sent = %v; want 6", got)
	}
}

// pipelineSink is a host that answers only when it has read k requests from a
// connection, then all k (204 each), calling each for every request.
func pipelineSink(t *testing.T, k int, each func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for range k {
						if _, err := http.ReadRequest(br); err != nil {
							return
						}
						each()
					}
					for range k {
						io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}
