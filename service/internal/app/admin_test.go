package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"asap/service/internal/redistest"
	"asap/service/internal/testwait"
)

// TestAdminAPIChangeServed changes a placement through the admin API of one
// instance and rolls it back: both instances on the same Redis serve each change
// long before the cache TTL (the pub/sub path), and the audit line names the token.
func TestAdminAPIChangeServed(t *testing.T) {
	env := map[string]string{"ASAP_CACHE_TTL": "1h", "ASAP_ADMIN_TOKENS": "ops:ops-token-0123456789"}
	a, st := startWithRedis(t, env)
	env["ASAP_REDIS_URL"], env["ASAP_REDIS_KEY_PREFIX"] = redistest.URL(), strings.TrimSuffix(st.Key(""), "placement:")
	b := startApp(t, env)
	for _, in := range []*instance{a, b} {
		if got := get(t, in.url+"/v2?pkey=demo-feed"); got.json["keyValue"] != "ck-123" {
			t.Fatalf("keyValue = %v; want ck-123 before the change", got.json["keyValue"])
		}
	}
	send := func(method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, a.admin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer ops-token-0123456789")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := send(http.MethodGet, "/admin/placements/demo-feed", ""); res.StatusCode != 200 || res.Header.Get("ETag") != `"1"` {
		t.Fatalf("GET = %d ETag %s; want 200 \"1\" (the seed's write)", res.StatusCode, res.Header.Get("ETag"))
	}
	if got := get(t, a.admin+"/admin/placements/demo-feed"); got.code != 401 {
		t.Fatalf("GET without a token = %d %s; want 401", got.code, got.body)
	}
	record := `{"pkey": "demo-feed", "status": "OK", "adServer": "DFP", "keyType": "creative_key", "keyValue": "ck-api",
		"articlesBeforeFirstAd": 1, "articlesBetweenAds": 3, "mediationNetworks": []}`
	start := time.Now()
	if res := send(http.MethodPut, "/admin/placements/demo-feed", record); res.StatusCode != 200 || res.Header.Get("ETag") != `"2"` {
		t.Fatalf("PUT = %d ETag %s; want 200 \"2\"", res.StatusCode, res.Header.Get("ETag"))
	}
	for _, in := range []*instance{a, b} {
		testwait.For(t, "the change to be served", func() bool {
			return get(t, in.url+"/v2?pkey=demo-feed").json["keyValue"] == "ck-api"
		})
	}
	t.Logf("change served by both instances after %s", time.Since(start).Round(time.Millisecond))
	if res := send(http.MethodPost, "/admin/placements/demo-feed/rollback", `{"version": 0}`); res.StatusCode != 400 {
		t.Errorf("rollback to version 0 (not kept) = %d; want 400", res.StatusCode)
	}
	if res := send(http.MethodDelete, "/admin/placements/demo-feed", ""); res.StatusCode != 200 {
		t.Fatalf("DELETE = %d", res.StatusCode)
	}
	for _, in := range []*instance{a, b} {
		testwait.For(t, "the deletion to be served", func() bool { return get(t, in.url+"/v2?pkey=demo-feed").code == 404 })
	}
	if res := send(http.MethodPost, "/admin/placements/demo-feed/rollback", `{"version": 2}`); res.StatusCode != 200 || res.Header.Get("ETag") != `"4"` {
		t.Fatalf("rollback = %d ETag %s; want 200 \"4\"", res.StatusCode, res.Header.Get("ETag"))
	}
	for _, in := range []*instance{a, b} {
		testwait.For(t, "the rollback to be served", func() bool {
			return get(t, in.url+"/v2?pkey=demo-feed").json["keyValue"] == "ck-api"
		})
	}
	if logs := a.logs.String(); !strings.Contains(logs, `msg="audit: placement changed" who=ops pkey=demo-feed op=put old_version=1 new_version=2 fields="[ad articlesBeforeFirstAd`) ||
		strings.Contains(logs, "ops-token") {
		t.Errorf("the log has no audit line for the PUT by ops, or shows the token:\n%s", logs)
	}
}

// Without ASAP_ADMIN_TOKENS the admin API refuses every request.
func TestAdminAPIOffWithoutTokens(t *testing.T) {
	in, _ := startWithRedis(t, map[string]string{"ASAP_ADMIN_TOKENS": ""}) // local.env sets a demo token
	if got := get(t, in.admin+"/admin/placements"); got.code != 403 || !strings.Contains(got.body, "ASAP_ADMIN_TOKENS is not set") {
		t.Errorf("GET /admin/placements = %d %s; want 403 naming ASAP_ADMIN_TOKENS", got.code, got.body)
	}
}
