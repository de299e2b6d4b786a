// Package upstream calls the upstream ad servers named in ASAP_UPSTREAMS: one pooled
// HTTP client and one circuit breaker per upstream, and a bounded notifier that fires
// win notices.
//
// Only URLs from the configuration are ever called for bid requests, and redirects
// are not followed, so no placement or query can point ASAP at another address.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"asap/service/config"
	"asap/service/internal/h1"
	"asap/service/internal/openrtb"
	"asap/service/internal/promreg"
)

// Errors of Client.Do. Each is wrapped with detail; test them with errors.Is.
var (
	// ErrOpen means the breaker is open (or half-open with its probe in flight): the
	// upstream was not called.
	ErrOpen = errors.New("upstream circuit breaker is open")
	// ErrTimeout means no answer came within the request's deadline (tmax).
	ErrTimeout = errors.New("upstream timed out")
	// ErrLocalTimeout, always with ErrTimeout, means the deadline was spent inside
	// ASAP, not by the upstream: before the request was written (waiting for a CPU
	// or a connection), too late for the upstream to answer in time, or with the
	// answer already there, unread. It never counts against the breaker.
	ErrLocalTimeout = errors.New("deadline spent inside ASAP")
	// ErrStatus means the upstream answered with a status other than 200 or 204.
	ErrStatus = errors.New("upstream answered an unexpected status")
	// ErrTooLarge means the answer exceeded ASAP_UPSTREAM_MAX_RESPONSE_BYTES.
	ErrTooLarge = errors.New("upstream answer too large")
	// ErrTransport is any other failure to get an answer (refused, reset, bad TLS).
	ErrTransport = errors.New("upstream unreachable")
)

// Set is the configured upstreams, by name.
type Set struct {
	clients map[string]*Client
}

// NewSet builds a client for every upstream of cfg.Upstreams and registers their
// metrics on reg (nil: nowhere).
func NewSet(cfg config.Ad, reg prometheus.Registerer) (*Set, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Set{clients: make(map[string]*Client, len(cfg.Upstreams))}
	// One transport for all: ASAP_UPSTREAM_MAX_IDLE_CONNS bounds the idle
	// connections of every upstream together.
	transport := newTransport(cfg)
	for _, up := range cfg.Upstreams {
		c := newClient(up, cfg, transport, m)
		if err := promreg.Register(reg, "upstream "+up.Name, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "asap_upstream_breaker_state",
			Help:        "State of the upstream's circuit breaker: 0 closed, 1 half-open, 2 open.",
			ConstLabels: prometheus.Labels{"upstream": up.Name},
		}, func() float64 { return float64(c.breaker.State()) })); err != nil {
			return nil, err
		}
		s.clients[up.Name] = c
	}
	return s, nil
}

// Client returns the client of the upstream called name.
func (s *Set) Client(name string) (*Client, bool) {
	c, ok := s.clients[name]
	return c, ok
}

// CloseIdleConnections closes the idle keep-alive connections of every upstream.
func (s *Set) CloseIdleConnections() {
	for _, c := range s.clients {
		c.rt.CloseIdleConnections()
	}
}

// Client posts bid requests to one upstream.
type Client struct {
	name     string
	url      *url.URL
	rt       *h1.Transport // which has written a body when RoundTrip returns (Do)
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	maxBytes int64
	m        *metrics
	latency  prometheus.Observer

	// The auction's counts of this upstream, resolved once.
	requests, bids, wins, late prometheus.Counter
	winPrice                   prometheus.Observer
}

var (
	contentJSON    = []string{"application/json"}
	openrtbVersion = []string{openrtb.Version}
)

// newTransport is the transport of the bid requests. It uses no proxy from the
// environment: the configured URL is the only peer.
func newTransport(cfg config.Ad) *h1.Transport {
	return &h1.Transport{
		Dialer:                net.Dialer{Timeout: cfg.UpstreamDialTimeout, KeepAlive: 30 * time.Second},
		TLSHandshakeTimeout:   cfg.UpstreamTLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.UpstreamResponseHeaderTimeout,
		MaxHeaderBytes:        cfg.UpstreamMaxHeaderBytes,
		MaxIdleConnsPerHost:   cfg.UpstreamMaxIdleConnsPerHost,
		MaxIdleConns:          cfg.UpstreamMaxIdleConns,
		IdleConnTimeout:       cfg.UpstreamIdleConnTimeout,
	}
}

func newClient(up config.Upstream, cfg config.Ad, transport *h1.Transport, m *metrics) *Client {
	c := &Client{
		name: up.Name,
		url:  up.URL,
		// The transport itself, not an http.Client around it: the client's redirect
		// machinery clones every request's headers (3% of /v2/ad's CPU), and no
		// redirect is followed anyway — one would send the bid request to a URL
		// outside the configuration; a 3xx is an answer like any other.
		rt:       transport,
		maxBytes: cfg.UpstreamMaxResponseBytes,
		m:        m,
		latency:  m.latency.WithLabelValues(up.Name),
		requests: m.requests.WithLabelValues(up.Name),
		bids:     m.bids.WithLabelValues(up.Name),
		wins:     m.wins.WithLabelValues(up.Name),
		late:     m.late.WithLabelValues(up.Name),
		winPrice: m.winPrice.WithLabelValues(up.Name),
	}
	failures := uint32(max(cfg.BreakerFailures, 1))
	c.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        up.Name,
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpenTimeout,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= failures },
		// The SDK hanging up says nothing about the upstream's health, nor does a
		// deadline spent inside ASAP.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) || errors.Is(err, ErrLocalTimeout) },
	})
	return c
}

// Name returns the upstream's name from the configuration.
func (c *Client) Name() string { return c.name }

// Bids counts n bids of this upstream's answer, valid or not.
func (c *Client) Bids(n int) { c.bids.Add(float64(n)) }

// Won counts an auction this upstream won with the adjusted price price.
func (c *Client) Won(price float64) {
	c.wins.Inc()
	c.winPrice.Observe(price)
}

// Lost counts a valid bid of this upstream that did not win, for reason (a
// label such as "below_floor").
func (c *Client) Lost(reason string) { c.m.lost.WithLabelValues(c.name, reason).Inc() }

// Late counts an answer of this upstream that arrived after its auction had
// closed, and was dropped.
func (c *Client) Late() { c.late.Inc() }

// Rejected counts a bid of this upstream that broke the validity rule reason
// (a label such as "no_crid"), or an answer that could not be decoded.
func (c *Client) Rejected(reason string) { c.m.rejected.WithLabelValues(c.name, reason).Inc() }

// Breaker returns the state of the upstream's circuit breaker.
func (c *Client) Breaker() gobreaker.State { return c.breaker.State() }

// Do posts the encoded BidRequest body and appends the answer's body to dst. It
// has sent body when it returns and keeps no reference to it: the caller may
// reuse it (the transport writes the bytes as they are, h1.Bytes). It returns
// 200 with the BidResponse in dst, or 204 for no bid; any other outcome is an
// error wrapping ErrOpen, ErrTimeout, ErrStatus, ErrTooLarge or ErrTransport.
// The deadline of ctx bounds the whole exchange: pass one of tmax.
//
// The breaker counts only the upstream's own failures: 5xx answers, transport
// errors (a refused or reset connection, an answer that is not HTTP), and timeouts
// of requests written in time whose answer had not come (see blame). 204, 4xx and
// oversized answers count as successes (the upstream is alive); a deadline spent
// inside ASAP (ErrLocalTimeout) and the SDK hanging up count as neither.
//
// began is when the ad request's budget began (the auction's start; zero: now):
// a timeout is the upstream's only if its request was written with at least half
// of the budget, from began to ctx's deadline, still left (see blame).
func (c *Client) Do(ctx context.Context, began time.Time, body *bytes.Buffer, dst *bytes.Buffer) (int, error) {
	c.requests.Inc()
	done, err := c.breaker.Allow()
	if err != nil {
		c.m.errors.WithLabelValues(c.name, "breaker_open").Inc()
		return 0, fmt.Errorf("%w: %s", ErrOpen, c.name)
	}
	status, healthy, err := c.do(ctx, began, body.Bytes(), dst)
	if healthy {
		done(nil)
	} else {
		done(err)
	}
	return status, err
}

// do returns the status, whether the outcome shows a healthy upstream (what the
// breaker counts) and the error for the caller.
func (c *Client) do(ctx context.Context, began time.Time, body []byte, dst *bytes.Buffer) (status int, healthy bool, err error) {
	// Built by hand from the URL parsed at start: http.NewRequest would parse it
	// again for every request. The transport only reads the shared URL.
	req := (&http.Request{
		Method:     http.MethodPost,
		URL:        c.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": contentJSON, "X-Openrtb-Version": openrtbVersion},
		// h1.Bytes: the transport writes body itself, with the headers, in one
		// system call, and does not read a copy of it first.
		Body:          h1.Bytes(body),
		ContentLength: int64(len(body)),
		Host:          c.url.Host,
	}).WithContext(ctx)

	start := time.Now()
	if began.IsZero() {
		began = start
	}
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		c.latency.Observe(time.Since(start).Seconds())
		return 0, false, c.transportError(ctx, began, err)
	}
	defer resp.Body.Close()

	switch resp.StatusCode {
	case http.StatusOK:
		err := readLimited(dst, resp.Body, c.maxBytes)
		c.latency.Observe(time.Since(start).Seconds())
		c.m.responses.WithLabelValues(c.name, "2xx").Inc()
		if errors.Is(err, ErrTooLarge) {
			c.m.errors.WithLabelValues(c.name, "too_large").Inc()
			return resp.StatusCode, true, fmt.Errorf("%w: %s: over %d bytes", ErrTooLarge, c.name, c.maxBytes)
		}
		if err != nil {
			return 0, false, c.transportError(ctx, began, err)
		}
		return resp.StatusCode, true, nil
	default:
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		c.latency.Observe(time.Since(start).Seconds())
		c.m.responses.WithLabelValues(c.name, statusClass(resp.StatusCode)).Inc()
		if resp.StatusCode == http.StatusNoContent {
			return resp.StatusCode, true, nil
		}
		return resp.StatusCode, resp.StatusCode < 500, fmt.Errorf("%w: %s: %d", ErrStatus, c.name, resp.StatusCode)
	}
}

// transportError is the error of an exchange whose budget began at start that got
// no whole answer, counted by reason.
func (c *Client) transportError(ctx context.Context, start time.Time, err error) error {
	var netErr net.Error
	expired := ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded)
	if expired || (errors.As(err, &netErr) && netErr.Timeout()) {
		deadline, _ := ctx.Deadline()
		if !blame(err, expired, start, deadline, schedLag) {
			c.m.errors.WithLabelValues(c.name, "local_timeout").Inc()
			return fmt.Errorf("%w: %w: %s", ErrTimeout, ErrLocalTimeout, c.name)
		}
		c.m.timeouts.WithLabelValues(c.name).Inc()
		return fmt.Errorf("%w: %s", ErrTimeout, c.name)
	}
	if errors.Is(err, context.Canceled) {
		c.m.errors.WithLabelValues(c.name, "canceled").Inc()
		return fmt.Errorf("%w: %s: %w", ErrTransport, c.name, err)
	}
	if errors.Is(err, h1.ErrHeadersTooLarge) {
		c.m.errors.WithLabelValues(c.name, "headers_too_large").Inc()
		return fmt.Errorf("%w: %s: %w", ErrTransport, c.name, err)
	}
	c.m.errors.WithLabelValues(c.name, "transport").Inc()
	return fmt.Errorf("%w: %s: %w", ErrTransport, c.name, err)
}

// blame reports whether a timeout, err, of an exchange whose budget began at
// start (the ad request's, not the exchange's own start) is the
// upstream's own, as Envoy's outlier detection tells gateway failures from local
// origin ones. expired tells that the request's deadline (deadline), not a
// transport timeout of its own such as the dial's, ended it. The upstream is
// blamed unless the deadline was spent inside ASAP:
//   - expired before the request was written whole (waiting for a CPU, a dial, a
//     connection): the upstream never had it;
//   - written with less than half of the time from start to the deadline left:
//     the upstream was given too little of it;
//   - with bytes of the answer (or the upstream's close) waiting unread when the
//     exchange failed: the upstream had answered, or begun to, and ASAP did not
//     read it in time.
//
// A timeout of the transport's own before the request was written (the dial's)
// is the upstream's, it did not accept the connection in time, unless ASAP's
// goroutines are queueing for a CPU (lag, a yield's wait for the next turn, over
// StarvedLag): the connection is then often made in time and the runtime, behind
// with its network poll, fires the dial's timer first. There is no socket left
// to look at, as there is after a written request, so the scheduler is asked.
func blame(err error, expired bool, start, deadline time.Time, lag func() time.Duration) bool {
	var xe *h1.ExchangeError
	switch {
	case !errors.As(err, &xe) || !xe.Pending && xe.Wrote.IsZero():
		// Not written (no connection, or the write unfinished): the upstream's
		// only for a timeout of the transport's own while ASAP had CPU to spare.
		return !expired && lag() <= StarvedLag
	case xe.Pending:
		return false
	case !deadline.IsZero() && deadline.Sub(xe.Wrote) < deadline.Sub(start)/2:
		return false
	}
	return true
}

// StarvedLag is the wait for a CPU past which ASAP's own timeouts before a
// request is written are its own (blame): 5 % of the default dial timeout. An
// instance with CPU to spare gives a yielding goroutine its next turn within
// microseconds.
const StarvedLag = 5 * time.Millisecond

// schedLag is how long the calling goroutine waits for its next turn once it
// yields: the run queue's length in time.
func schedLag() time.Duration {
	t := time.Now()
	runtime.Gosched()
	return time.Since(t)
}

// readLimited appends r to dst, failing with ErrTooLarge past limit bytes.
func readLimited(dst *bytes.Buffer, r io.Reader, limit int64) error {
	n, err := dst.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return ErrTooLarge
	}
	return nil
}

func statusClass(code int) string {
	switch {
	case code == http.StatusNoContent:
		return "204"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

type metrics struct {
	latency   *prometheus.HistogramVec
	responses *prometheus.CounterVec
	timeouts  *prometheus.CounterVec
	errors    *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	requests  *prometheus.CounterVec
	bids      *prometheus.CounterVec
	wins      *prometheus.CounterVec
	lost      *prometheus.CounterVec
	late      *prometheus.CounterVec
	winPrice  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "asap_upstream_request_duration_seconds",
			Help:    "Time from sending a bid request to reading the upstream's answer.",
			Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .25, .3, .5, .75, 1},
		}, []string{"upstream"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_responses_total",
			Help: "Upstream answers by status class (204 on its own: no bid).",
		}, []string{"upstream", "class"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_timeouts_total",
			Help: "Bid requests the upstream did not answer within tmax (its own timeouts: local_timeout errors are not counted here).",
		}, []string{"upstream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_errors_total",
			Help: "Bid requests without an answer, by reason: transport, canceled, too_large, headers_too_large, breaker_open, " +
				"local_timeout (the deadline was spent inside ASAP, not by the upstream: never counted by the breaker).",
		}, []string{"upstream", "reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_bids_rejected_total",
			Help: "Bids that broke a validity rule and took no part in the auction, by reason: response_id, currency, " +
				"no_id, imp_id, no_price, invalid_price, no_crid, no_markup; and undecodable answers (invalid_response).",
		}, []string{"upstream", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_requests_total",
			Help: "Bid requests for the upstream, sent or stopped by its open breaker.",
		}, []string{"upstream"}),
		bids: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_bids_total",
			Help: "Bids in the upstream's answers that arrived in time, valid or not.",
		}, []string{"upstream"}),
		wins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_wins_total",
			Help: "Auctions the upstream's bid won.",
		}, []string{"upstream"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_bids_lost_total",
			Help: "Valid bids of the upstream that did not win, by reason: lost_to_higher_bid, below_floor.",
		}, []string{"upstream", "reason"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asap_upstream_late_answers_total",
			Help: "Answers of the upstream that arrived after the auction had closed, dropped.",
		}, []string{"upstream"}),
		winPrice: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "asap_upstream_winning_price",
			Help:    "Adjusted price (CPM, USD) of the upstream's winning bids.",
			Buckets: []float64{.1, .25, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 50},
		}, []string{"upstream"}),
	}
	if err := promreg.Register(reg, "upstream", m.latency, m.responses, m.timeouts, m.errors, m.rejected,
		m.requests, m.bids, m.wins, m.lost, m.late, m.winPrice); err != nil {
		return nil, err
	}
	return m, nil
}
