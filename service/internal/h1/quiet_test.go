package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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
			sent := make(chan struct{}, 16) // an unsolicited answer was written
			up := startRawH1(t, func(r *rawH1, c net.Conn, br *bufio.Reader) {
				for n := 1; r.read(br); n++ {
					if tt.delay == 0 {
						io.WriteString(c, answer(fmt.Sprint("answer-", n))+answer("unsolicited"))
						continue
					}
					io.WriteString(c, answer(fmt.Sprint("answer-", n)))
					time.Sleep(tt.delay)
					io.WriteString(c, answer("unsolicited"))
					sent <- struct{}{}
				}
			})
			tr := &Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, ResponseHeaderTimeout: 2 * time.Second}
			for i := range 3 {
				_, body, err := call(context.Background(), tr, up.url(), "x")
				if err != nil {
					t.Fatal(err)
				}
				if want := "answer-1"; body != want {
					t.Errorf("request %d: got %q, want %q (each on a new connection)", i, body, want)
				}
				if tt.delay > 0 {
					<-sent // an event, not a sleep: the machine may be slower than the delay
				}
			}
			if _, got := up.received(); got != 3 {
				t.Errorf("%d connections; want 3 (none reused with an answer waiting)", got)
			}
		})
	}
}
