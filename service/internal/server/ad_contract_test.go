package server_test

import (
	"net/http"
	"strings"
	"testing"

	"asap/service/internal/demoad"
)

// TestAdQueryContract sends GET /v2/ad queries at the edges of docs/openapi.yaml
// through servertest.Contract, which fails on any answer the document does not
// describe and on any request it refuses that is not answered 400.
func TestAdQueryContract(t *testing.T) {
	s := newAdServer(t, demoad.Options{})
	tests := []struct {
		query    string
		wantCode int
	}{
		{"pkey=demo-feed", http.StatusOK},
		{"pkey=demo-feed&w=300&h=250&uid=&appId=com.example&appName=News&appVersion=1.2", http.StatusOK},
		{"pkey=demo-feed&gdpr=1&gdpr_consent=CP&us_privacy=1YNN&gpp=DBA&gpp_sid=2,6&coppa=0&lmt=0", http.StatusOK},
		{"pkey=demo-feed&gpp_sid=", http.StatusOK},
		{"pkey=demo-feed&creative_key=ck-123&campaign_key=cmp-9&os=android&osv=14&make=Google&model=Pixel", http.StatusOK},
		{"pkey=demo-feed&w=10000&h=1", http.StatusOK},
		{"pkey=demo-feed&w=10001&h=1", http.StatusBadRequest},
		{"pkey=demo-feed&w=0&h=0", http.StatusBadRequest},
		{"pkey=demo-feed&w=+5&h=5", http.StatusBadRequest},
		{"pkey=demo-feed&w=300", http.StatusBadRequest},
		{"pkey=demo-feed&lmt=", http.StatusBadRequest},
		{"pkey=demo-feed&lmt=2", http.StatusBadRequest},
		{"pkey=demo-feed&gpp_sid=256", http.StatusBadRequest},
		{"pkey=demo-feed&gpp_sid=" + strings.Repeat("1,", 32) + "1", http.StatusBadRequest},
		{"pkey=demo-feed&uid=" + strings.Repeat("u", 65), http.StatusBadRequest},
		{"pkey=demo-feed&us_privacy=" + strings.Repeat("Y", 17), http.StatusBadRequest},
		{"pkey=demo-feed&appName=%01", http.StatusBadRequest},
		{"pkey=demo-feed&pkey=demo-feed", http.StatusOK},           // a repeat with the same value is taken once
		{"pkey=demo-feed&pkey=demo-paused", http.StatusBadRequest}, // another value: refused
		{"pkey=demo%20feed", http.StatusBadRequest},
		{"uid=x", http.StatusBadRequest},
		{"pkey=nope", http.StatusNotFound},
		{"pkey=demo-paused", http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if rec := s.get(t, "/v2/ad?"+tt.query, "192.0.2.1:1234", ""); rec.Code != tt.wantCode {
				t.Errorf("code = %d; want %d\n%s", rec.Code, tt.wantCode, rec.Body)
			}
		})
	}
}
