package upstream

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/h1"
	"asap/service/internal/promreg"
)

// NotifierOptions sizes a Notifier. Zero values mean: 1 worker, no queue (a notice
// is dropped unless a worker is idle), a 2s timeout.
type NotifierOptions struct {
	// Concurrency is the number of notices in flight at once.
	Concurrency int
	// Queue is the number of notices waiting for a worker; past it they are dropped.
	Queue int
	// Timeout bounds one notice: connect, send and read the answer (to a tenth
	// more: notices starting together share one deadline).
	Timeout time.Duration
	// MaxHeaderBytes bounds a notice answer's headers; 0: the transport's default
	// (64 KiB). The hosts are named by bids, so they are trusted no further than
	// upstreams.
	MaxHeaderBytes int64
	// MaxIdleConns bounds the idle connections to all notice hosts together, the
	// oldest closed first; 0: Concurrency.
	MaxIdleConns int
	// Transport overrides the HTTP transport (tests); nil builds a pooled one.
	Transport http.RoundTripper
}

// Notifier fires win and loss notices (OpenRTB nurl and lurl) in the background with bounded
// concurrency. Notify never blocks: when the queue is full the notice is dropped and
// counted. Close stops it and waits for the queued notices.
type Notifier struct {
	rt      http.RoundTripper
	timeout time.Duration
	bounds  noticeDeadlines
	queue   chan string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.RWMutex
	closed bool

	sent, failed, dropped prometheus.Counter
}

// NewNotifier starts the workers of a notifier and registers its metrics on reg
// (nil: nowhere).
func NewNotifier(opts NotifierOptions, reg prometheus.Registerer) (*Notifier, error) {
	opts.Concurrency = max(opts.Concurrency, 1)
	opts.Queue = max(opts.Queue, 0)
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	transport := opts.Transport
	if transport == nil {
		transport = &h1.Transport{
			Dialer:                net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second},
			TLSHandshakeTimeout:   opts.Timeout,
			ResponseHeaderTimeout: opts.Timeout,
			MaxHeaderBytes:        opts.MaxHeaderBytes,
			MaxIdleConnsPerHost:   opts.Concurrency,
			MaxIdleConns:          cmp.Or(opts.MaxIdleConns, opts.Concurrency),
			IdleConnTimeout:       90 * time.Second,
		}
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_upstream_win_notices_total",
		Help: "Win and loss notices (nurl, lurl) by outcome: sent (2xx/3xx answer), failed, dropped (queue full or shutting down).",
	}, []string{"outcome"})
	if err := promreg.Register(reg, "notifier", outcomes); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		// The transport itself, not an http.Client: a notice is one GET, following
		// redirects is not part of it, and the client's redirect machinery cloned
		// every notice's headers. Each notice has a context deadline of Timeout
		// (noticeDeadlines).
		rt:      transport,
		timeout: opts.Timeout,
		queue:   make(chan string, opts.Queue),
		ctx:     ctx,
		cancel:  cancel,
		sent:    outcomes.WithLabelValues("sent"),
		failed:  outcomes.WithLabelValues("failed"),
		dropped: outcomes.WithLabelValues("dropped"),
	}
	n.bounds = noticeDeadlines{parent: ctx, timeout: opts.Timeout}
	n.wg.Add(opts.Concurrency)
	for range opts.Concurrency {
		go n.work()
	}
	return n, nil
}

// Notify queues a GET of url and reports whether it was queued. URLs other than
// http(s) are dropped.
func (n *Notifier) Notify(url string) bool {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		n.dropped.Inc()
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.dropped.Inc()
		return false
	}
	select {
	case n.queue <- url:
		return true
	default:
		n.dropped.Inc()
		return false
	}
}

// Close stops accepting notices and waits until the queued ones are sent or ctx
// ends; then the notices still in flight are cancelled. It returns ctx's error when
// the queue could not be drained in time.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		<-done
		return fmt.Errorf("notifier: queued win notices abandoned: %w", ctx.Err())
	}
}

func (n *Notifier) work() {
	defer n.wg.Done()
	for url := range n.queue {
		if n.ctx.Err() != nil {
			n.dropped.Inc()
			continue
		}
		if n.send(url) {
			n.sent.Inc()
		} else {
			n.failed.Inc()
		}
	}
}

func (n *Notifier) send(url string) bool {
	req, err := http.NewRequestWithContext(n.bounds.get(), http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := n.rt.RoundTrip(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode < 400
}
