package upstream

import (
	"asap/service/internal/testwait"
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestH1DropsConnectionsOutOfStep: an upstream that writes a second answer after
// each one (sent with it, or a moment later) must not have that answer read as the
// next request's; the connection is dropped instead of reused.
func TestH1DropsConnectionsOutOfStep(t *testing.T) {
	for _, tt := range []struct {
		name  string
		delay time.Duration // before the unsolicited answer; 0: in the same write
	}{{"same write", 0}, {"later", 20 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var conns atomic.Int64
			unsolicited := make(chan struct{}, 3) // one per request, once written
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					conns.Add(1)
					go func() {
						defer c.Close()
						br := bufio.NewReader(c)
						for n := 1; ; n++ {
							req, err := http.ReadRequest(br)
							if err != nil {
								return
							}
							io.Copy(io.Discard, req.Body)
							answer := func(body string) string {
								return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
							}
							if tt.delay == 0 {
								io.WriteString(c, answer(fmt.Sprint("answer-", n))+answer("unsolicited"))
								unsolicited <- struct{}{}
								continue
							}
							io.WriteString(c, answer(fmt.Sprint("answer-", n)))
							time.Sleep(tt.delay)
							io.WriteString(c, answer("unsolicited"))
							unsolicited <- struct{}{}
						}
					}()
				}
			}()
			tr := &h1Transport{maxIdlePerHost: 4, idleTimeout: time.Minute, headerTimeout: 2 * time.Second}
			for i := range 3 {
				_, body, err := call(context.Background(), tr, "http://"+ln.Addr().String()+"/", "x")
				if err != nil {
					t.Fatal(err)
				}
				if want := "answer-1"; body != want {
					t.Errorf("request %d: got %q, want %q (each on a new connection)", i, body, want)
				}
				// On loopback the written bytes are in the socket once the write returns.
				testwait.Recv(t, "the unsolicited answer to be written", unsolicited)
			}
			if got := conns.Load(); got != 3 {
				t.Errorf("%d connections; want 3 (none reused with an answer waiting)", got)
			}
		})
	}
}
