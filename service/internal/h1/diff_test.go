package h1

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// diffHandler answers each path in one of the ways upstreams answer, and writes
// down on which connection each request came.
type diffHandler struct {
	mu    sync.Mutex
	conns []string // the client address of each request, in order
}

func (d *diffHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.conns = append(d.conns, r.RemoteAddr)
	d.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	h := w.Header()
	switch r.URL.Path {
	case "/echo":
		// What the server received, but for the headers a client adds on its own.
		var names []string
		for k := range r.Header {
			if k != "User-Agent" && k != "Accept-Encoding" {
				names = append(names, k+"="+strings.Join(r.Header[k], ","))
			}
		}
		slices.Sort(names)
		fmt.Fprintf(w, "%s %s %q cl=%d te=%v %s", r.Method, r.URL.RequestURI(), body, r.ContentLength, r.TransferEncoding, names)
	case "/fixed":
		h.Set("Content-Type", "application/json")
		h["X-Multi"] = []string{"a", "b"}
		h.Add("Set-Cookie", "u=1; Path=/")
		h.Add("Set-Cookie", "v=2; Path=/")
		w.Write([]byte(`{"id":"1"}`))
	case "/chunked":
		h.Set("Trailer", "X-Trailer")
		w.Write([]byte("part one, "))
		w.(http.Flusher).Flush()
		w.Write([]byte("part two"))
		h.Set("X-Trailer", "done")
	case "/nobid":
		w.WriteHeader(http.StatusNoContent)
	case "/unavailable":
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("busy"))
	case "/redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	case "/close":
		h.Set("Connection", "close")
		w.Write([]byte("bye"))
	case "/big":
		w.Write(bytes.Repeat([]byte("0123456789abcdef"), 16<<10))
	case "/empty":
	}
}

// outcome is what a client sees of one exchange, and whether it came on a new
// connection.
type outcome struct {
	Status        int
	Header        http.Header
	Body          string
	ContentLength int64
	Chunked       bool
	Close         bool
	Trailer       http.Header
	NewConn       bool
}

// TestH1MatchesNetHTTP: the same exchanges through Transport and through
// net/http's Transport (without compression, which h1 does not ask for) give the
// same status, headers, body, framing and trailers, and reuse connections alike.
func TestH1MatchesNetHTTP(t *testing.T) {
	steps := []struct{ method, path, body string }{
		{"POST", "/echo?x=1&y=%20", `{"id":"bid-1"}`},
		{"GET", "/echo", ""},
		{"POST", "/fixed", "x"},
		{"POST", "/chunked", "x"},
		{"POST", "/nobid", "x"},
		{"POST", "/unavailable", "x"},
		{"GET", "/redirect", ""},
		{"POST", "/big", strings.Repeat("b", 10<<10)},
		{"POST", "/empty", ""},
		{"POST", "/close", "x"},
		{"POST", "/echo", "after close"},
		{"GET", "/fixed", ""},
	}
	run := func(tr http.RoundTripper) []outcome {
		d := &diffHandler{}
		srv := httptest.NewServer(d)
		defer srv.Close()
		client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var got []outcome
		for _, s := range steps {
			var body io.Reader
			if s.body != "" {
				body = strings.NewReader(s.body)
			}
			req, err := http.NewRequest(s.method, srv.URL+s.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Openrtb-Version", "2.6")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%T: %s %s: %v", tr, s.method, s.path, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%T: %s %s: body: %v", tr, s.method, s.path, err)
			}
			resp.Header.Del("Date")
			got = append(got, outcome{
				Status: resp.StatusCode, Header: resp.Header, Body: string(b), ContentLength: resp.ContentLength,
				Chunked: slices.Contains(resp.TransferEncoding, "chunked"), Close: resp.Close, Trailer: resp.Trailer,
			})
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for i := range got {
			got[i].NewConn = i == 0 || d.conns[i] != d.conns[i-1]
		}
		return got
	}
	ours := run(&Transport{MaxIdleConnsPerHost: 4})
	theirs := run(&http.Transport{DisableCompression: true, Proxy: nil, DialContext: (&net.Dialer{}).DialContext})
	for i, s := range steps {
		if a, b := fmt.Sprintf("%+v", ours[i]), fmt.Sprintf("%+v", theirs[i]); a != b {
			t.Errorf("%s %s:\n h1:       %s\n net/http: %s", s.method, s.path, a, b)
		}
	}
	// Both reuse the connection throughout, but after the one the server closed.
	for i, o := range ours {
		if want := i == 0 || steps[i-1].path == "/close"; o.NewConn != want {
			t.Errorf("%s %s: new connection %t; want %t", steps[i].method, steps[i].path, o.NewConn, want)
		}
	}
}
