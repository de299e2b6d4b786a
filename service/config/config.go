// Package config reads ASAP's configuration from the environment, once, at start.
//
// Values come from three layers, the later overriding the earlier: the defaults in
// the struct tags, the env file of the environment named by ASAP_ENV (embedded in
// the binary from this directory: local.env, local-docker.env, staging.env,
// production.env), and the process environment.
package config

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

//go:embed *.env
var envFiles embed.FS

// Environments lists the values ASAP_ENV accepts, in the order a release travels.
var Environments = []string{"local", "local-docker", "staging", "production"}

// Config is every setting of the ASAP server. Field comments say what the zero value
// means where it is not obvious; the defaults in the tags apply when neither the env
// file nor the environment sets a variable.
type Config struct {
	// Env is the environment: local, local-docker, staging or production.
	Env string `envconfig:"ENV" default:"local"`
	// HTTPAddr is the public listener (SDK API, /healthz, /readyz).
	HTTPAddr string `envconfig:"HTTP_ADDR" default:":8080"`
	// AdminAddr is the metrics/debug listener. Empty disables it. It is never behind the load balancer.
	AdminAddr string `envconfig:"ADMIN_ADDR" default:":9090"`
	// Debug serves pprof and expvar on the admin listener.
	Debug bool `envconfig:"DEBUG" default:"false"`
	// AdminTokens are the bearer tokens of the admin API (/admin/ on the admin
	// listener), name:token pairs; the name is what the audit log records. Empty
	// refuses every admin API request.
	AdminTokens AdminTokens `envconfig:"ADMIN_TOKENS"`
	// Version is stamped into the binary at build time; the variable overrides it (tests).
	Version string `envconfig:"VERSION"`

	// LogFormat is "json" (structured, for log shipping) or "text" (for people).
	LogFormat string `envconfig:"LOG_FORMAT" default:"json"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// AccessLog writes one line per request with route, status and latency.
	AccessLog bool `envconfig:"ACCESS_LOG" default:"true"`
	// AccessLogSample is the fraction, from 0 to 1, of the other requests that the
	// access log shows: errors (4xx and 5xx, but the sheds, sampled like the
	// rest) and requests slower than AccessLogSlow are always logged. 1 logs every
	// request; 0 only those always logged. The request metrics count every
	// request either way.
	AccessLogSample float64 `envconfig:"ACCESS_LOG_SAMPLE" default:"1"`
	// AccessLogSlow is the latency from which a request is always logged. 0 makes
	// every request slow, so every one is logged.
	AccessLogSlow time.Duration `envconfig:"ACCESS_LOG_SLOW" default:"250ms"`

	// MemoryLimit is the soft memory limit of the Go runtime in bytes, as GOMEMLIMIT
	// (for example 256MiB). Empty leaves the runtime's default; a GOMEMLIMIT in the
	// process environment wins.
	MemoryLimit string `envconfig:"MEMORY_LIMIT"`
	// GoMemLimit is GOMEMLIMIT as found in the process environment. When it is set
	// the runtime has already applied it and MemoryLimit is ignored.
	GoMemLimit string `ignored:"true"`
	// GCPercent is the collector's target percentage, as GOGC: how far the heap
	// grows past the live heap before a collection. Higher spends memory (bounded by
	// MemoryLimit) to save CPU on every request. 0 leaves the runtime's default
	// (100); a GOGC in the process environment wins.
	GCPercent int `envconfig:"GC_PERCENT"`
	// GoGC is GOGC as found in the process environment. When it is set the runtime
	// has already applied it and GCPercent is ignored.
	GoGC string `ignored:"true"`

	// The sections are read by Load one by one, each with the ASAP_ prefix:
	// envconfig would otherwise prefix their variables with the section name
	// (ASAP_REDIS_REDIS_URL) and silently ignore ASAP_REDIS_URL.
	Redis  Redis  `ignored:"true"`
	Cache  Cache  `ignored:"true"`
	Limits Limits `ignored:"true"`
	Server Server `ignored:"true"`
	Ad     Ad     `ignored:"true"`
}

// Redis configures the connection to the placement store.
type Redis struct {
	// URL is a redis:// or rediss:// URL (several comma-separated host:port pairs in
	// the URL's host make a cluster client). Empty starts an embedded in-memory Redis
	// seeded with the sample placements, which only the local environment allows.
	URL string `envconfig:"REDIS_URL"`
	// KeyPrefix prefixes every key and the pub/sub channel.
	KeyPrefix string `envconfig:"REDIS_KEY_PREFIX" default:"asap:"`
	// Password overrides the URL's password, so the secret can come from a secret store.
	Password string `envconfig:"REDIS_PASSWORD"`

	DialTimeout  time.Duration `envconfig:"REDIS_DIAL_TIMEOUT" default:"200ms"`
	ReadTimeout  time.Duration `envconfig:"REDIS_READ_TIMEOUT" default:"100ms"`
	WriteTimeout time.Duration `envconfig:"REDIS_WRITE_TIMEOUT" default:"100ms"`
	// PoolTimeout is how long a command waits for a free connection.
	PoolTimeout  time.Duration `envconfig:"REDIS_POOL_TIMEOUT" default:"150ms"`
	PoolSize     int           `envconfig:"REDIS_POOL_SIZE" default:"32"`
	MinIdleConns int           `envconfig:"REDIS_MIN_IDLE_CONNS" default:"4"`
	// MaxRetries is the number of retries of a failed command; 0 means none. It
	// also bounds the MOVED/ASK redirects a cluster client follows per command
	// (at least one, so a slot that moved is still found).
	MaxRetries int `envconfig:"REDIS_MAX_RETRIES" default:"1"`

	// SentinelUsername and SentinelPassword authenticate ASAP to the Sentinels of a
	// ?master= URL. The URL's user and password, and Password, go to the data nodes
	// only. Empty sends no credentials to the Sentinels.
	SentinelUsername string `envconfig:"REDIS_SENTINEL_USERNAME"`
	SentinelPassword string `envconfig:"REDIS_SENTINEL_PASSWORD"`
	// TLSCAFile is a PEM file of CA certificates that rediss:// trusts in addition
	// to the system roots (a private CA). Empty trusts the system roots only.
	TLSCAFile string `envconfig:"REDIS_TLS_CA_FILE"`
	// TLSCertFile and TLSKeyFile are a PEM client certificate and its key that
	// rediss:// presents (Redis's tls-auth-clients). Both or neither; empty presents none.
	TLSCertFile string `envconfig:"REDIS_TLS_CERT_FILE"`
	TLSKeyFile  string `envconfig:"REDIS_TLS_KEY_FILE"`
	// ClusterReloadInterval is how often a cluster client reloads the slot map
	// while it is in use, besides at once after a failed command: a dead node sends
	// no MOVED, and go-redis alone waits 60 s.
	ClusterReloadInterval time.Duration `envconfig:"REDIS_CLUSTER_RELOAD_INTERVAL" default:"2s"`
}

// Cache configures the in-process placement cache.
type Cache struct {
	// TTL is how long an entry is trusted without a pub/sub message: a safety net
	// for a lost message.
	TTL time.Duration `envconfig:"CACHE_TTL" default:"60s"`
	// NegativeTTL is how long an unknown pkey is remembered as unknown.
	NegativeTTL time.Duration `envconfig:"CACHE_NEGATIVE_TTL" default:"5s"`
	// StaleMaxAge is how long past its TTL an entry is still served while Redis fails.
	StaleMaxAge time.Duration `envconfig:"CACHE_STALE_MAX_AGE" default:"30m"`
	// MaxEntries bounds the cache; beyond it the oldest entries are dropped.
	MaxEntries int `envconfig:"CACHE_MAX_ENTRIES" default:"100000"`
}

// Limits are the "Tomcat knobs": past them a request gets 503 with Retry-After at once.
type Limits struct {
	// MaxInFlight bounds the requests of each SDK route handled at once: the
	// adaptive limit (docs/operations.md, In-flight limits) stays within it.
	MaxInFlight int `envconfig:"MAX_IN_FLIGHT" default:"512"`
	// MaxQueued is the number of requests waiting for a slot; 0 means none wait.
	// The limiter holds no more than its limit serves within QueueTimeout.
	MaxQueued int `envconfig:"MAX_QUEUED" default:"1024"`
	// QueueTimeout is the longest a request waits for a slot.
	QueueTimeout time.Duration `envconfig:"QUEUE_TIMEOUT" default:"50ms"`
	// RetryAfter is the Retry-After of shed requests and of 503s, rounded up to seconds.
	RetryAfter time.Duration `envconfig:"RETRY_AFTER" default:"1s"`
}

// MaxStopTimeout is the longest container stop timeout ECS allows on Fargate (120 s),
// and the ceiling ASAP holds its EC2 tasks to: the time between SIGTERM and SIGKILL
// in which a shutdown must end.
const MaxStopTimeout = 120 * time.Second

// Server holds the HTTP server's timeouts, size limits and shutdown timing.
type Server struct {
	ReadHeaderTimeout time.Duration `envconfig:"READ_HEADER_TIMEOUT" default:"2s"`
	ReadTimeout       time.Duration `envconfig:"READ_TIMEOUT" default:"5s"`
	WriteTimeout      time.Duration `envconfig:"WRITE_TIMEOUT" default:"5s"`
	IdleTimeout       time.Duration `envconfig:"IDLE_TIMEOUT" default:"75s"`
	// MaxHeaderBytes bounds the request line and headers together.
	MaxHeaderBytes int `envconfig:"MAX_HEADER_BYTES" default:"16384"`
	// MaxBodyBytes bounds request bodies (the API takes none; a larger body is refused).
	MaxBodyBytes int64 `envconfig:"MAX_BODY_BYTES" default:"65536"`
	// DrainPeriod is how long, after SIGTERM, the listener keeps accepting while
	// /readyz answers 503. Behind an ECS target group it is short: ECS deregisters
	// the target and waits until the load balancer stops using it before it sends
	// SIGTERM, so by then only a request the load balancer sent in the last instant
	// can still arrive. Zero closes the listener at once (local runs).
	DrainPeriod time.Duration `envconfig:"DRAIN_PERIOD" default:"0s"`
	// ShutdownTimeout bounds the wait for in-flight requests after the drain period.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"10s"`
}

// Ad configures GET /v2/ad and its upstream ad servers.
type Ad struct {
	// Upstreams are the named upstream ad servers. A placement names one of them;
	// no request can make ASAP call any other URL.
	Upstreams Upstreams `envconfig:"UPSTREAMS"`
	// UpstreamVendors gives upstreams their IAB Global Vendor List ids, for the
	// TCF v2 checks (docs/privacy.md). An upstream without one counts as a vendor
	// without consent: under GDPR it is not called. Empty: no upstream has an id.
	UpstreamVendors UpstreamVendors `envconfig:"UPSTREAM_VENDORS"`
	// GDPRDefault says whether GDPR applies to a request that sends no gdpr flag.
	// False (the default) treats such a request as outside GDPR.
	GDPRDefault bool `envconfig:"GDPR_DEFAULT" default:"0"`
	// DefaultTmax is the OpenRTB tmax when the placement sets none.
	DefaultTmax time.Duration `envconfig:"AD_DEFAULT_TMAX" default:"250ms"`
	// MaxTmax caps a placement's tmax.
	MaxTmax time.Duration `envconfig:"AD_MAX_TMAX" default:"1s"`

	UpstreamDialTimeout           time.Duration `envconfig:"UPSTREAM_DIAL_TIMEOUT" default:"100ms"`
	UpstreamTLSHandshakeTimeout   time.Duration `envconfig:"UPSTREAM_TLS_HANDSHAKE_TIMEOUT" default:"200ms"`
	UpstreamResponseHeaderTimeout time.Duration `envconfig:"UPSTREAM_RESPONSE_HEADER_TIMEOUT" default:"1s"`
	UpstreamMaxIdleConnsPerHost   int           `envconfig:"UPSTREAM_MAX_IDLE_CONNS_PER_HOST" default:"256"`
	UpstreamIdleConnTimeout       time.Duration `envconfig:"UPSTREAM_IDLE_CONN_TIMEOUT" default:"90s"`
	// UpstreamMaxResponseBytes bounds a BidResponse body.
	UpstreamMaxResponseBytes int64 `envconfig:"UPSTREAM_MAX_RESPONSE_BYTES" default:"1048576"`
	// UpstreamMaxHeaderBytes bounds an upstream's (or a notice host's) answer
	// headers, interim answers included; past it the answer is refused.
	UpstreamMaxHeaderBytes int64 `envconfig:"UPSTREAM_MAX_HEADER_BYTES" default:"65536"`
	// UpstreamMaxIdleConns bounds the idle keep-alive connections to all the
	// upstreams together (ASAP_UPSTREAM_MAX_IDLE_CONNS_PER_HOST bounds each).
	UpstreamMaxIdleConns int `envconfig:"UPSTREAM_MAX_IDLE_CONNS" default:"1024"`

	// BreakerFailures is the number of consecutive failures that opens an upstream's breaker.
	BreakerFailures int `envconfig:"BREAKER_FAILURES" default:"20"`
	// BreakerOpenTimeout is how long an open breaker waits before letting a probe through.
	BreakerOpenTimeout time.Duration `envconfig:"BREAKER_OPEN_TIMEOUT" default:"5s"`

	// NoticeConcurrency bounds the exchanges of win and loss notices (nurl, lurl)
	// in flight, one connection each; NoticePipeline the notices to one host sent
	// together in one exchange (HTTP/1.1 pipelining; 1: one notice per exchange);
	// NoticeQueue the notices waiting.
	NoticeConcurrency int           `envconfig:"NOTICE_CONCURRENCY" default:"64"`
	NoticePipeline    int           `envconfig:"NOTICE_PIPELINE" default:"8"`
	NoticeQueue       int           `envconfig:"NOTICE_QUEUE" default:"4096"`
	NoticeTimeout     time.Duration `envconfig:"NOTICE_TIMEOUT" default:"2s"`

	// AuctionReturnMargin is taken off a placement's tmax for the tmax each upstream
	// is sent: the time kept for the way back (the answer's transfer, the auction,
	// the SDK's answer), which ASAP gives by the placement's tmax. An answer still
	// arriving that long after the auction closed is read and counted late, not cut
	// (a cut costs the connection). Zero sends the placement's tmax as it is.
	AuctionReturnMargin time.Duration `envconfig:"AUCTION_RETURN_MARGIN" default:"20ms"`
	// AuctionTrace serves GET /debug/auction on the admin listener: one auction run
	// and shown, notices not fired. False (the default) leaves the route out;
	// production refuses it.
	AuctionTrace bool `envconfig:"AUCTION_TRACE" default:"false"`

	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed (the load balancer).
	TrustedProxies []string `envconfig:"TRUSTED_PROXIES" default:"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,fc00::/7,::1/128"`
}

// Upstream is one named upstream ad server.
type Upstream struct {
	Name string
	URL  *url.URL
}

// Upstreams is the ASAP_UPSTREAMS list: name=url pairs separated by commas. It
// implements envconfig.Decoder because envconfig's maps split on ':', which URLs contain.
type Upstreams []Upstream

var upstreamName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// oneHashTag matches a key prefix whose braces form one Redis Cluster hash tag.
var oneHashTag = regexp.MustCompile(`^[^{}]*\{[^{}]+\}[^{}]*$`)

// Decode parses name=url,name=url.
func (u *Upstreams) Decode(value string) error {
	pairs, err := namedPairs(value, "url", func(name, raw string) (*url.URL, error) {
		parsed, err := url.Parse(raw)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return nil, fmt.Errorf("upstream %q: %q is not an http(s) URL", name, raw)
		}
		return parsed, nil
	})
	if err != nil {
		return err
	}
	var out Upstreams
	for _, p := range pairs {
		out = append(out, Upstream{Name: p.name, URL: p.value})
	}
	*u = out
	return nil
}

// named is one name=value pair of a list that namedPairs read.
type named[T any] struct {
	name  string
	value T
}

// namedPairs reads a list of name=value pairs separated by commas (blanks
// around them ignored), the form of ASAP_UPSTREAMS and ASAP_UPSTREAM_VENDORS:
// each name an upstream name, given once, each value read by parse. want names
// the value in messages. It reports every problem at once.
func namedPairs[T any](value, want string, parse func(name, raw string) (T, error)) ([]named[T], error) {
	var out []named[T]
	var errs []error
	seen := map[string]bool{}
	for _, pair := range strings.Split(value, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, raw, ok := strings.Cut(pair, "=")
		name, raw = strings.TrimSpace(name), strings.TrimSpace(raw)
		if !ok || !upstreamName.MatchString(name) {
			errs = append(errs, fmt.Errorf("%q: want name=%s with a name of [A-Za-z0-9_-]", pair, want))
			continue
		}
		v, err := parse(name, raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Errorf("upstream %q is named twice", name))
			continue
		}
		seen[name] = true
		out = append(out, named[T]{name, v})
	}
	return out, errors.Join(errs...)
}

// Lookup returns the upstream called name.
func (u Upstreams) Lookup(name string) (Upstream, bool) {
	for _, up := range u {
		if up.Name == name {
			return up, true
		}
	}
	return Upstream{}, false
}

// String lists the upstreams as name=url, the form Decode reads.
func (u Upstreams) String() string {
	parts := make([]string, len(u))
	for i, up := range u {
		parts[i] = up.Name + "=" + up.URL.String()
	}
	return strings.Join(parts, ",")
}

// UpstreamVendors is the ASAP_UPSTREAM_VENDORS list: name=gvlid pairs separated
// by commas, each name an upstream of ASAP_UPSTREAMS (Validate checks that).
type UpstreamVendors map[string]int

// maxVendorID is the largest id a TC string can carry (16 bits).
const maxVendorID = 65535

// Decode parses name=gvlid,name=gvlid.
func (v *UpstreamVendors) Decode(value string) error {
	pairs, err := namedPairs(value, "gvlid", func(name, raw string) (int, error) {
		id, err := strconv.Atoi(raw)
		if err != nil || id < 1 || id > maxVendorID || raw[0] == '+' {
			return 0, fmt.Errorf("upstream %q: vendor id %q is not a whole number from 1 to %d", name, raw, maxVendorID)
		}
		return id, nil
	})
	if err != nil {
		return err
	}
	out := UpstreamVendors{}
	for _, p := range pairs {
		out[p.name] = p.value
	}
	*v = out
	return nil
}

// Load reads the configuration: defaults, then the env file of ASAP_ENV, then the
// process environment. It reports every problem at once.
func Load() (Config, error) {
	env := os.Getenv("ASAP_ENV")
	if env == "" {
		env = "local"
	}
	if !isEnvironment(env) {
		return Config{}, fmt.Errorf("ASAP_ENV=%q: want one of %s", env, strings.Join(Environments, ", "))
	}
	fileVars, err := EnvFile(env)
	if err != nil {
		return Config{}, err
	}
	// The env file fills in what the environment does not set. The variables are set
	// only while envconfig reads them, so the process environment is left as found.
	keys := make([]string, 0, len(fileVars))
	for k := range fileVars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, set := os.LookupEnv(k); set {
			continue
		}
		os.Setenv(k, fileVars[k])
		defer os.Unsetenv(k)
	}

	var cfg Config
	var errs []error
	for _, section := range []any{&cfg, &cfg.Redis, &cfg.Cache, &cfg.Limits, &cfg.Server, &cfg.Ad} {
		errs = append(errs, process(section)...)
	}
	cfg.Env = env
	cfg.GoMemLimit = os.Getenv("GOMEMLIMIT")
	cfg.GoGC = os.Getenv("GOGC")
	// A variable that does not parse is reported with the problems of the others:
	// Validate sees its default instead, so it does not report it twice.
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// process fills spec from the ASAP_ variables. envconfig stops at the first value
// that does not parse; process records it, hides the variable so that its default
// applies, and goes on, so that every bad variable is reported at once.
func process(spec any) []error {
	var errs []error
	for {
		err := envconfig.Process("asap", spec)
		var perr *envconfig.ParseError
		if !errors.As(err, &perr) {
			if err != nil {
				errs = append(errs, fmt.Errorf("config: %w", err))
			}
			return errs
		}
		errs = append(errs, parseProblem(perr))
		value, set := os.LookupEnv(perr.KeyName)
		if !set {
			// The default itself does not parse: a bug in the tags, not in the environment.
			return errs
		}
		os.Unsetenv(perr.KeyName)
		defer os.Setenv(perr.KeyName, value)
	}
}

// parseProblem words a ParseError for an operator. The value is left out: it may
// be a secret.
func parseProblem(e *envconfig.ParseError) error {
	switch e.TypeName {
	case "config.Upstreams", "config.UpstreamVendors", "config.AdminTokens":
		// Their Decode names the bad pair itself (an admin token never).
		return fmt.Errorf("%s: %w", e.KeyName, e.Err)
	}
	want := e.TypeName
	switch e.TypeName {
	case "time.Duration":
		want = "a duration such as 250ms or 5s"
	case "bool":
		want = "true or false"
	case "int", "int64":
		want = "a whole number"
	}
	return fmt.Errorf("%s: not %s", e.KeyName, want)
}

// EnvFile returns the variables of the env file of environment env.
func EnvFile(env string) (map[string]string, error) {
	data, err := envFiles.ReadFile(env + ".env")
	if err != nil {
		return nil, fmt.Errorf("config: no env file for %q: %w", env, err)
	}
	return ParseEnvFile(data)
}

// ParseEnvFile reads KEY=VALUE lines; blank lines and lines starting with # are skipped.
func ParseEnvFile(data []byte) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("config: env file line %d: want KEY=VALUE", n)
		}
		vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return vars, sc.Err()
}

func isEnvironment(env string) bool {
	for _, e := range Environments {
		if e == env {
			return true
		}
	}
	return false
}

// Local reports whether the environment is one that runs on a developer's machine.
func (c Config) Local() bool { return c.Env == "local" || c.Env == "local-docker" }

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ASAP_%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if !isEnvironment(c.Env) {
		bad("ENV", "%q is not one of %s", c.Env, strings.Join(Environments, ", "))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if c.AdminAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
			bad("ADMIN_ADDR", "%q is not host:port", c.AdminAddr)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("LOG_FORMAT", "%q: want json or text", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if c.Redis.URL == "" {
		if c.Env != "local" {
			bad("REDIS_URL", "required in %s (only local may run an embedded Redis)", c.Env)
		}
	} else if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		// The URL may hold a password: never echo it.
		bad("REDIS_URL", "not a redis:// or rediss:// URL with a host")
	}
	if c.Redis.KeyPrefix == "" {
		bad("REDIS_KEY_PREFIX", "must not be empty")
	}
	if strings.ContainsAny(c.Redis.KeyPrefix, "{}") && !oneHashTag.MatchString(c.Redis.KeyPrefix) {
		// A placement and its history must share a Redis Cluster slot (docs/redis.md).
		bad("REDIS_KEY_PREFIX", "%q: '{' and '}' only as one Redis Cluster hash tag, such as {asap}:", c.Redis.KeyPrefix)
	}
	positive := map[string]time.Duration{
		"REDIS_DIAL_TIMEOUT":               c.Redis.DialTimeout,
		"REDIS_READ_TIMEOUT":               c.Redis.ReadTimeout,
		"REDIS_WRITE_TIMEOUT":              c.Redis.WriteTimeout,
		"REDIS_POOL_TIMEOUT":               c.Redis.PoolTimeout,
		"REDIS_CLUSTER_RELOAD_INTERVAL":    c.Redis.ClusterReloadInterval,
		"CACHE_TTL":                        c.Cache.TTL,
		"CACHE_NEGATIVE_TTL":               c.Cache.NegativeTTL,
		"QUEUE_TIMEOUT":                    c.Limits.QueueTimeout,
		"RETRY_AFTER":                      c.Limits.RetryAfter,
		"READ_HEADER_TIMEOUT":              c.Server.ReadHeaderTimeout,
		"READ_TIMEOUT":                     c.Server.ReadTimeout,
		"WRITE_TIMEOUT":                    c.Server.WriteTimeout,
		"IDLE_TIMEOUT":                     c.Server.IdleTimeout,
		"SHUTDOWN_TIMEOUT":                 c.Server.ShutdownTimeout,
		"AD_DEFAULT_TMAX":                  c.Ad.DefaultTmax,
		"AD_MAX_TMAX":                      c.Ad.MaxTmax,
		"UPSTREAM_DIAL_TIMEOUT":            c.Ad.UpstreamDialTimeout,
		"UPSTREAM_TLS_HANDSHAKE_TIMEOUT":   c.Ad.UpstreamTLSHandshakeTimeout,
		"UPSTREAM_RESPONSE_HEADER_TIMEOUT": c.Ad.UpstreamResponseHeaderTimeout,
		"UPSTREAM_IDLE_CONN_TIMEOUT":       c.Ad.UpstreamIdleConnTimeout,
		"BREAKER_OPEN_TIMEOUT":             c.Ad.BreakerOpenTimeout,
		"NOTICE_TIMEOUT":                   c.Ad.NoticeTimeout,
	}
	names := make([]string, 0, len(positive))
	for k := range positive {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if positive[k] <= 0 {
			bad(k, "must be a positive duration, got %s", positive[k])
		}
	}
	if !(c.AccessLogSample >= 0 && c.AccessLogSample <= 1) { // NaN too
		bad("ACCESS_LOG_SAMPLE", "%v: want a fraction from 0 to 1", c.AccessLogSample)
	}
	if c.AccessLogSlow < 0 {
		bad("ACCESS_LOG_SLOW", "must not be negative")
	}
	if c.Cache.StaleMaxAge < 0 {
		bad("CACHE_STALE_MAX_AGE", "must not be negative")
	}
	if c.Server.DrainPeriod < 0 {
		bad("DRAIN_PERIOD", "must not be negative")
	}
	// After SIGTERM the process drains, waits for requests in flight, then flushes
	// the win notices: all of it must fit in the container's stop timeout, or
	// SIGKILL ends it half way. The stack sets that timeout (infra's TestShutdownOrder
	// and the faults suite hold the two together); here the sum is bounded by the
	// largest ECS allows.
	if stop := c.Server.DrainPeriod + c.Server.ShutdownTimeout + c.Ad.NoticeTimeout; stop > MaxStopTimeout {
		bad("SHUTDOWN_TIMEOUT", "ASAP_DRAIN_PERIOD %s + ASAP_SHUTDOWN_TIMEOUT %s + ASAP_NOTICE_TIMEOUT %s = %s: above %s, the longest stop timeout ECS allows, so SIGKILL would cut the shutdown short",
			c.Server.DrainPeriod, c.Server.ShutdownTimeout, c.Ad.NoticeTimeout, stop, MaxStopTimeout)
	}
	atLeastOne := map[string]int{
		"REDIS_POOL_SIZE":                  c.Redis.PoolSize,
		"CACHE_MAX_ENTRIES":                c.Cache.MaxEntries,
		"MAX_IN_FLIGHT":                    c.Limits.MaxInFlight,
		"MAX_HEADER_BYTES":                 c.Server.MaxHeaderBytes,
		"UPSTREAM_MAX_IDLE_CONNS_PER_HOST": c.Ad.UpstreamMaxIdleConnsPerHost,
		"UPSTREAM_MAX_IDLE_CONNS":          c.Ad.UpstreamMaxIdleConns,
		"BREAKER_FAILURES":                 c.Ad.BreakerFailures,
		"NOTICE_CONCURRENCY":               c.Ad.NoticeConcurrency,
		"NOTICE_PIPELINE":                  c.Ad.NoticePipeline,
	}
	names = names[:0]
	for k := range atLeastOne {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if atLeastOne[k] < 1 {
			bad(k, "must be at least 1, got %d", atLeastOne[k])
		}
	}
	if c.Redis.MinIdleConns < 0 || c.Redis.MinIdleConns > c.Redis.PoolSize {
		bad("REDIS_MIN_IDLE_CONNS", "must be between 0 and ASAP_REDIS_POOL_SIZE")
	}
	if c.Redis.MaxRetries < 0 {
		bad("REDIS_MAX_RETRIES", "must not be negative")
	}
	if (c.Redis.TLSCertFile == "") != (c.Redis.TLSKeyFile == "") {
		bad("REDIS_TLS_CERT_FILE", "and ASAP_REDIS_TLS_KEY_FILE go together: set both or neither")
	}
	if (c.Redis.TLSCAFile != "" || c.Redis.TLSCertFile != "") && !strings.HasPrefix(c.Redis.URL, "rediss://") {
		bad("REDIS_TLS_CA_FILE", "ASAP_REDIS_TLS_* apply only to a rediss:// ASAP_REDIS_URL")
	}
	if c.Limits.MaxQueued < 0 {
		bad("MAX_QUEUED", "must not be negative")
	}
	if c.Ad.NoticeQueue < 0 {
		bad("NOTICE_QUEUE", "must not be negative")
	}
	if c.Server.MaxBodyBytes < 0 {
		bad("MAX_BODY_BYTES", "must not be negative")
	}
	if c.Ad.UpstreamMaxResponseBytes < 1 {
		bad("UPSTREAM_MAX_RESPONSE_BYTES", "must be at least 1")
	}
	if c.Ad.UpstreamMaxHeaderBytes < 1 {
		bad("UPSTREAM_MAX_HEADER_BYTES", "must be at least 1")
	}
	if c.Ad.DefaultTmax > c.Ad.MaxTmax {
		bad("AD_DEFAULT_TMAX", "%s is above ASAP_AD_MAX_TMAX %s", c.Ad.DefaultTmax, c.Ad.MaxTmax)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Ad.UpstreamVendors)) {
		if _, ok := c.Ad.Upstreams.Lookup(name); !ok {
			bad("UPSTREAM_VENDORS", "%q is not an upstream of ASAP_UPSTREAMS", name)
		}
	}
	for _, cidr := range c.Ad.TrustedProxies {
		if _, _, err := net.ParseCIDR(strings.TrimSpace(cidr)); err != nil {
			bad("TRUSTED_PROXIES", "%q is not a CIDR", cidr)
		}
	}
	if c.MemoryLimit != "" {
		if _, err := ParseBytes(c.MemoryLimit); err != nil {
			bad("MEMORY_LIMIT", "%v", err)
		}
	}
	if c.GCPercent < 0 {
		bad("GC_PERCENT", "%d: want a percentage above 0 (0 leaves the runtime's default)", c.GCPercent)
	}
	if c.Ad.AuctionReturnMargin < 0 || c.Ad.AuctionReturnMargin >= c.Ad.DefaultTmax {
		bad("AUCTION_RETURN_MARGIN", "%s: want at least 0 and below ASAP_AD_DEFAULT_TMAX %s", c.Ad.AuctionReturnMargin, c.Ad.DefaultTmax)
	}
	if c.Env == "production" && c.Ad.AuctionTrace {
		bad("AUCTION_TRACE", "the auction trace shows bid requests and answers; it is refused in production")
	}
	if !c.Local() && c.Debug {
		bad("DEBUG", "pprof and expvar are for local environments only, not %s", c.Env)
	}
	return errors.Join(errs...)
}

// ParseBytes reads a size as GOMEMLIMIT does: a number with an optional B, KiB, MiB,
// GiB or TiB suffix.
func ParseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != num {
		return 0, fmt.Errorf("%q is not a size such as 512MiB", s)
	}
	return n * mult, nil
}
