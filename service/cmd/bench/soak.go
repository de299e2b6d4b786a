package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"asap/service/internal/harness"
)

// soakConns bounds the soak's connections to ASAP.
const soakConns = 64

// soak is `make soak`: ASAP (production configuration, demo ad server upstream)
// at a steady rate of GET /v2 and GET /v2/ad, alternating, for o.duration, with its
// resident memory sampled every o.sample. Memory is flat when no sample after the
// warm-up is more than 10% above the sample taken at the end of the warm-up.
func soak(ctx context.Context, o options, stdout io.Writer) error {
	s, err := newStack(ctx, o, stdout)
	if err != nil {
		return err
	}
	defer s.Close()
	var upAddr, asapAddr, adminAddr string
	for _, a := range []*string{&upAddr, &asapAddr, &adminAddr} {
		if *a, err = harness.FreeAddr(); err != nil {
			return err
		}
	}
	up, err := s.start("demo ad server", nil, false, s.adBin, "-addr", upAddr, "-fixed", "-fill", "1", "-latency", "0", "-jitter", "0")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, up, get(upAddr, "/stats"), http.StatusOK); err != nil {
		return err
	}
	env, err := s.asapEnv(asapAddr, adminAddr, "primary=http://"+upAddr+auctionPath, false)
	if err != nil {
		return err
	}
	if err := s.loadPlacements(ctx, env, nil); err != nil {
		return err
	}
	asap, err := s.start("ASAP", env, true, s.asapBin)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, asap, get(asapAddr, "/readyz"), http.StatusOK); err != nil {
		return err
	}
	pid := asap.cmd.Process.Pid
	fmt.Fprintf(stdout, "soak: ASAP (pid %d) at %d req/s (GET /v2 and GET /v2/ad alternating) for %s; resident memory every %s\n",
		pid, o.rate, o.duration, o.sample)

	hdr := http.Header{"User-Agent": {sdkUserAgent}}
	targets := []vegeta.Target{
		{Method: http.MethodGet, URL: "http://" + asapAddr + v2URI, Header: hdr},
		// demo-feed: its upstream's bid carries a nurl, so win notices are fired too.
		{Method: http.MethodGet, URL: "http://" + asapAddr + strings.Replace(adURI, "pkey=demo-feed-lean&", "pkey=demo-feed&", 1), Header: hdr},
	}
	// At most soakConns connections, as a load balancer keeps a bounded pool to a
	// target: when the machine stalls, requests wait for a connection instead of
	// opening hundreds that ASAP would then keep open (and its memory with them).
	atk := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Proxy(nil), vegeta.HTTP2(false),
		vegeta.Timeout(5*time.Second), vegeta.Connections(soakConns), vegeta.MaxConnections(soakConns),
		vegeta.Redirects(vegeta.NoFollow))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	results := atk.Attack(vegeta.NewStaticTargeter(targets...), vegeta.Rate{Freq: o.rate, Per: time.Second}, o.duration, "soak")

	var m vegeta.Metrics
	type rssSample struct {
		at  time.Duration
		rss int64
	}
	var samples []rssSample
	start := time.Now()
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case r, ok := <-results:
			if !ok {
				done = true
				break
			}
			m.Add(r)
		case <-tick.C:
			if err := asap.exited(); err != nil {
				return err
			}
			rss, _, err := harness.Memory(pid)
			if err != nil {
				return err
			}
			at := time.Since(start).Round(time.Second)
			samples = append(samples, rssSample{at, rss})
			fmt.Fprintf(stdout, "  %8s  RSS %6.1f MiB\n", at, mib(rss))
		}
	}
	m.Close()
	if len(samples) == 0 {
		return fmt.Errorf("no memory sample: -duration %s is shorter than -sample %s", o.duration, o.sample)
	}
	// The baseline is the last sample of the warm-up (the first sample if the run is
	// shorter): the heap grows to its working size first.
	base := samples[0]
	for _, smp := range samples {
		if smp.at <= o.soakGrace {
			base = smp
		}
	}
	var after []int64
	for _, smp := range samples {
		if smp.at >= base.at {
			after = append(after, smp.rss)
		}
	}
	first, last, peak := samples[0].rss, samples[len(samples)-1].rss, slices.Max(after)
	flat := float64(peak) <= 1.1*float64(base.rss)
	fmt.Fprintf(stdout, "\nsoak: %d requests, %.2f%% 2xx, p50 %s, p99 %s, max %s\n",
		m.Requests, m.Success*100, fmtDur(m.Latencies.P50), fmtDur(m.Latencies.P99), fmtDur(m.Latencies.Max))
	fmt.Fprintf(stdout, "soak: RSS first %.1f MiB, at the end of the %s warm-up %.1f MiB (%s), last %.1f MiB, max after it %.1f MiB\n",
		mib(first), o.soakGrace, mib(base.rss), base.at, mib(last), mib(peak))
	if m.Success < 0.99 {
		return fmt.Errorf("only %.2f%% of the requests were answered 2xx (first errors: %v)", m.Success*100, firstN(m.Errors, 3))
	}
	if flat {
		fmt.Fprintf(stdout, "soak: resident memory flat: the max stayed within 10%% of the warm-up baseline (+%.1f%%)\n", growth(peak, base.rss))
		return nil
	}
	return fmt.Errorf("resident memory not flat: the max is %.1f%% above the warm-up baseline (limit 10%%)", growth(peak, base.rss))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func growth(x, base int64) float64 { return (float64(x) - float64(base)) / float64(base) * 100 }

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }
