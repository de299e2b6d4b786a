package adminui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"asap/service/config"
	"asap/service/internal/admin"
	"asap/service/internal/adminui"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
)

const token = "ui-test-token"

var tokens = config.AdminTokens{{Name: "alice", Token: token}}

// newPage serves the page over a Manager on the shared test Redis (its own
// prefix), with demo-feed written twice by alice: version 2 changes
// articlesBetweenAds to 9 and keyValue to a string that needs escaping.
func newPage(t testing.TB, tokens config.AdminTokens) (*httptest.Server, *admin.Manager) {
	t.Helper()
	client, prefix := redistest.Client(t)
	m := admin.NewManager(store.NewStore(client, prefix), nil)
	ctx := context.Background()
	p := samples.Placement("demo-feed")
	if _, err := m.Put(ctx, "alice", &p, store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	p.ArticlesBetweenAds = 9
	p.KeyValue = `<script>alert("x")</script>`
	if _, err := m.Put(ctx, "alice", &p, store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adminui.New(m, tokens, nil))
	t.Cleanup(srv.Close)
	return srv, m
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, url, bearer string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

func TestPage(t *testing.T) {
	srv, _ := newPage(t, tokens)
	detail := srv.URL + "/admin/ui/placements/demo-feed"
	tests := []struct {
		name, url, bearer string
		wantCode          int
		wantIn, wantOut   []string
	}{
		// Without credentials: the shell, which holds no data.
		{name: "shell of the list", url: srv.URL + "/admin/ui/", wantCode: 200,
			wantIn: []string{`<form id="login"`, `src="/admin/ui/static/app.js"`}, wantOut: []string{"demo-feed"}},
		{name: "shell of a placement", url: detail, wantCode: 200,
			wantIn: []string{`<form id="login"`}, wantOut: []string{"articlesBetweenAds", "alice"}},
		{name: "wrong token", url: detail, bearer: "nope", wantCode: 401,
			wantIn: []string{"not one of ASAP_ADMIN_TOKENS"}, wantOut: []string{"nope", "demo-feed"}},
		{name: "list", url: srv.URL + "/admin/ui/", bearer: token, wantCode: 200,
			wantIn: []string{`<a href="/admin/ui/placements/demo-feed">demo-feed</a>`, "<td>2</td>", "alice"}, wantOut: []string{"<html"}},
		// The current version against the one before: the two fields that changed,
		// escaped; a rollback button for version 1 that names the version shown.
		{name: "placement", url: detail, bearer: token, wantCode: 200,
			wantIn: []string{
				`<strong id="current-version">2</strong>`,
				`<th>version 1</th><th>version 2</th>`,
				"<code>articlesBetweenAds</code>", "<pre>5</pre>", "<pre>9</pre>",
				"<code>keyValue</code>", `&#34;\u003cscript\u003ealert(\&#34;x\&#34;)\u003c/script\u003e&#34;`,
				`data-rollback="1" data-pkey="demo-feed" data-current="2"`,
			},
			wantOut: []string{"<script>alert", "<code>mediationNetworks</code>", `data-rollback="2"`}},
		{name: "the same version twice", url: detail + "?a=2&b=2", bearer: token, wantCode: 200,
			wantIn: []string{"Versions 2 and 2 are the same record."}},
		{name: "a version not kept", url: detail + "?a=7", bearer: token, wantCode: 400,
			wantIn: []string{`a=&#34;7&#34;: not a kept version of demo-feed`}},
		{name: "not a number", url: detail + "?b=x", bearer: token, wantCode: 400, wantIn: []string{`b=&#34;x&#34;`}},
		{name: "unknown placement", url: srv.URL + "/admin/ui/placements/nope", bearer: token, wantCode: 404,
			wantIn: []string{"No such placement: nope."}},
		{name: "malformed pkey", url: srv.URL + "/admin/ui/placements/a%20b", bearer: token, wantCode: 400,
			wantIn: []string{"pkey &#34;a b&#34;"}},
		{name: "script", url: srv.URL + "/admin/ui/static/app.js", wantCode: 200, wantIn: []string{"sessionStorage"}},
		{name: "no such page", url: srv.URL + "/admin/ui/nope", bearer: token, wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := get(t, tt.url, tt.bearer)
			if a.code != tt.wantCode {
				t.Fatalf("got %d; want %d\n%s", a.code, tt.wantCode, a.body)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(a.body, s) {
					t.Errorf("the answer lacks %q:\n%s", s, a.body)
				}
			}
			for _, s := range tt.wantOut {
				if strings.Contains(a.body, s) {
					t.Errorf("the answer holds %q:\n%s", s, a.body)
				}
			}
			if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if got := a.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", got)
			}
		})
	}
}

// Without ASAP_ADMIN_TOKENS the page shows nothing, as the API answers nothing.
func TestPageWithoutTokens(t *testing.T) {
	srv, _ := newPage(t, nil)
	a := get(t, srv.URL+"/admin/ui/", "anything")
	if a.code != http.StatusForbidden || !strings.Contains(a.body, "ASAP_ADMIN_TOKENS is not set") {
		t.Errorf("got %d %q; want 403 saying the tokens are not set", a.code, a.body)
	}
}

// A deleted placement shows its versions, the deletion as the current one, and
// a rollback button for the version before it.
func TestPageOfADeletedPlacement(t *testing.T) {
	srv, m := newPage(t, tokens)
	if _, err := m.Delete(context.Background(), "alice", "demo-feed", store.AnyVersion); err != nil {
		t.Fatal(err)
	}
	a := get(t, srv.URL+"/admin/ui/placements/demo-feed", token)
	for _, s := range []string{`<p id="record">Deleted.</p>`, `<strong id="current-version">3</strong>, deleted`, `data-rollback="2"`, "<em>absent</em>"} {
		if !strings.Contains(a.body, s) {
			t.Errorf("the page lacks %q:\n%s", s, a.body)
		}
	}
	if _, err := m.Get(context.Background(), "demo-feed"); err == nil || !strings.Contains(err.Error(), placement.ErrNotFound.Error()) {
		t.Errorf("Get after Delete: %v; want not found", err)
	}
}

// FuzzPage sends any path under the page and any query, with a valid token: the
// answer is never a 5xx, and whatever it echoes is escaped.
func FuzzPage(f *testing.F) {
	for _, seed := range []string{"", "placements/demo-feed", "placements/demo-feed?a=1&b=2", "placements/demo-feed?a=-1",
		"placements/demo-feed?a=99999999999999999999", "placements/%3Cscript%3E", "placements/demo-feed?b=%3Cb%3E", "static/app.css", "placements/"} {
		f.Add(seed)
	}
	srv, _ := newPage(f, tokens)
	f.Fuzz(func(t *testing.T, rest string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/admin/ui/"+rest, nil)
		if err != nil {
			return // not a URL a browser could send
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("GET /admin/ui/%s: %d %s", rest, res.StatusCode, b)
		}
		if strings.Contains(string(b), "<script>") || strings.Contains(string(b), "<b>") {
			t.Fatalf("GET /admin/ui/%s: unescaped markup in the answer:\n%s", rest, b)
		}
	})
}
