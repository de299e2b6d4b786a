// Package h1 is the HTTP/1.1 client transport of ASAP's outgoing calls: bid
// requests to the upstream ad servers and win and loss notices to the hosts that
// bids name. It is an http.RoundTripper that does each exchange on the caller's
// goroutine, and trusts the peer no more than net/http's Transport does.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport is the http.RoundTripper of the upstream clients: HTTP/1.1 with
// keep-alive, each exchange done in the caller's goroutine.
//
// net/http's Transport hands every request to a writer goroutine and every answer
// from a reader goroutine of the connection, two goroutine switches per exchange,
// and the bench profiles showed them (with their selects and wake-ups) as the
// largest part of ASAP's CPU on GET /v2/ad. An upstream call here is one write
// (headers and body) and reads on the same goroutine. A plain answer's status line
// and headers (HTTP/1.1, a final status, a Content-Length, all already in the read
// buffer) are read by a fast path with a few allocations, readPlainAnswer, which
// FuzzReadAnswer holds to http.ReadResponse; http.ReadResponse reads any other.
// It speaks HTTP/1.1 only (over TLS for https, negotiated by ALPN), follows no
// redirects itself, uses no proxy, and asks for no compression.
//
// It trusts the peer no more than net/http's Transport does (docs/upstreams.md):
//   - an answer's status line and headers, its interim (1xx) answers' included,
//     are read up to MaxHeaderBytes, then the exchange fails with
//     ErrHeadersTooLarge and the connection is closed;
//   - interim answers (100 Continue, 103 Early Hints) are skipped, at most
//     max1xxAnswers of them; 101 Switching Protocols, which no request asks for,
//     fails the exchange;
//   - a request is sent again, once, on a new connection only when not one byte of
//     it reached the old one (errNothingWritten): an upstream never receives the
//     same bid request twice, whatever the method. A reused connection that the
//     server has closed is found before the write (quiet), not after;
//   - idle connections are bounded per host and in total, the oldest closed first.
type Transport struct {
	Dialer                net.Dialer
	TLSClientConfig       *tls.Config   // nil: the system roots
	TLSHandshakeTimeout   time.Duration // bounds the TLS handshake; 0: only the request's deadline
	ResponseHeaderTimeout time.Duration // bounds the wait for the answer's headers; 0: only the deadline
	MaxHeaderBytes        int64         // bounds an answer's headers; 0: defaultMaxHeaderBytes
	MaxIdleConnsPerHost   int           // idle connections kept per host; 0: 1
	MaxIdleConns          int           // idle connections kept in all; 0: no bound but MaxIdleConnsPerHost's
	IdleConnTimeout       time.Duration // an idle connection older than this is closed, not reused; 0: kept

	mu    sync.Mutex
	idle  map[string][]*h1Conn // by scheme://host:port, the most recently used last
	nidle int                  // connections in idle
	// sweeper closes connections idle past IdleConnTimeout even when no request comes
	// to take them; nil while no connection is idle.
	sweeper *time.Timer
}

const (
	// defaultMaxHeaderBytes bounds an answer's headers when MaxHeaderBytes is 0.
	// Bidders answer with a few hundred bytes of headers; net/http allows 10 MiB.
	defaultMaxHeaderBytes = 64 << 10
	// max1xxAnswers is how many interim answers may come before the final one,
	// as in net/http.
	max1xxAnswers = 5
)

// h1Conn is one keep-alive connection.
type h1Conn struct {
	net.Conn
	raw       net.Conn // the TCP connection (under TLS for https)
	key       string
	br        *bufio.Reader // reads from the connection through readLimit
	bw        *bufio.Writer // writes to the connection, counting into written
	idleSince time.Time
	readLimit int64 // bytes br may still take from the connection
	written   int64 // bytes of the current request taken by the connection
}

// connReader is what an h1Conn's bufio.Reader reads from: the connection, at most
// readLimit bytes, so that headers cannot grow without bound in the reader.
type connReader struct{ c *h1Conn }

func (r connReader) Read(p []byte) (int, error) {
	if r.c.readLimit <= 0 {
		return 0, ErrHeadersTooLarge
	}
	if int64(len(p)) > r.c.readLimit {
		p = p[:r.c.readLimit]
	}
	n, err := r.c.Conn.Read(p)
	r.c.readLimit -= int64(n)
	return n, err
}

// connWriter is what an h1Conn's bufio.Writer writes to: the connection, counting
// the bytes it took.
type connWriter struct{ c *h1Conn }

func (w connWriter) Write(p []byte) (int, error) {
	n, err := w.c.Conn.Write(p)
	w.c.written += int64(n)
	return n, err
}

var (
	// errNothingWritten marks a failed write of which the connection took not one
	// byte: the request cannot have reached the server, so it may go again on a
	// new connection. Any other failure after the dial is final: the server may
	// have received and acted on the request.
	errNothingWritten = errors.New("request not written")
	// ErrHeadersTooLarge fails an answer whose headers exceed MaxHeaderBytes.
	ErrHeadersTooLarge = errors.New("answer headers too large")
	// errTooMany1xx fails an answer preceded by more than max1xxAnswers interim ones.
	errTooMany1xx = errors.New("too many interim (1xx) answers")
	// errSwitchingProtocols fails a 101 answer, which no request of ASAP asks for.
	errSwitchingProtocols = errors.New("101 Switching Protocols not asked for")
)

// ExchangeError is the error of an exchange that failed once it had a connection:
// how far it got, so that a caller can tell whose the failure was. A deadline that
// passed before the request was written, or while its answer lay unread, was
// spent inside the caller's process (waiting for a CPU, say), not by the peer.
type ExchangeError struct {
	// Err is what failed.
	Err error
	// Wrote is when the whole request reached the connection; zero when it did not.
	Wrote time.Time
	// Pending reports that, when the exchange failed, bytes of an answer had
	// arrived and were waiting to be read (or the peer had closed the connection).
	Pending bool
}

// Error returns Err's text.
func (e *ExchangeError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ExchangeError) Unwrap() error { return e.Err }

// Timeout reports whether Err is a timeout, as net.Error's Timeout does (url.Error
// asks its wrapped error for it directly).
func (e *ExchangeError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout()
}

// failed wraps err, the failure of an exchange on c whose request was written at
// wrote (zero: not written), with what c holds unread.
func (c *h1Conn) failed(err error, wrote time.Time) error {
	return &ExchangeError{Err: err, Wrote: wrote, Pending: c.pending()}
}

// aLongTimeAgo is a deadline in the past: setting it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req and returns the answer; its Body reads from the connection,
// which goes back to the pool when the body has been read to its end (and closed).
// Unlike net/http's Transport, it has written the request, body included, when it
// returns, and keeps no reference to it: the caller may reuse the body's bytes.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readRequestBody(req)
	if err != nil {
		return nil, err
	}
	u := req.URL
	addr, key, err := target(u)
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		c, reused, err := t.conn(ctx, u, addr, key)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req, body)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if !reused || attempt > 0 || !errors.Is(err, errNothingWritten) || ctx.Err() != nil {
			if cerr := contextErr(ctx); cerr != nil {
				return nil, fmt.Errorf("%w (%w)", cerr, err)
			}
			return nil, err
		}
	}
}

// contextErr is ctx.Err(), or context.DeadlineExceeded once ctx's deadline has
// passed: the connection's deadline, set to the same instant, may fire before the
// context's own timer does.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// exchange writes req on c and reads the answer's headers.
func (t *Transport) exchange(ctx context.Context, c *h1Conn, req *http.Request, body []byte) (*http.Response, error) {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	ok := false
	defer func() {
		if !ok {
			stop()
		}
	}()

	c.written = 0
	c.fit(req, body)
	writeRequest(c.bw, req, body)
	if err := c.flush(); err != nil {
		return nil, c.failed(err, time.Time{})
	}
	wrote := time.Now()
	t.awaitHeaders(c, deadline)
	resp, err := t.readResponse(c, req)
	if err != nil {
		return nil, c.failed(err, wrote)
	}
	c.SetReadDeadline(deadline) // the body, under the request's deadline alone
	resp.Body = &h1Body{t: t, c: c, r: resp.Body, reuse: !resp.Close, stop: stop, wrote: wrote}
	ok = true
	return resp, nil
}

// target checks that u is an http(s) URL with a host and returns the address to
// dial and the key of its connections in the pool.
func target(u *url.URL) (addr, key string, err error) {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("upstream: unsupported URL %q", u)
	}
	addr = canonicalAddr(u.Scheme, u.Host)
	return addr, u.Scheme + "://" + addr, nil
}

// conn returns an idle connection for key, or a new one to u's host; reused
// tells which.
func (t *Transport) conn(ctx context.Context, u *url.URL, addr, key string) (*h1Conn, bool, error) {
	if c, reused := t.get(key); c != nil {
		return c, reused, nil
	}
	c, err := t.dial(ctx, u.Scheme, addr, u.Hostname(), key)
	return c, false, err
}

// flush writes what c's writer holds: one request or a pipeline of them. A write
// of which not one byte reached the connection is errNothingWritten.
func (c *h1Conn) flush() error {
	if err := c.bw.Flush(); err != nil {
		if c.written == 0 {
			return fmt.Errorf("%w: %w", errNothingWritten, err)
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// awaitHeaders bounds the wait for the next answer's headers by
// ResponseHeaderTimeout, within deadline.
func (t *Transport) awaitHeaders(c *h1Conn, deadline time.Time) {
	if t.ResponseHeaderTimeout > 0 {
		if hd := time.Now().Add(t.ResponseHeaderTimeout); deadline.IsZero() || hd.Before(deadline) {
			c.SetReadDeadline(hd)
		}
	}
}

// readResponse reads the final answer's status line and headers from c, skipping
// interim answers, all of them within MaxHeaderBytes.
func (t *Transport) readResponse(c *h1Conn, req *http.Request) (*http.Response, error) {
	limit := t.MaxHeaderBytes
	if limit <= 0 {
		limit = defaultMaxHeaderBytes
	}
	c.readLimit = limit
	defer func() { c.readLimit = math.MaxInt64 }() // the body is bounded by the caller
	for interim := 0; ; interim++ {
		resp, ok, err := readPlainAnswer(c.br, req)
		if !ok { // not plain, and left untouched
			resp, err = http.ReadResponse(c.br, req)
		}
		if err != nil && c.readLimit <= 0 {
			return nil, fmt.Errorf("%w: over %d bytes", ErrHeadersTooLarge, limit)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode < 100 || resp.StatusCode >= 200: // a final answer, odd or not, as net/http reads it
			return resp, nil
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errSwitchingProtocols
		case interim == max1xxAnswers:
			return nil, fmt.Errorf("%w: more than %d", errTooMany1xx, max1xxAnswers)
		}
		// An interim answer has no body: the final one follows.
	}
}

// h1Body is an answer's body. Read to its end, it gives the connection back to
// the pool; closed before that, it closes the connection.
type h1Body struct {
	t     *Transport
	c     *h1Conn
	r     io.ReadCloser
	reuse bool
	stop  func() bool
	done  bool
	wrote time.Time // when the request was written
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.release(true)
	} else if err != nil {
		err = b.c.failed(err, b.wrote)
		b.release(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.release(false)
	}
	return nil
}

// release ends the body: the connection goes back to the pool when the body was
// read to its end, the server keeps it open, and the request's context did not
// interrupt it (stop reports that); otherwise it is closed.
func (b *h1Body) release(atEOF bool) {
	b.done = true
	if b.stop() && atEOF && b.reuse {
		b.t.put(b.c)
		return
	}
	b.c.Close()
}

// get takes an idle connection for key, the most recently used first, closing the
// ones idle too long and the ones with something to read (see quiet). It returns
// nil when there is none.
func (t *Transport) get(key string) (*h1Conn, bool) {
	for {
		c := t.take(key)
		if c == nil {
			return nil, false
		}
		if c.quiet() {
			return c, true
		}
		c.Close()
	}
}

// take removes the most recently used idle connection for key from the pool,
// closing the ones idle too long. It returns nil when there is none.
func (t *Transport) take(key string) *h1Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[key]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		conns = conns[:len(conns)-1]
		t.nidle--
		if t.IdleConnTimeout > 0 && time.Since(c.idleSince) > t.IdleConnTimeout {
			c.Close()
			continue
		}
		t.idle[key] = conns
		return c
	}
	delete(t.idle, key)
	return nil
}

// put keeps c for reuse, or closes it when its host has enough idle connections.
// When the transport has enough in all, the one idle longest is closed for it.
func (t *Transport) put(c *h1Conn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = make(map[string][]*h1Conn)
	}
	if len(t.idle[c.key]) >= max(t.MaxIdleConnsPerHost, 1) {
		c.Close()
		return
	}
	if t.MaxIdleConns > 0 && t.nidle >= t.MaxIdleConns {
		t.closeOldest()
	}
	t.idle[c.key] = append(t.idle[c.key], c)
	t.nidle++
	if t.IdleConnTimeout > 0 && t.sweeper == nil {
		t.sweeper = time.AfterFunc(t.IdleConnTimeout, t.sweep)
	}
}

// closeOldest closes the connection idle longest. Each host's list is in the order
// of use, so it is the first of one of them. t.mu is held.
func (t *Transport) closeOldest() {
	oldest := ""
	for key, conns := range t.idle {
		if oldest == "" || conns[0].idleSince.Before(t.idle[oldest][0].idleSince) {
			oldest = key
		}
	}
	if oldest == "" {
		return
	}
	conns := t.idle[oldest]
	conns[0].Close()
	if len(conns) == 1 {
		delete(t.idle, oldest)
	} else {
		copy(conns, conns[1:])
		conns[len(conns)-1] = nil
		t.idle[oldest] = conns[:len(conns)-1]
	}
	t.nidle--
}

// sweep closes the connections idle past IdleConnTimeout and runs again when the
// next one is due, until none is idle.
func (t *Transport) sweep() {
	now := time.Now()
	var expired []*h1Conn
	t.mu.Lock()
	next := time.Duration(0)
	for key, conns := range t.idle {
		kept := conns[:0]
		for _, c := range conns {
			if left := t.IdleConnTimeout - now.Sub(c.idleSince); left > 0 {
				kept = append(kept, c)
				if next == 0 || left < next {
					next = left
				}
			} else {
				expired = append(expired, c)
				t.nidle--
			}
		}
		clear(conns[len(kept):])
		if len(kept) == 0 {
			delete(t.idle, key)
		} else {
			t.idle[key] = kept
		}
	}
	if next > 0 {
		t.sweeper.Reset(next)
	} else {
		t.sweeper = nil
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.Close()
	}
}

// CloseIdleConnections closes every idle connection (http.Client calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.nidle = 0
	if t.sweeper != nil {
		t.sweeper.Stop()
		t.sweeper = nil
	}
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.Close()
		}
	}
}

// dial opens a connection to addr, with TLS for https.
func (t *Transport) dial(ctx context.Context, scheme, addr, host, key string) (*h1Conn, error) {
	raw, err := t.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := raw
	if scheme == "https" {
		cfg := t.TLSClientConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		cfg.NextProtos = []string{"http/1.1"}
		hctx := ctx
		if t.TLSHandshakeTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, t.TLSHandshakeTimeout)
			defer cancel()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	c := &h1Conn{Conn: conn, raw: raw, key: key, readLimit: math.MaxInt64}
	c.br = bufio.NewReaderSize(connReader{c}, 8<<10)
	c.bw = bufio.NewWriterSize(connWriter{c}, 4<<10)
	return c, nil
}

// writeRequest writes req's request line, headers and body to w.
func writeRequest(w *bufio.Writer, req *http.Request, body []byte) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for name, values := range req.Header {
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n") || strings.ContainsAny(name, "\r\n: ") {
				continue // never a header that would split the request
			}
			w.WriteString(name)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if body != nil || req.Method == http.MethodPost || req.Method == http.MethodPut {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.Itoa(len(body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
}

// maxWriteBuffer bounds how far a connection's writer grows to send a request in
// one write (fit); a larger request goes out in more.
const maxWriteBuffer = 64 << 10

// fit grows c's writer, which holds nothing, to hold req's request line, headers
// and body, so that they go out in one write: larger than the buffer, they would
// go in two (the full buffer, then the rest), two system calls here and two reads
// at the upstream. A few kB of consent string make a bid request outgrow the
// first 4 kB. The writer stays grown for the connection's later requests.
func (c *h1Conn) fit(req *http.Request, body []byte) {
	n := len(body) + len(req.Method) + len(req.URL.Path) + len(req.URL.RawQuery) + len(req.Host) + len(req.URL.Host) + 64
	for name, values := range req.Header {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	if n <= c.bw.Size() || n > maxWriteBuffer {
		return
	}
	size := c.bw.Size()
	for size < n {
		size *= 2
	}
	c.bw = bufio.NewWriterSize(connWriter{c}, min(size, maxWriteBuffer))
}

// Bytes is a request body that RoundTrip writes as it is, with no copy read
// from it first; the caller leaves b unchanged until RoundTrip returns. Read as
// an io.Reader, by any other transport, it is b.
func Bytes(b []byte) io.ReadCloser {
	body := &bytesBody{b: b}
	body.Reset(b)
	return body
}

type bytesBody struct {
	bytes.Reader
	b []byte
}

func (*bytesBody) Close() error { return nil }

// readRequestBody reads and closes req's body; nil when it has none.
func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if b, ok := req.Body.(*bytesBody); ok {
		return b.b, nil
	}
	defer req.Body.Close()
	if req.ContentLength > 0 {
		b := make([]byte, req.ContentLength)
		if _, err := io.ReadFull(req.Body, b); err != nil {
			return nil, fmt.Errorf("upstream: read request body: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("upstream: read request body: %w", err)
	}
	return b, nil
}

// canonicalAddr is host with the scheme's default port when it has none.
func canonicalAddr(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port)
}
