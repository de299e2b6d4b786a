// Package redistest connects tests to a real Redis: the one named by
// ASAP_TEST_REDIS_URL (set by `make test`, which starts a private redis-server when
// none answers), else 127.0.0.1:6379. Every test gets its own key prefix, so tests
// sharing one Redis run in parallel, and its keys are deleted when it ends.
package redistest

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL returns the URL of the shared test Redis.
func URL() string {
	if u := os.Getenv("ASAP_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var seq atomic.Int64

// Prefix returns a key prefix no other test in any process uses, such as
// "asaptest:TestName:1234:5:".
func Prefix(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(t.Name())
	return fmt.Sprintf("asaptest:%s:%d:%d:", name, os.Getpid(), seq.Add(1))
}

// Client returns a client of the shared test Redis and a fresh key prefix. The
// test fails at once, saying how to get a Redis, when none answers. Keys under the
// prefix are deleted at cleanup.
func Client(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("ASAP_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("no Redis answers at %s (%v): run the tests with `make test`, which starts one, or start redis-server", opts.Addr, err)
	}
	prefix := Prefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		c.Close()
	})
	return c, prefix
}

// Server is a private redis-server process that a test may stop, freeze and kill.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	port int
	args []string    // after the binary's name
	tls  *tls.Config // for the readiness PING of a TLS-only server
	t    testing.TB
}

// StartServer starts a private redis-server on a free port, or skips the test when
// the binary is not installed. It is killed at cleanup. By default it keeps no data
// across a restart.
func StartServer(t testing.TB) *Server {
	t.Helper()
	return startServer(t, nil)
}

// StartDurableServer is StartServer with every write appended to a file in a
// temporary directory and fsynced, so that a killed and restarted server comes
// back with its data, as a failed-over Redis does.
func StartDurableServer(t testing.TB) *Server {
	t.Helper()
	return startServer(t, []string{"--dir", t.TempDir(), "--appendonly", "yes", "--appendfsync", "always"})
}

func startServer(t testing.TB, extra []string) *Server {
	t.Helper()
	return startOnPort(t, freePort(t, false), extra)
}

// startOnPort starts redis-server on 127.0.0.1:port with extra arguments.
func startOnPort(t testing.TB, port int, extra []string) *Server {
	t.Helper()
	needRedis(t)
	// --dir: a replica writes the RDB it syncs there, never in the test's directory.
	args := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}, extra...)
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, args: args, t: t}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

func needRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
}

// freePort returns a loopback port that nothing listens on; with bus, one whose
// cluster bus port (port + 10000) is free too, which redis-server needs with
// --cluster-enabled (so port ≤ 55535).
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	if !bus {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	for range 100 {
		port := 20000 + rand.IntN(35000)
		a, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	t.Fatal("no free pair of ports (port, port+10000) below 55536")
	return 0
}

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start (re)starts the server on its port and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr, s.tls) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("redis-server on %s did not answer within 10s", s.Addr)
}

// Kill stops the server at once (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Process returns the running server process, to freeze it with SIGSTOP and thaw
// it with SIGCONT.
func (s *Server) Process() *os.Process {
	if s.cmd == nil {
		return nil
	}
	return s.cmd.Process
}

// ping reports whether a Redis answers on addr: PONG, or NOAUTH from one that
// wants a password.
func ping(addr string, tlsConfig *tls.Config) bool {
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}
