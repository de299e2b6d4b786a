package config_test

import (
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
