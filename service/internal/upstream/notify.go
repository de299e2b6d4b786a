package upstream

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/internal/h1"
	"asap/service/internal/promreg"
)

// NotifierOptions sizes a Notifier. Zero values mean: 1 worker, no queue (a notice
// is dropped unless a worker is idle), a 2s timeout, one notice per exchange.
type NotifierOptions struct {
	// Concurrency is the number of workers, each with at most one connection (one
	// pipeline of notices) in flight.
	Concurrency int
	// Queue is the number of notices waiting for a worker; past it they are dropped.
	Queue int
	// Timeout bounds one exchange: connect, send the notices and read their
	// answers (to a tenth more: exchanges starting together share one deadline).
	Timeout time.Duration
	// Pipeline is the most notices to one host that a worker sends at once, on one
	// connection (HTTP/1.1 pipelining, h1.Transport.Pipeline): the notices queued
	// for that host when the worker takes its next work, in their order. 0 or 1:
	// one notice per exchange. It applies to the notifier's own transport; with
	// Transport set, every notice is one RoundTrip.
	Pipeline int
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

// maxNoticeBody bounds the answer body read (and discarded) for each notice.
const maxNoticeBody = 64 << 10

// Notifier fires win and loss notices (OpenRTB nurl and lurl) in the background with bounded
// concurrency. Notify never blocks: when the queue is full the notice is dropped and
// counted. Close stops it and waits for the queued notices.
//
// Notices wait in one queue per host, and the hosts with notices waiting in the
// order they got their first. A worker takes up to Pipeline notices of the host
// waiting longest and sends them in one exchange; another worker is woken for
// what is left. A worker woken for new work first lets the goroutines ready to
// run go (runtime.Gosched): the notices of the ad requests being answered at that
// moment join its exchange, so that under load several notices share one write
// and one wake-up, and when idle a notice goes at once, alone.
type Notifier struct {
	rt     http.RoundTripper
	pipe   *h1.Transport // the notifier's own transport; nil when Transport was given
	depth  int
	bounds noticeDeadlines
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	wake     *sync.Cond // on mu: notices queued, or closed
	hosts    map[string]*hostQueue
	ready    []*hostQueue // hosts with notices queued, first come first; from readyAt
	readyAt  int
	queued   int // notices in all host queues
	capacity int // Queue
	idle     int // workers waiting on wake
	closed   bool

	sent, failed, dropped prometheus.Counter
	exchanges             prometheus.Counter
}

// hostQueue is the notices waiting for one scheme://host, oldest first from head.
type hostQueue struct {
	key  string
	urls []string
	head int
}

// NewNotifier starts the workers of a notifier and registers its metrics on reg
// (nil: nowhere).
func NewNotifier(opts NotifierOptions, reg prometheus.Registerer) (*Notifier, error) {
	opts.Concurrency = max(opts.Concurrency, 1)
	opts.Queue = max(opts.Queue, 0)
	opts.Pipeline = max(opts.Pipeline, 1)
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	var pipe *h1.Transport
	transport := opts.Transport
	if transport == nil {
		pipe = &h1.Transport{
			Dialer:                net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second},
			TLSHandshakeTimeout:   opts.Timeout,
			ResponseHeaderTimeout: opts.Timeout,
			MaxHeaderBytes:        opts.MaxHeaderBytes,
			MaxIdleConnsPerHost:   opts.Concurrency,
			MaxIdleConns:          cmp.Or(opts.MaxIdleConns, opts.Concurrency),
			IdleConnTimeout:       90 * time.Second,
		}
		transport = pipe
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asap_upstream_win_notices_total",
		Help: "Win and loss notices (nurl, lurl) by outcome: sent (2xx/3xx answer), failed, dropped (queue full or shutting down).",
	}, []string{"outcome"})
	exchanges := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asap_upstream_notice_exchanges_total",
		Help: "Exchanges of win and loss notices: sent and failed notices over this is the notices per exchange, how much ASAP_NOTICE_PIPELINE batches.",
	})
	if err := promreg.Register(reg, "notifier", outcomes, exchanges); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		// The transport itself, not an http.Client: a notice is one GET, following
		// redirects is not part of it, and the client's redirect machinery cloned
		// every notice's headers. Each exchange has a context deadline of Timeout
		// (noticeDeadlines).
		rt:        transport,
		pipe:      pipe,
		depth:     opts.Pipeline,
		ctx:       ctx,
		cancel:    cancel,
		hosts:     make(map[string]*hostQueue),
		capacity:  opts.Queue,
		sent:      outcomes.WithLabelValues("sent"),
		failed:    outcomes.WithLabelValues("failed"),
		dropped:   outcomes.WithLabelValues("dropped"),
		exchanges: exchanges,
	}
	n.wake = sync.NewCond(&n.mu)
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
	key, ok := hostKey(url)
	if !ok {
		n.dropped.Inc()
		return false
	}
	n.mu.Lock()
	if n.closed || n.queued >= n.capacity+n.idle {
		n.mu.Unlock()
		n.dropped.Inc()
		return false
	}
	q := n.hosts[key]
	if q == nil {
		q = &hostQueue{key: key}
		n.hosts[key] = q
	}
	if q.head == len(q.urls) {
		n.ready = append(n.ready, q)
	}
	q.urls = append(q.urls, url)
	n.queued++
	if n.queued == 1 {
		// One worker for the first notice; it wakes the next for what it leaves.
		n.wake.Signal()
	}
	n.mu.Unlock()
	return true
}

// hostKey is url's scheme and authority ("https://host:port"), the part that
// picks its connection; false for a URL other than http(s).
func hostKey(url string) (string, bool) {
	var rest string
	switch {
	case strings.HasPrefix(url, "http://"):
		rest = url[len("http://"):]
	case strings.HasPrefix(url, "https://"):
		rest = url[len("https://"):]
	default:
		return "", false
	}
	end := len(url) - len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return url[:end+i], true
	}
	return url, true
}

// Close stops accepting notices and waits until the queued ones are sent or ctx
// ends; then the notices still in flight are cancelled. It returns ctx's error when
// the queue could not be drained in time.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.wake.Broadcast()
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
	var (
		batch  []string
		urls   []*neturl.URL
		status []int
	)
	for {
		var ok bool
		if batch, ok = n.next(batch[:0]); !ok {
			return
		}
		if n.ctx.Err() != nil {
			n.dropped.Add(float64(len(batch)))
			continue
		}
		if n.pipe == nil {
			for _, u := range batch {
				n.exchanges.Inc()
				n.count(n.send(u))
			}
			continue
		}
		n.exchanges.Inc()
		urls, status = n.pipeline(batch, urls[:0], status)
	}
}

// next waits for queued notices and appends to batch up to Pipeline of them, all
// for the host that has waited longest. It returns false when the notifier is
// closed and nothing is left.
func (n *Notifier) next(batch []string) ([]string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for waited := false; ; {
		for n.queued == 0 {
			if n.closed {
				return batch, false
			}
			n.idle++
			n.wake.Wait()
			n.idle--
			waited = true
		}
		if !waited || n.depth == 1 {
			break
		}
		// Woken for new work: the goroutines ready to run go first, and the notices
		// they queue join this exchange. Another worker may take them all meanwhile.
		n.mu.Unlock()
		runtime.Gosched()
		n.mu.Lock()
		waited = false
	}
	q := n.ready[n.readyAt]
	n.ready[n.readyAt] = nil
	n.readyAt++
	take := min(n.depth, len(q.urls)-q.head)
	batch = append(batch, q.urls[q.head:q.head+take]...)
	clear(q.urls[q.head : q.head+take])
	q.head += take
	n.queued -= take
	if q.head < len(q.urls) {
		if q.head > len(q.urls)/2 { // keep the queue's memory to what waits
			q.urls = q.urls[:copy(q.urls, q.urls[q.head:])]
			q.head = 0
		}
		n.ready = append(n.ready, q) // its turn again after the other hosts'
	} else {
		delete(n.hosts, q.key)
	}
	if n.readyAt == len(n.ready) {
		n.ready, n.readyAt = n.ready[:0], 0
	} else if n.readyAt > len(n.ready)/2 {
		n.ready = n.ready[:copy(n.ready, n.ready[n.readyAt:])]
		n.readyAt = 0
	}
	if n.queued > 0 {
		n.wake.Signal()
	}
	return batch, true
}

// pipeline sends batch, notices for one host, in one exchange and counts each
// by its answer. urls and status are the worker's to reuse.
func (n *Notifier) pipeline(batch []string, urls []*neturl.URL, status []int) ([]*neturl.URL, []int) {
	for _, raw := range batch {
		u, err := neturl.Parse(raw)
		if err != nil {
			n.failed.Inc()
			continue
		}
		urls = append(urls, u)
	}
	status = slices.Grow(status[:0], len(urls))[:len(urls)]
	n.pipe.Pipeline(n.bounds.get(), urls, maxNoticeBody, status)
	for _, code := range status {
		n.count(code)
	}
	clear(urls)
	return urls, status
}

// count counts a notice by its answer's status, 0 for none.
func (n *Notifier) count(status int) {
	if status > 0 && status < 400 {
		n.sent.Inc()
	} else {
		n.failed.Inc()
	}
}

// send GETs url through the given transport and returns the answer's status, 0
// for none.
func (n *Notifier) send(url string) int {
	req, err := http.NewRequestWithContext(n.bounds.get(), http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := n.rt.RoundTrip(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxNoticeBody))
	resp.Body.Close()
	return resp.StatusCode
}
