package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawH1 is an upstream written against the socket, to answer as no well-behaved
// HTTP server would. It records the body of every request it reads.
type rawH1 struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns int
	index map[net.Conn]int // each connection's place in the order of accepting, from 0
	got   []string         // the bodies of the requests read, in order
}

// startRawH1 calls serve with every accepted connection and a reader over it;
// serve reads the requests with r.read. At the test's end the listener and every
// connection, idle in a client's pool or not, are closed, and the serve calls
// waited for.
func startRawH1(t testing.TB, serve func(r *rawH1, c net.Conn, br *bufio.Reader)) *rawH1 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawH1{ln: ln, index: make(map[net.Conn]int)}
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for c := range r.index {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.index[c] = r.conns
			r.conns++
			r.mu.Unlock()
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer c.Close()
				serve(r, c, bufio.NewReader(c))
			}()
		}
	}()
	return r
}

// number returns c's place in the order of accepting, from 0.
func (r *rawH1) number(c net.Conn) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.index[c]
}

func (r *rawH1) url() string { return "http://" + r.ln.Addr().String() + "/auction" }

// read reads one request and records its body; false when the peer is gone.
func (r *rawH1) read(br *bufio.Reader) bool {
	req, err := http.ReadRequest(br)
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, string(b))
	r.mu.Unlock()
	return true
}

func (r *rawH1) received() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...), r.conns
}

func answer(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func TestH1HeaderCap(t *testing.T) {
	const limit = 4 << 10
	big := strings.Repeat("x", 8<<10)
	tests := []struct {
		name    string
		answer  string
		wantErr error // nil: the body "ok" or big
	}{
		{"headers within the cap, a body past it",
			"HTTP/1.1 200 OK\r\nX-Small: " + strings.Repeat("h", limit/2) + "\r\nContent-Length: 8192\r\n\r\n" + big, nil},
		{"headers past the cap",
			"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", limit) + "\r\nContent-Length: 2\r\n\r\nok", ErrHeadersTooLarge},
		{"many headers past the cap",
			"HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: aaaaaaaaaaaaaaaa\r\n", limit/20) + "Content-Length: 2\r\n\r\nok", ErrHeadersTooLarge},
		{"interim answers count toward it",
			strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: <"+strings.Repeat("l", limit/3)+">\r\n\r\n", 3) + answer("ok"), ErrHeadersTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
				for r.read(br) {
					io.WriteString(c, tt.answer)
				}
			})
			tr := &Transport{MaxHeaderBytes: limit, MaxIdleConnsPerHost: 1}
			_, body, err := call(context.Background(), tr, up.url(), "bid")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && body != big {
				t.Errorf("body of %d bytes; want %d", len(body), len(big))
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "4096 bytes") {
				t.Errorf("err = %v; want it to name the cap", err)
			}
		})
	}
}

// TestH1HeaderFlood: an upstream that writes headers without end gets an error
// once the cap is read, not an ever-growing buffer; the connection is closed.
func TestH1HeaderFlood(t *testing.T) {
	stopped := make(chan error, 1)
	up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		r.read(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("X-Flood: " + strings.Repeat("f", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				stopped <- err
				return
			}
		}
	})
	tr := &Transport{MaxIdleConnsPerHost: 1} // the default cap
	if _, _, err := call(context.Background(), tr, up.url(), "bid"); !errors.Is(err, ErrHeadersTooLarge) {
		t.Fatalf("err = %v; want ErrHeadersTooLarge", err)
	}
	if err := <-stopped; err == nil {
		t.Error("the flood went on")
	}
}

func TestH1InterimAnswers(t *testing.T) {
	tests := []struct {
		name     string
		interim  string
		wantErr  error
		wantBody string
	}{
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", nil, "ok"},
		{"103 Early Hints with headers", "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", nil, "ok"},
		{"five of them", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", max1xxAnswers), nil, "ok"},
		{"one too many", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", max1xxAnswers+1), errTooMany1xx, ""},
		{"101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", errSwitchingProtocols, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
				for r.read(br) {
					io.WriteString(c, tt.interim+answer("ok"))
				}
			})
			tr := &Transport{MaxIdleConnsPerHost: 1}
			for i := range 2 {
				code, body, err := call(context.Background(), tr, up.url(), "bid")
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("request %d: err = %v; want %v", i, err, tt.wantErr)
				}
				if err == nil && (code != 200 || body != tt.wantBody) {
					t.Errorf("request %d: %d %q; want 200 %q", i, code, body, tt.wantBody)
				}
			}
			if _, conns := up.received(); tt.wantErr == nil && conns != 1 {
				t.Errorf("%d connections; want 1 (kept alive past the interim answers)", conns)
			}
		})
	}
}

// TestH1NeverResendsAWrittenRequest: an upstream that reads a request on a reused
// connection and hangs up (or resets it) receives it once; the caller gets the
// error. The old transport sent it again on a new connection.
func TestH1NeverResendsAWrittenRequest(t *testing.T) {
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		for _, reset := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s reset=%t", method, reset), func(t *testing.T) {
				up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
					if !r.read(br) {
						return
					}
					io.WriteString(c, answer("first"))
					r.read(br) // the second request on the connection: read, never answered
					if reset {
						c.(*net.TCPConn).SetLinger(0)
					}
				})
				tr := &Transport{MaxIdleConnsPerHost: 1}
				do := func(body string) (string, error) {
					req, _ := http.NewRequest(method, up.url(), strings.NewReader(body))
					resp, err := tr.RoundTrip(req)
					if err != nil {
						return "", err
					}
					defer resp.Body.Close()
					b, err := io.ReadAll(resp.Body)
					return string(b), err
				}
				if body, err := do("one"); err != nil || body != "first" {
					t.Fatalf("first request: %q %v", body, err)
				}
				if _, err := do("two"); err == nil {
					t.Error("second request: no error from an upstream that hung up")
				}
				got, conns := up.received()
				if want := []string{"one", "two"}; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("the upstream received %q; want %q (each once)", got, want)
				}
				if conns != 1 {
					t.Errorf("%d connections; want 1 (no second one for a resend)", conns)
				}
			})
		}
	}
}

// brokenConn is a connection whose writes fail before taking a byte.
type brokenConn struct{ net.Conn }

func (brokenConn) Write([]byte) (int, error) { return 0, net.ErrClosed }

// TestH1ResendsWhatWasNotWritten: a reused connection that takes not one byte of
// the request is replaced by a new one, and the request goes out there, once.
func TestH1ResendsWhatWasNotWritten(t *testing.T) {
	up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		for r.read(br) {
			io.WriteString(c, answer("ok"))
		}
	})
	tr := &Transport{MaxIdleConnsPerHost: 1}
	a, b := net.Pipe()
	defer b.Close()
	key := "http://" + up.ln.Addr().String()
	broken := &h1Conn{Conn: brokenConn{a}, raw: brokenConn{a}, key: key}
	broken.br = bufio.NewReader(connReader{broken})
	broken.bw = bufio.NewWriter(connWriter{broken})
	tr.put(broken)

	code, body, err := call(context.Background(), tr, up.url(), "bid")
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("%d %q %v; want 200 \"ok\" from a new connection", code, body, err)
	}
	if got, conns := up.received(); len(got) != 1 || conns != 1 {
		t.Errorf("the upstream received %q on %d connections; want it once, on one", got, conns)
	}
}

// TestH1IdleBound: idle connections are bounded per host and in all; past the
// bound in all, the one idle longest is closed for the newcomer.
func TestH1IdleBound(t *testing.T) {
	closed := make(chan string, 10)
	var srvs []*rawH1
	for i := range 3 {
		srvs = append(srvs, startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
			for r.read(br) {
				io.WriteString(c, answer("ok"))
			}
			closed <- fmt.Sprint("server ", i)
		}))
	}
	tr := &Transport{MaxIdleConnsPerHost: 2, MaxIdleConns: 2}
	for i, s := range srvs {
		if _, _, err := call(context.Background(), tr, s.url(), "bid"); err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
	}
	if got := <-closed; got != "server 0" {
		t.Errorf("%s lost its idle connection; want server 0, idle longest", got)
	}
	tr.mu.Lock()
	if tr.nidle != 2 || len(tr.idle) != 2 {
		t.Errorf("%d idle connections to %d hosts; want 2 to 2", tr.nidle, len(tr.idle))
	}
	tr.mu.Unlock()

	// Per host: three answers in flight at once to server 1, then two kept.
	var bodies []io.ReadCloser
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srvs[1].url(), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	for _, b := range bodies {
		io.Copy(io.Discard, b)
		b.Close()
	}
	tr.mu.Lock()
	if n := len(tr.idle["http://"+srvs[1].ln.Addr().String()]); n != 2 || tr.nidle != 2 {
		t.Errorf("%d idle connections to server 1, %d in all; want 2 and 2", n, tr.nidle)
	}
	tr.mu.Unlock()
	tr.CloseIdleConnections()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.nidle != 0 {
		t.Errorf("%d idle connections counted after CloseIdleConnections", tr.nidle)
	}
}

func TestH1HeaderTimeoutStillHolds(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		r.read(br)
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n") // then nothing
		<-hold
	})
	tr := &Transport{MaxIdleConnsPerHost: 1, ResponseHeaderTimeout: 20 * time.Millisecond}
	_, _, err := call(context.Background(), tr, up.url(), "bid")
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("err = %v; want a timeout: an interim answer does not restart the header timeout", err)
	}
}

// countingConn counts the writes its connection is given.
type countingConn struct {
	net.Conn
	writes *int
}

func (c countingConn) Write(p []byte) (int, error) {
	*c.writes++
	return c.Conn.Write(p)
}

// TestH1OneWritePerRequest: a request, headers and body, goes to the connection
// in one write even when it outgrows the writer's first 4 kB (a bid request with
// a consent string of a few kB), whether its body is h1.Bytes or any reader; a
// request past maxWriteBuffer goes out whole, in more. An h1.Bytes body is sent
// as it is, not read into a copy.
func TestH1OneWritePerRequest(t *testing.T) {
	up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		for r.read(br) {
			io.WriteString(c, answer("ok"))
		}
	})
	raw, err := net.Dial("tcp", up.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	tr := &Transport{MaxIdleConnsPerHost: 1}
	c := &h1Conn{Conn: countingConn{raw, &writes}, raw: raw, key: "http://" + up.ln.Addr().String(), readLimit: math.MaxInt64}
	c.br = bufio.NewReaderSize(connReader{c}, 8<<10)
	c.bw = bufio.NewWriterSize(connWriter{c}, 4<<10)
	tr.put(c)

	var sent []string
	for _, tt := range []struct {
		size      int
		bytesBody bool
		oneWrite  bool
	}{
		{100, true, true}, {4000, true, true}, {9000, false, true}, {9000, true, true},
		{maxWriteBuffer + 1, true, false},
	} {
		body := strings.Repeat("x", tt.size)
		req, err := http.NewRequest(http.MethodPost, up.url(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tt.bytesBody {
			b := []byte(body)
			req.Body = Bytes(b)
			got, err := readRequestBody(req)
			if err != nil || len(got) != len(b) || (len(b) > 0 && &got[0] != &b[0]) {
				t.Fatalf("readRequestBody(Bytes(b)) = %d bytes, %v; want b itself", len(got), err)
			}
		}
		writes = 0
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%d bytes: %v", tt.size, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent = append(sent, body)
		if tt.oneWrite && writes != 1 {
			t.Errorf("a request of %d bytes went out in %d writes; want 1", tt.size, writes)
		}
		if !tt.oneWrite && writes < 2 {
			t.Errorf("a request of %d bytes, past maxWriteBuffer, went out in %d writes; want more than 1", tt.size, writes)
		}
	}
	if got, conns := up.received(); len(got) != len(sent) || conns != 1 {
		t.Fatalf("the upstream received %d requests on %d connections; want %d on 1", len(got), conns, len(sent))
	} else {
		for i := range got {
			if got[i] != sent[i] {
				t.Errorf("request %d: the upstream received %d bytes; want the %d sent", i, len(got[i]), len(sent[i]))
			}
		}
	}
}
