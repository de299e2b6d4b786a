package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// pinning is where the bench's processes run. Pinned, the load generator (this
// process) has the first CPU to itself and every contender and upstream shares
// the others, so that the generator's own work neither delays the contenders nor
// is delayed by them: the latency quantiles are the contenders', not the
// scheduler's. Other programs on the machine are not pinned.
type pinning struct {
	taskset string // the taskset binary; "" when not pinned
	cpus    string // the contenders' CPU list, as taskset -c takes it
	n       int    // how many CPUs the contenders have
	note    string // how the run was placed, for the report
}

// pin places this process on CPU 0 and returns how contenders are started on the
// rest, when mode is "on", or "auto" on a machine that is not busy with other
// work, with two CPUs or more and taskset installed; otherwise nothing is pinned
// and the note says why.
func pin(mode string) (pinning, error) {
	ncpu := runtime.NumCPU()
	unpinned := func(why string) (pinning, error) {
		return pinning{n: ncpu, note: "not pinned (" + why + "): the load generator, the contenders and the upstreams share the CPUs"}, nil
	}
	switch {
	case mode == "off":
		return unpinned("-pin off")
	case ncpu < 2:
		return unpinned("one CPU")
	}
	// Pinned, the contenders share ncpu-1 CPUs with whatever else runs there: on
	// a machine busy with other work that is a fraction of one CPU, and every
	// contender saturates at a fraction of its rate. auto pins only an idle machine.
	if load, ok := loadAverage(); mode == "auto" && ok && load >= float64(ncpu)/2 {
		return unpinned(fmt.Sprintf("-pin auto: the machine is busy with other work, load average %.1f on %d CPUs; -pin on forces it", load, ncpu))
	}
	bin, err := exec.LookPath("taskset")
	if err != nil {
		if mode == "on" {
			return pinning{}, fmt.Errorf("-pin on: %w", err)
		}
		return unpinned("no taskset on the PATH")
	}
	// -a: every thread of this process; threads started later inherit it.
	if out, err := exec.Command(bin, "-a", "-cp", "0", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		if mode == "on" {
			return pinning{}, fmt.Errorf("taskset: %v: %s", err, out)
		}
		return unpinned(fmt.Sprintf("taskset failed: %v", err))
	}
	runtime.GOMAXPROCS(1)
	cpus := "1"
	if ncpu > 2 {
		cpus = fmt.Sprintf("1-%d", ncpu-1)
	}
	return pinning{taskset: bin, cpus: cpus, n: ncpu - 1,
		note: fmt.Sprintf("pinned with taskset: the load generator on CPU 0, the contenders and their upstreams on CPU %s (each Go contender's GOMAXPROCS follows: %d)", cpus, ncpu-1)}, nil
}

// loadAverage is the machine's 1-minute load average.
func loadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	load, err := strconv.ParseFloat(f[0], 64)
	return load, err == nil
}

// command returns the command line that starts bin with args on the contenders'
// CPUs: taskset execs bin, so the process keeps the pid cpuTime reads.
func (p pinning) command(bin string, args []string) (string, []string) {
	if p.taskset == "" {
		return bin, args
	}
	return p.taskset, append([]string{"-c", p.cpus, bin}, args...)
}

// latencyRuns runs the open-loop latency measurement o.latencyRuns times and
// returns the runs and their combination: the median of each quantile, the
// requests summed. The runs' spread is what the report shows beside each figure.
func latencyRuns(ctx context.Context, t target, o options) (latency, []latency) {
	var runs []latency
	for range max(1, o.latencyRuns) {
		if ctx.Err() != nil {
			break
		}
		runs = append(runs, openLoop(ctx, t, o.rate, latencySettle, o.duration))
	}
	var out latency
	var p50, p99, p999, mx []time.Duration
	for _, r := range runs {
		out.sent += r.sent
		out.ok += r.ok
		if out.firstError == "" {
			out.firstError = r.firstError
		}
		p50, p99, p999, mx = append(p50, r.p50), append(p99, r.p99), append(p999, r.p999), append(mx, r.max)
	}
	out.p50, out.p99, out.p999 = median(p50), median(p99), median(p999)
	if len(mx) > 0 {
		out.max = slices.Max(mx)
	}
	return out, runs
}

// p99Spread returns the lowest and highest p99 over every latency run of ss.
func p99Spread(ss []sample) (lo, hi time.Duration, n int) {
	for _, s := range ss {
		runs := s.runs
		if len(runs) == 0 {
			runs = []latency{s.lat}
		}
		for _, r := range runs {
			if n == 0 || r.p99 < lo {
				lo = r.p99
			}
			hi = max(hi, r.p99)
			n++
		}
	}
	return lo, hi, n
}
