//go:build unix

package h1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTransport posts a bid request of the usual size to one local upstream
// through Transport and through net/http's Transport tuned as an upstream client
// would be (no compression, no proxy, a pool as large as ASAP's), from 32
// goroutines per CPU (ASAP's requests in flight). ns/op is wall-clock time per
// exchange; cpu-ns/op is the process's CPU time (user and system, the upstream's
// included) per exchange, which other processes on a shared machine disturb less.
// docs/upstreams.md gives the figures.
func BenchmarkTransport(b *testing.B) {
	answer := []byte(`{"id":"r","seatbid":[{"seat":"s","bid":[{"id":"b","impid":"1","price":1.5,"crid":"c","adm":"` +
		strings.Repeat("m", 700) + `"}]}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer srv.Close()
	body := bytes.Repeat([]byte("q"), 1500)
	for _, c := range []struct {
		name string
		tr   http.RoundTripper
	}{
		{"h1", &Transport{MaxIdleConnsPerHost: 256, MaxIdleConns: 1024}},
		{"net-http", &http.Transport{DisableCompression: true, MaxIdleConns: 1024, MaxIdleConnsPerHost: 256}},
	} {
		b.Run(c.name, func(b *testing.B) {
			client := &http.Client{Transport: c.tr}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(32)
			cpu0 := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				dst := new(bytes.Buffer)
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					dst.Reset()
					dst.ReadFrom(resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
