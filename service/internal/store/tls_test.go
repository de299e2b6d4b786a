package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/redistest"
)

// testRedis is a config.Redis with timeouts a busy machine keeps.
func testRedis(url string) config.Redis {
	return config.Redis{URL: url, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolTimeout: time.Second, PoolSize: 4, MaxRetries: 1}
}

// TestRedisTLS: rediss:// with a private CA (ASAP_REDIS_TLS_CA_FILE) and a client
// certificate against a redis-server that requires one.
func TestRedisTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartTLSServer(t, files, true)
	tests := []struct {
		name             string
		ca, cert, key    string
		wantProblem      string // "" is success
		wantConfigErrSub string
	}{
		{name: "CA and client certificate", ca: files.CA, cert: files.ClientCert, key: files.ClientKey},
		{name: "no client certificate", ca: files.CA, wantProblem: "client certificate"},
		{name: "system roots only", cert: files.ClientCert, key: files.ClientKey, wantProblem: "not trusted"},
		{name: "CA file missing", ca: files.CA + ".missing", wantConfigErrSub: "ASAP_REDIS_TLS_CA_FILE"},
		{name: "CA file not PEM", ca: files.ClientKey, wantConfigErrSub: "ASAP_REDIS_TLS_CA_FILE"},
		{name: "key not the certificate's", ca: files.CA, cert: files.ClientCert, key: files.ServerKey, wantConfigErrSub: "ASAP_REDIS_TLS_CERT_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testRedis(srv.TLSURL())
			cfg.TLSCAFile, cfg.TLSCertFile, cfg.TLSKeyFile = tt.ca, tt.cert, tt.key
			client, err := NewRedisClient(cfg, nil)
			if tt.wantConfigErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantConfigErrSub) {
					t.Fatalf("NewRedisClient error = %v; want one naming %s", err, tt.wantConfigErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			err = client.Ping(context.Background()).Err()
			switch {
			case tt.wantProblem == "" && err != nil:
				t.Errorf("PING over TLS: %v", err)
			case tt.wantProblem != "" && !strings.Contains(Problem(err), tt.wantProblem):
				t.Errorf("PING over TLS: %v, Problem %q; want one containing %q", err, Problem(err), tt.wantProblem)
			}
		})
	}
}

// TestProblem: the kinds of Redis failure /readyz and the logs tell apart.
func TestProblem(t *testing.T) {
	srv := redistest.StartServer(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	if err := admin.ConfigSet(ctx, "requirepass", "right").Err(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, password, want string
	}{
		{"wrong password", srv.URL(), "wrong", "credentials"},
		{"no password", srv.URL(), "", "credentials"},
		{"nobody listens", "redis://127.0.0.1:1/0", "", "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testRedis(tt.url)
			cfg.Password = tt.password
			client, err := NewRedisClient(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			err = client.Get(ctx, "k").Err()
			if got := Problem(err); !strings.Contains(got, tt.want) {
				t.Errorf("Problem(%v) = %q; want one containing %q", err, got, tt.want)
			}
		})
	}
	if got := Problem(nil); got != "" {
		t.Errorf("Problem(nil) = %q; want \"\"", got)
	}
}
