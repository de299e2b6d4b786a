package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"asap/service/internal/harness"
)

// The auction rows: ASAP's auction of three upstreams against ASAP in front of
// the slowest of them alone, and that upstream called directly. Each upstream
// is the demo ad server in its fixed mode (no nurl, no lurl: no notices), with
// its own price and latency.
const (
	routeAuction        = "/v2/ad auction"
	nameAuctionSingle   = "ASAP, 1 upstream (the slowest)"
	nameAuctionThree    = "ASAP, auction of 3 upstreams"
	nameAuctionUpstream = "slowest upstream direct"
)

// auctionUpstreams are the three demo ad servers: name, price, latency; the
// last is the slowest.
var auctionUpstreams = []struct {
	name, price string
	latency     time.Duration
}{
	{"auction-a", "1.50", 0},
	{"auction-b", "1.80", time.Millisecond},
	{"auction-c", "1.20", 3 * time.Millisecond},
}

// auctionBench is the auction rows' part of the stack.
type auctionBench struct {
	addrs []string
	procs []*proc
}

// startAuctionUpstreams starts the three demo ad servers.
func startAuctionUpstreams(ctx context.Context, s *stack) (*auctionBench, error) {
	a := &auctionBench{}
	for _, u := range auctionUpstreams {
		addr, err := harness.FreeAddr()
		if err != nil {
			return nil, err
		}
		p, err := s.start("demo ad server "+u.name, nil, false, s.adBin, "-addr", addr, "-fixed", "-nurl=false",
			"-fill", "1", "-price", u.price, "-seat", u.name, "-latency", u.latency.String(), "-jitter", "0")
		if err != nil {
			return nil, err
		}
		if err := waitHTTP(ctx, p, get(addr, "/stats"), http.StatusOK); err != nil {
			return nil, err
		}
		a.addrs, a.procs = append(a.addrs, addr), append(a.procs, p)
	}
	return a, nil
}

// upstreams is the ASAP_UPSTREAMS part of the three, with a leading comma.
func (a *auctionBench) upstreams() string {
	var b strings.Builder
	for i, u := range auctionUpstreams {
		fmt.Fprintf(&b, ",%s=http://%s%s", u.name, a.addrs[i], auctionPath)
	}
	return b.String()
}

// placements are the pkeys of the auction rows and their upstreams, for
// stack.loadPlacements: demo-auction-1 names the slowest, demo-auction-3 all three.
func (a *auctionBench) placements(extra map[string]string) {
	names := make([]string, len(auctionUpstreams))
	for i, u := range auctionUpstreams {
		names[i] = u.name
	}
	extra["demo-auction-1"] = names[len(names)-1]
	extra["demo-auction-3"] = strings.Join(names, ",")
}

// contenders are the auction rows.
func (a *auctionBench) contenders(asapAd target, asapPID int, direct func(addr string) target) []contender {
	slowest := len(a.procs) - 1
	one, three := asapAd, asapAd
	one.uri = strings.Replace(adURI, "pkey=demo-feed-lean&", "pkey=demo-auction-1&", 1)
	three.uri = strings.Replace(adURI, "pkey=demo-feed-lean&", "pkey=demo-auction-3&", 1)
	upPID := a.procs[slowest].cmd.Process.Pid
	return []contender{
		{route: routeAuction, name: nameAuctionSingle, target: one, asap: true, pid: asapPID, upPID: upPID},
		{route: routeAuction, name: nameAuctionThree, target: three, asap: true, pid: asapPID, upPID: upPID},
		{route: routeAuction, name: nameAuctionUpstream, target: direct(a.addrs[slowest]), pid: upPID},
	}
}

// auctionTargets checks the auction rows: the three-way auction's CPU per
// request under twice the single upstream's, and its p99 at the fixed rate
// within 1 ms of the slowest upstream's own.
func (r *report) auctionTargets() []targetResult {
	one, ok1 := r.summary(routeAuction, nameAuctionSingle)
	three, ok3 := r.summary(routeAuction, nameAuctionThree)
	up, okUp := r.summary(routeAuction, nameAuctionUpstream)
	cpu := targetResult{"auction of 3: CPU per request < 2× one upstream's", "not measured", "—"}
	if ok1 && ok3 && one.cpu > 0 {
		got := float64(three.cpu) / float64(one.cpu)
		cpu.measured = fmt.Sprintf("%s vs %s (%.2f×)", fmtCPU(three.cpu, 0), fmtCPU(one.cpu, 0), got)
		cpu.result = verdict(got < 2, fmt.Sprintf("%.2f× over", got-2))
	}
	p99 := targetResult{fmt.Sprintf("auction of 3: p99 at %d req/s within 1 ms of the slowest upstream's p99", r.opts.rate), "not measured", "—"}
	if ok3 && okUp {
		d := three.p99 - up.p99
		p99.measured = fmt.Sprintf("%s vs %s (%+.2f ms)", fmtDur(three.p99), fmtDur(up.p99), ms(d))
		p99.result = verdict(d <= time.Millisecond, fmt.Sprintf("%.2f ms over", ms(d-time.Millisecond)))
	}
	return []targetResult{cpu, p99}
}
