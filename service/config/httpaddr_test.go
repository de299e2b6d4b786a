package config

import "testing"

func TestHTTPAddr(t *testing.T) {
	tests := []struct {
		name     string
		env      string // ASAP_ENV; empty leaves it unset
		httpAddr string // ASAP_HTTP_ADDR; empty leaves it unset
		want     string
	}{
		{"the environment wins", "staging", "127.0.0.1:9999", "127.0.0.1:9999"},
		{"local env file", "local", "", "127.0.0.1:8080"},
		{"staging env file", "staging", "", ":8080"},
		{"no ASAP_ENV means local", "", "", "127.0.0.1:8080"},
		// An unknown environment is Load's error to report; the probe still probes.
		{"unknown environment falls back to the default", "qa", "", ":8080"},
		// The rest of the configuration is not read: a broken variable does not matter.
		{"production without Redis", "production", ":8181", ":8181"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ASAP_ENV", tt.env)
			t.Setenv("ASAP_HTTP_ADDR", tt.httpAddr)
			t.Setenv("ASAP_REDIS_URL", "")
			if got := HTTPAddr(); got != tt.want {
				t.Errorf("HTTPAddr() = %q, want %q", got, tt.want)
			}
		})
	}
}
