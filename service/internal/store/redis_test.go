package store

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
	"asap/service/internal/redistest"
)

func TestRedisOptions(t *testing.T) {
	base := config.Redis{DialTimeout: 200 * time.Millisecond, ReadTimeout: 100 * time.Millisecond,
		WriteTimeout: 110 * time.Millisecond, PoolTimeout: 150 * time.Millisecond, PoolSize: 32, MinIdleConns: 4, MaxRetries: 1}
	tests := []struct {
		name                   string
		url, password          string
		maxRetries             int
		wantAddrs              []string
		wantDB                 int
		wantUser, wantPassword string
		wantTLS, wantCluster   bool
		wantMaster, wantErr    string
		wantClient             string // the client kind NewUniversalClient makes
		wantMaxRetries         int
	}{
		{name: "single node", url: "redis://10.0.0.1:6379/2", wantAddrs: []string{"10.0.0.1:6379"}, wantDB: 2, wantClient: "*redis.Client"},
		{name: "default port", url: "redis://cache.internal", wantAddrs: []string{"cache.internal:6379"}, wantClient: "*redis.Client"},
		{name: "credentials in the URL", url: "redis://app:s3cret@h:6380", wantAddrs: []string{"h:6380"}, wantUser: "app", wantPassword: "s3cret", wantClient: "*redis.Client"},
		{name: "password override", url: "redis://app:old@h:6380", password: "fromsecret", wantAddrs: []string{"h:6380"}, wantUser: "app", wantPassword: "fromsecret", wantClient: "*redis.Client"},
		{name: "TLS", url: "rediss://h:6380", wantAddrs: []string{"h:6380"}, wantTLS: true, wantClient: "*redis.Client"},
		{name: "cluster seeds", url: "rediss://:pw@a:6379,b:6379,c", wantAddrs: []string{"a:6379", "b:6379", "c:6379"}, wantPassword: "pw", wantTLS: true, wantClient: "*redis.ClusterClient"},
		{name: "cluster configuration endpoint", url: "rediss://cfg.cache.amazonaws.com:6379?cluster=true", wantAddrs: []string{"cfg.cache.amazonaws.com:6379"}, wantTLS: true, wantCluster: true, wantClient: "*redis.ClusterClient"},
		{name: "sentinel", url: "redis://s1:26379,s2:26379/1?master=mymaster", wantAddrs: []string{"s1:26379", "s2:26379"}, wantDB: 1, wantMaster: "mymaster", wantClient: "*redis.Client"},
		{name: "no retries", url: "redis://h", maxRetries: -1, wantAddrs: []string{"h:6379"}, wantClient: "*redis.Client", wantMaxRetries: -1},
		{name: "empty", url: "", wantErr: "no URL"},
		{name: "wrong scheme", url: "http://user:hunter2@h:6379", wantErr: `scheme "http"`},
		{name: "bad port", url: "redis://user:hunter2@h:99999", wantErr: "valid port"},
		{name: "bad database", url: "redis://user:hunter2@h:6379/x", wantErr: "database number"},
		{name: "unknown option", url: "redis://user:hunter2@h:6379?read_timeout=5s", wantErr: "read_timeout"},
		{name: "database in a cluster", url: "redis://user:hunter2@a:1,b:2/3", wantErr: "only database 0"},
		{name: "unparsable", url: "redis://user:hunter2@h:6379/%zz", wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.URL, cfg.Password = tt.url, tt.password
			cfg.SentinelUsername, cfg.SentinelPassword = "watcher", "sentinel-secret"
			if tt.maxRetries != 0 {
				cfg.MaxRetries = 0
			}
			opts, err := redisOptions(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("redisOptions(%q) error = %v; want one containing %q", tt.url, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("redisOptions(%q): %v", tt.url, err)
			}
			if !slices.Equal(opts.Addrs, tt.wantAddrs) {
				t.Errorf("Addrs = %q; want %q", opts.Addrs, tt.wantAddrs)
			}
			if opts.DB != tt.wantDB || opts.Username != tt.wantUser || opts.Password != tt.wantPassword {
				t.Errorf("DB, Username, Password = %d, %q, %q; want %d, %q, %q", opts.DB, opts.Username, opts.Password, tt.wantDB, tt.wantUser, tt.wantPassword)
			}
			if got := opts.TLSConfig != nil; got != tt.wantTLS {
				t.Errorf("TLS = %v; want %v", got, tt.wantTLS)
			}
			if opts.SentinelUsername != "watcher" || opts.SentinelPassword != "sentinel-secret" {
				t.Errorf("SentinelUsername, SentinelPassword = %q, %q; want them from the config", opts.SentinelUsername, opts.SentinelPassword)
			}
			if opts.IsClusterMode != tt.wantCluster || opts.MasterName != tt.wantMaster {
				t.Errorf("IsClusterMode, MasterName = %v, %q; want %v, %q", opts.IsClusterMode, opts.MasterName, tt.wantCluster, tt.wantMaster)
			}
			wantRetries := base.MaxRetries
			if tt.wantMaxRetries != 0 {
				wantRetries = tt.wantMaxRetries
			}
			if opts.DialTimeout != base.DialTimeout || opts.ReadTimeout != base.ReadTimeout || opts.WriteTimeout != base.WriteTimeout ||
				opts.PoolTimeout != base.PoolTimeout || opts.PoolSize != base.PoolSize || opts.MinIdleConns != base.MinIdleConns ||
				opts.MaxRetries != wantRetries || !opts.ContextTimeoutEnabled {
				t.Errorf("timeouts and pool = %+v; want them from the config, retries %d, ContextTimeoutEnabled", opts, wantRetries)
			}
			// Redirects are retries too, one at least.
			if want := max(cfg.MaxRetries, 1); opts.MaxRedirects != want {
				t.Errorf("MaxRedirects = %d; want %d", opts.MaxRedirects, want)
			}
			// No idle connections: making the client must not dial these made-up hosts.
			opts.MinIdleConns = 0
			client := redis.NewUniversalClient(opts)
			defer client.Close()
			if got := typeName(client); got != tt.wantClient {
				t.Errorf("client = %s; want %s", got, tt.wantClient)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	default:
		return "other"
	}
}

func TestNewRedisClientTalksToRedis(t *testing.T) {
	client, err := NewRedisClient(config.Redis{URL: redistest.URL(), DialTimeout: time.Minute, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, PoolTimeout: time.Minute, PoolSize: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	if got := RedactURL("redis://app:hunter2@h:6379/0"); strings.Contains(got, "hunter2") {
		t.Errorf("RedactURL = %q; want no password", got)
	}
}

func TestLogRedisTo(t *testing.T) {
	var buf bytes.Buffer
	LogRedisTo(slog.New(slog.NewTextHandler(&buf, nil)))
	defer LogRedisTo(slog.New(slog.DiscardHandler))
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	defer client.Close()
	client.Ping(context.Background())
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, `msg="redis: `) {
		t.Errorf("go-redis log = %q; want a warn line through slog", got)
	}
	if got := buf.String(); strings.Contains(got, "redis: redis:") {
		t.Errorf("go-redis log = %q; want the prefix once", got)
	}
}
