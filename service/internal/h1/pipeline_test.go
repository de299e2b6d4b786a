package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// readN reads k requests from br; false when the connection ends first.
func (r *rawH1) readN(br *bufio.Reader, k int) bool {
	for range k {
		if !r.read(br) {
			return false
		}
	}
	return true
}

// requests returns how many requests r has read.
func (r *rawH1) requests() int {
	got, _ := r.received()
	return len(got)
}

// urls returns k notice URLs on r.
func (r *rawH1) urls(t testing.TB, k int) []*url.URL {
	t.Helper()
	out := make([]*url.URL, k)
	for i := range out {
		u, err := url.Parse(fmt.Sprintf("http://%s/win?n=%d", r.ln.Addr(), i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = u
	}
	return out
}

// pipelineCtx bounds a test's Pipeline call: only against hanging.
func pipelineCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// The requests go out together: the server reads all of them before it answers
// any, which a client waiting for each answer before the next request would never
// let it do (the call would fail at its deadline).
func TestPipelineSendsEveryRequestBeforeTheFirstAnswer(t *testing.T) {
	const k = 6
	srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		for r.readN(br, k) {
			for i := range k {
				fmt.Fprintf(c, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok", 210+i)
			}
		}
	})
	tr := &Transport{MaxIdleConnsPerHost: 1}
	status := make([]int, k)
	for range 2 { // the second on the connection the first left idle
		if err := tr.Pipeline(pipelineCtx(t), srv.urls(t, k), 64, status); err != nil {
			t.Fatal(err)
		}
		if want := []int{210, 211, 212, 213, 214, 215}; !slices.Equal(status, want) {
			t.Fatalf("status = %v; want %v", status, want)
		}
	}
	if got := conns(srv); got != 1 {
		t.Errorf("%d connections; want 1, kept alive", got)
	}
}

// Against net/http's server: every answer read in order, bodies and all, and
// the connection kept for the next pipeline.
func TestPipelineNetHTTPServer(t *testing.T) {
	srv, conns := h1Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		if code != http.StatusNoContent {
			io.WriteString(w, strings.Repeat("b", code))
		}
	})
	var urls []*url.URL
	codes := []int{204, 200, 404, 500, 302, 200}
	for _, code := range codes {
		u, _ := url.Parse(srv.URL + "/" + strconv.Itoa(code) + "?auction=a&price=1.5")
		urls = append(urls, u)
	}
	tr := newH1(srv)
	status := make([]int, len(urls))
	for range 3 {
		if err := tr.Pipeline(pipelineCtx(t), urls, 1024, status); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(status, codes) {
			t.Fatalf("status = %v; want %v", status, codes)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections; want 1", got)
	}
}

// An answer with Connection: close ends what the server processes on that
// connection (RFC 9112 §9.6): the requests after it go again on a new one, and
// every one is answered once.
func TestPipelineResendsWhatFollowsConnectionClose(t *testing.T) {
	const k = 4
	var answered atomic.Int64
	srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		answered.Add(1)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.RawQuery), req.URL.RawQuery)
		// What else the client wrote on this connection is left unread, unprocessed.
		io.Copy(io.Discard, br)
	})
	status := make([]int, k)
	if err := (&Transport{}).Pipeline(pipelineCtx(t), srv.urls(t, k), 64, status); err != nil {
		t.Fatal(err)
	}
	if want := []int{200, 200, 200, 200}; !slices.Equal(status, want) {
		t.Errorf("status = %v; want %v", status, want)
	}
	if got := answered.Load(); got != k {
		t.Errorf("the server processed %d requests; want %d, each once", got, k)
	}
}

// A connection that fails after the write, with no word from the server, leaves
// the unanswered requests unanswered: the server read them and may have acted on
// them, so none goes again.
func TestPipelineNeverResendsWhatTheServerMayHaveProcessed(t *testing.T) {
	const k = 5
	for _, tt := range []struct {
		name   string
		answer string // what the server writes after reading every request, then it closes
	}{
		{"closed after two answers", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
		{"closed mid-answer", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 O"},
		{"body until close", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nthe rest"},
		{"garbage", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nnot an answer\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
				if r.readN(br, k) {
					io.WriteString(c, tt.answer)
				}
			})
			status := make([]int, k)
			err := (&Transport{}).Pipeline(pipelineCtx(t), srv.urls(t, k), 64, status)
			if err == nil {
				t.Error("no error for the unanswered requests")
			}
			want := []int{200, 204, 0, 0, 0}
			if tt.name == "body until close" {
				want[2] = 200 // answered, its body ending with the connection
			}
			if !slices.Equal(status, want) {
				t.Errorf("status = %v; want %v", status, want)
			}
			if got := srv.requests(); got != k {
				t.Errorf("the server received %d requests; want %d, none sent twice", got, k)
			}
			if got := conns(srv); got != 1 {
				t.Errorf("%d connections; want 1", got)
			}
		})
	}
}

// A body past maxBody ends the connection: that answer counts, the rest are
// not sent again.
func TestPipelineBodyCap(t *testing.T) {
	srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		if r.readN(br, 3) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 100))
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	status := make([]int, 3)
	err := (&Transport{}).Pipeline(pipelineCtx(t), srv.urls(t, 3), 10, status)
	if !errors.Is(err, errBodyTooLarge) {
		t.Errorf("err = %v; want errBodyTooLarge", err)
	}
	if want := []int{200, 0, 0}; !slices.Equal(status, want) {
		t.Errorf("status = %v; want %v", status, want)
	}
}

// The answers' headers are held to MaxHeaderBytes, each answer's own.
func TestPipelineHeaderCap(t *testing.T) {
	srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		if r.readN(br, 2) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Flood: "+strings.Repeat("f", 4096)+"\r\n\r\n")
		}
	})
	status := make([]int, 2)
	err := (&Transport{MaxHeaderBytes: 1024}).Pipeline(pipelineCtx(t), srv.urls(t, 2), 64, status)
	if !errors.Is(err, ErrHeadersTooLarge) {
		t.Errorf("err = %v; want ErrHeadersTooLarge", err)
	}
	if want := []int{200, 0}; !slices.Equal(status, want) {
		t.Errorf("status = %v; want %v", status, want)
	}
}

// A server that never answers fails the pipeline at the context's deadline.
func TestPipelineDeadline(t *testing.T) {
	srv := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		r.readN(br, 2)
		io.Copy(io.Discard, br)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	status := make([]int, 2)
	err := (&Transport{}).Pipeline(ctx, srv.urls(t, 2), 64, status)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v; want DeadlineExceeded", err)
	}
}

func TestPipelineRefusesMixedHosts(t *testing.T) {
	a, _ := url.Parse("http://127.0.0.1:1/a")
	b, _ := url.Parse("http://127.0.0.2:1/b")
	if err := (&Transport{}).Pipeline(context.Background(), []*url.URL{a, b}, 64, make([]int, 2)); err == nil {
		t.Error("a pipeline across two hosts was sent")
	}
	if err := (&Transport{}).Pipeline(context.Background(), []*url.URL{a}, 64, nil); err == nil {
		t.Error("no error without room for the statuses")
	}
}

// FuzzPipelineAnswers: whatever a server answers a pipeline of three with, on
// its first connection, Pipeline neither panics nor hangs; the statuses it reports
// are the ones net/http's ReadResponse reads from the same bytes, in turn, up to the
// first answer it cannot read or that ends the connection; and a request goes
// again (answered 299 by every later connection) only after an answer that said
// Connection: close.
func FuzzPipelineAnswers(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nunbounded",
		"HTTP/1.1 204 No Content\r\n\r\ngarbage",
	} {
		f.Add(s)
	}
	const k = 3
	var (
		current atomic.Value
		first   atomic.Int64 // the number of the iteration's first connection
	)
	srv := startRawH1(f, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		if int64(r.number(c)) == first.Load() {
			if r.readN(br, k) {
				io.WriteString(c, current.Load().(string))
			}
			return
		}
		for r.read(br) {
			io.WriteString(c, "HTTP/1.1 299 Again\r\nContent-Length: 0\r\n\r\n")
		}
	})
	urls := srv.urls(f, k)
	f.Fuzz(func(t *testing.T, answer string) {
		current.Store(answer)
		_, n := srv.received()
		first.Store(int64(n))
		want, resend := readAnswers(answer, k)
		for i := len(want); resend && i < k; i++ {
			want = append(want, 299)
		}
		for len(want) < k {
			want = append(want, 0)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // only against hanging
		defer cancel()
		status := make([]int, k)
		tr := &Transport{MaxHeaderBytes: 1 << 20}
		err := tr.Pipeline(ctx, urls, 1<<20, status)
		tr.CloseIdleConnections()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pipeline hung on %q", answer)
		}
		if !slices.Equal(status, want) {
			t.Fatalf("status = %v (err %v); net/http reads %v from %q", status, err, want, answer)
		}
	})
}

// readAnswers reads up to k answers from s as net/http does, each with its body,
// and returns their final statuses and whether the last said Connection: close
// with more to come (the rest may be sent again).
func readAnswers(s string, k int) ([]int, bool) {
	br := bufio.NewReader(strings.NewReader(s))
	var codes []int
	get := &http.Request{Method: http.MethodGet}
	for interim := 0; len(codes) < k; {
		resp, err := http.ReadResponse(br, get)
		if err != nil {
			return codes, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			if resp.StatusCode == http.StatusSwitchingProtocols || interim == max1xxAnswers {
				return codes, false
			}
			interim++
			continue
		}
		interim = 0
		codes = append(codes, resp.StatusCode) // answered, even if its body is cut short
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return codes, false
		}
		if resp.Close {
			return codes, len(codes) < k && !unboundedBody(resp)
		}
	}
	return codes, false
}

// conns returns how many connections r has accepted.
func conns(r *rawH1) int {
	_, n := r.received()
	return n
}
