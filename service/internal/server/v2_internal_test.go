package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/server/servertest"
)

// v2Answer mirrors the GET /v2 answer for encoding/json.
type v2Answer struct {
	MRID                  string      `json:"mrid"`
	PKey                  string      `json:"pkey"`
	AdServer              string      `json:"adServer"`
	KeyType               string      `json:"keyType"`
	KeyValue              string      `json:"keyValue"`
	Status                string      `json:"status"`
	ArticlesBeforeFirstAd int         `json:"articlesBeforeFirstAd"`
	ArticlesBetweenAds    int         `json:"articlesBetweenAds"`
	MediationNetworks     []v2Network `json:"mediationNetworks"`
	ExperimentID          string      `json:"experimentId,omitempty"`
}

type v2Network struct {
	Key              string          `json:"key"`
	Name             string          `json:"name"`
	AndroidClassName string          `json:"androidClassName"`
	IOSClassName     string          `json:"iosClassName"`
	Parameters       json.RawMessage `json:"parameters"`
}

func marshalV2(mrid uuid.UUID, p *placement.Placement, keyType, keyValue, experimentID string) string {
	a := v2Answer{
		MRID: mrid.String(), PKey: p.PKey, AdServer: p.AdServer, KeyType: keyType, KeyValue: keyValue,
		Status: p.Status, ArticlesBeforeFirstAd: p.ArticlesBeforeFirstAd, ArticlesBetweenAds: p.ArticlesBetweenAds,
		MediationNetworks: []v2Network{}, ExperimentID: experimentID,
	}
	for _, n := range p.MediationNetworks {
		params := n.Parameters
		if len(params) == 0 || params[0] != '{' || !json.Valid(params) {
			params = json.RawMessage("{}")
		}
		a.MediationNetworks = append(a.MediationNetworks, v2Network{n.Key, n.Name, n.AndroidClassName, n.IOSClassName, params})
	}
	// The answer's strings follow jsonstr's rule: encoding/json's without HTML
	// escaping.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		panic(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestAppendV2MatchesEncodingJSON(t *testing.T) {
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		t.Fatal(err)
	}
	tricky := placement.Placement{
		PKey: "tricky", Status: "PAUSED \"now\"", AdServer: "<DFP> & co\n\t\\", ArticlesBeforeFirstAd: -1, ArticlesBetweenAds: 1 << 40,
		MediationNetworks: []placement.MediationNetwork{
			{Key: "ké", Name: "名前", AndroidClassName: "\u2028\u2029", IOSClassName: "bad \xff utf8", Parameters: json.RawMessage(`{"a": [1, 2], "b": "<x>"}`)},
			{Key: "null params", Parameters: json.RawMessage(`null`)},
			{Key: "array params", Parameters: json.RawMessage(`[1]`)},
			{Key: "broken params", Parameters: json.RawMessage(`{"a":`)},
			{Key: "no params"},
		},
	}
	list = append(list, tricky, placement.Placement{PKey: "empty"})
	exp := experimentPlacement()
	list = append(list, *exp.ForArm(0))
	ids := map[string]string{"tricky": "an \"arm\" <id>", exp.PKey: exp.Experiments[0].ID}
	mrid := uuid.New()
	for _, p := range list {
		t.Run(p.PKey, func(t *testing.T) {
			keyType, keyValue := p.KeyFor(placement.Target{CustomKey: placement.CustomKeys(map[string]string{"section": "sports"}), OS: "iOS"})
			id := ids[p.PKey]
			got := string(appendV2(nil, mrid, &p, keyType, keyValue, id))
			if !json.Valid([]byte(got)) {
				t.Fatalf("appendV2 wrote invalid JSON:\n%s", got)
			}
			// Compare after a round trip, as raw parameters keep their spacing.
			var g, w any
			json.Unmarshal([]byte(got), &g)
			json.Unmarshal([]byte(marshalV2(mrid, &p, keyType, keyValue, id)), &w)
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if string(gb) != string(wb) {
				t.Errorf("appendV2 =\n%s\nwant\n%s", gb, wb)
			}
		})
	}
}

// TestV2QueryCustomKeys: the pairs held in the query and those past them are found
// alike, and a repeat is caught on either side.
func TestV2QueryCustomKeys(t *testing.T) {
	raw := "pkey=demo-feed"
	for i := range inlineCustomKeys + 3 {
		raw += fmt.Sprintf("&customKeys[k%d]=v%d", i, i)
	}
	q, err := parseV2Query(raw + "&customKeys[k0]=v0&customKeys[k6]=v6")
	if err != nil {
		t.Fatalf("parseV2Query: %v", err)
	}
	for i := range inlineCustomKeys + 3 {
		name, want := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
		if got, ok := q.customKey(name); !ok || got != want {
			t.Errorf("customKey(%q) = %q, %v; want %q, true", name, got, ok, want)
		}
	}
	if got, ok := q.customKey("k99"); ok {
		t.Errorf("customKey(k99) = %q, true; want none", got)
	}
	for _, repeat := range []string{"&customKeys[k1]=other", "&customKeys[k6]=other"} {
		if _, err := parseV2Query(raw + repeat); err == nil || !strings.Contains(err.Error(), "given twice") {
			t.Errorf("parseV2Query(...%s) = %v; want a repeated-parameter error", repeat, err)
		}
	}
}

// FuzzV2Query sends arbitrary raw queries through the whole server: never a 5xx,
// never a panic, always a JSON answer with a status.
func FuzzV2Query(f *testing.F) {
	for _, q := range []string{
		"pkey=demo-feed", "pkey=demo-paused", "pkey=nope", "", "pkey=", "pkey=%", "pkey=demo-feed&pkey=x",
		"pkey=demo-feed&customKeys[section]=sports", "pkey=demo-feed&customKeys%5Bsection%5D=sports",
		"pkey=demo-feed&customKeys[]=x", "pkey=demo-feed&customKeys=1", "customKeys[a]=%zz&pkey=demo-feed",
		"pkey=demo-feed&pubAppName=a+b&pubAppVersion=%E2%82%AC", "&&&=&=", "pkey=demo-feed;x=1", "pkey=%00",
		"pkey=exp&uid=6D92078A-8246-4BA4-AE5B-76104861E7DC&os=ios&pubAppVersion=5.2.1", "pkey=exp&uid=&uid=a", "pkey=exp&os=%ZZ",
	} {
		f.Add(q)
	}
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		f.Fatal(err)
	}
	getter := mapGetter{"exp": experimentPlacement()}
	for i := range list {
		getter[list[i].PKey] = &list[i]
	}
	s, err := New(Deps{
		Config: config.Config{
			Limits: config.Limits{MaxInFlight: 4, MaxQueued: 4, QueueTimeout: 1e9, RetryAfter: 1e9},
			Server: config.Server{MaxBodyBytes: 1024},
		},
		Placements: getter,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest(http.MethodGet, "/v2", nil)
		req.URL.RawQuery = raw
		rec := httptest.NewRecorder()
		servertest.Contract(t, s).ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET /v2?%s = %d\n%s", raw, rec.Code, rec.Body)
		}
		var body struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Status == "" {
			t.Fatalf("GET /v2?%s = %d with a body that is not a JSON answer (%v):\n%s", raw, rec.Code, err, rec.Body)
		}
		if rec.Code != 200 && (body.Status == "OK" || body.Error == "") {
			t.Fatalf("GET /v2?%s = %d with status %q, error %q; want a non-OK status and a message", raw, rec.Code, body.Status, body.Error)
		}
	})
}

type mapGetter map[string]*placement.Placement

func (m mapGetter) Get(_ context.Context, pkey string) (*placement.Placement, error) {
	if p, ok := m[pkey]; ok {
		return p, nil
	}
	return nil, placement.ErrNotFound
}

func TestIPExtractor(t *testing.T) {
	extract, err := ipExtractor([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		remote string
		xff    string
		want   string
	}{
		{"load balancer forwards the client", "10.1.2.3:5000", "203.0.113.7", "203.0.113.7"},
		{"client spoofs a hop before the load balancer", "10.1.2.3:5000", "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"direct client is not trusted", "203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},
		{"private but untrusted peer", "192.168.1.5:5000", "1.2.3.4", "192.168.1.5"},
		{"loopback is not trusted unless configured", "127.0.0.1:5000", "1.2.3.4", "127.0.0.1"},
		{"no header", "10.1.2.3:5000", "", "10.1.2.3"},
		{"garbage header", "10.1.2.3:5000", "not-an-ip", "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/v2", nil)
			req.RemoteAddr = tt.remote
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := extract(req); got != tt.want {
				t.Errorf("client IP = %q; want %q", got, tt.want)
			}
		})
	}
	if _, err := ipExtractor([]string{"nope"}); err == nil {
		t.Error("ipExtractor accepted a CIDR that is not one")
	}
}

// BenchmarkV2CacheHit is GET /v2 through the whole chain, the placement cached,
// with every request logged (as locally) and with production's sampled access log.
func BenchmarkV2CacheHit(b *testing.B) {
	var list []placement.Placement
	if err := json.Unmarshal(samples.JSON, &list); err != nil {
		b.Fatal(err)
	}
	getter := mapGetter{}
	for i := range list {
		getter[list[i].PKey] = &list[i]
	}
	for _, bb := range []struct {
		name   string
		sample float64
	}{{"log=every", 1}, {"log=0.01", 0.01}} {
		b.Run(bb.name, func(b *testing.B) {
			s, err := New(Deps{
				Config: config.Config{
					AccessLog:       true,
					AccessLogSample: bb.sample,
					AccessLogSlow:   250 * time.Millisecond,
					Limits:          config.Limits{MaxInFlight: 64, MaxQueued: 64, QueueTimeout: 1e9, RetryAfter: 1e9},
					Server:          config.Server{MaxBodyBytes: 1024},
				},
				Placements: getter,
				Logger:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
				AccessLog:  io.Discard, // as the app wires it for JSON logs
			})
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/v2?pkey=demo-feed&customKeys[section]=sports", nil)
			benchServe(b, s, req)
		})
	}
}

// BenchmarkV2Experiment is GET /v2 of a placement with experiments: the arm
// drawn from the uid, or from the mrid without one, and counted.
func BenchmarkV2Experiment(b *testing.B) {
	getter := mapGetter{"exp": experimentPlacement()}
	s, err := New(Deps{
		Config:     config.Config{Limits: config.Limits{MaxInFlight: 64, MaxQueued: 64, QueueTimeout: 1e9, RetryAfter: 1e9}},
		Placements: getter,
		Registry:   prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{"uid=6D92078A-8246-4BA4-AE5B-76104861E7DC", "no-uid"} {
		b.Run(q, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/v2?pkey=exp&pubAppVersion=5.2.1&os=android&"+q, nil)
			benchServe(b, s, req)
		})
	}
}

// benchServe serves req through s b.N times, each answered 200.
func benchServe(b *testing.B, s *Server, req *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("code %d", rec.Code)
		}
	}
}

// BenchmarkBareEcho is the floor BenchmarkV2CacheHit compares with: a bare Echo
// handler answering the same bytes.
func BenchmarkBareEcho(b *testing.B) {
	e := echo.New()
	body := []byte(`{"mrid":"e2a65610-ee45-47a1-8850-c26db508b607","pkey":"demo-feed","adServer":"DFP","keyType":"campaign_key","keyValue":"cmp-9","status":"OK","articlesBeforeFirstAd":2,"articlesBetweenAds":5,"mediationNetworks":[]}`)
	e.GET("/v2", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) })
	req := httptest.NewRequest(http.MethodGet, "/v2?pkey=demo-feed&customKeys[section]=sports", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
	}
}
