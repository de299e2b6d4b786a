package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/internal/harness"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

// stack is the processes of a run and what they share: the temporary directory
// holding the binaries, and the Redis key prefix holding the placements.
type stack struct {
	root     string
	dir      string
	self     string // this binary, for the Echo and ReverseProxy contenders
	asapBin  string
	adBin    string
	progress io.Writer

	redisURL string
	prefix   string
	redis    *redis.Client

	procs []*proc
	pin   pinning // where the processes start runs them; zero: anywhere
}

// newStack builds ASAP and the demo ad server into a temporary directory and
// connects to Redis. Close undoes everything it and the later steps did.
func newStack(ctx context.Context, o options, progress io.Writer) (*stack, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "asap-bench-")
	if err != nil {
		return nil, err
	}
	// nginx workers drop privileges when started as root; they must reach the dir.
	os.Chmod(dir, 0o755)
	s := &stack{
		root: o.root, dir: dir, self: self, progress: progress,
		asapBin: filepath.Join(dir, "asap"), adBin: filepath.Join(dir, "adserver"),
		redisURL: o.redisURL,
		prefix:   fmt.Sprintf("asap-bench-%d-%d:", os.Getpid(), time.Now().Unix()),
	}
	fmt.Fprintf(progress, "building ASAP and the demo ad server into %s\n", dir)
	for _, b := range [][2]string{{s.asapBin, "./service"}, {s.adBin, "./service/cmd/adserver"}} {
		if err := harness.Build(ctx, o.root, b[0], b[1]); err != nil {
			s.Close()
			return nil, err
		}
	}
	ropts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("-redis: %w", err)
	}
	s.redis = redis.NewClient(ropts)
	if err := s.redis.Ping(ctx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("redis %s: %w", ropts.Addr, err)
	}
	return s, nil
}

// Close stops every process, deletes the placements under the run's key prefix
// and removes the temporary directory.
func (s *stack) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	if s.redis != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := s.redis.Scan(ctx, 0, s.prefix+"*", 100).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			s.redis.Del(ctx, keys...)
		}
		s.redis.Close()
	}
	os.RemoveAll(s.dir)
}

// asapEnv is ASAP's environment: production as shipped, on 127.0.0.1 ports, with
// the run's Redis key prefix and upstreams (ASAP_UPSTREAMS, name=url,...).
//
// With debug (-profile), production refuses ASAP_DEBUG, so ASAP runs as local with
// every value of production.env set as a variable (they override local.env), plus
// ASAP_DEBUG=true: the production configuration with pprof on the admin port.
func (s *stack) asapEnv(httpAddr, adminAddr, upstreams string, debug bool) ([]string, error) {
	env := []string{"ASAP_ENV=production"}
	if debug {
		b, err := os.ReadFile(filepath.Join(s.root, "service", "config", "production.env"))
		if err != nil {
			return nil, err
		}
		env = nil
		for line := range strings.Lines(string(b)) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				env = append(env, line)
			}
		}
		env = append(env, "ASAP_ENV=local", "ASAP_DEBUG=true")
	}
	return append(env,
		"ASAP_HTTP_ADDR="+httpAddr,
		"ASAP_ADMIN_ADDR="+adminAddr,
		"ASAP_REDIS_URL="+s.redisURL,
		"ASAP_REDIS_KEY_PREFIX="+s.prefix,
		"ASAP_UPSTREAMS="+upstreams,
		"ASAP_UPSTREAM_VENDORS=primary="+strconv.Itoa(consentVendor)+",lean="+strconv.Itoa(consentVendor),
		// Stop at once: there is no load balancer to drain.
		"ASAP_DRAIN_PERIOD=0s",
	), nil
}

// loadPlacements runs `asap load` with ASAP's environment: the sample placements,
// and for each of extra, a copy of demo-feed under that pkey whose ad section names
// that upstream (or, for names separated by commas, runs an auction across them).
func (s *stack) loadPlacements(ctx context.Context, env []string, extra map[string]string) error {
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		return err
	}
	for pkey, upstream := range extra {
		// pkey is a sample's pkey and "-lean" (demo-rewarded-video-lean), or
		// another name, a copy of demo-feed.
		source := strings.TrimSuffix(pkey, "-lean")
		if !slices.ContainsFunc(list, func(p placement.Placement) bool { return p.PKey == source }) {
			source = "demo-feed"
		}
		i := slices.IndexFunc(list, func(p placement.Placement) bool { return p.PKey == source })
		if i < 0 || list[i].Ad == nil {
			return fmt.Errorf("the sample placements have no %s with an ad section", source)
		}
		p := list[i]
		ad := *p.Ad
		p.PKey, ad.Upstream, p.Ad = pkey, upstream, &ad
		if names := strings.Split(upstream, ","); len(names) > 1 {
			ad.Upstream = ""
			for _, n := range names {
				ad.Upstreams = append(ad.Upstreams, placement.Bidder{Name: n})
			}
		}
		list = append(list, p)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	file := filepath.Join(s.dir, "placements.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, s.asapBin, "load", "-file", file)
	cmd.Env = harness.Env(env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("asap load: %w\n%s", err, out)
	}
	fmt.Fprintf(s.progress, "asap load: %s", out)
	return nil
}

// proc is a process of the stack.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *tailWriter
	logPath string // where its output goes instead, if not to out
	done    chan struct{}
	err     error
}

// start starts a process. Its output is kept for error messages, or, with toFile,
// written to a file of the run's directory: ASAP's log goes there, so that it is
// written as in production (a JSON line per request, flushed in batches) and never
// waits for this process to read it.
func (s *stack) start(name string, env []string, toFile bool, bin string, args ...string) (*proc, error) {
	p := &proc{name: name, out: &tailWriter{max: 8 << 10}, done: make(chan struct{})}
	path, argv := s.pin.command(bin, args)
	p.cmd = exec.Command(path, argv...)
	p.cmd.Env = harness.Env(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if toFile {
		p.logPath = filepath.Join(s.dir, strings.ReplaceAll(strings.ToLower(name), " ", "-")+".log")
		f, err := os.Create(p.logPath)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own descriptor
		p.cmd.Stdout, p.cmd.Stderr = f, f
	}
	setParentDeath(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, p)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// output returns the tail of the process's output.
func (p *proc) output() string {
	if p.logPath == "" {
		return p.out.String()
	}
	f, err := os.Open(p.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > 8<<10 {
		f.Seek(-8<<10, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// logSize returns the size of the process's log file.
func (p *proc) logSize() int64 {
	fi, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logLines counts the lines of the process's log file from byte offset from.
func (p *proc) logLines(from int64) int64 {
	f, err := os.Open(p.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0
	}
	var n int64
	buf := make([]byte, 256<<10)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err != nil {
			return n
		}
	}
}

// stop asks the process to stop (SIGTERM) and kills it after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports the process's end, with the tail of its output, if it has ended.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.output())
	default:
		return nil
	}
}

// waitHTTP sends t until it is answered with want, the process exits or 15 s pass.
func waitHTTP(ctx context.Context, p *proc, t target, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := harness.WaitHTTP(ctx, t.request, want, p.exited); err != nil {
		return fmt.Errorf("%s: %w; its output:\n%s", p.name, err, p.output())
	}
	return nil
}

// get is a GET of uri on addr.
func get(addr, uri string) target { return target{method: http.MethodGet, addr: addr, uri: uri} }

// fetch sends t and returns the status and body of the answer.
func fetch(ctx context.Context, t target) (int, []byte, error) {
	req, err := t.request(ctx)
	if err != nil {
		return 0, nil, err
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// request returns t as an *http.Request.
func (t target) request(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if t.body != nil {
		body = bytes.NewReader(t.body)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range t.header {
		req.Header[k] = vs
	}
	return req, nil
}

// findRoot returns the repository root: the nearest directory up from the working
// directory that holds go.work.
func findRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.work in %s or any parent: run from the repository or set -root", wd)
		}
	}
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
