package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"asap/service/internal/adquery"
	"asap/service/internal/bidreq"
	"asap/service/internal/harness"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
)

// Names of the contenders, as the table shows them.
const (
	nameASAP       = "ASAP"
	nameASAPNoNURL = "ASAP, bid without nurl"
	// nameASAPConsent is the ASAP row (production's: the bid's nurl fired) again,
	// under GDPR with a consent string as CMPs send it that lets the upstream have
	// everything: the cost of enforcement, which a target holds within 5%.
	nameASAPConsent = "ASAP, GDPR consent string"
	// nameASAPConsentRanges is the same with the privacy benchmarks' string, the
	// same purposes written with vendor ranges where a bit field is shorter: 2.4
	// times the bytes of any string the IAB's library made. Reported, not judged.
	nameASAPConsentRanges = "ASAP, GDPR consent string of 2.6 kB (ranges)"
	// nameASAPRewardedVideo is a rewarded video placement's ad: a VAST 4.1 bid
	// (demo-rewarded-video) from a demo ad server that builds it per request,
	// read and checked by ASAP, answered with its facts.
	nameASAPRewardedVideo = "ASAP, rewarded video (VAST), bid without nurl"
	nameEcho              = "bare Echo"
	nameProxy             = "httputil.ReverseProxy"
	nameNginx             = "nginx proxy_pass"
	nameUpstream          = "upstream direct"
)

// The requests ASAP is measured with: an SDK asking for the feed placement's
// mediation, and for its ad.
const (
	v2URI = "/v2?pkey=demo-feed&pubAppName=Example%20News&pubAppVersion=4.2.0&customKeys%5Bsection%5D=sports"
	adURI = "/v2/ad?pkey=demo-feed-lean&uid=6f1c2c4e-4a9e-4b5e-9c3a-0d6e7b8a9f10&appId=com.example.news" +
		"&appName=Example%20News&appVersion=4.2.0&creative_key=ck-123&w=300&h=250&os=android&osv=14" +
		"&make=Google&model=Pixel%208" + adPrivacy + "&us_privacy=1YNN&lmt=0"
	// adPrivacy is the GDPR part of adURI: GDPR does not apply, so every upstream
	// gets the ids whatever the (empty) string says.
	adPrivacy    = "&gdpr=0&gdpr_consent=CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"
	sdkUserAgent = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
	auctionPath  = "/openrtb2/auction"
)

// The consent rows' GDPR parts. Both strings grant consentVendor, the vendor id
// of the upstreams (ASAP_UPSTREAM_VENDORS), every purpose ASAP checks and special
// feature 1, so that the upstream gets the same request as without GDPR.
// typicalString is consenttest.Typical: 1,000 vendors spread over ids up to
// 3,000 in bit fields, as the IAB's encoder writes them (1,057 bytes, the size of
// the longest strings the IAB's library made); consentString is
// consenttest.Large, the privacy benchmarks' string: 1,000 vendors range-encoded
// (2,628 bytes). TestConsentString holds them to that.
const (
	consentVendor    = 755
	typicalString    = "CP1R2oAP1R2oAAHABBENCWEoAPLAAEPAAAYgXbkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkhdgACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAIAQAgBACAEAEJAEAAUABQADwC8w"
	adPrivacyTypical = "&gdpr=1&gdpr_consent=" + typicalString
	consentString    = "CP1R2oAP1R2oAAHABBENCWEoAPLAAEPAAAYgK8RkYAAgAFAAQABYADgARAAoAC4AGgAdABAAEYAJgAvABkAGoAOAA7AB8AIIARABHACUAJoAUABZAC4AL4AYgBlADQANYAbgBxADoAO4AegCDAEMARIAjACPAEkASoAmACbAE8AUIApACtAFgAWYAtgC5AF4AX4AwgDFAGQAZYAzgDXAG0AboA4ADjAHMAdIA7ADvAHkAeoA-AEBAIIAg4BCgENAIgAiYBFgEZAI4Aj4BIgErAJcAmIBNAE3AJ0AnoBQAFDAKMApIBTAFVAKwArYBXgFhALIAs4BagFtALgAuYBdgF_AMEAwoBiAGLAMcAyIBlAGXAM0AzoBoAGpANYA14BsgG1ANwA3YBvgHBAOIA44BygHTAOsA7IB3AHfAPEA8oB6AHrAPcA-IB9AH9AQABAYCBgIJAQYBB4CEgIVAQwBDYCHgInARUBFoCMAIzARsBHICPAI_ASEBIoCSAJRASoBK4CWgJdATABMYCZgJpATYBN4CcgJ7AT8BQIChAKHAUUBRoCkAKTAUsBTICnAKlAVQBVYCrgKxAVoBW4CugK9AWABYYCxgLPAWkBaoC2ALbAW8BcIC5ALnAXUBdoC8AL5AX4Bf4DAgMFAYQBhYDDgMRAYoBi4DGgMjAZMBlIDLAMvAZkBmoDOAM7AZ8BoIDRANNAagBqYDVgNZAa4Br4DYgNlAbQBtYDbgN3Ab0BvoDgAODAcMBxIDjAOPAckByoDmAOhAdIB04DqgOtAdgB2YDtgO5Ad4B34DwgPLAecB6ID1APXAe0B7oD4APjAfMB9ID7AP1AfwB_YD_gQBAgICA4ECgQNAggCCYEFgQfAhECEoEKAQrAhcCGIENAQ3Ah0CHoEQARJAiYCJ4EUgRVAiwCLYEXgRhAjICM4EagRzAjsCPIEfAR_AkECQoEiASLAkcCSIElASdAlACUYEpgSpAlYCV4EsgS1AlwCXYEvgTHAmUCZoE0ATTAmsCbIE3ATfAnECcoE6ATxAnoCe4E-gT9AoACgYFBgUJAoYCh4FEgUbAo8CkIFJAUnApUCloFMAUzApsCnIFPAVFAqQCpYFTgVRAqoCq4FWgVdArACsYFZgVvArkCuoFeAV7Ar8CwIFhAWHAsUCxoFkAWZAs4Cz4FogWlAtQC1YFrgWxAtoC24FugXDAuMC5IFzAXPAukC6oF2AXbAu8C8IF5AXtAvgC-YF9gX5Av4C_4GAgYFAwQDBYGDgYXAw0DDoGIAYjAxMDFIGLAYvAxkDGoGOAZBAyIDI4GSgZNAygDKYGVgZZAy4DL4GYgZrAzcDOIGdAZ3Az0DPoGgAaDA0MDRIGjAaVA0wDTYGngahA1IDU4GqgatA1gDWYGtga_A2EDYoGyAbLA2cDaIG1AbXA20DboG4AbpA3YDd4G8gb1A3wDfYG_gcBA4IDg4HCgcTA4sDjIHHAcfA5EDkoHKAcrA5cDmIHNAc9A6ADoYHRgdJA6YDp4HUgdVA6wDrYHXgdnA7UDtoHcAdzA7sDvIHfAd_A8EDwoHiAeRA8oDy4HmgedA9AD0YHpgepA9YD14Hsge7A98D4IHxAfHA-UD5oH0AfTA-sD7IH3AflA_QD9YH7gfxA_oD-4H-gf9BAAEAYIBggPBAkECoIGAgbBA8EEIIJAgnBBUEFoIMAg5BB4EH4IQghFBCQEJYITghRBCoEK4IWghjBDMENIIbAhvBDkEOoIeAh7BD8EQIIhAiNBEgESYIlgiZBE4ET4IogilBFQEVYIrgi3BF0EXoIwAjDBGMEZIIzAjPBGkEaoI2AjhBHIEc4I6gjtBHgEeYI9gj5BH4Ef4JAgkLBIcEiIJFAkXBI0EjoJIAkjBJMElIJLAk1BJwEnYJPglBBKIEo4JSglNBKgEqYJVglfBLEEsoJaAlrBLcEuIJdAl3BL0EvoJgAmJBMYEx4JkgmVBMwEzYJngmhBNIE04JqgmzBNsE3IJvAm_BOEE4oJyAnLBOcE6IJ1AndBPAE8YJ5gnpBPYE94J8gn1BPwE_YJ_goHBQUFBoKEAoTBQsFDIKHAofBREFEoKKAoxBRoFG4KOgo9BSAFIYKRgpJBSYFJ4KUgpbBS8FMIKZApnBTUFNoKcApzBTsFPIKfAqFBUQFRYKjgqRBUoFS4KmgqdBVAFUYKpgqvBVkFWoKuAq7BV8FYIKxArHBWUFZoK0ArZBW4Fb4K4grlBXQFdYK7grwCusH8ABYAFgAQgAsABuAEIAJoAWAAxgBuADyAIQAR4AmgBSgCwAF2AMYAaIA3ABzgDyAH6AQgAiYBHgCUgE0AJ-AUoAqoBYAC1gF2AMCAYwAy4BogDWgG4AOGAc4A7IB5AD3gH6AQKAhABDYCJgEYgI8ASOAlIBLoCaAE5gJ-AUSApQBT4CqgFagLAAWWAtYBcIC7AF7gMCAYaAxgBkYDLgGcgNEAaeA1oBsoDcAG9gOGAciA5wB04DsgHegPIAemA94B9ID9AH_gQKAgqBCACFYENgIggRMAiuBGICNoEeAJBgSOAkyBKQCV4EugJigTQAm2BOYCeIE_AKDgUSAo6BSgCmYFPgKkgVUAq-BWoCuoAISAIAAoACgAHgF5g"
	adPrivacyGDPR    = "&gdpr=1&gdpr_consent=" + consentString
)

// interleave measures each contender's throughput, and the CPU of its process
// and upstream, in slices of d, in the order A B C C B A, reps times over, and
// returns each one's sum: a drift of the machine that is linear over the
// sequence costs each contender alike, and neighbouring slices see the machine
// nearly as it was, which separate runs seconds apart do not.
func interleave(ctx context.Context, cs []contender, conns int, d time.Duration, reps int) []sample {
	out := make([]sample, len(cs))
	for range reps {
		for _, i := range abba(len(cs)) {
			if ctx.Err() != nil {
				return out
			}
			m := throughputRun(ctx, cs[i], conns, d)
			s := &out[i]
			s.cpu += m.cpu
			s.upCPU += m.upCPU
			s.tput.ok += m.tput.ok
			s.tput.failed += m.tput.failed
			s.tput.elapsed += m.tput.elapsed
			if s.tput.firstError == "" {
				s.tput.firstError = m.tput.firstError
			}
		}
	}
	return out
}

// throughputRun is c's closed-loop throughput over conns connections for d, and
// the CPU its process and its upstream used meanwhile.
func throughputRun(ctx context.Context, c contender, conns int, d time.Duration) sample {
	cpu0, upCPU0 := harness.CPU(c.pid), harness.CPU(c.upPID)
	tp := closedLoop(ctx, c.target, conns, d)
	return sample{tput: tp, cpu: harness.CPU(c.pid) - cpu0, upCPU: harness.CPU(c.upPID) - upCPU0}
}

// The consent pairs' interleaved measurement: in each round, A B C C B A
// pairReps times over in slices of -duration ÷ pairSlices, so that each row is
// measured for -duration in all.
const (
	pairSlices = 4
	pairReps   = pairSlices / 2
)

// latencySettle is how long each open-loop run sends before its latencies count.
const latencySettle = time.Second

// contender is one server measured on one route.
type contender struct {
	route  string // "/v2" or "/v2/ad"
	name   string
	target target
	asap   bool
	pid    int // the process serving it, for its CPU time
	upPID  int // the upstream behind it, if any
}

// sample is one round's measurement of one contender.
type sample struct {
	tput  throughput
	lat   latency          // the combination of runs
	runs  []latency        // the latency runs, for their spread
	redis map[string]int64 // Redis commands during the measurement, by name
	// cpu and upCPU are the CPU time the contender's process and the upstream behind
	// it used during the throughput run.
	cpu, upCPU time.Duration
}

// bench is `make bench`.
func bench(ctx context.Context, o options, stdout io.Writer) error {
	started := time.Now()
	mach := describeMachine() // before the bench's own build and processes load the machine
	s, err := newStack(ctx, o, stdout)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.pin, err = pin(o.pin); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "placement:", s.pin.note)

	var addrs struct{ up, upNURL, upVideo, asap, admin, echo, proxy, nginx string }
	for _, a := range []*string{&addrs.up, &addrs.upNURL, &addrs.upVideo, &addrs.asap, &addrs.admin, &addrs.echo, &addrs.proxy, &addrs.nginx} {
		if *a, err = harness.FreeAddr(); err != nil {
			return err
		}
	}
	upURL := "http://" + addrs.up + auctionPath

	// The upstreams: the demo ad server answering one constant bid at once, without
	// a nurl (billing through burl, fired by the SDK: one upstream exchange per ad, as
	// for the proxies), and with one (ASAP then also fires a win notice per ad).
	up, err := s.start("demo ad server", nil, false, s.adBin, "-addr", addrs.up, "-fixed", "-nurl=false", "-fill", "1", "-latency", "0", "-jitter", "0")
	if err != nil {
		return err
	}
	upNURL, err := s.start("demo ad server (nurl)", nil, false, s.adBin, "-addr", addrs.upNURL, "-fixed", "-fill", "1", "-latency", "0", "-jitter", "0")
	if err != nil {
		return err
	}
	// And one that bids what it is offered, built per request: the rewarded video row's.
	upVideo, err := s.start("demo ad server (formats)", nil, false, s.adBin, "-addr", addrs.upVideo, "-nurl=false", "-fill", "1", "-latency", "0", "-jitter", "0")
	if err != nil {
		return err
	}
	for _, u := range []struct {
		p    *proc
		addr string
	}{{up, addrs.up}, {upNURL, addrs.upNURL}, {upVideo, addrs.upVideo}} {
		if err := waitHTTP(ctx, u.p, get(u.addr, "/stats"), http.StatusOK); err != nil {
			return err
		}
	}

	auc, err := startAuctionUpstreams(ctx, s)
	if err != nil {
		return err
	}

	// ASAP, as shipped for production, its log lines counted. The sample placements
	// name upstream "primary"; demo-feed-lean is demo-feed with upstream "lean".
	upstreams := "primary=http://" + addrs.upNURL + auctionPath + ",lean=" + upURL +
		",video=http://" + addrs.upVideo + auctionPath + auc.upstreams()
	env, err := s.asapEnv(addrs.asap, addrs.admin, upstreams, o.profile != "")
	if err != nil {
		return err
	}
	extra := map[string]string{"demo-feed-lean": "lean", "demo-rewarded-video-lean": "video"}
	auc.placements(extra)
	if err := s.loadPlacements(ctx, env, extra); err != nil {
		return err
	}
	asap, err := s.start("ASAP", env, true, s.asapBin)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, asap, get(addrs.asap, "/readyz"), http.StatusOK); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ASAP (pid %d) serving on %s, admin %s, upstreams %s, Redis key prefix %s\n",
		asap.cmd.Process.Pid, addrs.asap, addrs.admin, upstreams, s.prefix)

	sdkHeader := http.Header{"User-Agent": {sdkUserAgent}}
	asapV2 := target{method: http.MethodGet, addr: addrs.asap, uri: v2URI, header: sdkHeader}
	asapAd := target{method: http.MethodGet, addr: addrs.asap, uri: adURI, header: sdkHeader}
	// The ASAP row is what production does: a bid with a nurl (and an lurl, which a
	// lone bidder never loses) that ASAP fires at the demo ad server's /win, a live
	// sink. The row without one is ASAP doing only what the proxies do.
	// The consent rows: the same ad request under GDPR, with a consent string that
	// keeps nothing from the upstream, so only enforcement's cost differs.
	asapAdNURL := asapAd
	asapAdNURL.uri = strings.Replace(adURI, "pkey=demo-feed-lean&", "pkey=demo-feed&", 1)
	asapAdConsent := asapAdNURL
	asapAdConsent.uri = strings.Replace(asapAdNURL.uri, adPrivacy, adPrivacyTypical, 1)
	asapAdConsentRanges := asapAdNURL
	asapAdConsentRanges.uri = strings.Replace(asapAdNURL.uri, adPrivacy, adPrivacyGDPR, 1)
	asapAdVideo := asapAd
	asapAdVideo.uri = strings.Replace(adURI, "pkey=demo-feed-lean&", "pkey=demo-rewarded-video-lean&", 1)
	bidRequest, err := sampleBidRequest()
	if err != nil {
		return err
	}
	auction := func(addr string) target {
		return target{method: http.MethodPost, addr: addr, uri: auctionPath, body: bidRequest,
			header: http.Header{"Content-Type": {"application/json"}, "X-Openrtb-Version": {"2.6"}, "User-Agent": {"asap-bench"}}}
	}

	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	var notes []string
	var contenders []contender
	if o.only == "" || o.only == "/v2" {
		// The bare Echo contender answers what ASAP answers.
		status, body, err := fetch(ctx, asapV2)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("ASAP GET %s: status %d, %v: %s", v2URI, status, err, body)
		}
		bodyFile := filepath.Join(s.dir, "v2.json")
		if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
			return err
		}
		args := []string{"-serve", "echo", "-addr", addrs.echo, "-body", bodyFile}
		if o.profile != "" {
			args = append(args, "-cpuprofile", filepath.Join(o.profile, "echo.pprof"))
		}
		p, err := s.start(nameEcho, nil, false, s.self, args...)
		if err != nil {
			return err
		}
		if err := waitHTTP(ctx, p, get(addrs.echo, v2URI), http.StatusOK); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "GET /v2 answers %d bytes; bare Echo answers the same bytes\n", len(body))
		contenders = append(contenders,
			contender{route: "/v2", name: nameASAP, target: asapV2, asap: true, pid: asap.cmd.Process.Pid},
			contender{route: "/v2", name: nameEcho, target: target{method: http.MethodGet, addr: addrs.echo, uri: v2URI, header: sdkHeader},
				pid: p.cmd.Process.Pid},
		)
	}
	if o.only == "" || o.only == "/v2/ad" {
		for _, c := range []contender{
			{route: "/v2/ad", name: nameASAP, target: asapAdNURL, asap: true, pid: asap.cmd.Process.Pid, upPID: upNURL.cmd.Process.Pid},
			// Right after the ASAP row; the target's ratios come from the rounds'
			// interleaved slices of the three (interleave).
			{route: "/v2/ad", name: nameASAPConsent, target: asapAdConsent, asap: true, pid: asap.cmd.Process.Pid, upPID: upNURL.cmd.Process.Pid},
			{route: "/v2/ad", name: nameASAPConsentRanges, target: asapAdConsentRanges, asap: true, pid: asap.cmd.Process.Pid, upPID: upNURL.cmd.Process.Pid},
			{route: "/v2/ad", name: nameASAPNoNURL, target: asapAd, asap: true, pid: asap.cmd.Process.Pid, upPID: up.cmd.Process.Pid},
			{route: "/v2/ad", name: nameASAPRewardedVideo, target: asapAdVideo, asap: true, pid: asap.cmd.Process.Pid, upPID: upVideo.cmd.Process.Pid},
		} {
			status, body, err := fetch(ctx, c.target)
			switch {
			case err != nil:
				return fmt.Errorf("ASAP GET %s: %w", c.target.uri, err)
			case status == http.StatusOK && bytes.Contains(body, []byte(`"creatives"`)):
				fmt.Fprintf(stdout, "%s: GET /v2/ad answers %d bytes (the upstream's bid)\n", c.name, len(body))
				contenders = append(contenders, c)
			default:
				note := fmt.Sprintf("%s: GET /v2/ad was not measured: it answered %d %s", c.name, status, bytes.TrimSpace(body))
				fmt.Fprintln(stdout, note)
				notes = append(notes, note)
			}
		}
		args := []string{"-serve", "proxy", "-addr", addrs.proxy, "-upstream", upURL}
		if o.profile != "" {
			args = append(args, "-cpuprofile", filepath.Join(o.profile, "reverseproxy.pprof"))
		}
		p, err := s.start(nameProxy, nil, false, s.self, args...)
		if err != nil {
			return err
		}
		if err := waitHTTP(ctx, p, auction(addrs.proxy), http.StatusOK); err != nil {
			return err
		}
		contenders = append(contenders, contender{route: "/v2/ad", name: nameProxy, target: auction(addrs.proxy),
			pid: p.cmd.Process.Pid, upPID: up.cmd.Process.Pid})
		switch bin, note := nginxBinary(o.nginx); {
		case bin == "":
			fmt.Fprintln(stdout, note)
			notes = append(notes, note)
		default:
			p, err := s.startNginx(bin, addrs.nginx, addrs.up)
			if err != nil {
				return err
			}
			if err := waitHTTP(ctx, p, auction(addrs.nginx), http.StatusOK); err != nil {
				return err
			}
			contenders = append(contenders, contender{route: "/v2/ad", name: nameNginx, target: auction(addrs.nginx),
				pid: p.cmd.Process.Pid, upPID: up.cmd.Process.Pid})
		}
		contenders = append(contenders, contender{route: "/v2/ad", name: nameUpstream, target: auction(addrs.up), pid: up.cmd.Process.Pid})
	}
	if o.only == "" || o.only == "auction" {
		contenders = append(contenders, auc.contenders(asapAd, asap.cmd.Process.Pid, auction)...)
	}
	for _, c := range contenders {
		status, body, err := fetch(ctx, c.target)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("%s %s: status %d, %v: %.200s", c.name, c.route, status, err, body)
		}
	}

	if o.warmup > 0 {
		fmt.Fprintf(stdout, "warming up each contender for %s\n", o.warmup)
		for _, c := range contenders {
			closedLoop(ctx, c.target, o.conns, o.warmup)
		}
	}
	countersBefore, _ := counters(ctx, addrs.admin)
	steal0, total0, ticked := cpuTicks()
	logsFrom := asap.logSize()

	results := make(map[string][]sample) // by route + name
	// The consent pairs, interleaved in each round: ASAP's row first.
	var pair []contender
	for _, name := range []string{nameASAP, nameASAPConsent, nameASAPConsentRanges} {
		if i := slices.IndexFunc(contenders, func(c contender) bool { return c.route == "/v2/ad" && c.name == name }); i >= 0 {
			pair = append(pair, contenders[i])
		}
	}
	interleaved := make(map[string][]sample) // by name: throughput and CPU
	for round := range o.rounds {
		for _, c := range contenders {
			if err := ctx.Err(); err != nil {
				return err
			}
			for _, p := range s.procs {
				if err := p.exited(); err != nil {
					return err
				}
			}
			before, err := commandStats(ctx, s)
			if err != nil {
				return err
			}
			var profiled chan error
			if c.asap && round == 0 && o.profile != "" {
				profiled = make(chan error, 1)
				go func() { profiled <- s.profile(ctx, addrs.admin, o.profile, profileName(c), o.duration) }()
			}
			smp := throughputRun(ctx, c, o.conns, o.duration)
			if profiled != nil {
				if err := <-profiled; err != nil {
					fmt.Fprintln(stdout, "profile:", err)
				}
			}
			lat, runs := latencyRuns(ctx, c.target, o)
			after, err := commandStats(ctx, s)
			if err != nil {
				return err
			}
			smp.lat, smp.runs, smp.redis = lat, runs, diffStats(before, after)
			tp := smp.tput
			key := c.route + " " + c.name
			results[key] = append(results[key], smp)
			fmt.Fprintf(stdout, "round %d/%d  %-7s %-22s %9.0f req/s (%d failed, %s)  p50 %-9s p99 %-9s p99.9 %-9s @%d/s (%d/%d ok)%s\n",
				round+1, o.rounds, c.route, c.name, tp.rps(), tp.failed, fmtCPU(smp.cpuPerRequest(), smp.upCPUPerRequest()),
				fmtDur(lat.p50), fmtDur(lat.p99), fmtDur(lat.p999), o.rate, lat.ok, lat.sent, firstErrors(tp, lat))
		}
		if len(pair) > 1 {
			slice := max(o.duration/pairSlices, 100*time.Millisecond)
			smps := interleave(ctx, pair, o.conns, slice, pairReps)
			var line []string
			for i, c := range pair {
				interleaved[c.name] = append(interleaved[c.name], smps[i])
				line = append(line, fmt.Sprintf("%s %.0f req/s, %s", c.name, smps[i].tput.rps(), fmtCPU(smps[i].cpuPerRequest(), smps[i].upCPUPerRequest())))
			}
			fmt.Fprintf(stdout, "round %d/%d  /v2/ad  interleaved, %s slices: %s\n", round+1, o.rounds, slice, strings.Join(line, ", "))
		}
	}
	countersAfter, _ := counters(ctx, addrs.admin)
	if steal1, total1, ok := cpuTicks(); ticked && ok && total1 > total0 {
		mach.steal = float64(steal1-steal0) / float64(total1-total0)
	}
	counted := diffStats(countersBefore, countersAfter)
	logLines := asap.logLines(logsFrom)

	rep := report{
		opts: o, contenders: contenders, results: results, interleaved: interleaved, notes: notes,
		logLines: logLines, lookups: counter(counted, metricLookups),
		notices: counter(counted, metricNotices), exchanges: sum(counter(counted, metricExchanges)),
		machine: mach, commit: gitCommit(ctx, o.root), started: started, placement: s.pin.note,
	}
	text := rep.markdown()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, text)
	if o.out != "" {
		path := o.out
		if !filepath.IsAbs(path) {
			path = filepath.Join(o.root, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", path)
	}
	return nil
}

func firstErrors(tp throughput, lat latency) string {
	var s []string
	if tp.firstError != "" {
		s = append(s, "throughput: "+tp.firstError)
	}
	if lat.firstError != "" {
		s = append(s, "latency: "+lat.firstError)
	}
	if len(s) == 0 {
		return ""
	}
	return "  first errors: " + strings.Join(s, "; ")
}

// sampleBidRequest is the BidRequest ASAP builds for adURI, encoded as ASAP
// encodes it: the body the proxy contenders and the direct upstream calls send.
func sampleBidRequest() ([]byte, error) {
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		return nil, err
	}
	var p *placement.Placement
	for i := range list {
		if list[i].PKey == "demo-feed" {
			p = &list[i]
		}
	}
	if p == nil || p.Ad == nil {
		return nil, errors.New("the sample placements have no demo-feed with an ad section")
	}
	_, rawQuery, _ := strings.Cut(adURI, "?")
	q, err := adquery.Parse(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("bench query: %w", err)
	}
	req := bidreq.Build(&adquery.Request{Query: q, UserAgent: sdkUserAgent, IP: "127.0.0.1"}, p,
		"0b7a3c52-5d7e-4f1a-9a43-3f7c2d1e9b86", bidreq.Tmax(p.Ad, 250*time.Millisecond, time.Second))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// commandStats reads Redis's INFO commandstats: calls by command.
func commandStats(ctx context.Context, s *stack) (map[string]int64, error) {
	info, err := s.redis.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO commandstats: %w", err)
	}
	stats := parseCommandStats(info)
	delete(stats, "info") // the benchmark's own reads
	return stats, nil
}

// parseCommandStats parses lines like "cmdstat_get:calls=12,usec=3,..." into
// calls by command name.
func parseCommandStats(info string) map[string]int64 {
	out := make(map[string]int64)
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					out[name] = n
				}
			}
		}
	}
	return out
}

// diffStats returns after - before, without the zero differences.
func diffStats(before, after map[string]int64) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Counters of ASAP's /metrics the report reads, summed over the rounds.
const (
	metricLookups   = "asap_placement_cache_lookups_total"
	metricNotices   = "asap_upstream_win_notices_total"
	metricExchanges = "asap_upstream_notice_exchanges_total"
)

// counters reads the counters of ASAP's /metrics, by name and labels (the labels
// between braces, "" for none).
func counters(ctx context.Context, admin string) (map[string]int64, error) {
	status, body, err := fetch(ctx, get(admin, "/metrics"))
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("ASAP /metrics: %d %v", status, err)
	}
	out := make(map[string]int64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		for _, name := range []string{metricLookups, metricNotices, metricExchanges} {
			rest, ok := strings.CutPrefix(line, name)
			if !ok {
				continue
			}
			labels, value := "", rest
			if l, v, ok := strings.Cut(rest, "} "); ok && strings.HasPrefix(l, "{") {
				labels, value = l[1:], v
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
				out[name+" "+labels] = int64(f)
			}
		}
	}
	return out, nil
}

// counter returns the counters of m whose key starts with name, by labels.
func counter(m map[string]int64, name string) map[string]int64 {
	out := make(map[string]int64)
	for k, v := range m {
		if labels, ok := strings.CutPrefix(k, name+" "); ok {
			out[labels] = v
		}
	}
	return out
}

// profileName names the profile of an ASAP row: asap-v2.pprof for /v2's, and
// the route and the row's name for the others (asap-v2-ad-bid-without-nurl.pprof).
func profileName(c contender) string {
	name := "asap" + strings.NewReplacer("/", "-", " ", "-").Replace(c.route)
	if c.name != nameASAP {
		name += "-" + strings.Trim(strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(strings.TrimPrefix(c.name, nameASAP))), "-")
	}
	return name + ".pprof"
}

// profile saves a CPU profile of ASAP (ASAP_DEBUG=true serves pprof on the admin
// port) taken over one measurement window into dir/file.
func (s *stack) profile(ctx context.Context, admin, dir, file string, d time.Duration) error {
	secs := max(1, int(d.Seconds())-1)
	client := &http.Client{Timeout: d + 10*time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, secs), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: %s", resp.Status)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(dir, file)
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return err
	}
	fmt.Fprintf(s.progress, "CPU profile of ASAP written to %s (go tool pprof -top %s %s)\n", name, s.asapBin, name)
	return nil
}

// nginxBinary returns the nginx binary to run, or "" and why there is none.
func nginxBinary(flag string) (bin, note string) {
	switch flag {
	case "off":
		return "", "nginx contender skipped (-nginx off)"
	case "auto":
		bin, err := exec.LookPath("nginx")
		if err != nil {
			return "", "nginx contender skipped: nginx is not installed (Debian/Ubuntu: apt-get install nginx-light)"
		}
		return bin, ""
	default:
		return flag, ""
	}
}

// nginxConf is the nginx contender: proxy_pass to the upstream over a keep-alive
// pool, no access log (the thinnest nginx), one worker per core it may run on.
var nginxConf = template.Must(template.New("nginx").Parse(`# Written by service/cmd/bench for one run.
worker_processes {{.Workers}};
daemon off;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    keepalive_requests 1000000;
    upstream adserver {
        server {{.Upstream}};
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
        listen {{.Listen}};
        location / {
            proxy_pass http://adserver;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`))

// startNginx writes the nginx configuration into the run's directory and starts
// nginx with it.
func (s *stack) startNginx(bin, listen, upstream string) (*proc, error) {
	var conf bytes.Buffer
	vars := map[string]any{"Dir": s.dir, "Listen": listen, "Upstream": upstream, "Workers": max(1, s.pin.n)}
	if err := nginxConf.Execute(&conf, vars); err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, "nginx.conf")
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return s.start(nameNginx, nil, false, bin, "-p", s.dir, "-c", path, "-e", filepath.Join(s.dir, "nginx-error.log"))
}

// gitCommit describes the checked-out commit, "+dirty" when the tree has changes.
func gitCommit(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty=+dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
