package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// target is one request a contender is measured with.
type target struct {
	method string
	addr   string // host:port on 127.0.0.1
	uri    string // path and query
	header http.Header
	body   []byte
}

// url returns t's absolute URL.
func (t target) url() string { return "http://" + t.addr + t.uri }

// wire returns t as HTTP/1.1 request bytes, sent as they are on every request of
// the closed loop.
func (t target) wire() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", t.method, t.uri, t.addr)
	for k, vs := range t.header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if t.body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(t.body))
	}
	b.WriteString("\r\n")
	b.Write(t.body)
	return b.Bytes()
}

// throughput is the result of a closed-loop run.
type throughput struct {
	ok, failed int64 // answers with a 2xx status; other answers and broken connections
	elapsed    time.Duration
	firstError string
}

// rps is the rate of 2xx answers.
func (r throughput) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// closedLoop runs conns keep-alive connections to t for d, each sending its next
// request as soon as the last one is answered, and counts the answers. It speaks
// HTTP/1.1 on raw connections with one pre-built request, so the load generator
// spends as little of the shared CPU as it can.
func closedLoop(ctx context.Context, t target, conns int, d time.Duration) throughput {
	req := t.wire()
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	fail := func(err error) {
		failed.Add(1)
		s := err.Error()
		firstErr.CompareAndSwap(nil, &s)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			// A connection that breaks is made again, at most this many times, so a
			// contender that refuses connections cannot spin the loop.
			for redials := 0; redials < 10 && ctx.Err() == nil; redials++ {
				err := oneConn(ctx, t.addr, req, &ok)
				if err != nil && ctx.Err() == nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	r := throughput{ok: ok.Load(), failed: failed.Load(), elapsed: time.Since(start)}
	if p := firstErr.Load(); p != nil {
		r.firstError = *p
	}
	return r
}

// abba is the order of interleave's slices of n targets: 0 … n−1, then back.
func abba(n int) []int {
	order := make([]int, 0, 2*n)
	for i := range n {
		order = append(order, i)
	}
	for i := range n {
		order = append(order, n-1-i)
	}
	return order
}

// oneConn sends req over one connection until ctx is done, counting 2xx answers in
// ok. It returns the error that ended the connection, or nil when ctx ended it.
func oneConn(ctx context.Context, addr string, req []byte, ok *atomic.Int64) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Unblocks a read that is waiting when the run ends.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReaderSize(conn, 32<<10)
	for ctx.Err() == nil {
		if _, err := conn.Write(req); err != nil {
			return err
		}
		status, keepAlive, err := readResponse(br)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("status %d", status)
		}
		ok.Add(1)
		if !keepAlive {
			return errors.New("the server closed the connection (Connection: close)")
		}
	}
	return nil
}

// readResponse reads one HTTP/1.1 response from br and discards its body. It
// returns the status and whether the connection may be used again.
func readResponse(br *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	keepAlive = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return 0, false, fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				keepAlive = false
			case bytes.EqualFold(value, []byte("keep-alive")):
				keepAlive = true
			}
		}
	}
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, keepAlive, nil
	case chunked:
		return status, keepAlive, discardChunked(br)
	case length >= 0:
		_, err := br.Discard(int(length))
		return status, keepAlive, err
	default: // the body runs to the end of the connection
		_, err := io.Copy(io.Discard, br)
		return status, false, err
	}
}

// discardChunked reads and discards a chunked body and its trailer.
func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if n == 0 {
			for { // trailer, up to the empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil { // the chunk and its CRLF
			return err
		}
	}
}

// latency is the result of an open-loop run.
type latency struct {
	sent, ok   int
	p50, p99   time.Duration
	p999, max  time.Duration
	firstError string
}

// openLoop sends t at a constant rate for settle+d, whether or not earlier
// requests have been answered (vegeta's pacer starts more workers when they are
// all busy), and returns the latency quantiles of every request sent after the
// first settle, failures included. The settling part is sent alike but not
// counted: it opens the generator's connections and lets the contender recover
// from the throughput run before it, so that the quantiles describe the steady
// state.
func openLoop(ctx context.Context, t target, rate int, settle, d time.Duration) latency {
	atk := vegeta.NewAttacker(
		vegeta.KeepAlive(true),
		vegeta.Proxy(nil), // nothing leaves 127.0.0.1, whatever HTTP_PROXY says
		vegeta.HTTP2(false),
		vegeta.Timeout(5*time.Second),
		vegeta.Connections(1024),
		vegeta.Redirects(vegeta.NoFollow),
	)
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: t.method, URL: t.url(), Header: t.header, Body: t.body})
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	lats := make([]time.Duration, 0, int(float64(rate)*d.Seconds())+16)
	var r latency
	var counted time.Time
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, settle+d, "") {
		if counted.IsZero() {
			counted = res.Timestamp.Add(settle)
		}
		if res.Timestamp.Before(counted) {
			continue
		}
		r.sent++
		lats = append(lats, res.Latency)
		switch {
		case res.Error != "":
			if r.firstError == "" {
				r.firstError = res.Error
			}
		case res.Code >= 200 && res.Code <= 299:
			r.ok++
		default:
			if r.firstError == "" {
				r.firstError = "status " + strconv.Itoa(int(res.Code))
			}
		}
	}
	slices.Sort(lats)
	r.p50, r.p99, r.p999 = quantile(lats, 0.50), quantile(lats, 0.99), quantile(lats, 0.999)
	if len(lats) > 0 {
		r.max = lats[len(lats)-1]
	}
	return r
}

// quantile returns the q-quantile of sorted (nearest rank), or 0 when it is empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
