// Package harness is the process harness that the fault suite (internal/faults)
// and the benchmark (cmd/bench) share: building the binaries as the Dockerfiles
// do, the environment of a child, free loopback ports, waiting for an HTTP answer,
// and a process's CPU time, memory and open files as Linux's /proc reports them.
// It is for tools and tests; the service never imports it.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Build builds the main package pkg (such as "./service" or "asap/service") into
// out, from the directory dir ("" is the working directory), as the Dockerfiles
// build it: static (CGO_ENABLED=0), no race detector.
func Build(ctx context.Context, dir, out, pkg string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build %s: %w", pkg, err)
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// Env is this process's environment without the variables that would change what
// a child does or how it performs (ASAP_*, GOGC, GOMEMLIMIT, GODEBUG, GOMAXPROCS),
// so the caller's shell cannot change what is tested or measured, plus extra
// (KEY=value each).
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ASAP_") || strings.HasPrefix(kv, "GOMEMLIMIT=") ||
			strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GODEBUG=") || strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// FreeAddr returns a 127.0.0.1 address whose port was free at the time of the call.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitHTTP sends the request newRequest builds every 20 ms until it is answered
// with status want. It gives up when ctx ends, or at once when exited (nil:
// never) returns an error, such as "the server exited"; the error names the last
// answer seen.
func WaitHTTP(ctx context.Context, newRequest func(context.Context) (*http.Request, error), want int, exited func() error) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	last := "no answer"
	for {
		if exited != nil {
			if err := exited(); err != nil {
				return err
			}
		}
		req, err := newRequest(ctx)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
			if res.StatusCode == want {
				return nil
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s did not answer %d (last: %s): %w", req.Method, req.URL, want, last, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitGet is WaitHTTP for GET url.
func WaitGet(ctx context.Context, url string, want int, exited func() error) error {
	return WaitHTTP(ctx, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	}, want, exited)
}

// clockTicks is the unit of the CPU times in /proc/<pid>/stat (USER_HZ), 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// CPU returns the CPU time (user and system) process pid and its direct children
// (nginx's workers) have used. It returns 0 where /proc is not readable.
func CPU(pid int) time.Duration {
	total := procCPU(pid)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil {
				total += procCPU(child)
			}
		}
	}
	return total
}

func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // utime and stime are fields 14 and 15: 12 and 13 after the name
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// Memory returns the resident set size of process pid and its peak, in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
		found++
	}
	if found < 2 {
		return 0, 0, errors.New("no VmRSS and VmHWM lines in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return rss, peak, nil
}

// OpenFiles counts the open file descriptors (sockets included) of process pid.
func OpenFiles(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(ents), nil
}
