package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"asap/service/config"
	"asap/service/internal/admin"
	"asap/service/internal/logtest"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/server/servertest"
	"asap/service/internal/store"
)

const (
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789ab"
)

// env is an admin API over a real Redis (a key prefix of its own), served through
// the OpenAPI contract of docs/admin-openapi.yaml, with its audit log captured.
type env struct {
	t     *testing.T
	url   string
	store *store.Store
	audit *logtest.Buffer
}

func newEnv(t *testing.T, tokens string) *env {
	t.Helper()
	client, prefix := redistest.Client(t)
	st := store.NewStore(client, prefix)
	var toks config.AdminTokens
	if err := toks.Decode(tokens); err != nil {
		t.Fatal(err)
	}
	upstreams := config.Upstreams{}
	if err := upstreams.Decode("primary=http://127.0.0.1:1/auction,exchange-b=http://127.0.0.1:1/b"); err != nil {
		t.Fatal(err)
	}
	audit := &logtest.Buffer{}
	m := admin.NewManager(st, slog.New(slog.NewJSONHandler(audit, nil)), admin.Checks(upstreams)...)
	srv := httptest.NewServer(servertest.ContractOf(t, servertest.AdminOpenAPIPath, admin.NewAPI(m, toks, nil)))
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, store: st, audit: audit}
}

// answer is one exchange's outcome.
type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, token string, body any, header ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, raw: string(data)}
	json.Unmarshal(data, &a.body)
	return a
}

func feed(keyValue string) placement.Placement {
	p := samples.Placement("demo-feed")
	p.KeyValue = keyValue
	return p
}

func TestTokens(t *testing.T) {
	e := newEnv(t, "alice:"+aliceToken+",bob:"+bobToken)
	put := feed("ck-1")
	tests := []struct {
		name     string
		auth     string // the whole Authorization header; "" sends none
		wantCode int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer " + aliceToken + "x", http.StatusUnauthorized},
		{"prefix of a token", "Bearer " + aliceToken[:10], http.StatusUnauthorized},
		{"not bearer", "Basic " + aliceToken, http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"right", "Bearer " + aliceToken, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(http.MethodPut, "/admin/placements/demo-feed", "", put, "Authorization", tt.auth)
			if a.code != tt.wantCode {
				t.Fatalf("PUT with %q = %d %s; want %d", tt.auth, a.code, a.raw, tt.wantCode)
			}
			if a.code == http.StatusUnauthorized {
				if a.header.Get("WWW-Authenticate") == "" || a.body["status"] != "UNAUTHORIZED" {
					t.Errorf("401 without WWW-Authenticate or UNAUTHORIZED: %v %s", a.header, a.raw)
				}
				if strings.Contains(a.raw, "token-0123") {
					t.Errorf("the answer shows a token: %s", a.raw)
				}
				if _, err := e.store.Current(context.Background(), "demo-feed"); err == nil {
					t.Errorf("a refused PUT wrote the placement")
				}
			}
		})
	}
	// Each token is known by its name: bob's write is bob's.
	changed := feed("ck-2")
	if a := e.do(http.MethodPut, "/admin/placements/demo-feed", bobToken, changed); a.code != http.StatusOK {
		t.Fatalf("PUT as bob = %d %s", a.code, a.raw)
	}
	if cur, _ := e.store.Current(context.Background(), "demo-feed"); cur.Who != "bob" {
		t.Errorf("version written with bob's token records who = %q", cur.Who)
	}
	// Every route is refused without a token, reads too.
	for _, r := range [][2]string{{"GET", "/admin/placements"}, {"GET", "/admin/placements/demo-feed"},
		{"GET", "/admin/placements/demo-feed/versions"}, {"DELETE", "/admin/placements/demo-feed"},
		{"POST", "/admin/placements/demo-feed/rollback"}} {
		var body any
		if r[0] == "POST" {
			body = `{"version": 1}`
		}
		if a := e.do(r[0], r[1], "wrong-token-0123456789", body); a.code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token = %d; want 401", r[0], r[1], a.code)
		}
	}
	if strings.Contains(e.audit.String(), "token-0123") {
		t.Errorf("the log shows a token: %s", e.audit.String())
	}
}

// With ASAP_ADMIN_TOKENS unset every admin route is refused, with a clear message.
func TestNoTokensRefusesEverything(t *testing.T) {
	e := newEnv(t, "")
	for _, r := range [][2]string{{"GET", "/admin/placements"}, {"PUT", "/admin/placements/demo-feed"},
		{"DELETE", "/admin/placements/demo-feed"}, {"POST", "/admin/placements/demo-feed/rollback"}} {
		var body any = feed("x")
		if r[0] == "POST" {
			body = `{"version": 1}`
		}
		a := e.do(r[0], r[1], aliceToken, body)
		if a.code != http.StatusForbidden || !strings.Contains(a.raw, "ASAP_ADMIN_TOKENS is not set") {
			t.Errorf("%s %s = %d %s; want 403 saying ASAP_ADMIN_TOKENS is not set", r[0], r[1], a.code, a.raw)
		}
	}
	if _, err := e.store.Current(context.Background(), "demo-feed"); err == nil {
		t.Errorf("a refused PUT wrote the placement")
	}
}

// A PUT is validated as `asap load` validates: the 400 names every problem.
func TestPutValidation(t *testing.T) {
	e := newEnv(t, "alice:"+aliceToken)
	tests := []struct {
		name         string
		path         string
		body         string
		wantProblems []string // each a part of one problem, in order
	}{
		{
			name: "every problem",
			path: "demo-feed",
			body: `{"pkey": "demo-feed", "status": "", "articlesBeforeFirstAd": -1, "mediationNetworks": [{"parameters": [1]}],
			        "targeting": [{"customKeys": {}}], "ad": {"upstream": "nowhere", "banner": [{"w": 0, "h": 5}]}}`,
			wantProblems: []string{"status is empty", "must not be negative", "mediationNetworks[0].parameters", "targeting[0]: no condition",
				"ad.banner[0]: w and h must be positive", `ad.upstream "nowhere" is not one of ASAP_UPSTREAMS`},
		},
		{
			name: "experiments and targeting, as asap load checks them",
			path: "demo-feed",
			body: `{"pkey": "demo-feed", "status": "OK", "targeting": [{"appVersion": ">=5.2.x", "keyType": "t", "keyValue": "v"}],
			        "experiments": [{"id": "control", "percent": 60}, {"id": "b", "percent": 50, "override": {"mediationNetworks": [{"parameters": 1}]}}]}`,
			wantProblems: []string{`targeting[0].appVersion ">=5.2.x": "5.2.x" is not a semantic version`, `experiments[0].id "control": reserved`,
				"experiments[1].override.mediationNetworks[0].parameters: want a JSON object", "experiments: the percentages add up to 110"},
		},
		{name: "unknown field", path: "demo-feed", body: `{"pkey": "demo-feed", "status": "OK", "statsu": "x"}`, wantProblems: []string{`unknown field "statsu"`}},
		{name: "cut short", path: "demo-feed", body: `{"pkey": `, wantProblems: []string{"the JSON ends before the record does"}},
		{name: "not JSON", path: "demo-feed", body: `{"pkey": x}`, wantProblems: []string{"line 1, column 10"}},
		{name: "empty", path: "demo-feed", body: ``, wantProblems: []string{"the JSON ends before the record does"}},
		{name: "pkey differs", path: "demo-feed", body: `{"pkey": "other", "status": "OK", "adServer": "DFP", "keyType": "k", "keyValue": "v", "mediationNetworks": []}`,
			wantProblems: []string{`the body's pkey "other" is not the path's "demo-feed"`}},
		{name: "two values", path: "demo-feed", body: `{"pkey": "demo-feed", "status": "OK"} {}`, wantProblems: []string{"more than one JSON value"}},
		{name: "bad pkey", path: "bad%20key", body: `{}`, wantProblems: []string{`pkey "bad key"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(http.MethodPut, "/admin/placements/"+tt.path, aliceToken, tt.body)
			if a.code != http.StatusBadRequest {
				t.Fatalf("PUT = %d %s; want 400", a.code, a.raw)
			}
			var got struct{ Problems []string }
			json.Unmarshal([]byte(a.raw), &got)
			if len(got.Problems) != len(tt.wantProblems) {
				t.Fatalf("problems = %q; want %d: %q", got.Problems, len(tt.wantProblems), tt.wantProblems)
			}
			for i, want := range tt.wantProblems {
				if !strings.Contains(got.Problems[i], want) {
					t.Errorf("problem %d = %q; want it to contain %q", i, got.Problems[i], want)
				}
			}
		})
	}
	if list, _ := e.store.List(context.Background()); len(list) != 0 {
		t.Errorf("refused PUTs wrote %v", list)
	}
	// A body without pkey takes the path's.
	body := `{"status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "v", "mediationNetworks": []}`
	if a := e.do(http.MethodPut, "/admin/placements/no-pkey", aliceToken, body); a.code != http.StatusCreated {
		t.Fatalf("PUT without pkey = %d %s; want 201", a.code, a.raw)
	}
	// Experiments and appVersion ranges are stored as written.
	body = `{"status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "v", "mediationNetworks": [],
		"targeting": [{"appVersion": ">=5.2.0 <6", "os": "android", "keyType": "campaign_key", "keyValue": "new"}],
		"experiments": [{"id": "waterfall-b", "percent": 10, "override": {"articlesBetweenAds": 3}}]}`
	if a := e.do(http.MethodPut, "/admin/placements/exp", aliceToken, body); a.code != http.StatusCreated {
		t.Fatalf("PUT with experiments = %d %s; want 201", a.code, a.raw)
	}
	if p, err := e.store.Get(context.Background(), "exp"); err != nil || len(p.Experiments) != 1 ||
		p.ForArm(0).ArticlesBetweenAds != 3 || !p.Targeting[0].AppVersion.Contains("5.3") {
		t.Errorf("stored %+v, %v; want the experiment and the range", p, err)
	}
	// A body above the limit is a 413.
	big := `{"pkey": "demo-feed", "keyValue": "` + strings.Repeat("x", admin.MaxBodyBytes) + `"}`
	if a := e.do(http.MethodPut, "/admin/placements/demo-feed", aliceToken, big); a.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("PUT of %d bytes = %d; want 413", len(big), a.code)
	}
}

// The whole life of a placement through the API: create, read, change
// conditionally, list, delete, roll back; ETags, versions and audit lines.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, "alice:"+aliceToken)
	path := "/admin/placements/demo-feed"

	if a := e.do(http.MethodGet, path, aliceToken, nil); a.code != http.StatusNotFound {
		t.Fatalf("GET of a missing placement = %d %s; want 404", a.code, a.raw)
	}
	a := e.do(http.MethodPut, path, aliceToken, feed("ck-1"))
	if a.code != http.StatusCreated || a.header.Get("ETag") != `"1"` || a.body["version"] != 1.0 {
		t.Fatalf("PUT = %d %v %s; want 201, ETag \"1\", version 1", a.code, a.header.Get("ETag"), a.raw)
	}
	a = e.do(http.MethodGet, path, aliceToken, nil)
	if a.code != http.StatusOK || a.header.Get("ETag") != `"1"` || a.body["placement"].(map[string]any)["keyValue"] != "ck-1" {
		t.Fatalf("GET = %d %v %s", a.code, a.header.Get("ETag"), a.raw)
	}
	// A write based on version 1 wins; a second one based on version 1 is refused.
	changed := feed("ck-2")
	changed.ArticlesBetweenAds = 9
	if a := e.do(http.MethodPut, path, aliceToken, changed, "If-Match", `"1"`); a.code != http.StatusOK || a.header.Get("ETag") != `"2"` {
		t.Fatalf("conditional PUT = %d %s; want 200 version 2", a.code, a.raw)
	}
	if a := e.do(http.MethodPut, path, aliceToken, feed("ck-3"), "If-Match", `"1"`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale conditional PUT = %d %s; want 412", a.code, a.raw)
	}
	if a := e.do(http.MethodPut, path, aliceToken, feed("ck-3"), "If-Match", `1`); a.code != http.StatusBadRequest {
		t.Fatalf("PUT with an unquoted If-Match = %d %s; want 400", a.code, a.raw)
	}
	// An unchanged record makes no version.
	if a := e.do(http.MethodPut, path, aliceToken, changed); a.code != http.StatusOK || a.header.Get("ETag") != `"2"` {
		t.Fatalf("PUT of the same record = %d %v; want 200 version 2", a.code, a.header.Get("ETag"))
	}
	other := samples.Placement("demo-article")
	if a := e.do(http.MethodPut, "/admin/placements/demo-article", aliceToken, other); a.code != http.StatusCreated {
		t.Fatalf("PUT demo-article = %d %s", a.code, a.raw)
	}
	a = e.do(http.MethodGet, "/admin/placements", aliceToken, nil)
	var list struct{ Placements []store.Summary }
	json.Unmarshal([]byte(a.raw), &list)
	if len(list.Placements) != 2 || list.Placements[0].PKey != "demo-article" || list.Placements[1].Version != 2 || list.Placements[1].Who != "alice" {
		t.Fatalf("list = %s", a.raw)
	}

	if a := e.do(http.MethodDelete, path, aliceToken, nil, "If-Match", `"1"`); a.code != http.StatusPreconditionFailed {
		t.Fatalf("stale DELETE = %d; want 412", a.code)
	}
	a = e.do(http.MethodDelete, path, aliceToken, nil, "If-Match", `"2"`)
	if a.code != http.StatusOK || a.header.Get("ETag") != `"3"` || a.body["placement"] != nil {
		t.Fatalf("DELETE = %d %s; want 200, version 3, placement null", a.code, a.raw)
	}
	if a := e.do(http.MethodGet, path, aliceToken, nil); a.code != http.StatusNotFound {
		t.Fatalf("GET after DELETE = %d; want 404", a.code)
	}
	if a := e.do(http.MethodDelete, path, aliceToken, nil); a.code != http.StatusNotFound {
		t.Fatalf("second DELETE = %d; want 404", a.code)
	}

	// Roll back the deletion to version 1: a new version 4 equal to version 1.
	a = e.do(http.MethodPost, path+"/rollback", aliceToken, `{"version": 1}`)
	if a.code != http.StatusOK || a.header.Get("ETag") != `"4"` || a.body["placement"].(map[string]any)["keyValue"] != "ck-1" {
		t.Fatalf("rollback = %d %s; want 200, version 4 with keyValue ck-1", a.code, a.raw)
	}
	if p, err := e.store.Get(context.Background(), "demo-feed"); err != nil || p.KeyValue != "ck-1" || p.ArticlesBetweenAds != feed("").ArticlesBetweenAds {
		t.Fatalf("after the rollback the store holds %+v, %v", p, err)
	}
	for _, tt := range []struct {
		body, header string
		want         int
	}{
		{`{"version": 99}`, "", http.StatusNotFound},
		{`{"version": 0}`, "", http.StatusBadRequest},
		{`{"versoin": 1}`, "", http.StatusBadRequest},
		{`{"version": 2}`, `"3"`, http.StatusPreconditionFailed},
	} {
		hdr := []string{}
		if tt.header != "" {
			hdr = []string{"If-Match", tt.header}
		}
		if a := e.do(http.MethodPost, path+"/rollback", aliceToken, tt.body, hdr...); a.code != tt.want {
			t.Errorf("rollback %s If-Match %s = %d %s; want %d", tt.body, tt.header, a.code, a.raw, tt.want)
		}
	}
	// Roll back to the deletion: deletes.
	if a := e.do(http.MethodPost, path+"/rollback", aliceToken, `{"version": 3}`, "If-Match", `"4"`); a.code != http.StatusOK || a.header.Get("ETag") != `"5"` || a.body["placement"] != nil {
		t.Fatalf("rollback to a deletion = %d %s; want version 5, deleted", a.code, a.raw)
	}

	a = e.do(http.MethodGet, path+"/versions", aliceToken, nil)
	var versions struct{ Versions []store.Version }
	json.Unmarshal([]byte(a.raw), &versions)
	var got []int64
	for _, v := range versions.Versions {
		got = append(got, v.Version)
	}
	if a.code != http.StatusOK || !slices.Equal(got, []int64{5, 4, 3, 2, 1}) {
		t.Fatalf("versions = %d %v; want 5 4 3 2 1", a.code, got)
	}
	if a := e.do(http.MethodGet, "/admin/placements/never/versions", aliceToken, nil); a.code != http.StatusNotFound {
		t.Errorf("versions of a placement never written = %d; want 404", a.code)
	}

	// One audit line per write: puts 1, 2, demo-article's 1, delete 3, rollbacks 4 and 5.
	lines := auditLines(t, e.audit)
	var summary []string
	for _, l := range lines {
		summary = append(summary, fmt.Sprintf("%s %s %s %v→%v %v", l.Who, l.PKey, l.Op, l.OldVersion, l.NewVersion, l.Fields))
	}
	want := []string{
		"alice demo-feed put 0→1 " + fmt.Sprint(topFields(t, feed("ck-1"))),
		"alice demo-feed put 1→2 [articlesBetweenAds keyValue]",
		"alice demo-article put 0→1 " + fmt.Sprint(topFields(t, other)),
		"alice demo-feed delete 2→3 " + fmt.Sprint(topFields(t, changed)),
		"alice demo-feed rollback 3→4 " + fmt.Sprint(topFields(t, feed("ck-1"))),
		"alice demo-feed rollback-delete 4→5 " + fmt.Sprint(topFields(t, feed("ck-1"))),
	}
	if !slices.Equal(summary, want) {
		t.Errorf("audit lines:\n%s\nwant:\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
	}
	if lines[4].RollbackTo != 1 {
		t.Errorf("the rollback's audit line has rollback_to %d; want 1", lines[4].RollbackTo)
	}
}

// topFields lists the top-level fields of p's JSON, sorted, as Diff lists a
// creation's or deletion's.
func topFields(t *testing.T, p placement.Placement) []string {
	data, _ := placement.Encode(&p)
	var m map[string]any
	json.Unmarshal(data, &m)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type auditLine struct {
	Msg        string   `json:"msg"`
	Who        string   `json:"who"`
	PKey       string   `json:"pkey"`
	Op         string   `json:"op"`
	OldVersion int64    `json:"old_version"`
	NewVersion int64    `json:"new_version"`
	Fields     []string `json:"fields"`
	RollbackTo int64    `json:"rollback_to"`
}

func auditLines(t *testing.T, buf *logtest.Buffer) []auditLine {
	t.Helper()
	var out []auditLine
	for line := range strings.Lines(buf.String()) {
		var l auditLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg == "audit: placement changed" {
			out = append(out, l)
		}
	}
	return out
}

// Two writers racing through the API with the same If-Match: exactly one wins,
// the other gets 412, and the winner's record is the one stored.
func TestConditionalPutsRace(t *testing.T) {
	e := newEnv(t, "alice:"+aliceToken+",bob:"+bobToken)
	path := "/admin/placements/demo-feed"
	if a := e.do(http.MethodPut, path, aliceToken, feed("base")); a.code != http.StatusCreated {
		t.Fatal(a.raw)
	}
	for round := range 10 {
		etag := e.do(http.MethodGet, path, aliceToken, nil).header.Get("ETag")
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, token := range []string{aliceToken, bobToken} {
			wg.Go(func() {
				codes[i] = e.do(http.MethodPut, path, token, feed(fmt.Sprintf("r%d-%d", round, i)), "If-Match", etag).code
			})
		}
		wg.Wait()
		slices.Sort(codes)
		if !slices.Equal(codes, []int{http.StatusOK, http.StatusPreconditionFailed}) {
			t.Fatalf("round %d: answers %v; want one 200 and one 412", round, codes)
		}
	}
	history, _ := e.store.History(context.Background(), "demo-feed")
	if len(history) != 11 || history[0].Version != 11 {
		t.Errorf("history holds %d versions, newest %d; want 11 and 11", len(history), history[0].Version)
	}
	if n := len(auditLines(t, e.audit)); n != 11 {
		t.Errorf("%d audit lines; want 11: one per write that happened", n)
	}
}

// Paths and methods the API does not have are JSON 404s and 405s with Allow.
func TestRouting(t *testing.T) {
	e := newEnv(t, "alice:"+aliceToken)
	if a := e.do(http.MethodGet, "/admin/nothing", aliceToken, nil); a.code != http.StatusNotFound || a.body["status"] != "NOT_FOUND" {
		t.Errorf("GET /admin/nothing = %d %s; want 404 NOT_FOUND", a.code, a.raw)
	}
	a := e.do(http.MethodPost, "/admin/placements/demo-feed", aliceToken, "{}")
	if a.code != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET, PUT, DELETE" {
		t.Errorf("POST on a placement = %d Allow %q; want 405 Allow GET, PUT, DELETE", a.code, a.header.Get("Allow"))
	}
	a = e.do(http.MethodGet, "/admin/placements/demo-feed/rollback", aliceToken, nil)
	if a.code != http.StatusMethodNotAllowed || a.header.Get("Allow") != "POST" {
		t.Errorf("GET rollback = %d Allow %q; want 405 Allow POST", a.code, a.header.Get("Allow"))
	}
}
