package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

var (
	// errAnsweredClose ends a pipeline whose server answered with Connection: close
	// before the last request: it processes nothing more on that connection
	// (RFC 9112 §9.6), so the requests left may go again on a new one.
	errAnsweredClose = errors.New("server closed the connection after an answer")
	// errBodyTooLarge fails an answer whose body exceeds Pipeline's maxBody.
	errBodyTooLarge = errors.New("answer body too large")
)

// Pipeline GETs every URL of urls on one connection, pipelined (RFC 9112
// §9.3.2): the requests in one write, then their answers in turn. The URLs must
// all name the scheme and host of the first. It is the exchange of win and loss
// notices: many small GETs to one host, where one write and one wake-up for
// several notices cost a fraction of a write and a wake-up for each (the bench's
// profile showed the notice's write system call as the largest part of its cost).
//
// status receives the status code of each URL's answer, 0 for one that got none;
// each answer's body is read, up to maxBody bytes, and discarded.
//
// As in RoundTrip, no request is sent twice unless the server cannot have
// received it: the requests go again on a new connection only when not one byte
// of them reached a reused connection, or when an answer said Connection: close
// (the server processes nothing after it). When a connection fails otherwise, the
// requests still unanswered keep status 0 and are not sent again: the server may
// have acted on them. Pipeline returns the error that ended the last connection
// used, nil when every request was answered.
func (t *Transport) Pipeline(ctx context.Context, urls []*url.URL, maxBody int64, status []int) error {
	if len(urls) == 0 {
		return nil
	}
	if len(status) < len(urls) {
		return fmt.Errorf("h1: %d statuses for %d URLs", len(status), len(urls))
	}
	clear(status[:len(urls)])
	u := urls[0]
	addr, key, err := target(u)
	if err != nil {
		return err
	}
	for _, v := range urls[1:] {
		if v == nil || v.Scheme != u.Scheme || v.Host != u.Host {
			return fmt.Errorf("h1: pipeline to %s://%s given %q", u.Scheme, u.Host, v)
		}
	}
	retried := false
	for done := 0; done < len(urls); {
		c, reused, err := t.conn(ctx, u, addr, key)
		if err != nil {
			return err
		}
		n, err := t.pipeline(ctx, c, urls[done:], maxBody, status[done:])
		done += n
		switch {
		case err == nil:
		case errors.Is(err, errAnsweredClose):
			// n > 0: each new connection gets at least one answer further.
		case errors.Is(err, errNothingWritten) && reused && !retried && ctx.Err() == nil:
			retried = true
		default:
			if cerr := contextErr(ctx); cerr != nil {
				return fmt.Errorf("%w (%w)", cerr, err)
			}
			return err
		}
	}
	return nil
}

// pipeline writes a GET of each of urls on c, then reads their answers in turn
// into status. It returns how many were answered; c goes back to the pool when all
// were and the server keeps it open, and is closed otherwise.
func (t *Transport) pipeline(ctx context.Context, c *h1Conn, urls []*url.URL, maxBody int64, status []int) (int, error) {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	fail := func(answered int, err error) (int, error) {
		stop()
		c.Close()
		return answered, err
	}

	c.written = 0
	for _, u := range urls {
		writeRequest(c.bw, &http.Request{Method: http.MethodGet, URL: u}, nil)
	}
	if err := c.flush(); err != nil {
		return fail(0, err)
	}
	get := &http.Request{Method: http.MethodGet} // what ReadResponse asks of the request: not a HEAD
	for i := range urls {
		t.awaitHeaders(c, deadline)
		resp, err := t.readResponse(c, get)
		if err != nil {
			return fail(i, err)
		}
		c.SetReadDeadline(deadline)
		status[i] = resp.StatusCode
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
		switch {
		case err != nil:
			return fail(i+1, fmt.Errorf("read answer body: %w", err))
		case n > maxBody:
			return fail(i+1, fmt.Errorf("%w: over %d bytes", errBodyTooLarge, maxBody))
		case resp.Close && i+1 < len(urls) && !unboundedBody(resp):
			return fail(i+1, errAnsweredClose)
		case resp.Close && i+1 < len(urls):
			// A body that ends with the connection: the server answers nothing more,
			// but it did not say it would process nothing more.
			return fail(i+1, errors.New("server closed the connection after an answer without a length"))
		case resp.Close:
			return fail(i+1, nil)
		}
	}
	if stop() {
		t.put(c)
	} else {
		c.Close()
	}
	return len(urls), nil
}

// unboundedBody reports whether resp's body ends only when the connection does
// (neither a length nor chunked, and a status that has a body): net/http marks such
// an answer Close though the server said nothing of it.
func unboundedBody(resp *http.Response) bool {
	return resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 &&
		resp.StatusCode >= 200 && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified
}
