package h1

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// h1Server is an httptest server that counts the connections made to it.
func h1Server(t *testing.T, tlsOn bool, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func newH1(srv *httptest.Server) *Transport {
	t := &Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 2 * time.Second}
	if srv.TLS != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	}
	return t
}

// call POSTs body to url through tr and returns the answer's status and body.
func call(ctx context.Context, tr http.RoundTripper, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Content-Type", r.Header.Get("Content-Type"))
	w.Write(append([]byte(r.Method+" "+r.URL.RequestURI()+" "), b...))
}

func TestH1ReusesConnections(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		srv, conns := h1Server(t, tlsOn, echoHandler)
		tr := newH1(srv)
		for i := range 20 {
			code, body, err := call(context.Background(), tr, srv.URL+"/openrtb2/auction?x=1", `{"id":"a"}`)
			if err != nil || code != 200 || body != `POST /openrtb2/auction?x=1 {"id":"a"}` {
				t.Fatalf("tls %t, request %d: %d %q %v", tlsOn, i, code, body, err)
			}
		}
		if got := conns.Load(); got != 1 {
			t.Errorf("tls %t: 20 sequential requests made %d connections; want 1", tlsOn, got)
		}
	}
}

func TestH1AnswerKinds(t *testing.T) {
	srv, conns := h1Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/nobid":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	})
	tr := newH1(srv)
	tests := []struct {
		path      string
		wantCode  int
		wantBody  string
		wantConns int64 // connections made so far
	}{
		{"/chunked", 200, "part one, part two", 1},
		{"/nobid", 204, "", 1},
		{"/chunked", 200, "part one, part two", 1},
		{"/close", 200, "bye", 1},
		{"/nobid", 204, "", 2}, // the server closed the last one
	}
	for _, tt := range tests {
		code, body, err := call(context.Background(), tr, srv.URL+tt.path, "")
		if err != nil || code != tt.wantCode || body != tt.wantBody {
			t.Errorf("%s: got %d %q %v; want %d %q", tt.path, code, body, err, tt.wantCode, tt.wantBody)
		}
		if got := conns.Load(); got != tt.wantConns {
			t.Errorf("after %s: %d connections; want %d", tt.path, got, tt.wantConns)
		}
	}
}

// TestH1RetriesWhenTheServerClosedAnIdleConnection: the closed connection is
// found before the request is written, which goes out on a new connection, once.
// Under TLS the closed connection is found by peeking at the TCP socket.
func TestH1RetriesWhenTheServerClosedAnIdleConnection(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		srv, conns := h1Server(t, tlsOn, echoHandler)
		tr := newH1(srv)
		if _, _, err := call(context.Background(), tr, srv.URL+"/a", "1"); err != nil {
			t.Fatal(err)
		}
		srv.CloseClientConnections()
		code, body, err := call(context.Background(), tr, srv.URL+"/b", "2")
		if err != nil || code != 200 || body != "POST /b 2" {
			t.Errorf("tls %t: after the server closed the idle connection: %d %q %v; want 200 \"POST /b 2\"", tlsOn, code, body, err)
		}
		if got := conns.Load(); got != 2 {
			t.Errorf("tls %t: %d connections; want 2", tlsOn, got)
		}
	}
}

func TestH1BodyNotReadToTheEndClosesTheConnection(t *testing.T) {
	srv, conns := h1Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 64<<10))
	})
	tr := newH1(srv)
	for range 2 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 10))
		resp.Body.Close()
	}
	if got := conns.Load(); got != 2 {
		t.Errorf("%d connections; want 2 (a half-read answer must not be reused)", got)
	}
}

func TestH1Deadlines(t *testing.T) {
	release := make(chan struct{})
	srv, _ := h1Server(t, false, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	tr := newH1(srv)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := call(ctx, tr, srv.URL, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("request deadline: err = %v; want context.DeadlineExceeded", err)
	}

	tr.ResponseHeaderTimeout = 50 * time.Millisecond
	_, _, err := call(context.Background(), tr, srv.URL, "x")
	var nerr net.Error
	if !errors.As(err, &nerr) || !nerr.Timeout() {
		t.Errorf("header timeout: err = %v; want a net.Error that is a timeout", err)
	}

	tr.ResponseHeaderTimeout = 0 // else it races the cancellation
	ctx, cancelNow := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancelNow)
	if _, _, err := call(ctx, tr, "http://"+srv.Listener.Addr().String(), "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v; want context.Canceled", err)
	}
}

func TestH1RefusesOtherSchemes(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "ftp://example.com/x", nil)
	if _, err := (&Transport{}).RoundTrip(req); err == nil {
		t.Error("ftp URL accepted")
	}
}

func TestCanonicalAddr(t *testing.T) {
	for _, tt := range []struct{ scheme, host, want string }{
		{"http", "10.0.0.5:8081", "10.0.0.5:8081"},
		{"http", "ads.example", "ads.example:80"},
		{"https", "ads.example", "ads.example:443"},
		{"https", "[::1]", "[::1]:443"},
	} {
		if got := canonicalAddr(tt.scheme, tt.host); got != tt.want {
			t.Errorf("canonicalAddr(%q, %q) = %q; want %q", tt.scheme, tt.host, got, tt.want)
		}
	}
}

// TestH1ClosesIdleConnections: a connection idle past the idle timeout is closed
// even when no request comes to reuse it.
func TestH1ClosesIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newH1(srv)
	tr.IdleConnTimeout = 50 * time.Millisecond
	if _, _, err := call(context.Background(), tr, srv.URL, "x"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was still open 5s after its 50ms idle timeout")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 0 || tr.sweeper != nil {
		t.Errorf("after the sweep: %d hosts with idle connections, sweeper %v; want none", len(tr.idle), tr.sweeper)
	}
}
