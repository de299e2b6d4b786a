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

	"asap/service/internal/testwait"
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
	waited   int           // turns the clients let go by, waiting out a Retry-After (clients that honour it)
	cpu      float64       // ASAP's CPU seconds a second over the level
	breakers float64       // bid requests refused by an open breaker during the level
	limit    [3]float64    // the route's in-flight limit, requests in flight and queued, in the middle of the level
}

// curve is one route's overload curve, for clients that resend at their next
// turn whatever the answer, or (backoff) wait out a 503's Retry-After first.
type curve struct {
	route    string
	backoff  bool
	capacity float64 // good answers a second with as many connections as it takes, closed loop
	good     float64 // ASAP's CPU seconds per good answer in that closed loop, where nothing is refused
	refusal  float64 // ASAP's CPU seconds per immediate 503 of the route (measureRefusal); 0: not measured
	points   []curvePoint
	// paired is the mean goodput at 1× (of the route's first curve's clients)
	// and at 3× (of this curve's), measured interleaved for the verdict; zero:
	// not judged.
	paired [2]float64
}

// name is how the table and the chart name c.
func (c curve) name() string {
	if c.backoff {
		return "GET " + c.route + ", clients wait Retry-After"
	}
	return "GET " + c.route
}

// resends reports whether c is the worst case of GET /v2/ad: clients that ask
// again at their next turn whatever the answer, ignoring Retry-After. Its
// goodput and house ads past capacity are bounded by the CPU refusing costs
// (bound): reported, not judged.
func (c curve) resends() bool { return c.route == "/v2/ad" && !c.backoff }

// bound is the most goodput, as a share of capacity, that refusals costing r and
// good answers costing s (CPU each) allow when k times capacity arrives and every
// request is read and answered: (1 − k·r/s) ÷ (1 − r/s), the CPU left to good
// answers once the refusals are paid for, whatever the limiter does.
func bound(k, r, s float64) float64 {
	if s <= 0 || r >= s {
		return 0
	}
	return max(0, min(1, (1-k*r/s)/(1-r/s)))
}

// TestOverloadCurve is the overload curve of issue 18: ASAP in its production
// configuration (service/config/production.env) in front of a fast, healthy
// upstream, so that capacity is this machine's CPU, at 0.5, 1, 2, 3 and 5 times
// its capacity, for GET /v2/ad (with clients that ask again at their next turn
// whatever the answer, and with clients that wait out Retry-After) and GET /v2.
// Each level reports goodput (ads served a second; for /v2 placements answered),
// the p99 of the good answers, and the most goodput the CPU allows once every
// request sent has been read and answered (measureRefusal). Past capacity the
// adaptive limit refuses the excess with 503 at once, and the upstream's breaker
// stays closed: ASAP's own waiting is not the upstream's failure. The full form
// (make faults) judges goodput at 3× against 90 % of the goodput at capacity,
// both measured again interleaved (1×, 3×, 3×, 1×, pairRounds times), and that
// every answer is a good one or a 503, but for clients that resend at once,
// whose bar is that CPU bound (logged); it draws the curves in
// docs/overload.svg and writes its table into docs/operations.md.
func TestOverloadCurve(t *testing.T) {
	var (
		d = pick(1500*time.Millisecond, 7*time.Second) // per level
		// Of each level, not measured: connections opening, and the clients
		// refused at its onset (a step from nothing to k× capacity) back from
		// waiting out Retry-After, which takes them up to twice its 1 s.
		warm = pick(500*time.Millisecond, 2*time.Second)
	)
	place := placeCurve(t)
	t.Logf("placement: %s", place.note)
	up := startAdserver(t, "-fill", "1", "-latency", "1ms", "-jitter", "0")
	rdb := startRedis(t)
	srv := startASAPOn(t, place.asap, place.env(map[string]string{
		"ASAP_REDIS_URL":  rdb.URL(),
		"ASAP_UPSTREAMS":  "primary=" + up.auction,
		"ASAP_ACCESS_LOG": "false", // it would measure the disk, not ASAP
	}))
	// The clients of a real ASAP are on other machines: the load generator, which
	// shares this one, yields the CPU to ASAP, Redis and the upstream (started
	// above, at the usual priority).
	lowerPriority(t, 10)
	ctx := context.Background()
	refusal := measureRefusal(t, place, rdb, d, false) // as the curve's ASAP runs
	// And as production runs: the access log on, which samples the sheds.
	measureRefusal(t, place, rdb, d, true)
	good := map[string]func(code int, body []byte) bool{
		"/v2/ad": func(code int, body []byte) bool { return adKind(code, body) == "bid" },
		"/v2":    func(code int, body []byte) bool { return code == http.StatusOK },
	}
	// /v2/ad twice: clients that ask again at their next turn whatever the answer
	// (the worst case), and clients that wait out Retry-After as docs/api.md asks
	// of SDKs. /v2's 503 costs about what its answer does, so its clients' manners
	// change little.
	curves := []curve{{route: "/v2/ad"}, {route: "/v2/ad", backoff: true}, {route: "/v2"}}
	capacity := map[string]curve{} // by route: capacity and the CPU of a good answer
	url := func(route string) func(int) string {
		return func(int) string { return srv.base + route + "?pkey=demo-feed" }
	}
	check := func(route string) checkFunc {
		return func(code int, h http.Header, body []byte) string {
			if code == http.StatusOK && !good[route](code, body) {
				return "not a good answer (a house ad)"
			}
			return wantStatus(http.StatusOK, http.StatusServiceUnavailable)(code, h, body)
		}
	}
	for ci := range curves {
		c := &curves[ci]
		url, check := url(c.route), check(c.route)
		if c.route == "/v2/ad" {
			c.refusal = refusal
		}
		if known, ok := capacity[c.route]; ok {
			c.capacity, c.good = known.capacity, known.good
		} else {
			// Capacity: a closed loop of 32 connections, far below the limit's
			// maximum, so that nothing is refused.
			client := newLoadClient(32)
			closedLoop(ctx, client, 32, warm, url, check)
			cpu0 := srv.cpuSeconds(t)
			run := closedLoop(ctx, client, 32, d, url, check)
			used := srv.cpuSeconds(t) - cpu0
			client.CloseIdleConnections()
			n := len(run.where(func(e event) bool { return e.code == http.StatusOK && e.problem == "" }))
			c.capacity, c.good = rate(n, d), used/float64(max(n, 1))
			capacity[c.route] = *c
			t.Logf("%s capacity, 32 connections in a closed loop: %.0f good answers/s, %.0f µs of ASAP's CPU each (%s)",
				c.route, c.capacity, 1e6*c.good, summarize(run.all()))
		}

		// Each curve starts with the upstream's breaker closed: one opened by the
		// last level of the curve before (which that level reports) would refuse
		// the first levels of this one. An ad request at each look lets its probe
		// through once the open timeout has passed.
		probe := newLoadClient(1)
		testwait.For(t, "the upstream's breaker to close", func() bool {
			do(ctx, probe, srv.base+"/v2/ad?pkey=demo-feed", nil)
			return srv.metric(t, "asap_upstream_breaker_state", `upstream="primary"`) == 0
		})
		probe.CloseIdleConnections()
		for _, m := range curveLevels {
			c.points = append(c.points, runLevel(t, srv, *c, m, d, warm, url, check))
		}
	}
	// The verdict at 3× compares two goodputs measured a minute apart in the
	// curves, and this shared machine's speed drifts by a fifth within a minute:
	// it is measured again interleaved, 1× (clients that resend, the route's first
	// curve) and 3× (the judged curve's clients) in the order 1×, 3×, 3×, 1×,
	// rounds times, so that a drift linear over the sequence costs both alike (as
	// make bench measures its consent pair).
	for ci := range curves {
		c := &curves[ci]
		if c.resends() {
			continue // reported against the CPU's bound, not judged (below)
		}
		// The slices in order: 1× of the route's first curve, 3× of c, 3×, 1×.
		slice := [2]struct {
			c curve
			m float64
		}{{first(curves, c.route), 1}, {*c, 3}}
		for range pairRounds() {
			for _, i := range []int{0, 1, 1, 0} {
				p := runLevel(t, srv, slice[i].c, slice[i].m, d, warm, url(c.route), check(c.route))
				checkPoint(t, slice[i].c, p)
				c.paired[i] += p.goodput
			}
		}
		c.paired[0] /= float64(2 * pairRounds())
		c.paired[1] /= float64(2 * pairRounds())
	}
	t.Logf("shed by reason: queue_full %.0f, queue_timeout %.0f, client_gone %.0f; upstream timeouts %.0f, local timeouts %.0f",
		srv.metric(t, "asap_http_shed_total", `reason="queue_full"`),
		srv.metric(t, "asap_http_shed_total", `reason="queue_timeout"`),
		srv.metric(t, "asap_http_shed_total", `reason="client_gone"`), srv.metric(t, "asap_upstream_timeouts_total"),
		srv.metric(t, "asap_upstream_errors_total", `reason="local_timeout"`))
	table := curveTable(curves, place.note)
	t.Logf("the curve:\n%s", table)

	for _, c := range curves {
		atCapacity := atOne(curves, c.route)
		for _, p := range c.points {
			checkPoint(t, c, p)
		}
		p := c.at(3)
		if c.resends() {
			// Every request of 3× capacity read and refused costs ASAP more CPU
			// than the ads it can then serve leave (bound): reported, not judged.
			t.Logf("%s at 3× capacity (%.1f× sent): goodput %.0f %% of the goodput at capacity; the CPU left once the refusals are paid allows at most %.0f %%",
				c.name(), p.offered/c.capacity, 100*p.goodput/max(atCapacity, 1), 100*bound(p.offered/c.capacity, c.refusal, c.good))
			continue
		}
		if c.paired[1] < 0.9*c.paired[0] {
			budget(t, "%s at 3× capacity, interleaved with 1×: goodput %.0f/s, want at least 90%% of the goodput at capacity, %.0f/s (in the curve: %.0f/s against %.0f/s)",
				c.name(), c.paired[1], c.paired[0], p.goodput, atCapacity)
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

// runLevel loads c's route at m times c's capacity for d, paced over as many
// connections as SDKs would use, and returns the point: what was sent and
// answered after warm, ASAP's CPU over the level, the bid requests refused by an
// open breaker, and the limit, in flight and queued in the middle of it.
func runLevel(t *testing.T, srv *asap, c curve, m float64, d, warm time.Duration, url func(int) string, check checkFunc) curvePoint {
	t.Helper()
	rps := m * c.capacity
	conns := min(2000, max(64, int(rps/10)))
	open0 := srv.metric(t, "asap_upstream_errors_total", `reason="breaker_open"`)
	// Each of conns clients on a connection of its own, as SDKs are. Sending
	// stops at d: a generator behind its schedule does not send the rest
	// late, when it would measure its own backlog.
	level, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	mid := make(chan [3]float64, 1) // the limit, in flight and queued, in the middle of the level
	go func() {
		var v [3]float64
		defer func() { mid <- v }() // even when metric fails the test
		time.Sleep(d / 2)
		// In flight and queued are every route's: one route is loaded at a time.
		v = [3]float64{srv.metric(t, "asap_http_in_flight_limit", `route="`+c.route+`"`),
			srv.metric(t, "asap_http_in_flight"), srv.metric(t, "asap_http_queued")}
	}()
	cpu0, began := srv.cpuSeconds(t), time.Now()
	run := pacedConns(level, conns, rps, d, c.backoff, url, check)
	cancel()
	p := curvePoint{level: m, late: run.late, waited: run.waited, limit: <-mid,
		cpu:      (srv.cpuSeconds(t) - cpu0) / time.Since(began).Seconds(),
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
	t.Logf("%s at %.1f× capacity (%.0f/s over %d connections): %s", c.name(), m, rps, conns, summarize(run.all()))
	t.Logf("  goodput %.0f/s = %.0f%% of capacity, p99 %s; 503s %d, other answers %d, late %d, turns waited out %d; ASAP's CPU %.2f; refused by an open breaker %.0f; in the middle: limit %.0f, in flight %.0f, queued %.0f",
		p.goodput, 100*p.goodput/c.capacity, ms(p.p99), p.shed, p.other, p.late, p.waited, p.cpu, p.breakers, p.limit[0], p.limit[1], p.limit[2])
	time.Sleep(pick(100*time.Millisecond, 500*time.Millisecond)) // let the queue drain
	return p
}

// pairRounds is how many times the verdict's sequence 1×, 3×, 3×, 1× runs.
func pairRounds() int { return pick(1, 2) }

// checkPoint judges what every level must hold: the upstream's breaker closed,
// no answer but a good one or a 503, and past capacity the excess refused.
func checkPoint(t *testing.T, c curve, p curvePoint) {
	t.Helper()
	if p.breakers > 0 {
		budget(t, "%s at %.1f× capacity: %.0f bid requests refused by an open breaker; want the breaker closed throughout", c.name(), p.level, p.breakers)
	}
	switch {
	case p.other == 0:
	case c.resends():
		// Its clients resend each refusal at their next turn: past capacity
		// ASAP reads and refuses more than its CPU pays for besides the
		// auctions it admits (bound), and some of those run past tmax.
		t.Logf("%s at %.1f× capacity: %d answers neither a good one nor a 503 (house ads): reported, not judged, for clients that ignore Retry-After", c.name(), p.level, p.other)
	case p.level > 3:
		// The contract holds up to three times capacity (asap.md, Overload);
		// beyond, a handful of house ads in some runs is reported.
		t.Logf("%s at %.1f× capacity: %d answers neither a good one nor a 503 (house ads): reported, not judged, past the contract's 3×", c.name(), p.level, p.other)
	default:
		budget(t, "%s at %.1f× capacity: %d answers neither a good one nor a 503", c.name(), p.level, p.other)
	}
	switch {
	case p.level <= 1:
	case p.offered < 1.2*c.capacity:
		// The load generator shares the CPUs: it may not reach the load
		// asked. Clients waiting out Retry-After do not send it.
		t.Logf("%s at %.1f× capacity: not judged for shedding, the clients sent only %.1f× capacity", c.name(), p.level, p.offered/c.capacity)
	case p.shed == 0:
		budget(t, "%s at %.1f× capacity: no request refused; want the excess refused with 503", c.name(), p.level)
	}
}

// measureRefusal returns ASAP's CPU seconds per immediate 503 of GET /v2/ad,
// under the curve's CPU limit, with the access log on or off: an ASAP of its own
// admits one request at a time and queues none (ASAP_MAX_IN_FLIGHT=1,
// ASAP_MAX_QUEUED=0), the one admitted waits for tmax on an upstream that never
// answers (its breaker never opens), and 32 connections in a closed loop are
// refused for d.
func measureRefusal(t *testing.T, place curvePlacement, rdb *redisServer, d time.Duration, accessLog bool) float64 {
	hole := startBlackhole(t)
	srv := startASAPOn(t, place.asap, place.env(map[string]string{
		"ASAP_REDIS_URL":     rdb.URL(),
		"ASAP_UPSTREAMS":     "primary=" + hole.URL(),
		"ASAP_ACCESS_LOG":    strconv.FormatBool(accessLog),
		"ASAP_MAX_IN_FLIGHT": "1",
		"ASAP_MAX_QUEUED":    "0",
		"ASAP_DRAIN_PERIOD":  "0s",
		// The held slot must stay held: 20 timeouts in a row (5 s of them)
		// would open the blackhole's breaker, and each request admitted then
		// would be answered at once with a house ad.
		"ASAP_BREAKER_FAILURES": "1000000",
	}))
	defer func() {
		srv.signal(syscall.SIGTERM)
		srv.wait(30 * time.Second)
	}()
	url := func(int) string { return srv.base + "/v2/ad?pkey=demo-feed" }
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() { // the slot, held
		defer close(held)
		c := newLoadClient(1)
		for ctx.Err() == nil {
			do(ctx, c, url(0), nil)
		}
	}()
	client := newLoadClient(32)
	defer client.CloseIdleConnections()
	cpu0 := srv.cpuSeconds(t)
	run := closedLoop(context.Background(), client, 32, d, url, wantStatus(http.StatusServiceUnavailable))
	used := srv.cpuSeconds(t) - cpu0
	cancel()
	<-held
	refused := len(run.where(func(e event) bool { return e.code == http.StatusServiceUnavailable && e.problem == "" }))
	if refused == 0 {
		t.Errorf("measuring a refusal's cost: no 503 among %d requests (%s)", len(run.all()), summarize(run.all()))
		return 0
	}
	r := used / float64(refused)
	t.Logf("an immediate 503 of /v2/ad costs ASAP %.0f µs of CPU, access log %t (%d refused in %s, %s)", 1e6*r, accessLog, refused, d, summarize(run.all()))
	return r
}

// curvePlacement is where the processes of the overload curve run.
type curvePlacement struct {
	asap  []string // the command prefix that starts ASAP (startProc); nil: as any process
	procs int      // ASAP's GOMAXPROCS, as the task definition sets it for the limit; 0: Go's default
	note  string   // for the log and the table
}

// env returns ASAP's environment on p: vars, and GOMAXPROCS when p sets it.
func (p curvePlacement) env(vars map[string]string) map[string]string {
	if p.procs > 0 {
		vars["GOMAXPROCS"] = strconv.Itoa(p.procs)
	}
	return vars
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
		// GOMAXPROCS as the task definition sets it (infra goMaxProcs), Go's own
		// default for the limit: its CPUs rounded up, at least 2.
		procs := max(2, (quota+period-1)/period)
		return curvePlacement{asap: []string{"sh", "-c", enter, "sh"}, procs: procs,
			note: fmt.Sprintf("ASAP limited to %.1f CPU by a CFS quota (%s), as an ECS task's CPU limit, with GOMAXPROCS %d as the task definition sets it; Redis and the upstream at the usual priority and the load generator at nice 10 on the rest", float64(quota)/period, g.dir, procs)}
	}
	return curvePlacement{note: fmt.Sprintf("ASAP not limited (no cgroup: %s): it shares the CPUs with Redis, the upstream and the load generator (at nice 10)", strings.Join(tried, "; "))}
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

// first is route's first curve: the one of clients that resend whatever the
// answer, whose goodput at 1× is the route's goodput at capacity.
func first(curves []curve, route string) curve {
	if i := slices.IndexFunc(curves, func(c curve) bool { return c.route == route }); i >= 0 {
		return curves[i]
	}
	return curve{}
}

// atOne is the goodput at capacity of route: its first curve's at 1× (clients
// that resend whatever the answer). A curve of clients that wait out Retry-After
// is judged against it too, since clients backing off at 1× lower their own.
func atOne(curves []curve, route string) float64 { return first(curves, route).at(1).goodput }

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
	b.WriteString("| route and clients | load asked | sent/s (× capacity) | goodput/s | % of goodput at 1× | most the CPU allows | p99 of good answers | 503s | other answers | turns waited out (Retry-After) | sent late (generator behind) | refused by an open breaker |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range curves {
		one := atOne(curves, c.route)
		for _, p := range c.points {
			k := p.offered / max(c.capacity, 1)
			most := "—"
			if c.refusal > 0 {
				most = fmt.Sprintf("%.0f %%", 100*bound(max(k, 1), c.refusal, c.good))
			}
			fmt.Fprintf(&b, "| %s | %.1f× | %.0f (%.1f×) | %.0f | %.0f %% | %s | %s | %d | %d | %d | %d | %.0f |\n",
				c.name(), p.level, p.offered, k, p.goodput, 100*p.goodput/max(one, 1), most, ms(p.p99), p.shed, p.other, p.waited, p.late, p.breakers)
		}
	}
	fmt.Fprintf(&b, "\nCapacity (closed loop, 32 connections) and ASAP's CPU per answer: ")
	seen := map[string]bool{}
	for _, c := range curves {
		if seen[c.route] {
			continue
		}
		if len(seen) > 0 {
			b.WriteString("; ")
		}
		seen[c.route] = true
		fmt.Fprintf(&b, "`%s` %.0f good answers/s, %.0f µs each", c.route, c.capacity, 1e6*c.good)
	}
	for _, c := range curves {
		if c.refusal > 0 {
			fmt.Fprintf(&b, ". An immediate 503 of `%s` costs %.0f µs (measureRefusal): r/s = %.2f", c.route, 1e6*c.refusal, c.refusal/c.good)
			break
		}
	}
	fmt.Fprintf(&b, ". Judged at 3×, measured again interleaved with 1× (1×, 3×, 3×, 1×, %d× over; 1× with clients that resend):", pairRounds())
	for _, c := range curves {
		if c.paired[0] > 0 {
			fmt.Fprintf(&b, " %s %.0f/s against %.0f/s, **%.0f %%**;", c.name(), c.paired[1], c.paired[0], 100*c.paired[1]/c.paired[0])
		}
	}
	b.WriteString(" \"Most the CPU allows\" is (1 − k·r/s) ÷ (1 − r/s) of the goodput at capacity for k times capacity sent (at least 1), refusals costing r and good answers s: what is left for good answers once every request sent has been read and answered, whatever the limit. Percentages are of the route's goodput at 1× with clients that resend whatever the answer (its first curve).\n")
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
