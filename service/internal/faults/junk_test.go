package faults

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"asap/service/internal/testwait"
)

// adParams are the query parameters of GET /v2/ad; v2Params those of GET /v2.
var (
	v2Params = []string{"pkey", "pubAppName", "pubAppVersion", "customKeys[section]", "customKeys[", "customKeys"}
	adParams = []string{"pkey", "uid", "appId", "appName", "appVersion", "creative_key", "campaign_key", "w", "h",
		"os", "osv", "make", "model", "gdpr", "gdpr_consent", "us_privacy", "gpp", "gpp_sid", "coppa", "lmt"}
	// badValues are raw (already percent-encoded or not) query values.
	badValues = []string{
		"%", "%z", "%zz", "%e2%82", "%ff%fe", "%c0%af", "%ed%a0%80", "%00", "%0d%0a", "+%+", "%25%", "\xff\xfe", "\xc3\x28",
		"-1", "99999999999999999999999", "1e309", "NaN", "0x10", "%F0%9F%98%80", strings.Repeat("a", 5000),
		"%22%3E%3Cscript%3E", "..%2F..%2Fetc%2Fpasswd", "demo-feed%00", "demo-feed&pkey=demo-article",
	}
)

// junkRequests returns raw HTTP/1.1 requests that no SDK sends.
func junkRequests() [][]byte {
	var reqs [][]byte
	get := func(target string, headers ...string) []byte {
		return fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: asap\r\n%sConnection: close\r\n\r\n", target, strings.Join(headers, ""))
	}
	for _, route := range []struct {
		path   string
		params []string
	}{{"/v2", v2Params}, {"/v2/ad", adParams}} {
		for _, p := range route.params {
			for _, v := range badValues {
				q := "pkey=demo-feed&" + p + "=" + v
				if p == "pkey" {
					q = "pkey=" + v
				}
				reqs = append(reqs, get(route.path+"?"+q))
			}
			reqs = append(reqs, get(route.path+"?pkey=demo-feed&"+p+"%ff="+"x"), get(route.path+"?pkey=demo-feed&%zz"+p+"=x"))
		}
		// Oversized query strings: past the header limit, and just under it.
		reqs = append(reqs,
			get(route.path+"?pkey=demo-feed&junk="+strings.Repeat("x", 64*1024)),
			get(route.path+"?pkey=demo-feed&junk="+strings.Repeat("x", 15*1024)),
			get(route.path+"?"+strings.Repeat("customKeys[k]=v&", 900)+"pkey=demo-feed"),
			get(route.path+"?"+strings.Repeat("pkey=demo-feed&", 1000)),
			get(route.path+"?"+strings.Repeat("&", 10000)),
		)
		// Oversized and odd headers.
		var many strings.Builder
		for i := range 200 {
			fmt.Fprintf(&many, "X-Junk-%d: %s\r\n", i, strings.Repeat("j", 200))
		}
		reqs = append(reqs,
			get(route.path+"?pkey=demo-feed", many.String()),
			get(route.path+"?pkey=demo-feed", "User-Agent: "+strings.Repeat("\xff", 8000)+"\r\n"),
			get(route.path+"?pkey=demo-feed", "X-Forwarded-For: 999.1.1.1, ::::, <script>, "+strings.Repeat("1.", 2000)+"\r\n"),
			get(route.path+"?pkey=demo-feed", "X-Forwarded-For: \xff\xfe\r\n", "X-Request-Id: \x01\x02\r\n"),
			get(route.path+"?pkey=demo-feed", "Content-Type: application/json\r\n", "Accept: */*;q=\xff\r\n"),
		)
		// Bodies on GET: small, over the limit, chunked over the limit, lying lengths.
		reqs = append(reqs,
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789", route.path),
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", route.path, 1<<20, bytes.Repeat([]byte("b"), 1<<20)),
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", route.path, 200000, bytes.Repeat([]byte("c"), 200000)),
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: 100\r\nConnection: close\r\n\r\nshort", route.path),
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: -1\r\nConnection: close\r\n\r\n", route.path),
			fmt.Appendf(nil, "GET %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n", route.path),
		)
		// Unknown and unexpected methods.
		for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "HEAD", "BREW", "get", "G\x00ET", strings.Repeat("M", 300)} {
			reqs = append(reqs, fmt.Appendf(nil, "%s %s?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", m, route.path))
		}
	}
	// Paths, versions and framing.
	for _, line := range []string{
		"GET //v2?pkey=demo-feed HTTP/1.1", "GET /v2/../v2?pkey=demo-feed HTTP/1.1", "GET /v2%00?pkey=demo-feed HTTP/1.1",
		"GET /" + strings.Repeat("p", 10000) + " HTTP/1.1", "GET http://evil.example/v2?pkey=demo-feed HTTP/1.1",
		"GET * HTTP/1.1", "GET /v2?pkey=demo-feed HTTP/0.9", "GET /v2?pkey=demo-feed HTTP/2.0", "GET /v2?pkey=demo-feed HTTP/9.9",
		"GET /v2?pkey=demo-feed", "GET", "", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "PRI * HTTP/2.0\r\n\r\nSM",
	} {
		reqs = append(reqs, []byte(line+"\r\nHost: asap\r\nConnection: close\r\n\r\n"))
	}
	reqs = append(reqs, []byte("GET /v2?pkey=demo-feed HTTP/1.1\r\nConnection: close\r\n\r\n")) // no Host
	return reqs
}

// badVersion matches a request line with an HTTP version net/http does not serve.
var badVersion = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/(0\.9|2\.0|9\.9)\r\n`)

// randomJunk returns n random byte strings shaped loosely like requests.
func randomJunk(r *rand.Rand, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		var b []byte
		switch r.IntN(3) {
		case 0: // pure garbage
			b = make([]byte, 1+r.IntN(4096))
			for j := range b {
				b[j] = byte(r.UintN(256))
			}
		case 1: // a request line with a garbage query
			q := make([]byte, r.IntN(2048))
			for j := range q {
				q[j] = byte(0x21 + r.UintN(0x5e))
			}
			path := []string{"/v2", "/v2/ad"}[r.IntN(2)]
			b = fmt.Appendf(nil, "GET %s?%s HTTP/1.1\r\nHost: asap\r\nConnection: close\r\n\r\n", path, q)
		default: // a valid request with garbage headers
			h := make([]byte, r.IntN(1024))
			for j := range h {
				h[j] = byte(r.UintN(256))
			}
			b = fmt.Appendf(nil, "GET /v2?pkey=demo-feed HTTP/1.1\r\nHost: asap\r\nX-J: %s\r\nConnection: close\r\n\r\n", h)
		}
		out[i] = b
	}
	return out
}

// exchange sends raw on a new connection and returns the status of the answer, or
// 0 when the server closed the connection without one.
func exchange(addr string, raw []byte) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go c.Write(raw) // the server may answer (and close) before reading it all
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "connection reset") {
			return 0, nil
		}
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	return res.StatusCode, nil
}

// TestJunk is scenario 6: oversized query strings and headers, bodies on GET,
// binary garbage, invalid UTF-8 and percent-encoding in every parameter, unknown
// methods. ASAP never answers 5xx, never crashes, and its memory stays bounded;
// real requests are served throughout.
func TestJunk(t *testing.T) {
	var (
		random  = pick(300, 5000)
		workers = 8
	)
	rdb := startRedis(t)
	up := startAdserver(t, "-latency", "5ms", "-jitter", "2ms")
	srv := startASAP(t, map[string]string{"ASAP_REDIS_URL": rdb.URL(), "ASAP_UPSTREAMS": "primary=" + up.auction})
	addr := strings.TrimPrefix(srv.base, "http://")
	reqs := append(junkRequests(), randomJunk(rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano()))), random)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := newClient(4)
	// No keep-alive: a connection the client dials but does not use would join its
	// idle pool after the run and pass for one the junk left open.
	client.Transport.(*http.Transport).DisableKeepAlives = true
	real := make(chan *loadRun)
	go func() {
		real <- openLoop(ctx, client, 50, time.Hour, 4, func(int) string { return srv.base + "/v2?pkey=demo-feed" }, checkWarm)
	}()

	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		bad      []string
		versions int
	)
	// send sends every junk request from a pool of workers, each on a new connection.
	send := func() time.Duration {
		start := time.Now()
		next := make(chan []byte)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for raw := range next {
					code, err := exchange(addr, raw)
					mu.Lock()
					statuses[code]++
					if code == http.StatusHTTPVersionNotSupported && badVersion.Match(raw) {
						// net/http's own answer to HTTP/0.9, HTTP/2.0 or HTTP/9.9 in the
						// request line, before ASAP's handler runs: the status RFC 9110
						// asks for, and one the load balancer never forwards.
						versions++
					} else if (err != nil || code >= 500) && len(bad) < 10 {
						bad = append(bad, fmt.Sprintf("%d %v after %.120q", code, err, raw))
					}
					mu.Unlock()
				}
			})
		}
		for _, r := range reqs {
			next <- r
		}
		close(next)
		wg.Wait()
		return time.Since(start)
	}
	// Two rounds of the same junk: the first fills the connection pools (to the
	// upstream, for win notices, to Redis); a leak grows again in the second.
	in0 := srv.inbound(srv.sockets(t))
	took := send()
	time.Sleep(500 * time.Millisecond)
	g1, f1 := srv.goroutines(t), srv.fds(t)
	took += send()
	cancel()
	realStats := summarize((<-real).all())
	client.CloseIdleConnections()
	g2, f2 := srv.settle(t, g1, f1, 5)
	var socks map[string]int
	testwait.For(t, "the server to see the junk connections' closes", func() bool {
		socks = srv.sockets(t)
		return srv.inbound(socks) <= in0
	})
	rss, peak := srv.memory(t)
	t.Logf("%d junk requests, twice, in %s: statuses %v (0: closed without an answer)", len(reqs), took.Round(time.Millisecond), statuses)
	t.Logf("real requests meanwhile: %s", realStats)
	t.Logf("memory: RSS %.0f MiB, peak %.0f MiB; goroutines %d after the first round, %d after the second; open files %d, %d; sockets %v",
		rss, peak, g1, g2, f1, f2, socks)

	if srv.exited() {
		t.Fatalf("asap exited: %v", srv.err)
	}
	for _, b := range bad {
		t.Errorf("junk answered badly: %s", b)
	}
	for code, n := range statuses {
		if code == http.StatusHTTPVersionNotSupported {
			n -= versions
		}
		if code >= 500 && n > 0 {
			t.Errorf("%d junk requests got %d", n, code)
		}
	}
	if realStats.failures > 0 {
		t.Errorf("real requests failed meanwhile: %s", realStats)
	}
	if peak > 200 {
		t.Errorf("peak RSS %.0f MiB, want under 200 MiB", peak)
	}
	if g2 > g1+5 || f2 > f1+5 {
		t.Errorf("leak: goroutines %d → %d, open files %d → %d over the second round", g1, g2, f1, f2)
	}
	if in := srv.inbound(socks); in > in0 {
		t.Errorf("%d client connections still open after the junk, %d before", in, in0)
	}
	for _, line := range srv.output() {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "panic") {
			t.Errorf("asap logged: %s", line)
		}
	}
}

// inbound counts the connections accepted on the public port in a sockets count
// (the admin port holds the test's own /metrics connection).
func (a *asap) inbound(socks map[string]int) int {
	return socks["in:"+a.base[strings.LastIndexByte(a.base, ':')+1:]]
}
