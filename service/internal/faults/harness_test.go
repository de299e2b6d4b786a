package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/harness"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
	"asap/service/internal/testwait"
)

// full selects the full form of every scenario: the rates and durations of the
// issue instead of the short form's reduced ones.
var full = flag.Bool("faults.full", false, "run the scenarios at full rate and duration (make faults)")

// pick returns short in the short form and long with -faults.full.
func pick[T any](short, long T) T {
	if *full {
		return long
	}
	return short
}

// budget reports a figure that has a budget in wall-clock terms (a latency, a
// rate, a share of capacity, how soon something happened). The full form
// (`make faults`, which wants the machine to itself) judges it; the short form,
// which `make test` runs beside other work, reports it and passes, since a busy
// machine misses such budgets without ASAP being at fault.
func budget(t testing.TB, format string, args ...any) {
	t.Helper()
	if *full {
		t.Errorf(format, args...)
		return
	}
	t.Logf("over budget (judged only by make faults): "+format, args...)
}

// binDir holds the binaries built once per test run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "asap-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var builds sync.Map // package path → *build

type build struct {
	once sync.Once
	path string
	err  error
}

// binary builds the main package pkg (such as "asap/service") once per test run,
// as the Dockerfiles build it (static, no race detector), and returns its path.
func binary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(binDir, strings.ReplaceAll(pkg, "/", "_"))
		b.err = harness.Build(context.Background(), "", b.path, pkg)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// proc is a child process whose output (stdout and stderr, the last lines but the
// access log) is kept for the test log.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // the exit status, set before done closes

	mu    sync.Mutex
	lines []string // the last stderr/stdout lines
	seen  []func(line string) bool
}

const keepLines = 200

// startProc starts path with args and env as a proc named name, through the
// command prefix on (programs that exec the rest, as sh -c '... exec "$@"' does,
// so that the pid is the program's; nil for none).
func startProc(t testing.TB, on []string, name, path string, args []string, env []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, done: make(chan struct{})}
	if len(on) > 0 {
		args = append(append(on[1:len(on):len(on)], path), args...)
		path = on[0]
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			p.line(sc.Text())
		}
		io.Copy(io.Discard, out)
	}()
	go func() {
		<-read
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			p.mu.Lock()
			t.Logf("last lines of %s:\n%s", name, strings.Join(p.lines, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

func (p *proc) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.seen[:0]
	for _, f := range p.seen {
		if !f(s) {
			kept = append(kept, f)
		}
	}
	p.seen = kept
	if strings.Contains(s, `"msg":"request"`) {
		return // the access log: too many to keep, and the load generator has the figures
	}
	if len(p.lines) == keepLines {
		p.lines = p.lines[1:]
	}
	p.lines = append(p.lines, s)
}

// watch calls f with every later output line until f returns true.
func (p *proc) watch(f func(line string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, f)
}

// output returns the kept output lines.
func (p *proc) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code, or -1 when
// it is still running.
func (p *proc) wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// baseEnv is the test process's environment without the variables that could
// change what the child does (harness.Env).
func baseEnv() []string { return harness.Env() }

// asap is a running asap server process.
type asap struct {
	*proc
	base  string // http://127.0.0.1:port of the public listener
	admin string // http://127.0.0.1:port of the admin listener
	env   map[string]string
}

// startASAP starts `asap serve` with ASAP_ENV=production (service/config/production.env)
// on free loopback ports, with env overriding it, and waits until /readyz answers 200.
func startASAP(t testing.TB, env map[string]string) *asap {
	t.Helper()
	return startASAPOn(t, nil, env)
}

// startASAPOn is startASAP through the command prefix on (see startProc); on
// CPUs set by taskset, its GOMAXPROCS follows them.
func startASAPOn(t testing.TB, on []string, env map[string]string) *asap {
	t.Helper()
	all := map[string]string{
		"ASAP_ENV":        "production",
		"ASAP_HTTP_ADDR":  "127.0.0.1:0",
		"ASAP_ADMIN_ADDR": "127.0.0.1:0",
		"ASAP_VERSION":    "faults",
	}
	for k, v := range env {
		all[k] = v
	}
	vars := baseEnv()
	for k, v := range all {
		vars = append(vars, k+"="+v)
	}
	addrs := make(chan [2]string, 1)
	bin := binary(t, "asap/service")
	a := &asap{env: all}
	a.proc = startProc(t, on, "asap", bin, []string{"serve"}, vars)
	a.watch(func(line string) bool {
		var m struct {
			Msg   string `json:"msg"`
			HTTP  string `json:"http"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &m) != nil || m.Msg != "serving" {
			return false
		}
		addrs <- [2]string{m.HTTP, m.Admin}
		return true
	})
	select {
	case got := <-addrs:
		a.base, a.admin = "http://"+got[0], "http://"+got[1]
	case <-a.done:
		t.Fatalf("asap exited before serving: %v\n%s", a.err, strings.Join(a.output(), "\n"))
	}
	waitReady(t, a.base+"/readyz")
	return a
}

// waitReady polls url until it answers 200.
func waitReady(t testing.TB, url string) {
	t.Helper()
	testwait.For(t, url+" to answer 200", func() bool {
		res, err := metricsClient.Get(url)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// metricsClient reads /metrics and /readyz; the timeout, generous for a busy
// machine, keeps a hung server from hanging the test.
var metricsClient = &http.Client{Timeout: time.Minute}

// metric reads the admin port's /metrics and returns the sum of every sample of
// metric name whose labels contain each of labels (such as `route="/v2"`).
func (a *asap) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	res, err := metricsClient.Get(a.admin + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer res.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
lines:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// goroutines is the server's go_goroutines gauge.
func (a *asap) goroutines(t testing.TB) int { return int(a.metric(t, "go_goroutines")) }

// cpuSeconds is the CPU time ASAP's process has used so far (user and system).
func (a *asap) cpuSeconds(t testing.TB) float64 { return a.metric(t, "process_cpu_seconds_total") }

// fds counts the server's open file descriptors (sockets included).
func (a *asap) fds(t testing.TB) int {
	t.Helper()
	n, err := harness.OpenFiles(a.cmd.Process.Pid)
	if err != nil {
		t.Skipf("cannot count open files through /proc: %v", err)
	}
	return n
}

// memory returns the server's resident set size and its peak, in MiB.
func (a *asap) memory(t testing.TB) (rss, peak float64) {
	t.Helper()
	r, p, err := harness.Memory(a.cmd.Process.Pid)
	if err != nil {
		t.Skipf("cannot read memory use through /proc: %v", err)
	}
	return float64(r) / (1 << 20), float64(p) / (1 << 20)
}

// settle waits until the server's goroutines and open files are back to at most
// the given counts plus slack, and returns them. It sets no deadline of its own
// (see testwait): a leak is reported when the test binary's -timeout nears, with
// the last counts.
func (a *asap) settle(t testing.TB, goroutines, fds, slack int) (int, int) {
	t.Helper()
	var g, f int
	testwait.For(t, fmt.Sprintf("goroutines and open files back to %d and %d (+%d)", goroutines, fds, slack), func() bool {
		g, f = a.goroutines(t), a.fds(t)
		return g <= goroutines+slack && f <= fds+slack
	})
	return g, f
}

// redisServer is a private redis-server holding the sample placements.
type redisServer struct {
	*redistest.Server
	prefix string
	store  *store.Store
}

// startRedis starts a private redis-server (killable, freezable, restarted with its
// data) holding the sample placements and extra.
func startRedis(t testing.TB, extra ...placement.Placement) *redisServer {
	t.Helper()
	srv := redistest.StartDurableServer(t)
	r := &redisServer{Server: srv, prefix: "asap:"}
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	r.store = store.NewStore(client, r.prefix)
	ps, err := placement.Decode(samples.JSON)
	if err != nil {
		t.Fatal(err)
	}
	r.put(t, append(ps, extra...)...)
	return r
}

// put writes placements and publishes the changes.
func (r *redisServer) put(t testing.TB, ps ...placement.Placement) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.store.PutAll(ctx, ps); err != nil {
		t.Fatalf("write placements: %v", err)
	}
}

// freeze stops the redis-server process (SIGSTOP): connections stay open and
// nothing answers.
func (r *redisServer) freeze(t testing.TB) {
	t.Helper()
	if err := r.Process().Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

func (r *redisServer) thaw(t testing.TB) {
	t.Helper()
	if err := r.Process().Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// adserver is a running demo ad server process (service/cmd/adserver).
type adserver struct {
	*proc
	auction string // the URL of its auction endpoint
}

// startAdserver starts the demo ad server with args (such as -latency 300ms) on a
// free loopback port.
func startAdserver(t testing.TB, args ...string) *adserver {
	t.Helper()
	bin := binary(t, "asap/service/cmd/adserver")
	p := startProc(t, nil, "adserver", bin, append([]string{"-addr", "127.0.0.1:0"}, args...), baseEnv())
	urls := make(chan string, 1)
	p.watch(func(line string) bool {
		rest, ok := strings.CutPrefix(line, "demo ad server on ")
		if !ok {
			return false
		}
		url, _, _ := strings.Cut(rest, " ")
		urls <- url
		return true
	})
	select {
	case url := <-urls:
		return &adserver{proc: p, auction: url}
	case <-p.done:
		t.Fatalf("adserver exited: %v\n%s", p.err, strings.Join(p.output(), "\n"))
	}
	return nil
}

// blackhole is an upstream that accepts connections and never answers: it reads
// what the peer sends and writes nothing until the peer gives up.
type blackhole struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
}

// startBlackhole listens on a free loopback port; the listener and every
// connection close at cleanup.
func startBlackhole(t testing.TB) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, conns: map[net.Conn]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = true
			b.accepted++
			b.mu.Unlock()
			go func() {
				io.Copy(io.Discard, c) // until the peer closes
				c.Close()
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for c := range b.conns {
			c.Close()
		}
	})
	return b
}

// URL is the auction URL to name in ASAP_UPSTREAMS.
func (b *blackhole) URL() string { return "http://" + b.ln.Addr().String() + "/openrtb2/auction" }

// open returns how many connections were accepted, and how many of them the peer
// still holds open.
func (b *blackhole) open() (accepted, open int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.accepted, len(b.conns)
}

// sockets counts the server's TCP sockets by peer: "in:<port>" for connections
// accepted on one of its ports, "out:<port>" for connections it opened to a port,
// "listen:<port>" for listeners. It reads /proc/<pid>/net/tcp for the sockets
// among /proc/<pid>/fd.
func (a *asap) sockets(t testing.TB) map[string]int {
	t.Helper()
	pid := a.cmd.Process.Pid
	inodes := map[string]bool{}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot list open files through /proc: %v", err)
	}
	for _, e := range ents {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil {
			if inode, ok := strings.CutPrefix(target, "socket:["); ok {
				inodes[strings.TrimSuffix(inode, "]")] = true
			}
		}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Skipf("cannot read /proc/%d/net/tcp: %v", pid, err)
	}
	port := func(hexAddr string) int64 {
		_, p, _ := strings.Cut(hexAddr, ":")
		n, _ := strconv.ParseInt(p, 16, 32)
		return n
	}
	listening := map[int64]bool{}
	type sock struct{ local, remote int64 }
	var socks []sock
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || !inodes[f[9]] {
			continue
		}
		if f[3] == "0A" { // LISTEN
			listening[port(f[1])] = true
			continue
		}
		socks = append(socks, sock{port(f[1]), port(f[2])})
	}
	counts := map[string]int{}
	for p := range listening {
		counts[fmt.Sprintf("listen:%d", p)]++
	}
	for _, s := range socks {
		if listening[s.local] {
			counts[fmt.Sprintf("in:%d", s.local)]++
		} else {
			counts[fmt.Sprintf("out:%d", s.remote)]++
		}
	}
	return counts
}
