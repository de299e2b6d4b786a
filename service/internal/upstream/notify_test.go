package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "asap_upstream_win_notices_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

var _ = testutil.ToFloat64
