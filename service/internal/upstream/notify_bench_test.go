package upstream_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"asap/service/internal/upstream"
)

// BenchmarkNotify is the win-notice path as the ad service uses it: Notify hands
// a nurl to the workers, which GET it over kept-alive connections from the
// notifier's transport, against a local sink answering 204 (the server's side is
// in the figure too: one process). An iteration is one notice, queued and
// answered; Notify is retried when the queue is full, as a steady load never
// fills it for long.
func BenchmarkNotify(b *testing.B) {
	var hits atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	n, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 16, Queue: 1024, Timeout: 10 * time.Second}, nil)
	if err != nil {
		b.Fatal(err)
	}
	url := sink.URL + "/win?auction=0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86&imp=1&price=1.5"
	// The connections are opened before the clock starts, as in steady state.
	for range 64 {
		for !n.Notify(url) {
			runtime.Gosched()
		}
	}
	for hits.Load() < 64 {
		runtime.Gosched()
	}
	hits.Store(0)
	urls := make([]string, 256) // distinct URLs, as macro-substituted nurls are
	for i := range urls {
		urls[i] = url + "&n=" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for !n.Notify(urls[i%len(urls)]) {
			runtime.Gosched()
		}
	}
	for hits.Load() < int64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	if err := n.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}
