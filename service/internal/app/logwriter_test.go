package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"asap/service/internal/logtest"
)

// writes records every Write it gets, one entry per call.
type writes struct {
	mu    sync.Mutex
	calls []string
	fail  int // the next fail calls return an error and write nothing
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail > 0 {
		w.fail--
		return 0, errors.New("stderr is gone")
	}
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.calls, "")
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

// never is a flush interval no test outlasts: only Close and Write flush.
const never = time.Hour

func TestLogWriterWritesOtherLinesAtOnce(t *testing.T) {
	out := &writes{}
	l := newLogWriter(out, never)
	defer l.Close()

	l.AccessLog().Write([]byte("access 1\n"))
	l.AccessLog().Write([]byte("access 2\n"))
	if got := out.String(); got != "" {
		t.Fatalf("access-log lines written before a flush: %q", got)
	}
	l.Write([]byte("error\n"))
	if got, want := out.String(), "access 1\naccess 2\nerror\n"; got != want {
		t.Errorf("after an error line: output %q; want %q (the buffered access log first, then the error at once)", got, want)
	}
	if got := out.count(); got != 1 {
		t.Errorf("%d writes; want 1 (the buffer and the line together)", got)
	}
	l.Write([]byte("warning\n"))
	if got, want := out.String(), "access 1\naccess 2\nerror\nwarning\n"; got != want {
		t.Errorf("output %q; want %q", got, want)
	}
}

func TestLogWriterFlushesEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &writes{}
		l := newLogWriter(out, logFlushInterval)
		defer l.Close()
		l.AccessLog().Write([]byte("access\n"))
		time.Sleep(logFlushInterval - time.Nanosecond)
		synctest.Wait()
		if got := out.String(); got != "" {
			t.Fatalf("written before the interval: %q", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := out.String(); got != "access\n" {
			t.Errorf("after the interval: %q; want the access-log line", got)
		}
	})
}

func TestLogWriterCloseFlushesAndLaterLinesGoThrough(t *testing.T) {
	out := &writes{}
	l := newLogWriter(out, never)
	l.AccessLog().Write([]byte("access before\n"))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "access before\n" {
		t.Fatalf("after Close: %q; want the buffered line", got)
	}
	l.AccessLog().Write([]byte("access after\n"))
	l.Write([]byte("error after\n"))
	if got, want := out.String(), "access before\naccess after\nerror after\n"; got != want {
		t.Errorf("lines written after Close: output %q; want %q", got, want)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestLogWriterRecoversFromAFailedWrite: one failed write to the output does not
// silence every later line (bufio.Writer keeps its first error).
func TestLogWriterRecoversFromAFailedWrite(t *testing.T) {
	out := &writes{fail: 1}
	l := newLogWriter(out, never)
	defer l.Close()
	l.AccessLog().Write([]byte("lost\n"))
	if _, err := l.Write([]byte("also lost\n")); err == nil {
		t.Error("Write hid the output's error")
	}
	l.AccessLog().Write([]byte("access\n"))
	l.Write([]byte("error\n"))
	if got, want := out.String(), "access\nerror\n"; got != want {
		t.Errorf("after a failed write: output %q; want %q", got, want)
	}
}

// TestLogWriterConcurrentWriters (run it with -race): every line, from access-log
// and other writers at once, written before and after Close, comes out whole and
// exactly once.
func TestLogWriterConcurrentWriters(t *testing.T) {
	out := &writes{}
	l := newLogWriter(out, time.Millisecond)
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range lines {
				line := []byte(fmt.Sprintf("writer %d line %d %s\n", w, i, strings.Repeat("x", i)))
				if w%2 == 0 {
					l.AccessLog().Write(line)
				} else {
					l.Write(line)
				}
				if w == 0 && i == lines/2 {
					l.Close() // the others go on writing through it
				}
			}
		})
	}
	close(start)
	wg.Wait()
	l.Close()

	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		seen[line]++
	}
	for w := range writers {
		for i := range lines {
			line := fmt.Sprintf("writer %d line %d %s", w, i, strings.Repeat("x", i))
			if seen[line] != 1 {
				t.Fatalf("line %q written %d times; want 1", line, seen[line])
			}
			delete(seen, line)
		}
	}
	for line := range seen {
		t.Errorf("a line nobody wrote (interleaved?): %q", line)
	}
}

// TestRunWritesTheAccessLogOutOnEveryExit: with a flush interval longer than the
// test, the access-log lines still buffered come out when Run returns, whether it
// returns after a signal (the context ends) or with an error.
func TestRunWritesTheAccessLogOutOnEveryExit(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ASAP_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	t.Setenv("ASAP_ENV", "local")
	t.Setenv("ASAP_MEMORY_LIMIT", "")
	t.Setenv("ASAP_LOG_FORMAT", "json") // text sends the access log through the logger
	t.Setenv("ASAP_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("ASAP_DRAIN_PERIOD", "0s")

	t.Run("signal", func(t *testing.T) {
		t.Setenv("ASAP_ADMIN_ADDR", "")
		logs := &logtest.Buffer{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		listening := make(chan string, 1)
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{
				Version: "test", Stdout: io.Discard, Stderr: logs, logFlushInterval: never,
				Listening: func(public, _ net.Addr) { listening <- public.String() },
			})
		}()
		var addr string
		select {
		case addr = <-listening:
		case err := <-done:
			t.Fatalf("Run returned before listening: %v\n%s", err, logs)
		}
		res, err := http.Get("http://" + addr + "/v2?pkey=demo-feed")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if strings.Contains(logs.String(), `"route":"/v2"`) {
			t.Fatalf("the access-log line was written before Run returned: the test cannot tell Close wrote it")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if !strings.Contains(logs.String(), `"route":"/v2"`) {
			t.Errorf("after Run returned, the buffered access-log line is missing:\n%s", logs)
		}
	})

	t.Run("error", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		t.Setenv("ASAP_ADMIN_ADDR", busy.Addr().String())
		logs := &logtest.Buffer{}
		err = Run(context.Background(), Options{Version: "test", Stdout: io.Discard, Stderr: logs, logFlushInterval: never})
		if err == nil || !strings.Contains(err.Error(), "ASAP_ADMIN_ADDR") {
			t.Fatalf("Run = %v; want the admin listener's error", err)
		}
		if !strings.Contains(logs.String(), `"msg":"starting"`) {
			t.Errorf("the lines logged before the error are missing:\n%s", logs)
		}
	})
}
