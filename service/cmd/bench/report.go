package main

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is the results of a run, as the table of bench/results.md.
type report struct {
	opts       options
	contenders []contender
	results    map[string][]sample // by route + " " + name
	// interleaved is each round's throughput and CPU of the consent pairs' rows
	// (/v2/ad's ASAP and consent rows), by name, measured in alternating slices.
	interleaved map[string][]sample
	notes       []string
	logLines    int64            // ASAP's log lines during the rounds
	lookups     map[string]int64 // ASAP's placement cache lookups during the rounds, by result label
	notices     map[string]int64 // ASAP's win and loss notices during the rounds, by outcome label
	exchanges   int64            // the exchanges that carried them
	machine     machine
	commit      string
	started     time.Time
	placement   string // how the processes were placed on the CPUs (pinning's note)
}

// summary is the medians of one contender's rounds.
type summary struct {
	rps              float64
	p50, p99, p999   time.Duration
	p99Lo, p99Hi     time.Duration // the lowest and highest p99 of the latency runs
	latencyRuns      int
	failed, requests int64
	redis            map[string]int64 // summed over the rounds
	cpu, upCPU       time.Duration    // per request of the throughput runs
}

// cpuPerRequest is the contender's CPU time per answered request of the
// throughput run; upCPUPerRequest is the upstream's.
func (s sample) cpuPerRequest() time.Duration   { return perAnswer(s.cpu, s.tput.ok) }
func (s sample) upCPUPerRequest() time.Duration { return perAnswer(s.upCPU, s.tput.ok) }

func perAnswer(d time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// fmtCPU formats CPU time per request in microseconds, the upstream's after a +.
func fmtCPU(cpu, up time.Duration) string {
	s := fmt.Sprintf("%.1f µs", float64(cpu)/float64(time.Microsecond))
	if up > 0 {
		s += fmt.Sprintf(" + upstream %.1f µs", float64(up)/float64(time.Microsecond))
	}
	return s + " CPU/req"
}

func (r *report) summary(route, name string) (summary, bool) {
	ss := r.results[route+" "+name]
	if len(ss) == 0 {
		return summary{}, false
	}
	var out summary
	out.redis = make(map[string]int64)
	var rps []float64
	var p50, p99, p999, cpu, upCPU []time.Duration
	for _, s := range ss {
		rps = append(rps, s.tput.rps())
		p50, p99, p999 = append(p50, s.lat.p50), append(p99, s.lat.p99), append(p999, s.lat.p999)
		cpu, upCPU = append(cpu, s.cpuPerRequest()), append(upCPU, s.upCPUPerRequest())
		out.failed += s.tput.failed + int64(s.lat.sent-s.lat.ok)
		out.requests += s.tput.ok + s.tput.failed + int64(s.lat.sent)
		for k, v := range s.redis {
			out.redis[k] += v
		}
	}
	out.rps = median(rps)
	out.p50, out.p99, out.p999 = median(p50), median(p99), median(p999)
	out.cpu, out.upCPU = median(cpu), median(upCPU)
	out.p99Lo, out.p99Hi, out.latencyRuns = p99Spread(ss)
	return out, true
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "# ASAP side-by-side benchmark\n\n")
	fmt.Fprintf(&b, "`make bench` (service/cmd/bench) on %s, commit %s: %d round(s); each round runs every contender in turn "+
		"(A B C A B C ...), %s of closed-loop throughput over %d keep-alive connections, then %s of open-loop latency "+
		"at a constant %d req/s (vegeta's pacer; after %s at that rate that are not counted, so that the quantiles are the steady state's). Medians of the rounds. \"CPU per request\" is the CPU time (user + system, from /proc) the contender's process used during "+
		"the throughput run per answer, and the upstream's behind it: less sensitive to the machine's other load than the rates. "+
		"Each round makes %d latency runs per contender; the p99 column shows the median and, in brackets, the lowest and highest p99 of all the runs.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), r.commit, o.rounds, o.duration, o.conns, o.duration, o.rate, latencySettle, max(1, o.latencyRuns))
	placement := r.placement
	if placement == "" {
		placement = "the load generator, the contenders and the upstream share these cores"
	}
	fmt.Fprintf(&b, "Machine: %s. Placement: %s.\n\n", r.machine, placement)

	fmt.Fprintf(&b, "| route | contender | throughput (req/s) | ratio | p50 | p99 (spread) | p99.9 | failed | CPU per request |\n")
	fmt.Fprintf(&b, "|---|---|---:|---|---:|---:|---:|---:|---|\n")
	for _, c := range r.contenders {
		s, ok := r.summary(c.route, c.name)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | %s |\n", c.route, c.name, fmtRate(s.rps), r.ratios(c),
			fmtDur(s.p50), fmtSpread(s), fmtDur(s.p999), s.failed, strings.TrimSuffix(fmtCPU(s.cpu, s.upCPU), " CPU/req"))
	}
	fmt.Fprintf(&b, "\nASAP runs as shipped for production (ASAP_ENV=production: JSON access log on and sampled as in production, %d log lines written during the rounds) "+
		"with real Redis. Its /v2/ad row is what production does: the demo ad server (`adserver -fixed`) answers one constant bid at once whose nurl "+
		"(and lurl, which a lone bidder never loses) points at its own /win, so ASAP fires a win notice for every ad at a live sink: "+
		"a second upstream exchange per request, which no proxy makes. The targets are checked on that row. "+
		"\"ASAP, bid without nurl\" asks a demo ad server whose bid has none (`-nurl=false`, billed through its burl): the same work as the proxies. "+
		"The bare Echo handler answers GET /v2 with the bytes ASAP answered; httputil.ReverseProxy and nginx forward the "+
		"BidRequest ASAP would send to the upstream without nurl; \"upstream direct\" posts it to that upstream itself.\n",
		r.logLines)
	for _, n := range r.notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	if len(r.notes) > 0 {
		b.WriteString("\n")
	}

	b.WriteString("\n## Targets\n\n| target | measured | result |\n|---|---|---|\n")
	for _, t := range r.targets() {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.what, t.measured, t.result)
	}

	b.WriteString("\n## Redis\n\n")
	asapCmds, asapReqs := map[string]int64{}, int64(0)
	otherCmds := map[string]int64{}
	for _, c := range r.contenders {
		s, ok := r.summary(c.route, c.name)
		if !ok {
			continue
		}
		dst := otherCmds
		if c.asap {
			dst = asapCmds
			asapReqs += s.requests
		}
		for k, v := range s.redis {
			dst[k] += v
		}
	}
	fmt.Fprintf(&b, "INFO commandstats, summed over ASAP's measurements: %s over %d ASAP requests (%s per request). "+
		"Over the other contenders' measurements (ASAP idle): %s. Redis is shared with every client of the machine, so both "+
		"include other clients' commands; ASAP's own steady-state traffic is its placement subscription's keep-alive PING, about one a second.\n\n",
		fmtCommands(asapCmds), asapReqs, perRequest(sum(asapCmds), asapReqs), fmtCommands(otherCmds))
	fmt.Fprintf(&b, "ASAP's placement cache lookups during the rounds (asap_placement_cache_lookups_total): %s.\n", fmtCommands(r.lookups))
	if n := sum(r.notices); n > 0 {
		answered := r.notices[`outcome="sent"`] + r.notices[`outcome="failed"`]
		fmt.Fprintf(&b, "\nASAP's win and loss notices during the rounds (asap_upstream_win_notices_total): %s, in %d exchanges "+
			"(asap_upstream_notice_exchanges_total): %.2f notices per exchange, pipelined (ASAP_NOTICE_PIPELINE).\n",
			fmtCommands(r.notices), r.exchanges, float64(answered)/float64(max(r.exchanges, 1)))
	}
	return b.String()
}

// ratios is the ratio column of c: ASAP's throughput against the route's baselines.
func (r *report) ratios(c contender) string {
	if !c.asap {
		return ""
	}
	s, _ := r.summary(c.route, c.name)
	var parts []string
	for _, base := range r.contenders {
		if base.route != c.route || base.asap {
			continue
		}
		if bs, ok := r.summary(base.route, base.name); ok && bs.rps > 0 {
			parts = append(parts, fmt.Sprintf("%.2f× %s", s.rps/bs.rps, base.name))
		}
	}
	return strings.Join(parts, ", ")
}

// targetResult is one line of the targets table.
type targetResult struct{ what, measured, result string }

// consentTargets check the cost of privacy enforcement: production's /v2/ad
// (the ASAP row) under GDPR with a consent string against the same request
// without GDPR. In each round the rows are measured again, interleaved in slices
// (A B C C B A), so that each round's ratio sees the machine as it was then; the
// verdict is the median of those ratios, which drift between rounds (a busier
// minute) does not move as it moves the ratio of the two medians. The string as
// CMPs send it is judged; the 2.6 kB range-encoded one is reported beside it.
func (r *report) consentTargets() []targetResult {
	return []targetResult{
		r.consentPair(nameASAPConsent, "/v2/ad with a GDPR consent string as CMPs send it (1 kB): throughput within 5% of without (same run, interleaved, paired by round)", true),
		r.consentPair(nameASAPConsentRanges, "/v2/ad with a 2.6 kB range-encoded consent string (2.4× the longest the IAB's library made): throughput against without, reported", false),
	}
}

// consentPair measures row against the ASAP row, round by round from their
// interleaved slices; judged, it is met when the median of the rounds'
// throughput ratios is at least 0.95, else only reported. ASAP's CPU per request
// is from the same slices.
func (r *report) consentPair(row, what string, judged bool) targetResult {
	cs, bs := r.interleaved[row], r.interleaved[nameASAP]
	var ratios, cpus []float64
	var each []string
	for i := range min(len(cs), len(bs)) {
		if base := bs[i].tput.rps(); base > 0 {
			ratios = append(ratios, cs[i].tput.rps()/base)
			each = append(each, fmt.Sprintf("%.2f", cs[i].tput.rps()/base))
		}
		if base := bs[i].cpuPerRequest(); base > 0 {
			cpus = append(cpus, float64(cs[i].cpuPerRequest())/float64(base))
		}
	}
	if len(ratios) == 0 {
		return targetResult{what, "not measured", "—"}
	}
	got := median(ratios)
	measured := fmt.Sprintf("%.3f×, the median of the rounds' ratios (%s)", got, strings.Join(each, ", "))
	if len(cpus) > 0 {
		measured += fmt.Sprintf("; ASAP's CPU per request %+.1f%% (the median of the rounds')", (median(cpus)-1)*100)
	}
	if !judged {
		return targetResult{what, measured, "reported"}
	}
	return targetResult{what, measured, verdict(got >= 0.95, fmt.Sprintf("%.1f%% slower", (1-got)*100))}
}

// targets checks the targets against the medians.
func (r *report) targets() []targetResult {
	var out []targetResult
	ratio := func(what, route, base string, want float64) {
		a, ok1 := r.summary(route, nameASAP)
		b, ok2 := r.summary(route, base)
		if !ok1 || !ok2 || b.rps == 0 {
			out = append(out, targetResult{what, "not measured", "—"})
			return
		}
		got := a.rps / b.rps
		out = append(out, targetResult{what, fmt.Sprintf("%.2f×", got), verdict(got >= want, fmt.Sprintf("%.0f%% short", (want-got)/want*100))})
	}
	ratio("/v2 throughput ≥ 0.9× bare Echo", "/v2", nameEcho, 0.9)
	ratio("/v2/ad throughput ≥ 1.0× httputil.ReverseProxy", "/v2/ad", nameProxy, 1.0)
	ratio("/v2/ad throughput ≥ 0.7× nginx", "/v2/ad", nameNginx, 0.7)

	what := fmt.Sprintf("/v2/ad p99 at %d req/s within 1 ms of the upstream's p99", r.opts.rate)
	a, ok1 := r.summary("/v2/ad", nameASAP)
	u, ok2 := r.summary("/v2/ad", nameUpstream)
	if ok1 && ok2 {
		d := a.p99 - u.p99
		out = append(out, targetResult{what, fmt.Sprintf("%s vs %s (%+.2f ms)", fmtDur(a.p99), fmtDur(u.p99), ms(d)),
			verdict(d <= time.Millisecond, fmt.Sprintf("%.2f ms over", ms(d-time.Millisecond)))})
	} else {
		out = append(out, targetResult{what, "not measured", "—"})
	}
	stable := "/v2/ad p99 stable to ±0.5 ms between latency runs"
	if ok1 && a.latencyRuns > 1 {
		half := (a.p99Hi - a.p99Lo) / 2
		measured := fmt.Sprintf("±%.2f ms over %d runs (%s–%s)", ms(half), a.latencyRuns, fmtDur(a.p99Lo), fmtDur(a.p99Hi))
		if ok2 && u.latencyRuns > 1 {
			// The upstream alone, measured the same way, is the machine's floor: a
			// spread ASAP cannot be held under.
			measured += fmt.Sprintf("; the upstream alone ±%.2f ms (%s–%s), the machine's floor", ms((u.p99Hi-u.p99Lo)/2), fmtDur(u.p99Lo), fmtDur(u.p99Hi))
		}
		out = append(out, targetResult{stable, measured,
			verdict(half <= time.Millisecond/2, fmt.Sprintf("%.2f ms over", ms(half-time.Millisecond/2)))})
	} else {
		why := "not measured"
		if ok1 {
			why += " (one latency run)"
		}
		out = append(out, targetResult{stable, why, "—"})
	}

	out = append(out, r.consentTargets()...)
	out = append(out, r.auctionTargets()...)

	// Requests that reach Redis are cache misses; the commands Redis counted are the
	// cross-check (they include the subscription's PING and other clients).
	misses := int64(0)
	for k, v := range r.lookups {
		if !strings.Contains(k, `"hit"`) {
			misses += v
		}
	}
	var cmds, reqs int64
	for _, c := range r.contenders {
		if s, ok := r.summary(c.route, c.name); ok && c.asap {
			cmds += sum(s.redis)
			reqs += s.requests
		}
	}
	out = append(out, targetResult{"zero Redis commands per request in steady state",
		fmt.Sprintf("%d cache lookups that were not hits; %s Redis commands per request (all clients)", misses, perRequest(cmds, reqs)),
		verdict(misses == 0 && reqs > 0 && float64(cmds)/float64(reqs) < 0.001, "requests reach Redis")})
	return out
}

func verdict(ok bool, miss string) string {
	if ok {
		return "met"
	}
	return "**missed**: " + miss
}

// machine describes where the run happened.
type machine struct {
	cpus                     int
	model, kernel, goVersion string
	load                     string
	// steal is the share of the machine's CPU time the hypervisor gave to other
	// guests during the rounds (/proc/stat's steal), negative when unknown: the
	// figure that says whether the machine was the run's own.
	steal float64
}

func describeMachine() machine {
	m := machine{cpus: runtime.NumCPU(), model: "unknown CPU", kernel: "unknown kernel", goVersion: runtime.Version(), steal: -1}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.model = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.load = strings.Join(f[:3], " ")
		}
	}
	return m
}

func (m machine) String() string {
	s := fmt.Sprintf("%d CPUs (`nproc`), %s, %s, %s", m.cpus, m.model, m.kernel, m.goVersion)
	if m.load != "" {
		s += ", load average " + m.load + " at the start"
	}
	if m.steal >= 0 {
		s += fmt.Sprintf(", %.1f%% of the CPU time stolen by the hypervisor for other guests during the rounds (`/proc/stat`)", m.steal*100)
	}
	return s
}

// cpuTicks returns the machine's stolen and total CPU time so far, in ticks,
// from /proc/stat; false where there is none.
func cpuTicks() (steal, total int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if i < 8 { // user nice system idle iowait irq softirq steal; guest time is inside user
			total += n
		}
		if i == 7 {
			steal = n
		}
	}
	return steal, total, true
}

func median[T float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// fmtSpread is a contender's median p99 and the range of its runs' p99.
func fmtSpread(s summary) string {
	if s.latencyRuns < 2 {
		return fmtDur(s.p99)
	}
	return fmt.Sprintf("%s (%.2f–%.2f)", fmtDur(s.p99), ms(s.p99Lo), ms(s.p99Hi))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.2f ms", ms(d)) }

// fmtRate formats a rate with thousands separators.
func fmtRate(r float64) string {
	s := fmt.Sprintf("%.0f", r)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fmtCommands(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func perRequest(n, reqs int64) string {
	if reqs == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.5f", float64(n)/float64(reqs))
}
