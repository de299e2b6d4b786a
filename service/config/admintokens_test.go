package config_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"asap/service/config"
)

func TestAdminTokensDecode(t *testing.T) {
	const secret = "s3cret-token-0123456789"
	tests := []struct {
		value     string
		wantNames []string
		wantErr   string // part of the error; "" for none
	}{
		{value: ""},
		{value: "alice:" + secret, wantNames: []string{"alice"}},
		{value: " alice:" + secret + " , bob:with:colons:" + secret + " ", wantNames: []string{"alice", "bob"}},
		{value: secret, wantErr: "entry 1: want name:token"},
		{value: "alice:short-" + "x", wantErr: "entry 1 (alice): the token must be at least 16 characters"},
		{value: "bad name:" + secret, wantErr: "entry 1: the name must be"},
		{value: ":" + secret, wantErr: "entry 1: the name must be"},
		{value: "alice:" + secret + "\x7f", wantErr: "printable ASCII"},
		{value: "alice:" + secret + ",alice:" + secret + "-2", wantErr: "entry 2: the name alice is used twice"},
		{value: "alice:" + secret + ",bob:" + secret, wantErr: "entry 2 (bob): its token is another entry's too"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var got config.AdminTokens
			err := got.Decode(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode = %v; want an error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error %q shows a token", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var names []string
			for _, tok := range got {
				names = append(names, tok.Name)
				if !strings.HasSuffix(tok.Token, secret) {
					t.Errorf("token of %s = %q; want it to end in the secret", tok.Name, tok.Token)
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
				t.Errorf("names = %v; want %v", names, tt.wantNames)
			}
		})
	}
}

// No way of printing the configuration shows a token: not fmt's verbs, not slog.
func TestAdminTokensNeverPrinted(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ADMIN_TOKENS", "alice:s3cret-token-0123456789")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("config", "tokens", cfg.AdminTokens, "cfg", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", cfg.AdminTokens),
		fmt.Sprintf("%s", cfg.AdminTokens), fmt.Sprintf("%q", cfg.AdminTokens), log.String()} {
		if strings.Contains(out, "s3cret") {
			t.Errorf("printed configuration shows the token: %s", out)
		}
		if !strings.Contains(out, "alice") {
			t.Errorf("printed configuration does not name the token's owner: %s", out)
		}
	}
}

// A malformed ASAP_ADMIN_TOKENS stops the start with an error naming the variable
// and never the token.
func TestLoadRejectsMalformedAdminTokens(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ADMIN_TOKENS", "alice:s3cret-short,s3cret-token-0123456789")
	_, err := config.Load()
	if err == nil || !strings.Contains(err.Error(), "ASAP_ADMIN_TOKENS: entry 1 (alice)") || !strings.Contains(err.Error(), "entry 2: want name:token") {
		t.Fatalf("Load: %v; want both entries' problems named", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Load's error %q shows a token", err)
	}
}

func TestLoadRejectsBracesOutsideOneHashTag(t *testing.T) {
	for prefix, ok := range map[string]bool{"asap:": true, "{asap}:": true, "x:{asap}:": true, "a{b:": false, "a}b:": false, "{}:": false, "{a}{b}:": false} {
		t.Run(prefix, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_REDIS_KEY_PREFIX", prefix)
			_, err := config.Load()
			if ok != (err == nil) {
				t.Fatalf("Load with ASAP_REDIS_KEY_PREFIX=%q: %v; want accepted: %v", prefix, err, ok)
			}
		})
	}
}

// FuzzAdminTokensDecode: ASAP_ADMIN_TOKENS comes from outside. Decode never
// panics, never shows a token in its error or in String, and what it accepts
// holds tokens that Decode's rules allow.
func FuzzAdminTokensDecode(f *testing.F) {
	f.Add("alice:s3cret-token-0123456789,bob:other:token:0123456789")
	f.Add("s3cret-token-0123456789")
	f.Add("a:b,,c:d:e")
	f.Add(" alice : s3cret-token-0123456789 ")
	f.Fuzz(func(t *testing.T, value string) {
		var got config.AdminTokens
		err := got.Decode(value)
		// A would-be token is whatever follows the first ':' of a pair (or the pair).
		// Names show in errors: what is left of the error without them must hold no token.
		shown := ""
		if err != nil {
			shown = err.Error()
		} else {
			shown = got.String()
		}
		var secrets []string
		for _, pair := range strings.Split(value, ",") {
			name, secret, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok {
				secret = strings.TrimSpace(pair)
			}
			if name != "" && ok {
				shown = strings.ReplaceAll(shown, name, "")
			}
			if len(secret) >= 8 {
				secrets = append(secrets, secret)
			}
		}
		for _, secret := range secrets {
			if strings.Contains(shown, secret) {
				t.Fatalf("Decode(%q) shows the token %q: %v / %q", value, secret, err, got.String())
			}
		}
		if err != nil {
			return
		}
		for _, tok := range got {
			if len(tok.Token) < config.MinAdminTokenLength || strings.ContainsAny(tok.Token, ", ") || tok.Name == "" {
				t.Fatalf("Decode accepted %+v", tok)
			}
		}
	})
}
