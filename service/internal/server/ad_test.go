package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/ad"
	"asap/service/internal/demoad"
	"asap/service/internal/openrtb"
	"asap/service/internal/placement"
	"asap/service/internal/server"
	"asap/service/internal/server/servertest"
	"asap/service/internal/upstream"
)

// adServer is the public server with GET /v2/ad wired to a demo ad server.
type adServer struct {
	srv        *server.Server
	demo       *demoad.Server
	placements *servertest.Placements
	reg        *prometheus.Registry
}

func newAdServer(t *testing.T, opts demoad.Options) *adServer {
	t.Helper()
	demo := demoad.New(opts)
	s := newAdServerWith(t, demo.Handler(), nil)
	s.demo = demo
	return s
}

// newAdServerWith is the public server with GET /v2/ad wired to upstream
// "primary" served by handler; tweak, when set, changes the configuration.
func newAdServerWith(t *testing.T, handler http.Handler, tweak func(*config.Config)) *adServer {
	t.Helper()
	up := httptest.NewServer(handler)
	t.Cleanup(up.Close)
	cfg := testConfig()
	if err := cfg.Ad.Upstreams.Decode("primary=" + up.URL + "/openrtb2/auction"); err != nil {
		t.Fatal(err)
	}
	cfg.Ad.DefaultTmax, cfg.Ad.MaxTmax = 200*time.Millisecond, time.Second
	cfg.Ad.UpstreamDialTimeout, cfg.Ad.UpstreamTLSHandshakeTimeout = 100*time.Millisecond, 100*time.Millisecond
	cfg.Ad.UpstreamResponseHeaderTimeout, cfg.Ad.UpstreamIdleConnTimeout = time.Second, time.Minute
	cfg.Ad.UpstreamMaxIdleConnsPerHost, cfg.Ad.UpstreamMaxResponseBytes = 4, 1<<20
	cfg.Ad.BreakerFailures, cfg.Ad.BreakerOpenTimeout = 5, time.Second
	reg := prometheus.NewRegistry()
	ups, err := upstream.NewSet(cfg.Ad, reg)
	if err != nil {
		t.Fatal(err)
	}
	notices, err := upstream.NewNotifier(upstream.NotifierOptions{Concurrency: 2, Queue: 8, Timeout: time.Second}, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notices.Close(context.Background()); ups.CloseIdleConnections() })
	if tweak != nil {
		tweak(&cfg)
	}
	placements := servertest.Samples(t)
	svc, err := ad.New(ad.Deps{Config: cfg.Ad, Placements: placements, Upstreams: ups, Notifier: notices, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Deps{Config: cfg, Placements: placements, Registry: reg, Ad: svc})
	if err != nil {
		t.Fatal(err)
	}
	return &adServer{srv: srv, placements: placements, reg: reg}
}

func (s *adServer) get(t *testing.T, target, remoteAddr, xff string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remoteAddr
	req.Header.Set("User-Agent", "Mozilla/5.0 (Linux; Android 14)")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	servertest.Contract(t, s.srv).ServeHTTP(rec, req)
	return rec
}

func TestAdAnswers(t *testing.T) {
	s := newAdServer(t, demoad.Options{})
	tests := []struct {
		name       string
		target     string
		wantStatus int
		wantInBody string
	}{
		{"fill", "/v2/ad?pkey=demo-feed&uid=ifa-1&w=300&h=250", http.StatusOK, `"creatives":[{"auctionWinId":"bid-`},
		{"paused", "/v2/ad?pkey=demo-paused", http.StatusNoContent, ""},
		{"unknown", "/v2/ad?pkey=nope", http.StatusNotFound, `"status":"NOT_FOUND"`},
		{"missing pkey", "/v2/ad", http.StatusBadRequest, `pkey`},
		{"bad flag", "/v2/ad?pkey=demo-feed&lmt=yes", http.StatusBadRequest, `"error":"lmt: must be 0 or 1"`},
		{"bad size", "/v2/ad?pkey=demo-feed&w=300&h=big", http.StatusBadRequest, `"error":"h: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.get(t, tt.target, "192.0.2.1:1234", "")
			if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantInBody) {
				t.Errorf("got %d %s; want %d containing %q", rec.Code, rec.Body, tt.wantStatus, tt.wantInBody)
			}
			if tt.wantStatus == http.StatusNoContent && rec.Body.Len() != 0 {
				t.Errorf("204 with a body %q", rec.Body)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", got)
			}
		})
	}
}

func TestAdStoreDown(t *testing.T) {
	s := newAdServer(t, demoad.Options{})
	s.placements.Fail(fmt.Errorf("redis: %w", placement.ErrUnavailable))
	rec := s.get(t, "/v2/ad?pkey=demo-feed", "192.0.2.1:1234", "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("got %d (Retry-After %q); want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := s.demo.Stats().Requests; got != 0 {
		t.Errorf("upstream called %d times; want 0", got)
	}
}

// The device IP is the client's from X-Forwarded-For only when the load balancer
// (a trusted proxy, 10.0.0.0/8 here) relays it; lmt=1 truncates it.
func TestAdClientIP(t *testing.T) {
	tests := []struct {
		name, remote, xff, query, wantIP string
	}{
		{"through the load balancer", "10.1.2.3:5555", "198.51.100.7", "", "198.51.100.7"},
		{"spoofed header from the internet", "203.0.113.9:5555", "198.51.100.7", "", "203.0.113.9"},
		{"lmt truncates", "10.1.2.3:5555", "198.51.100.7", "&lmt=1&uid=ifa-1", "198.51.100.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newAdServer(t, demoad.Options{})
			if rec := s.get(t, "/v2/ad?pkey=demo-article"+tt.query, tt.remote, tt.xff); rec.Code != http.StatusOK {
				t.Fatalf("got %d %s; want 200", rec.Code, rec.Body)
			}
			var req openrtb.BidRequest
			if err := json.Unmarshal(s.demo.LastRequest(), &req); err != nil {
				t.Fatal(err)
			}
			if req.Device.IP != tt.wantIP || req.Device.UA != "Mozilla/5.0 (Linux; Android 14)" {
				t.Errorf("device ip %q ua %q; want %q", req.Device.IP, req.Device.UA, tt.wantIP)
			}
			if strings.Contains(tt.query, "lmt=1") && req.Device.IFA != "" {
				t.Errorf("ifa %q sent with lmt=1", req.Device.IFA)
			}
		})
	}
}

// One voice for bad input: /v2 and /v2/ad word each rule the same way, apply
// one rule for control characters, and write messages as they read (no
// HTML escaping of < and >).
func TestBadInputOneVoice(t *testing.T) {
	s := newAdServer(t, demoad.Options{})
	for _, tt := range []struct {
		name, query, want string
	}{
		{"malformed pkey", "pkey=demo%20feed", "pkey: must match [A-Za-z0-9_-]{1,64}"},
		{"missing pkey", "uid=x", "pkey: required: the placement key"},
		{"malformed encoding", "pkey=%zz", "pkey: malformed percent-encoding"},
		{"pkey twice", "pkey=a&pkey=b", "pkey: given twice with different values"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v2?", "/v2/ad?"} {
				rec := s.get(t, path+tt.query, "192.0.2.1:1234", "")
				var body struct{ Status, Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusBadRequest {
					t.Fatalf("%s%s: %d %s", path, tt.query, rec.Code, rec.Body.Bytes())
				}
				if body.Error != tt.want {
					t.Errorf("%s%s: error %q; want %q", path, tt.query, body.Error, tt.want)
				}
			}
		})
	}
	for _, tt := range []struct{ path, want string }{
		{"/v2?pkey=demo-feed&customKeys[section]=a%0Ab", "customKeys[section]: holds a control character"},
		{"/v2/ad?pkey=demo-feed&model=a%0Ab", "model: holds a control character"},
		{"/v2?pkey=demo-feed&pubAppName=a%C2%85b", "pubAppName: holds a control character"},
		{"/v2/ad?pkey=demo-feed&appName=a%C2%85b", "appName: holds a control character"},
		{"/v2?pkey=demo-feed&customKeys[section]=%FF", "customKeys[section]: not valid UTF-8"},
		{"/v2/ad?pkey=demo-feed&appName=%FF", "appName: not valid UTF-8"},
		{"/v2?pkey=demo-feed&customKeys=x", "customKeys: want customKeys[<name>]=<value>"},
	} {
		rec := s.get(t, tt.path, "192.0.2.1:1234", "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error":"`+tt.want+`"`) {
			t.Errorf("%s: %d %s; want 400 with %q, as written", tt.path, rec.Code, rec.Body.Bytes(), tt.want)
		}
	}
}
