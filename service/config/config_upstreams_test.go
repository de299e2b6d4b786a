package config_test

import (
	"maps"
	"strings"
	"testing"

	"asap/service/config"
)

func TestUpstreamsDecodeForms(t *testing.T) {
	tests := []struct {
		value   string
		want    string // String() of the result; "" with wantErr
		wantErr string // part of the error
	}{
		{value: "", want: ""},
		{value: "primary=http://10.0.0.5:8081/openrtb2/auction", want: "primary=http://10.0.0.5:8081/openrtb2/auction"},
		{value: " a=http://a.example/x , b=https://b.example:8443/y ", want: "a=http://a.example/x,b=https://b.example:8443/y"},
		{value: "primary=http://h/p?x=1&y=a=b", want: "primary=http://h/p?x=1&y=a=b"},
		{value: "primary", wantErr: "want name=url"},
		{value: "=http://h/", wantErr: "want name=url"},
		{value: "bad name=http://h/", wantErr: "want name=url"},
		{value: "primary=ftp://h/", wantErr: "not an http(s) URL"},
		{value: "primary=http://", wantErr: "not an http(s) URL"},
		{value: "primary=/openrtb2/auction", wantErr: "not an http(s) URL"},
		{value: "primary=http://a/,primary=http://b/", wantErr: "named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var got config.Upstreams
			err := got.Decode(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode(%q) = %v; want an error containing %q", tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.value, err)
			}
			if got.String() != tt.want {
				t.Errorf("got %q; want %q", got.String(), tt.want)
			}
		})
	}
}

// A malformed ASAP_UPSTREAMS stops the start with an error naming the variable.
func TestLoadRejectsMalformedUpstreams(t *testing.T) {
	for _, value := range []string{"primary", "primary=ftp://x/", "a=http://x/,a=http://y/", "bad name=http://x/"} {
		t.Run(value, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_ENV", "local")
			t.Setenv("ASAP_UPSTREAMS", value)
			_, err := config.Load()
			if err == nil || !strings.Contains(err.Error(), "UPSTREAMS") {
				t.Fatalf("Load with ASAP_UPSTREAMS=%q: %v; want an error naming ASAP_UPSTREAMS", value, err)
			}
		})
	}
}

func TestLoadUpstreamsLookup(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ENV", "local")
	t.Setenv("ASAP_UPSTREAMS", "primary=http://127.0.0.1:8081/openrtb2/auction,backup=https://backup.example/rtb")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	up, ok := cfg.Ad.Upstreams.Lookup("backup")
	if !ok || up.URL.String() != "https://backup.example/rtb" {
		t.Errorf("Lookup(backup) = %v, %v; want https://backup.example/rtb", up, ok)
	}
	if _, ok := cfg.Ad.Upstreams.Lookup("http://127.0.0.1:8081/openrtb2/auction"); ok {
		t.Errorf("a URL was found as an upstream name")
	}
}

func TestUpstreamVendorsDecodeForms(t *testing.T) {
	tests := []struct {
		value   string
		want    map[string]int
		wantErr string
	}{
		{value: "", want: map[string]int{}},
		{value: "primary=755", want: map[string]int{"primary": 755}},
		{value: " primary = 755 , exchange-b=32 ", want: map[string]int{"primary": 755, "exchange-b": 32}},
		{value: "primary=65535", want: map[string]int{"primary": 65535}},
		{value: "primary", wantErr: "want name=gvlid"},
		{value: "bad name=1", wantErr: "want name=gvlid"},
		{value: "primary=0", wantErr: "not a whole number from 1 to 65535"},
		{value: "primary=65536", wantErr: "not a whole number from 1 to 65535"},
		{value: "primary=-3", wantErr: "not a whole number"},
		{value: "primary=+3", wantErr: "not a whole number"},
		{value: "primary=abc", wantErr: "not a whole number"},
		{value: "primary=1,primary=2", wantErr: "named twice"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var got config.UpstreamVendors
			err := got.Decode(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode(%q) = %v; want an error containing %q", tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil || !maps.Equal(got, config.UpstreamVendors(tt.want)) {
				t.Fatalf("Decode(%q) = %v, %v; want %v", tt.value, got, err, tt.want)
			}
		})
	}
}

// ASAP_UPSTREAM_VENDORS naming an upstream that ASAP_UPSTREAMS lacks, or a bad
// id, stops the start with an error naming the variable and the problem.
func TestLoadChecksUpstreamVendors(t *testing.T) {
	for value, want := range map[string]string{
		"primary=755,backup=32": `"backup" is not an upstream of ASAP_UPSTREAMS`,
		"primary=0":             "ASAP_UPSTREAM_VENDORS",
		"primary=x,nowhere=12":  "ASAP_UPSTREAM_VENDORS",
	} {
		t.Run(value, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_ENV", "local")
			t.Setenv("ASAP_UPSTREAMS", "primary=http://127.0.0.1:8081/openrtb2/auction")
			t.Setenv("ASAP_UPSTREAM_VENDORS", value)
			_, err := config.Load()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load with ASAP_UPSTREAM_VENDORS=%q: %v; want an error containing %q", value, err, want)
			}
		})
	}
	cleanEnv(t)
	t.Setenv("ASAP_ENV", "local")
	t.Setenv("ASAP_UPSTREAMS", "primary=http://127.0.0.1:8081/openrtb2/auction,b=http://127.0.0.1:8082/")
	t.Setenv("ASAP_UPSTREAM_VENDORS", "primary=755")
	t.Setenv("ASAP_GDPR_DEFAULT", "1")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ad.UpstreamVendors["primary"] != 755 || cfg.Ad.UpstreamVendors["b"] != 0 || !cfg.Ad.GDPRDefault {
		t.Errorf("vendors %v, GDPR default %v; want primary=755 only, true", cfg.Ad.UpstreamVendors, cfg.Ad.GDPRDefault)
	}
}

// Staging and production say explicitly whether GDPR applies without a flag.
func TestEnvFilesSetGDPRDefault(t *testing.T) {
	for _, env := range []string{"staging", "production"} {
		vars, err := config.EnvFile(env)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := vars["ASAP_GDPR_DEFAULT"]; !ok || (v != "0" && v != "1") {
			t.Errorf("%s.env: ASAP_GDPR_DEFAULT=%q (set %v); want 0 or 1, set explicitly", env, v, ok)
		}
	}
}
