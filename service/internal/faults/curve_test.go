package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// curveLevels are the loads of the overload curve, as multiples of capacity.
var curveLevels = []float64{0.5, 1, 2, 3, 5}

// curvePoint is one load level of the curve.
type curvePoint struct {
	level    float64       // offered load, as a multiple of capacity
	offered  float64       // requests sent a second
	goodput  float64       // good answers a second (ads served; /v2: placements)
	p99      time.Duration // of the good answers, as the load generator saw them
	shed     int           // 503s
	other    int           // anything else: no answer, a house ad, another status
	late     int           // requests the load generator sent late (behind its schedule by more than a client's interval)
	breakers float64       // bid requests refused by an open breaker during the level
	limit    [3]float64    // the route's in-flight limit, requests in flight and queued, in the middle of the level
}

// curve is one route's overload curve.
type curve struct {
	route    string
	capacity float64 // good answers a second with as many connections as it takes, closed loop
	points   []curvePoint
}

// TestOverloadCurve is the overload curve of issue 18: ASAP in its production
// configuration (service/config/production.env) in front of a fast, healthy
// upstream, so that capacity is this machine's CPU, at 0.5, 1, 2, 3 and 5 times
// its capacity, for GET /v2/ad and GET /v2. Each level reports goodput (ads served
// a second; for /v2 placements answered) and the p99 of the good answers. Past
// capacity the adaptive limit refuses the excess with 503 at once, goodput stays
// near capacity, and the upstream's breaker stays closed: ASAP's own waiting is
// not the upstream's failure. The full form draws the curve in docs/overload.svg
// and writes its table into docs/operations.md.
func TestOverloadCurve(t *testing.T) {
	var (
		d    = pick(1500*time.Millisecond, 5*time.Second) // per level
		warm = pick(500*time.Millisecond, time.Second)    // of each level, not measured: connections opening
	)
	place := placeCurve(t)
	t.Logf("placement: %s", place.note)
	up := startAdserver(t, "-fill", "1", "-latency", "1ms", "-jitter", "0")
	rdb := startRedis(t)
	srv := startASAPOn(t, place.asap, map[string]string{
		"ASAP_REDIS_URL":  rdb.URL(),
		"ASAP_UPSTREAMS":  "primary=" + up.auction,
		"ASAP_ACCESS_LOG": "false", // it would measure the disk, not ASAP
	})
	// The clients of a real ASAP are on other machines: the load generator, which
	// shares this one, yields the CPU to ASAP, Redis and the upstream (started
	// above, at the usual priority).
	lowerPriority(t, 10)
	ctx := context.Background()
	routes := []struct {
		path string
		good func(code int, body []byte) bool
	}{
		{"/v2/ad", func(code int, body []byte) bool { return adKind(code, body) == "bid" }},
		{"/v2", func(code int, body []byte) bool { return code == http.StatusOK }},
	}
	var curves []curve
	for _, r := range routes {
		url := func(int) string { return srv.base + r.path + "?pkey=demo-feed" }
		check := func(code int, h http.Header, body []byte) string {
			if code == http.StatusOK && !r.good(code, body) {
				return "not a good answer (a house ad)"
			}
			return wantStatus(http.StatusOK, http.StatusServiceUnavailable)(code, h, body)
		}
		c := curve{route: r.path}
		// Capacity: a closed loop of 32 connections, far below the limit's maximum,
		// so that nothing is refused.
		client := newLoadClient(32)
		closedLoop(ctx, client, 32, warm, url, check)
		run := closedLoop(ctx, client, 32, d, url, check)
		client.CloseIdleConnections()
		c.capacity = rate(len(run.where(func(e event) bool { return e.code == http.StatusOK && e.problem == "" })), d)
		t.Logf("%s capacity, 32 connections in a closed loop: %.0f good answers/s (%s)", r.path, c.capacity, summarize(run.all()))

		for _, m := range curveLevels {
			rps := m * c.capacity
			conns := min(2000, max(64, int(rps/10)))
			open0 := srv.metric(t, "asap_upstream_errors_total", `reason="breaker_open"`)
			// Each of conns clients on a connection of its own, as SDKs are. Sending
			// stops at d: a generator behind its schedule does not send the rest
			// late, when it would measure its own backlog.
			level, cancel := context.WithTimeout(ctx, d)
			mid := make(chan [3]float64, 1) // the limit, in flight and queued, in the middle of the level
			go func() {
				var v [3]float64
				defer func() { mid <- v }() // even when metric fails the test
				time.Sleep(d / 2)
				// In flight and queued are every route's: one route is loaded at a time.
				v = [3]float64{srv.metric(t, "asap_http_in_flight_limit", `route="`+r.path+`"`),
					srv.metric(t, "asap_http_in_flight"), srv.metric(t, "asap_http_queued")}
			}()
			run := pacedConns(level, conns, rps, d, url, check)
			cancel()
			p := curvePoint{level: m, late: run.late, limit: <-mid,
				breakers: srv.metric(t, "asap_upstream_errors_total", `reason="breaker_open"`) - open0}
			// What was answered within the level's measured time: a load generator
			// that fell behind its schedule sends on after d, and that is not counted.
			var good []time.Duration
			answered := run.where(func(e event) bool { return e.end >= warm && e.end < d })
			for _, e := range answered {
				switch {
				case e.code == http.StatusOK && e.problem == "":
					good = append(good, e.latency)
				case e.code == http.StatusServiceUnavailable && e.problem == "":
					p.shed++
				default:
					p.other++
				}
			}
			p.offered = rate(len(run.where(func(e event) bool { s := e.end - e.latency; return s >= warm && s < d })), d-warm)
			p.goodput = rate(len(good), d-warm)
			if len(good) > 0 {
				slices.Sort(good)
				p.p99 = good[len(good)*99/100]
			}
			c.points = append(c.points, p)
			t.Logf("%s at %.1f× capacity (%.0f/s over %d connections): %s", r.path, m, rps, conns, summarize(run.all()))
			t.Logf("  goodput %.0f/s = %.0f%% of capacity, p99 %s; 503s %d, other answers %d, late %d; refused by an open breaker %.0f; in the middle: limit %.0f, in flight %.0f, queued %.0f",
				p.goodput, 100*p.goodput/c.capacity, ms(p.p99), p.shed, p.other, p.late, p.breakers, p.limit[0], p.limit[1], p.limit[2])
			time.Sleep(pick(100*time.Millisecond, 500*time.Millisecond)) // let the queue drain
		}
		curves = append(curves, c)
	}
	t.Logf("shed by reason: queue_full %.0f, queue_timeout %.0f, client_gone %.0f; upstream timeouts %.0f, local timeouts %.0f",
		srv.metric(t, "asap_http_shed_total", `reason="queue_full"`), srv.metric(t, "asap_http_shed_total", `reason="queue_timeout"`),
		srv.metric(t, "asap_http_shed_total", `reason="client_gone"`), srv.metric(t, "asap_upstream_timeouts_total"),
		srv.metric(t, "asap_upstream_errors_total", `reason="local_timeout"`))
	table := curveTable(curves, place.note)
	t.Logf("the curve:\n%s", table)

	for _, c := range curves {
		atCapacity := c.at(1).goodput
		for _, p := range c.points {
			if p.breakers > 0 {
				budget(t, "%s at %.1f× capacity: %.0f bid requests refused by an open breaker; want the breaker closed throughout", c.route, p.level, p.breakers)
			}
			if p.other > 0 {
				budget(t, "%s at %.1f× capacity: %d answers neither a good one nor a 503", c.route, p.level, p.other)
			}
			switch {
			case p.level <= 1:
			case p.offered < 1.2*c.capacity:
				// The load generator shares the CPUs: it may not reach the load asked.
				t.Logf("%s at %.1f× capacity: not judged for shedding, the load generator sent only %.1f× capacity", c.route, p.level, p.offered/c.capacity)
			case p.shed == 0:
				budget(t, "%s at %.1f× capacity: no request refused; want the excess refused with 503", c.route, p.level)
			}
		}
		if p := c.at(3); p.goodput < 0.9*atCapacity {
			budget(t, "%s at 3× capacity (%.1f× sent): goodput %.0f/s, want at least 90%% of the goodput at capacity, %.0f/s",
				c.route, p.offered/c.capacity, p.goodput, atCapacity)
		}
	}
	// The short form draws into a scratch directory: the docs keep the full form's.
	docs := pick(t.TempDir(), filepath.Join("..", "..", "..", "docs"))
	if !*full {
		ops, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "operations.md"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, "operations.md"), ops, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := drawCurves(filepath.Join(docs, "overload.svg"), curves); err != nil {
		t.Error(err)
	}
	if err := replaceBetween(filepath.Join(docs, "operations.md"), curveBegin, curveEnd, table); err != nil {
		t.Error(err)
	}
	if svg, err := os.ReadFile(filepath.Join(docs, "overload.svg")); err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("overload.svg: %v; want an SVG", err)
	}
}

// curvePlacement is where the processes of the overload curve run.
type curvePlacement struct {
	asap []string // the command prefix that starts ASAP (startProc); nil: as any process
	note string   // for the log and the table
}

// asapCPUShare is ASAP's CPU limit in the overload curve, as a share of the
// machine's CPUs.
const asapCPUShare = 0.3

// placeCurve gives ASAP a CPU limit, as an ECS task has one (its cpu units, a
// CFS quota), of asapCPUShare of the machine: 0.6 CPU on two. Capacity is then
// ASAP's within its limit, and the rest of the machine is left to what, in
// production, runs on other machines: the load generator at five times that
// capacity and the upstream, which the curve wants fast and healthy throughout.
// The limit is a cgroup of this machine's CPU controller (v1 or v2), with a
// period of 10 ms so that a throttled ASAP waits milliseconds, not the default
// period's tens. Where no cgroup can be made (not root, no CPU controller) every
// process shares the CPUs, and the note says so.
func placeCurve(t *testing.T) curvePlacement {
	t.Helper()
	const period = 10_000 // µs
	quota := int(asapCPUShare * float64(runtime.NumCPU()) * period)
	name := fmt.Sprintf("asap-faults-%d", os.Getpid())
	type cgroup struct {
		dir, procs string
		files      map[string]string
	}
	var tried []string
	for _, g := range []cgroup{
		{"/sys/fs/cgroup/cpu/" + name, "cgroup.procs", map[string]string{"cpu.cfs_period_us": strconv.Itoa(period), "cpu.cfs_quota_us": strconv.Itoa(quota)}},
		{"/sys/fs/cgroup/" + name, "cgroup.procs", map[string]string{"cpu.max": fmt.Sprintf("%d %d", quota, period)}},
	} {
		if err := os.Mkdir(g.dir, 0o755); err != nil {
			tried = append(tried, err.Error())
			continue
		}
		var err error
		for file, v := range g.files {
			if err = os.WriteFile(filepath.Join(g.dir, file), []byte(v), 0o644); err != nil {
				break
			}
		}
		if err != nil {
			os.Remove(g.dir)
			tried = append(tried, err.Error())
			continue
		}
		// Removed once ASAP, started later and stopped at its own cleanup, has left it.
		t.Cleanup(func() {
			for range 50 {
				if os.Remove(g.dir) == nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("cgroup %s left behind", g.dir)
		})
		enter := fmt.Sprintf(`echo $$ > %s && exec "$@"`, filepath.Join(g.dir, g.procs))
		return curvePlacement{asap: []string{"sh", "-c", enter, "sh"},
			note: fmt.Sprintf("ASAP limited to %.1f CPU by a CFS quota (%s), as an ECS task's CPU limit; Redis, the upstream and the load generator at nice 10 on the rest", float64(quota)/period, g.dir)}
	}
	return curvePlacement{note: fmt.Sprintf("ASAP not limited (no cgroup: %s): it shares the CPUs with Redis, the upstream and the load generator at nice 10", strings.Join(tried, "; "))}
}

// lowerPriority raises the nice value of every thread of this process to nice
// (threads made later inherit it), and restores it when t ends where the system
// allows.
func lowerPriority(t *testing.T, nice int) {
	t.Helper()
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Logf("the load generator keeps its priority: %v", err)
		return
	}
	set := func(n int) error {
		for _, e := range tids {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil {
				return err
			}
		}
		return nil
	}
	if err := set(nice); err != nil {
		t.Logf("the load generator keeps its priority: %v", err)
		return
	}
	t.Cleanup(func() {
		tids, _ = os.ReadDir("/proc/self/task")
		if err := set(0); err != nil {
			t.Logf("the load generator stays at nice %d: %v", nice, err)
		}
	})
}

// at returns the point of c at level.
func (c curve) at(level float64) curvePoint {
	for _, p := range c.points {
		if p.level == level {
			return p
		}
	}
	return curvePoint{}
}

// The markers of the curve's table in docs/operations.md.
const (
	curveBegin = "<!-- overload curve: written by make faults (TestOverloadCurve) -->"
	curveEnd   = "<!-- end of the overload curve -->"
)

// curveTable is the Markdown table of the curves, with the date, the machine and
// where the processes ran.
func curveTable(curves []curve, placement string) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "Measured %s by `make faults` on this machine (%d CPUs, load average %s at the end; %s).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), strings.Fields(string(load) + " ?")[0], placement)
	b.WriteString("| route | load asked | sent/s (× capacity) | goodput/s | % of goodput at 1× | p99 of good answers | 503s | other answers | sent late (generator behind) | refused by an open breaker |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range curves {
		one := c.at(1).goodput
		for _, p := range c.points {
			fmt.Fprintf(&b, "| `%s` | %.1f× | %.0f (%.1f×) | %.0f | %.0f %% | %s | %d | %d | %d | %.0f |\n",
				c.route, p.level, p.offered, p.offered/max(c.capacity, 1), p.goodput, 100*p.goodput/max(one, 1), ms(p.p99), p.shed, p.other, p.late, p.breakers)
		}
	}
	fmt.Fprintf(&b, "\nCapacity (closed loop, 32 connections): ")
	for i, c := range curves {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s` %.0f good answers/s", c.route, c.capacity)
	}
	b.WriteString(".\n")
	return b.String()
}

// replaceBetween replaces what lies between the lines begin and end of the file
// at path with text.
func replaceBetween(path, begin, end, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin+"\n"), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q block to replace", path, begin, end)
	}
	s = s[:i+len(begin)+1] + text + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
