package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"asap/service/config"
)

// NewRedisClient builds the Redis client of the placement store from cfg, logging
// what it does on its own (a Sentinel's announcement of a new master) to log (nil
// logs nothing).
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
// cfg.Password, when set, replaces the URL's password; both go to the data nodes,
// cfg.SentinelUsername and cfg.SentinelPassword to the Sentinels. Timeouts, pool
// size, minimum idle connections and retries come from cfg, never from library
// defaults, and context deadlines apply to every command. No error contains a
// password.
//
// Beyond go-redis, a cluster client reloads its slot map after every failed command
// and every cfg.ClusterReloadInterval (see Store.Rediscover), and a Sentinel-backed
// client watches each Sentinel for +switch-master (see Store.MasterSwitched).
func NewRedisClient(cfg config.Redis, log *slog.Logger) (redis.UniversalClient, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := redisOptions(cfg)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.MasterName != "":
		return newSentinelClient(opts, log), nil
	case opts.IsClusterMode || len(opts.Addrs) > 1:
		co := opts.Cluster()
		co.ClusterStateReloadInterval = cfg.ClusterReloadInterval
		if co.ClusterStateReloadInterval <= 0 {
			co.ClusterStateReloadInterval = defaultClusterReloadInterval
		}
		c := redis.NewClusterClient(co)
		c.AddHook(reloadOnFailure{c})
		return c, nil
	default:
		return redis.NewClient(opts.Simple()), nil
	}
}

// defaultClusterReloadInterval is config.Redis.ClusterReloadInterval's default, for
// a config built without envconfig.
const defaultClusterReloadInterval = 2 * time.Second

// reloadOnFailure is a hook of a cluster client that reloads the slot map after a
// failed command. go-redis reloads it on MOVED and ASK only, and a master that died
// sends neither: its slots kept failing for ~45 s after its replica's promotion.
// ReloadState coalesces: one CLUSTER SLOTS at a time, at most one more queued.
type reloadOnFailure struct{ c *redis.ClusterClient }

func (h reloadOnFailure) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnFailure) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if Failed(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnFailure) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if Failed(err) {
			h.c.ReloadState(ctx)
		}
		return err
	}
}

// Failed reports whether err is a failure of Redis rather than an answer: anything
// but nil and redis.Nil ("no such key").
func Failed(err error) bool { return err != nil && !errors.Is(err, redis.Nil) }

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
	// A cluster client's redirects are its retries too (go-redis's default is 3);
	// one at least, so a slot that moved is found.
	opts.MaxRedirects = max(cfg.MaxRetries, 1)
	opts.SentinelUsername, opts.SentinelPassword = cfg.SentinelUsername, cfg.SentinelPassword
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
		if opts.TLSConfig, err = tlsConfig(cfg); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

// tlsConfig is the TLS configuration of rediss://: the system roots plus
// cfg.TLSCAFile, and cfg.TLSCertFile/TLSKeyFile as the client certificate.
// ServerName stays empty so each node's certificate is checked against the host
// dialled, which is what a cluster or a Sentinel set of several hosts needs.
func tlsConfig(cfg config.Redis) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("redis: ASAP_REDIS_TLS_CA_FILE: %w", err)
		}
		roots, err := x509.SystemCertPool()
		if err != nil { // no system roots on this platform: the file's alone
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis: ASAP_REDIS_TLS_CA_FILE %s holds no PEM certificate", cfg.TLSCAFile)
		}
		c.RootCAs = roots
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis: ASAP_REDIS_TLS_CERT_FILE and ASAP_REDIS_TLS_KEY_FILE: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
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

// Problem names the kind of Redis failure err is, in words fit for /readyz and
// log lines: it holds no address, key or secret, only the class of problem and
// what to check. Nil is "".
func Problem(err error) string {
	var (
		tlsVerify *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		tlsRecord tls.RecordHeaderError
	)
	_, moved := redis.IsMovedError(err)
	_, ask := redis.IsAskError(err)
	switch {
	case err == nil:
		return ""
	case redis.IsAuthError(err), redis.HasErrorPrefix(err, "AUTH") && strings.Contains(err.Error(), "without any password configured"):
		return "Redis refuses ASAP's credentials (WRONGPASS/NOAUTH): check ASAP_REDIS_PASSWORD or the URL's user and password"
	case redis.IsPermissionError(err):
		return "Redis denies ASAP's user a command (NOPERM): its ACL must allow GET, SET, PUBLISH, SUBSCRIBE and PING"
	case moved, ask:
		return "Redis answers MOVED: the URL names one node of a cluster; list the nodes or add ?cluster=true"
	case redis.IsClusterDownError(err):
		return "the Redis cluster is down (CLUSTERDOWN)"
	case redis.IsLoadingError(err):
		return "Redis is loading its data set (LOADING)"
	case redis.IsMasterDownError(err), redis.IsReadOnlyError(err):
		return "Redis is between masters (a failover is under way)"
	case errors.As(err, &tlsVerify), errors.As(err, &unknownCA), errors.As(err, &hostname):
		return "Redis's TLS certificate is not trusted: check ASAP_REDIS_TLS_CA_FILE and the host names in the URL"
	case strings.Contains(err.Error(), "remote error: tls: "): // the server's TLS alert
		return "Redis refuses the TLS handshake: does it want a client certificate (ASAP_REDIS_TLS_CERT_FILE, ASAP_REDIS_TLS_KEY_FILE)?"
	case errors.As(err, &tlsRecord):
		return "Redis does not speak TLS on this port: use redis:// or the TLS port"
	case redis.HasErrorPrefix(err, ""):
		return "Redis answers with an error"
	default:
		return "Redis does not answer"
	}
}
