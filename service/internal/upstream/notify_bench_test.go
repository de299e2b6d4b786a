package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/upstream"
)

// BenchmarkNotify is the win-notice path as the ad service uses it: Notify hands
// a nurl to the workers, which GET it over kept-alive connections of the
// notifier's transport from a local sink answering 204 (the sink's side is in the
// figure too: one process). An iteration is one notice, queued and answered. The
// queue holds every notice of the run, so none is dropped and nothing spins.
//
// pipeline=1 is one notice per exchange; pipeline=8 lets a worker send up to 8
// queued notices to the host in one write (production's ASAP_NOTICE_PIPELINE).
// The notices are queued faster than they are sent, so the pipelines are full:
// the figure is the cost of a notice under load.
func BenchmarkNotify(b *testing.B) {
	for _, depth := range []int{1, 8} {
		b.Run("pipeline="+strconv.Itoa(depth), func(b *testing.B) { benchmarkNotify(b, depth) })
	}
}

func benchmarkNotify(b *testing.B, depth int) {
	var hits, want atomic.Int64
	done := make(chan struct{}, 1)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == want.Load() {
			done <- struct{}{}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	const workers = 16
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: workers, Queue: b.N + 4*workers, Timeout: time.Minute, Pipeline: depth}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	base := sink.URL + "/win?auction=0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86&imp=1&price=1.5"
	urls := make([]string, 256) // distinct URLs, as macro-substituted nurls are
	for i := range urls {
		urls[i] = base + "&n=" + strconv.Itoa(i)
	}
	notify := func(count int) {
		hits.Store(0)
		want.Store(int64(count))
		for i := range count {
			if !n.Notify(urls[i%len(urls)]) {
				b.Fatal("a notice was dropped")
			}
		}
		<-done
	}
	notify(4 * workers) // the connections are open before the clock starts, as in steady state
	b.ReportAllocs()
	b.ResetTimer()
	notify(b.N)
}
