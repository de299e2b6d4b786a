package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzH1Answer: whatever bytes an upstream answers with, Transport neither
// panics nor hangs, and where net/http's Transport reads a final answer with its
// body, Transport reads the same status and body, but for a 101 (refused) and
// for headers past the cap (refused, with ErrHeadersTooLarge).
func FuzzH1Answer(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 600) + "\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 999 Odd\r\nContent-Length: 1\r\n\r\nz",
		"garbage\r\n\r\n",
	} {
		f.Add(s)
	}
	for _, c := range answerCases { // the plain answers readPlainAnswer reads, and the others
		f.Add(c.raw)
	}
	const limit = 512
	var current atomic.Value // the answer the upstream writes
	up := startRawH1(f, func(r *rawH1, c net.Conn, br *bufio.Reader) {
		if r.read(br) {
			io.WriteString(c, current.Load().(string))
		}
	})
	url := up.url()
	get := func(tr http.RoundTripper) (int, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // only against hanging
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("bid"))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(b), err
	}
	f.Fuzz(func(t *testing.T, answer string) {
		current.Store(answer)
		ours := &Transport{MaxHeaderBytes: limit, MaxIdleConnsPerHost: 1}
		theirs := &http.Transport{DisableCompression: true, MaxResponseHeaderBytes: 1 << 20, DisableKeepAlives: true}
		code, body, err := get(ours)
		wantCode, wantBody, wantErr := get(theirs)
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("h1 hung on %q", answer)
		case wantErr != nil || wantCode == 0:
			return // net/http refuses it too (or reads no final answer)
		case wantCode == http.StatusSwitchingProtocols:
			if !errors.Is(err, errSwitchingProtocols) {
				t.Fatalf("101: err = %v; want errSwitchingProtocols", err)
			}
		case errors.Is(err, ErrHeadersTooLarge):
			if len(answer) <= limit {
				t.Fatalf("a %d-byte answer refused as headers past %d bytes", len(answer), limit)
			}
		case err != nil:
			t.Fatalf("h1: %v; net/http read %d %q from %q", err, wantCode, wantBody, answer)
		case code != wantCode || body != wantBody:
			t.Fatalf("h1 read %d %q; net/http %d %q, from %q", code, body, wantCode, wantBody, answer)
		}
	})
}
