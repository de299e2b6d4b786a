package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
)

// NewRedisClient builds the Redis client of the placement store from cfg.
//
// cfg.URL is redis://[user:password@]host:port[/db] or rediss:// for TLS. The URL
// picks the client kind, so a single node, Sentinel and a cluster all work from one
// variable:
//
//   - one address: a single-node client;
//   - several comma-separated addresses (redis://h1:6379,h2:6379): a cluster client
//     seeded with all of them;
//   - ?cluster=true with one address: a cluster client behind a configuration
//     endpoint (ElastiCache cluster mode);
//   - ?master=NAME: a Sentinel-backed client; the addresses are the sentinels'.
//
// cfg.Password, when set, replaces the URL's password. Timeouts, pool size, minimum
// idle connections and retries come from cfg, never from library defaults, and
// context deadlines apply to every command. No error contains the password.
func NewRedisClient(cfg config.Redis) (redis.UniversalClient, error) {
	opts, err := redisOptions(cfg)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// redisOptions turns cfg into go-redis options; see NewRedisClient.
func redisOptions(cfg config.Redis) (*redis.UniversalOptions, error) {
	if cfg.URL == "" {
		return nil, errors.New("redis: no URL (set ASAP_REDIS_URL)")
	}
	u, hosts, err := splitRedisURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	opts := &redis.UniversalOptions{
		DialTimeout:           cfg.DialTimeout,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		PoolTimeout:           cfg.PoolTimeout,
		PoolSize:              cfg.PoolSize,
		MinIdleConns:          cfg.MinIdleConns,
		MaxRetries:            cfg.MaxRetries,
		ContextTimeoutEnabled: true,
		// One dial per attempt: go-redis otherwise dials 5 times, 100 ms apart, so a
		// command to a Redis that refuses connections took 0.4 s per attempt (0.8 s
		// with the retry) instead of failing at once. MaxRetries is the retry policy.
		DialerRetries: 1,
	}
	// go-redis reads MaxRetries 0 as "the default (3)"; -1 means none.
	if cfg.MaxRetries == 0 {
		opts.MaxRetries = -1
	}
	for _, host := range hosts {
		host = strings.TrimSpace(host)
		if host == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(host, "6379")
		}
		h, p, _ := net.SplitHostPort(host)
		if h == "" {
			return nil, fmt.Errorf("redis: address %q has no host", host)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("redis: address %q has no valid port", host)
		}
		opts.Addrs = append(opts.Addrs, host)
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis: URL has no host")
	}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	if cfg.Password != "" {
		opts.Password = cfg.Password
	}
	switch db := strings.Trim(u.Path, "/"); {
	case db == "":
	case strings.Contains(db, "/"):
		return nil, fmt.Errorf("redis: URL path %q: want /<database number>", u.Path)
	default:
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("redis: URL path %q: want /<database number>", u.Path)
		}
		opts.DB = n
	}
	q := u.Query()
	if v := q.Get("cluster"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("redis: cluster=%q: want true or false", v)
		}
		opts.IsClusterMode = b
	}
	opts.MasterName = q.Get("master")
	var unknown []string
	for k := range q {
		if k != "cluster" && k != "master" {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("redis: unknown URL option(s) %s: want cluster or master (timeouts and pool sizes are ASAP_REDIS_* variables)", strings.Join(unknown, ", "))
	}
	if opts.DB != 0 && opts.MasterName == "" && (opts.IsClusterMode || len(opts.Addrs) > 1) {
		return nil, errors.New("redis: a cluster has only database 0")
	}
	if u.Scheme == "rediss" {
		// ServerName stays empty so each node's certificate is checked against the
		// host dialled, which is what a cluster of several hosts needs.
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// splitRedisURL parses raw, whose host may be a comma-separated list of host[:port]
// that net/url cannot read, into the URL with its first host and the list.
func splitRedisURL(raw string) (*url.URL, []string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, nil, errors.New("redis: ASAP_REDIS_URL is not a URL: want redis://host:port[/db]")
	}
	if scheme != "redis" && scheme != "rediss" {
		return nil, nil, fmt.Errorf("redis: URL scheme %q: want redis or rediss", scheme)
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndex(authority, "@")
	hosts := strings.Split(authority[at+1:], ",")
	u, err := url.Parse(scheme + "://" + authority[:at+1] + "host" + rest[end:])
	if err != nil {
		// url.Error repeats the whole URL, password included: report only what is wrong.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, nil, fmt.Errorf("redis: ASAP_REDIS_URL is not a valid URL: %v", err)
	}
	return u, hosts, nil
}

// LogRedisTo sends go-redis's own log lines (failed dials, pool and pub/sub
// reconnects), which it otherwise prints unstructured to stderr, to log at warn
// level. The setting is process-wide.
func LogRedisTo(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if !strings.HasPrefix(msg, "redis: ") { // most of go-redis's lines name it already
		msg = "redis: " + msg
	}
	l.log.WarnContext(ctx, msg)
}

// RedactURL returns raw with any password replaced by "xxxxx", for logs and messages.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
