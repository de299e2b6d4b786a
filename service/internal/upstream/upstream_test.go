package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sony/gobreaker/v2"

	"asap/service/config"
	"asap/service/internal/upstream"
)

func adConfig(t *testing.T, upstreams string) config.Ad {
	t.Helper()
	var ups config.Upstreams
	if err := ups.Decode(upstreams); err != nil {
		t.Fatal(err)
	}
	// Timeouts generous for a busy machine (make test holds no wall-clock bound);
	// a test of a timeout sets its own short deadline against a peer that never answers.
	return config.Ad{
		Upstreams: ups, UpstreamDialTimeout: time.Minute, UpstreamTLSHandshakeTimeout: time.Minute,
		UpstreamResponseHeaderTimeout: time.Minute, UpstreamMaxIdleConnsPerHost: 4, UpstreamIdleConnTimeout: time.Minute,
		UpstreamMaxResponseBytes: 64, BreakerFailures: 2, BreakerOpenTimeout: time.Hour,
	}
}

func body(s string) *bytes.Buffer {
	b := new(bytes.Buffer)
	b.WriteString(s)
	return b
}

func TestClientDo(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		timeout    time.Duration
		wantStatus int
		wantErr    error
		wantBody   string
		wantState  gobreaker.State // after two calls
	}{
		{name: "200", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"id":"r"}`)) },
			wantStatus: 200, wantBody: `{"id":"r"}`, wantState: gobreaker.StateClosed},
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) },
			wantStatus: 204, wantState: gobreaker.StateClosed},
		{name: "400 is not a breaker failure", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(400) },
			wantStatus: 400, wantErr: upstream.ErrStatus, wantState: gobreaker.StateClosed},
		{name: "503 is a breaker failure", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) },
			wantStatus: 503, wantErr: upstream.ErrStatus, wantState: gobreaker.StateOpen},
		{name: "too large", handler: func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 65)) },
			wantStatus: 200, wantErr: upstream.ErrTooLarge, wantState: gobreaker.StateClosed},
		{name: "exactly the limit", handler: func(w http.ResponseWriter, r *http.Request) { w.Write(bytes.Repeat([]byte("x"), 64)) },
			wantStatus: 200, wantBody: strings.Repeat("x", 64), wantState: gobreaker.StateClosed},
		{name: "redirect not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusTemporaryRedirect)
		}, wantStatus: 307, wantErr: upstream.ErrStatus, wantState: gobreaker.StateClosed},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); <-r.Context().Done() },
			timeout: 200 * time.Millisecond, wantErr: upstream.ErrTimeout, wantState: gobreaker.StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			set, err := upstream.NewSet(adConfig(t, "primary="+srv.URL), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer set.CloseIdleConnections()
			c, ok := set.Client("primary")
			if !ok {
				t.Fatal("no client primary")
			}
			for range 2 {
				timeout := tt.timeout
				if timeout == 0 {
					timeout = time.Minute
				}
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				var dst bytes.Buffer
				status, err := c.Do(ctx, time.Time{}, body(`{"id":"x","imp":[{"id":"1"}]}`), &dst)
				cancel()
				if status != tt.wantStatus || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
					t.Fatalf("got %d, %v; want %d, %v", status, err, tt.wantStatus, tt.wantErr)
				}
				if tt.wantErr == nil && dst.String() != tt.wantBody {
					t.Errorf("got body %q; want %q", dst.String(), tt.wantBody)
				}
			}
			if got := c.Breaker(); got != tt.wantState {
				t.Errorf("breaker %s; want %s", got, tt.wantState)
			}
		})
	}
}

func TestClientSendsOpenRTBHeadersAndBody(t *testing.T) {
	var gotVersion, gotType, gotBody, gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotVersion, gotType, gotMethod = r.Header.Get("X-Openrtb-Version"), r.Header.Get("Content-Type"), r.Method
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		gotBody = b.String()
		w.WriteHeader(204)
	}))
	defer srv.Close()
	set, err := upstream.NewSet(adConfig(t, "primary="+srv.URL+"/openrtb2/auction"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Client("primary")
	if _, err := c.Do(context.Background(), time.Time{}, body(`{"id":"x"}`), new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	if gotVersion != "2.6" || gotType != "application/json" || gotBody != `{"id":"x"}` || gotMethod != "POST" {
		t.Errorf("got %s %q %q %q; want POST 2.6 application/json {\"id\":\"x\"}", gotMethod, gotVersion, gotType, gotBody)
	}
	if _, ok := set.Client("other"); ok {
		t.Errorf("Client(other) found; want only configured upstreams")
	}
}

// TestBreakerCountsOnlyTheUpstreamsTimeouts: a bid request whose deadline was spent
// inside ASAP (here: before the call, waiting in ASAP's queues) is a timeout under
// a reason of its own, local_timeout, and never counts against the breaker,
// however many there are; one the upstream let time out, written at once and
// never answered, does.
func TestBreakerCountsOnlyTheUpstreamsTimeouts(t *testing.T) {
	var calls atomic.Int64
	hold := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		select { // the upstream lets it time out
		case <-r.Context().Done():
		case <-hold:
		}
	}))
	defer srv.Close()
	defer close(hold)
	reg := prometheus.NewRegistry()
	set, err := upstream.NewSet(adConfig(t, "primary="+srv.URL), reg) // BreakerFailures: 2
	if err != nil {
		t.Fatal(err)
	}
	defer set.CloseIdleConnections()
	c, _ := set.Client("primary")

	spent, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	for range 5 {
		_, err := c.Do(spent, time.Time{}, body("{}"), new(bytes.Buffer))
		if !errors.Is(err, upstream.ErrTimeout) || !errors.Is(err, upstream.ErrLocalTimeout) {
			t.Fatalf("deadline spent before the call: %v; want ErrTimeout and ErrLocalTimeout", err)
		}
	}
	if got := c.Breaker(); got != gobreaker.StateClosed {
		t.Errorf("breaker %s after 5 timeouts inside ASAP; want closed", got)
	}
	if got := counterOf(t, reg, "asap_upstream_errors_total", "reason", "local_timeout"); got != 5 {
		t.Errorf(`asap_upstream_errors_total{reason="local_timeout"} = %v; want 5`, got)
	}
	if got := calls.Load(); got != 0 {
		t.Errorf("upstream called %d times; want 0: the deadline had passed", got)
	}

	// The ad request's budget mostly spent inside ASAP before the call (began an
	// hour before a deadline moments away): the upstream lets the request time
	// out, but was given less than half of the budget, so the timeout is ASAP's
	// own (whether the request was written in time or not).
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err := c.Do(ctx, time.Now().Add(-time.Hour), body("{}"), new(bytes.Buffer))
		cancel()
		if !errors.Is(err, upstream.ErrTimeout) || !errors.Is(err, upstream.ErrLocalTimeout) {
			t.Fatalf("budget spent before the call, then the upstream silent: %v; want ErrTimeout and ErrLocalTimeout", err)
		}
	}
	if got := c.Breaker(); got != gobreaker.StateClosed {
		t.Errorf("breaker %s after 3 timeouts with the budget spent inside ASAP; want closed", got)
	}

	// Generous deadlines (make test holds no wall-clock bound): each request is
	// written at once, and the upstream never answers it.
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Do(ctx, time.Time{}, body("{}"), new(bytes.Buffer))
		cancel()
		if !errors.Is(err, upstream.ErrTimeout) || errors.Is(err, upstream.ErrLocalTimeout) {
			t.Fatalf("upstream never answering: %v; want ErrTimeout, not ErrLocalTimeout", err)
		}
	}
	if got := c.Breaker(); got != gobreaker.StateOpen {
		t.Errorf("breaker %s after the upstream let 2 requests time out (BreakerFailures 2); want open", got)
	}
	if got := counterOf(t, reg, "asap_upstream_timeouts_total", "upstream", "primary"); got != 2 {
		t.Errorf("asap_upstream_timeouts_total = %v; want 2", got)
	}
}

// An open breaker answers at once without calling the upstream.
func TestClientOpenBreakerDoesNotCall(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	set, err := upstream.NewSet(adConfig(t, "primary="+srv.URL), reg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := set.Client("primary")
	for range 5 {
		c.Do(context.Background(), time.Time{}, body("{}"), new(bytes.Buffer))
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("upstream called %d times; want 2 (BreakerFailures), then not while open", got)
	}
	_, err = c.Do(context.Background(), time.Time{}, body("{}"), new(bytes.Buffer))
	if !errors.Is(err, upstream.ErrOpen) {
		t.Errorf("got %v; want ErrOpen", err)
	}
	if got := testutil.ToFloat64(mustCollector(t, reg, "asap_upstream_breaker_state")); got != 2 {
		t.Errorf("breaker gauge %v; want 2", got)
	}
}

func mustCollector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	return gathererCollector{reg: reg, name: name}
}

// gathererCollector re-exposes one family of a registry, for testutil.ToFloat64.
type gathererCollector struct {
	reg  *prometheus.Registry
	name string
}

func (g gathererCollector) Describe(chan<- *prometheus.Desc) {}
func (g gathererCollector) Collect(ch chan<- prometheus.Metric) {
	fams, _ := g.reg.Gather()
	for _, f := range fams {
		if f.GetName() == g.name {
			for _, m := range f.GetMetric() {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
			}
		}
	}
}
