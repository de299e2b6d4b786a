package config_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"asap/service/config"
)

// cleanEnv removes every ASAP_ variable (but the tests' own ASAP_TEST_*) for the
// duration of the test, so the machine's environment cannot leak into Load.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "ASAP_") && !strings.HasPrefix(k, "ASAP_TEST_") || k == "GOMEMLIMIT" {
			t.Setenv(k, "") // restores the value at cleanup
			os.Unsetenv(k)
		}
	}
}

func TestLoadEnvironments(t *testing.T) {
	tests := []struct {
		env             string
		redisURL        string
		wantInFlight    int
		wantLogFormat   string
		wantDebug       bool
		wantDrainPeriod time.Duration
		wantSample      float64
	}{
		{env: "local", wantInFlight: 64, wantLogFormat: "text", wantDebug: true, wantSample: 1},
		{env: "local-docker", wantInFlight: 64, wantLogFormat: "text", wantDebug: true, wantSample: 1},
		{env: "staging", redisURL: "redis://10.0.0.9:6379/0", wantInFlight: 512, wantLogFormat: "json", wantDrainPeriod: time.Second, wantSample: 0.1},
		{env: "production", redisURL: "rediss://cache.internal:6379", wantInFlight: 1024, wantLogFormat: "json", wantDrainPeriod: time.Second, wantSample: 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_ENV", tt.env)
			if tt.redisURL != "" {
				t.Setenv("ASAP_REDIS_URL", tt.redisURL)
			}
			cfg, err := config.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Env != tt.env {
				t.Errorf("Env = %q; want %q", cfg.Env, tt.env)
			}
			if got := cfg.Limits.MaxInFlight; got != tt.wantInFlight {
				t.Errorf("Limits.MaxInFlight = %d; want %d (from %s.env)", got, tt.wantInFlight, tt.env)
			}
			if cfg.LogFormat != tt.wantLogFormat {
				t.Errorf("LogFormat = %q; want %q", cfg.LogFormat, tt.wantLogFormat)
			}
			if cfg.Debug != tt.wantDebug {
				t.Errorf("Debug = %v; want %v", cfg.Debug, tt.wantDebug)
			}
			if cfg.Server.DrainPeriod != tt.wantDrainPeriod {
				t.Errorf("Server.DrainPeriod = %s; want %s", cfg.Server.DrainPeriod, tt.wantDrainPeriod)
			}
			if cfg.AccessLogSample != tt.wantSample {
				t.Errorf("AccessLogSample = %v; want %v (from %s.env)", cfg.AccessLogSample, tt.wantSample, tt.env)
			}
			if tt.redisURL != "" && cfg.Redis.URL != tt.redisURL {
				t.Errorf("Redis.URL = %q; want %q", cfg.Redis.URL, tt.redisURL)
			}
			// Locally the env file sets the memory limit; on ECS the task definition
			// sets GOMEMLIMIT, which wins, so the env file must not pretend to.
			if local := strings.HasPrefix(tt.env, "local"); local != (cfg.MemoryLimit != "") {
				t.Errorf("MemoryLimit = %q in %s; want it set only in the local env files (ECS sets GOMEMLIMIT)", cfg.MemoryLimit, tt.env)
			}
		})
	}
}

// TestLoadEveryFileVariableIsRead guards against a variable in an env file that
// no field reads (a typo, or a section envconfig prefixes differently): changing
// it in the environment must change the configuration.
func TestLoadEveryFileVariableIsRead(t *testing.T) {
	for _, env := range config.Environments {
		vars, err := config.EnvFile(env)
		if err != nil {
			t.Fatal(err)
		}
		for k := range vars {
			if k == "ASAP_DEBUG" && (env == "staging" || env == "production") {
				continue // refused there; TestLoadReportsEveryProblem covers it
			}
			t.Run(env+"/"+k, func(t *testing.T) {
				cleanEnv(t)
				t.Setenv("ASAP_ENV", env)
				if env == "staging" || env == "production" {
					t.Setenv("ASAP_REDIS_URL", "redis://10.0.0.9:6379/0")
				}
				base, err := config.Load()
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				t.Setenv(k, otherValue(k, vars[k]))
				changed, err := config.Load()
				if err != nil {
					t.Fatalf("Load with %s=%s: %v", k, otherValue(k, vars[k]), err)
				}
				if fmtConfig(base) == fmtConfig(changed) {
					t.Errorf("setting %s does not change the configuration: no field reads it", k)
				}
			})
		}
	}
}

// otherValue returns a valid value for variable k that differs from v.
func otherValue(k, v string) string {
	switch {
	case v == "true":
		return "false"
	case v == "false":
		return "true"
	case v == "json":
		return "text"
	case v == "text":
		return "json"
	case v == "info":
		return "warn"
	case strings.HasSuffix(k, "_ADDR"):
		return "127.0.0.1:1234"
	case strings.HasSuffix(k, "_URL"):
		return "redis://127.0.0.1:7777/0"
	case k == "ASAP_ADMIN_TOKENS": // names show; tokens never do
		return "other:another-demo-token-value"
	case k == "ASAP_UPSTREAMS":
		return "primary=http://127.0.0.1:7777/auction"
	case k == "ASAP_GDPR_DEFAULT": // a flag written 0 or 1, as the contract writes it
		return map[string]string{"0": "1", "1": "0"}[v]
	case k == "ASAP_ACCESS_LOG_SAMPLE": // a fraction from 0 to 1
		return "0.5"
	case strings.HasSuffix(v, "MiB"):
		return "123MiB"
	}
	if _, err := time.ParseDuration(v); err == nil {
		d, _ := time.ParseDuration(v)
		return (d + 7*time.Millisecond).String()
	}
	if n, err := strconv.Atoi(v); err == nil {
		return strconv.Itoa(n + 1) // counts and sizes
	}
	return v + "x"
}

// fmtConfig prints every field; Upstreams prints through its String method.
func fmtConfig(c config.Config) string { return fmt.Sprintf("%+v", c) }

func TestLoadEnvironmentOverridesFile(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ENV", "production")
	t.Setenv("ASAP_REDIS_URL", "redis://10.1.2.3:6380/2")
	t.Setenv("ASAP_MAX_IN_FLIGHT", "7")        // production.env: 1024
	t.Setenv("ASAP_CACHE_TTL", "3s")           // production.env: 60s
	t.Setenv("ASAP_REDIS_READ_TIMEOUT", "9ms") // production.env: 100ms
	t.Setenv("ASAP_LOG_FORMAT", "text")        // production.env: json
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := cfg.Limits.MaxInFlight, 7; got != want {
		t.Errorf("Limits.MaxInFlight = %d; want %d", got, want)
	}
	if got, want := cfg.Cache.TTL, 3*time.Second; got != want {
		t.Errorf("Cache.TTL = %s; want %s", got, want)
	}
	if got, want := cfg.Redis.ReadTimeout, 9*time.Millisecond; got != want {
		t.Errorf("Redis.ReadTimeout = %s; want %s", got, want)
	}
	if got, want := cfg.LogFormat, "text"; got != want {
		t.Errorf("LogFormat = %q; want %q", got, want)
	}
	// Values the environment does not set still come from the file.
	if got, want := cfg.Limits.MaxQueued, 2048; got != want {
		t.Errorf("Limits.MaxQueued = %d; want %d (production.env)", got, want)
	}
	// Load leaves the process environment as it found it.
	if v, set := os.LookupEnv("ASAP_MAX_QUEUED"); set {
		t.Errorf("ASAP_MAX_QUEUED=%q left in the environment by Load", v)
	}
}

func TestLoadRedisURLRequiredOutsideLocal(t *testing.T) {
	tests := []struct {
		env     string
		wantErr bool
	}{
		{"local", false},
		{"local-docker", false}, // its env file names the compose service's Redis
		{"staging", true},
		{"production", true},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_ENV", tt.env)
			_, err := config.Load()
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Load error = %v; want error: %v", err, tt.wantErr)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "ASAP_REDIS_URL") {
				t.Errorf("error %q does not name ASAP_REDIS_URL", err)
			}
		})
	}
	t.Run("local-docker without URL", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("ASAP_ENV", "local-docker")
		t.Setenv("ASAP_REDIS_URL", "")
		_, err := config.Load()
		if err == nil || !strings.Contains(err.Error(), "ASAP_REDIS_URL") {
			t.Errorf("Load error = %v; want one naming ASAP_REDIS_URL (only local embeds Redis)", err)
		}
	})
}

func TestLoadReportsEveryProblem(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ENV", "staging")
	t.Setenv("ASAP_REDIS_URL", "http://user:s3cret@10.0.0.1:6379")
	t.Setenv("ASAP_MAX_IN_FLIGHT", "lots")
	t.Setenv("ASAP_QUEUE_TIMEOUT", "soon")
	t.Setenv("ASAP_ACCESS_LOG", "maybe")
	t.Setenv("ASAP_LOG_FORMAT", "xml")
	t.Setenv("ASAP_CACHE_TTL", "-1s")
	t.Setenv("ASAP_HTTP_ADDR", "8080")
	t.Setenv("ASAP_TRUSTED_PROXIES", "10.0.0.0/8,not-a-cidr")
	t.Setenv("ASAP_UPSTREAMS", "primary=ftp://x")
	t.Setenv("ASAP_DEBUG", "true")
	t.Setenv("ASAP_MEMORY_LIMIT", "lots")
	t.Setenv("ASAP_GC_PERCENT", "-5")
	t.Setenv("ASAP_ACCESS_LOG_SAMPLE", "1.5")
	t.Setenv("ASAP_ACCESS_LOG_SLOW", "-1ms")
	_, err := config.Load()
	if err == nil {
		t.Fatal("Load succeeded; want every problem reported")
	}
	msg := err.Error()
	for _, want := range []string{
		"ASAP_REDIS_URL", "ASAP_MAX_IN_FLIGHT", "ASAP_QUEUE_TIMEOUT", "ASAP_ACCESS_LOG",
		"ASAP_LOG_FORMAT", "ASAP_CACHE_TTL", "ASAP_HTTP_ADDR", "ASAP_TRUSTED_PROXIES",
		"ASAP_UPSTREAMS", "ASAP_DEBUG", "ASAP_MEMORY_LIMIT", "ASAP_GC_PERCENT",
		"ASAP_ACCESS_LOG_SAMPLE", "ASAP_ACCESS_LOG_SLOW",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("error shows the Redis password:\n%s", msg)
	}
	// A variable that does not parse is reported once, not again by Validate.
	if n := strings.Count(msg, "ASAP_MAX_IN_FLIGHT"); n != 1 {
		t.Errorf("ASAP_MAX_IN_FLIGHT named %d times; want 1:\n%s", n, msg)
	}
	// Load restores the variables it hid while reporting them.
	if got := os.Getenv("ASAP_MAX_IN_FLIGHT"); got != "lots" {
		t.Errorf("ASAP_MAX_IN_FLIGHT = %q after Load; want it restored to %q", got, "lots")
	}
}

// After SIGTERM: drain, requests in flight, win notices. Their sum must fit in the
// longest stop timeout ECS allows; any one of them may take the whole budget.
func TestLoadShutdownFitsTheStopTimeout(t *testing.T) {
	tests := []struct {
		drain, shutdown, notice string
		wantErr                 bool
	}{
		{"1s", "10s", "2s", false},  // staging and production
		{"0s", "118s", "2s", false}, // exactly MaxStopTimeout
		{"15s", "100s", "6s", true}, // 121 s
		{"2m", "1ms", "1ms", true},  // a drain alone too long
		{"0s", "10s", "111s", true}, // notices flushed after SIGKILL
	}
	for _, tt := range tests {
		t.Run(tt.drain+"+"+tt.shutdown+"+"+tt.notice, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ASAP_ENV", "production")
			t.Setenv("ASAP_REDIS_URL", "redis://10.0.0.9:6379/0")
			t.Setenv("ASAP_DRAIN_PERIOD", tt.drain)
			t.Setenv("ASAP_SHUTDOWN_TIMEOUT", tt.shutdown)
			t.Setenv("ASAP_NOTICE_TIMEOUT", tt.notice)
			_, err := config.Load()
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "ASAP_DRAIN_PERIOD "+tt.drain) || !strings.Contains(err.Error(), "the longest stop timeout ECS allows") {
				t.Errorf("Load = %v; want an error naming the three timeouts and the stop timeout", err)
			}
		})
	}
}

func TestLoadUnknownEnvironment(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ASAP_ENV", "prod")
	_, err := config.Load()
	if err == nil || !strings.Contains(err.Error(), "ASAP_ENV") {
		t.Fatalf("Load error = %v; want one naming ASAP_ENV", err)
	}
}

func TestLoadGoMemLimit(t *testing.T) {
	cleanEnv(t)
	t.Setenv("GOMEMLIMIT", "100MiB")
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GoMemLimit != "100MiB" {
		t.Errorf("GoMemLimit = %q; want %q", cfg.GoMemLimit, "100MiB")
	}
}

func TestUpstreamsDecode(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "", want: ""},
		{in: "primary=http://10.0.0.5:8081/openrtb2/auction", want: "primary=http://10.0.0.5:8081/openrtb2/auction"},
		{in: " a=http://h/x , b=https://h:443/y ", want: "a=http://h/x,b=https://h:443/y"},
		{in: "a=http://h/x,a=http://h/y", wantErr: true},
		{in: "a", wantErr: true},
		{in: "a b=http://h/x", wantErr: true},
		{in: "a=ftp://h/x", wantErr: true},
		{in: "a=http://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var u config.Upstreams
			err := u.Decode(tt.in)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Decode(%q) error = %v; want error: %v", tt.in, err, tt.wantErr)
			}
			if err == nil && u.String() != tt.want {
				t.Errorf("Decode(%q) = %q; want %q", tt.in, u.String(), tt.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "256MiB", want: 256 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "4096", want: 4096},
		{in: "10B", want: 10},
		{in: "0", wantErr: true},
		{in: "-1MiB", wantErr: true},
		{in: "1.5GiB", wantErr: true},
		{in: "256MB", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParseBytes(tt.in)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("ParseBytes(%q) error = %v; want error: %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseBytes(%q) = %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	got, err := config.ParseEnvFile([]byte("# comment\n\nA=1\n B = two words \nC=x=y\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "x=y"}
	if len(got) != len(want) {
		t.Errorf("got %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
	if _, err := config.ParseEnvFile([]byte("A=1\nnot a pair\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseEnvFile error = %v; want one naming line 2", err)
	}
}

// The auction trace is on in local, off by default elsewhere, refused in
// production; the return margin must leave the default tmax something.
func TestLoadAuction(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantTrace bool
		wantErr   string
	}{
		{"local has the trace", map[string]string{"ASAP_ENV": "local"}, true, ""},
		{"staging has it off", map[string]string{"ASAP_ENV": "staging", "ASAP_REDIS_URL": "redis://r:6379"}, false, ""},
		{"staging may turn it on", map[string]string{"ASAP_ENV": "staging", "ASAP_REDIS_URL": "redis://r:6379", "ASAP_AUCTION_TRACE": "true"}, true, ""},
		{"production refuses it", map[string]string{"ASAP_ENV": "production", "ASAP_REDIS_URL": "redis://r:6379", "ASAP_AUCTION_TRACE": "true"}, false, "ASAP_AUCTION_TRACE"},
		{"margin as long as the default tmax", map[string]string{"ASAP_ENV": "local", "ASAP_AUCTION_RETURN_MARGIN": "250ms"}, false, "ASAP_AUCTION_RETURN_MARGIN"},
		{"negative margin", map[string]string{"ASAP_ENV": "local", "ASAP_AUCTION_RETURN_MARGIN": "-1ms"}, false, "ASAP_AUCTION_RETURN_MARGIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := config.Load()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Ad.AuctionTrace != tt.wantTrace {
				t.Errorf("AuctionTrace = %t; want %t", cfg.Ad.AuctionTrace, tt.wantTrace)
			}
			if cfg.Ad.AuctionReturnMargin <= 0 {
				t.Errorf("AuctionReturnMargin = %s; want a positive default", cfg.Ad.AuctionReturnMargin)
			}
		})
	}
}
