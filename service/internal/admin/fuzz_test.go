package admin_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"asap/service/config"
	"asap/service/internal/admin"
	"asap/service/internal/redistest"
	"asap/service/internal/store"
)

// FuzzAPI: every part of an admin request is outside input (an operator's script
// may send anything). Whatever the method, path, If-Match and body, the API answers
// a status below 500 with a JSON body, and never panics.
func FuzzAPI(f *testing.F) {
	f.Add("PUT", "/admin/placements/demo-feed", `"1"`, `{"pkey": "demo-feed", "status": "OK"}`)
	f.Add("POST", "/admin/placements/demo-feed/rollback", ``, `{"version": 1}`)
	f.Add("POST", "/admin/placements/demo-feed/rollback", `"x"`, `{"version": -1e99}`)
	f.Add("DELETE", "/admin/placements/a", `"99999999999999999999"`, ``)
	f.Add("GET", "/admin/placements/%zz/versions", ``, ``)
	f.Add("PUT", "/admin/placements/a", ``, `{"status": "OK"`)
	client, prefix := redistest.Client(f)
	var tokens config.AdminTokens
	tokens.Decode("fuzz:fuzz-token-0123456789")
	api := admin.NewAPI(admin.NewManager(store.NewStore(client, prefix), slog.New(slog.DiscardHandler)), tokens, nil)
	f.Fuzz(func(t *testing.T, method, path, ifMatch, body string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r, err := http.NewRequest(method, "http://admin"+path, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		r.Header.Set("Authorization", "Bearer fuzz-token-0123456789")
		if ifMatch != "" {
			r.Header.Set("If-Match", ifMatch)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%s %s If-Match %q body %q = %d %s", method, path, ifMatch, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s = %d with a body that is not JSON: %q", method, path, rec.Code, rec.Body)
		}
	})
}
