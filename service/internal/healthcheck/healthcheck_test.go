package healthcheck_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"asap/service/internal/healthcheck"
)

func TestHealthcheck(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer up.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer failing.Close()
	redirecting := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	defer redirecting.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	stopped := httptest.NewServer(http.NotFoundHandler())
	stoppedURL := stopped.URL
	stopped.Close()

	tests := []struct {
		name     string
		httpAddr string // ASAP_HTTP_ADDR
		args     []string
		wantErr  string // empty: exit 0
	}{
		{name: "running server", args: []string{"-url", up.URL + "/healthz"}},
		{name: "address from ASAP_HTTP_ADDR", httpAddr: "0.0.0.0:" + port(t, up.URL)},
		{name: "address from ASAP_HTTP_ADDR without a host", httpAddr: ":" + port(t, up.URL)},
		{name: "stopped server", args: []string{"-url", stoppedURL + "/healthz"}, wantErr: "connection refused"},
		{name: "stopped server from ASAP_HTTP_ADDR", httpAddr: ":" + port(t, stoppedURL), wantErr: "GET http://127.0.0.1:" + port(t, stoppedURL) + "/healthz"},
		{name: "server answers 500", args: []string{"-url", failing.URL + "/healthz"}, wantErr: "status 500, want 200"},
		{name: "a redirect is not healthy", args: []string{"-url", redirecting.URL + "/healthz"}, wantErr: "status 302, want 200"},
		{name: "no answer in time", args: []string{"-url", slow.URL + "/healthz", "-timeout", "50ms"}, wantErr: "no answer within 50ms"},
		{name: "bad ASAP_HTTP_ADDR", httpAddr: "8080", wantErr: `ASAP_HTTP_ADDR "8080" is not host:port`},
		{name: "bad timeout", args: []string{"-timeout", "0s"}, wantErr: "want a positive duration"},
		{name: "unknown flag", args: []string{"-verbose"}, wantErr: "flag provided but not defined"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ASAP_HTTP_ADDR", tt.httpAddr)
			t.Setenv("ASAP_ENV", "staging") // a server environment: staging.env holds :8080
			var stdout, stderr bytes.Buffer
			err := healthcheck.Main(context.Background(), tt.args, &stdout, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Main(%q) = %v, want nil", tt.args, err)
				}
				if !strings.HasPrefix(stdout.String(), "healthy: GET ") {
					t.Errorf("stdout = %q, want a healthy line", stdout.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("Main(%q) = nil, want an error containing %q", tt.args, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Main(%q) = %v, want it to contain %q", tt.args, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Main(%q) = %q, want a one-line reason", tt.args, err)
			}
		})
	}
}

func TestLocalURL(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{":8080", "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/healthz"},
		{"[::]:8080", "http://127.0.0.1:8080/healthz"},
		{"127.0.0.1:8181", "http://127.0.0.1:8181/healthz"},
		{"[::1]:8080", "http://[::1]:8080/healthz"},
		{"localhost:8080", "http://localhost:8080/healthz"},
	}
	for _, tt := range tests {
		got, err := healthcheck.LocalURL(tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", tt.addr, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "8080", "host:", "http://x:1"} {
		if got, err := healthcheck.LocalURL(bad); err == nil {
			t.Errorf("LocalURL(%q) = %q, nil; want an error", bad, got)
		}
	}
}

// port returns the port of an httptest URL.
func port(t *testing.T, rawURL string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
