// Package app runs the ASAP server: it reads the configuration, connects to Redis
// (or starts an embedded one locally), starts the placement cache, the public
// server and the admin server, and shuts them down in order when asked to.
package app

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"asap/service/config"
	"asap/service/internal/ad"
	"asap/service/internal/admin"
	"asap/service/internal/adminui"
	"asap/service/internal/cache"
	"asap/service/internal/embedredis"
	"asap/service/internal/experiment"
	"asap/service/internal/placement"
	"asap/service/internal/server"
	"asap/service/internal/store"
)

// Options are what Run needs beyond the configuration, which it reads from the
// environment itself.
type Options struct {
	// Version is the build's version (the git SHA); ASAP_VERSION overrides it.
	Version string
	// Args are the command-line arguments after "serve"; there must be none.
	Args []string
	// Stdout is unused for now; Stderr receives the logs.
	Stdout, Stderr io.Writer
	// Listening, if set, is called once the listeners are bound, with their
	// addresses; admin is nil when ASAP_ADMIN_ADDR is empty. Tests use it to learn
	// the ports of ASAP_HTTP_ADDR=127.0.0.1:0.
	Listening func(public, admin net.Addr)
	// WrapPlacements, if set, wraps the placement cache before the server uses it.
	// Tests use it to hold requests in flight.
	WrapPlacements func(placement.Getter) placement.Getter
	// ProcessWide lets Run set what is global to the process: go-redis's own log
	// lines (failed dials, reconnects) go to ASAP's logger instead of plain stderr.
	// Main sets it; tests that run several servers in one process leave it off.
	ProcessWide bool

	// logFlushInterval overrides logFlushInterval (tests: an hour, so that only
	// Close writes the access log out).
	logFlushInterval time.Duration
}

// Main is `asap serve`: it serves until ctx is cancelled (SIGTERM or SIGINT), then
// shuts down gracefully and returns nil. It returns an error when the
// configuration is invalid (listing every problem) or a listener fails.
func Main(ctx context.Context, version string, args []string, stdout, stderr io.Writer) error {
	return Run(ctx, Options{Version: version, Args: args, Stdout: stdout, Stderr: stderr, ProcessWide: true})
}

// Run is Main with Options.
func Run(ctx context.Context, o Options) error {
	if len(o.Args) > 0 {
		return fmt.Errorf("serve takes no arguments (got %q): configure it with ASAP_ variables", o.Args)
	}
	cfg, err := config.Load()
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	version := o.Version
	if cfg.Version != "" {
		version = cfg.Version
	}
	// Closed on every return, the error returns included: the buffered access log
	// is written out before the error is.
	logs := newLogWriter(o.Stderr, o.logFlushInterval)
	defer logs.Close()
	log := newLogger(cfg, logs)
	log.Info("starting", "version", version, "env", cfg.Env, "go", runtime.Version(), "gomaxprocs", runtime.GOMAXPROCS(0))
	setMemoryLimit(cfg, log)
	if o.ProcessWide {
		store.LogRedisTo(log)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(version, cfg.Env),
	)

	redisCfg := cfg.Redis
	if redisCfg.URL == "" { // config allows this only in local
		url, stop, err := embedredis.Start(redisCfg.KeyPrefix)
		if err != nil {
			return err
		}
		defer stop()
		redisCfg.URL = url
		log.Info("embedded Redis started because ASAP_REDIS_URL is empty: sample placements loaded, data lives only as long as this process",
			"url", url, "pkeys", "demo-feed demo-article demo-paused demo-auction")
	}
	client, err := store.NewRedisClient(redisCfg, log)
	if err != nil {
		return err
	}
	defer client.Close()
	log.Info("placements from Redis", "url", store.RedactURL(redisCfg.URL), "key_prefix", redisCfg.KeyPrefix)
	st := store.NewStore(client, redisCfg.KeyPrefix)
	cache := cache.NewCache(st, cfg.Cache, reg, log)

	// The cache outlives the public server's shutdown: requests still in flight
	// while draining get fresh placements.
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	cacheDone := make(chan struct{})
	go func() {
		defer close(cacheDone)
		cache.Run(cacheCtx)
	}()
	defer func() {
		stopCache()
		<-cacheDone
	}()

	var getter placement.Getter = cache
	if o.WrapPlacements != nil {
		getter = o.WrapPlacements(getter)
	}
	// One set of experiment metrics counts both SDK routes.
	experiments, err := experiment.New(reg)
	if err != nil {
		return err
	}
	adService, closeAd, err := newAd(cfg, getter, experiments, reg, log)
	if err != nil {
		return err
	}
	defer closeAd() // after the public server's shutdown: no new win notices
	srv, err := server.New(server.Deps{
		Config:      cfg,
		Placements:  getter,
		Logger:      log,
		Registry:    reg,
		Experiments: experiments,
		Ready:       cache.Ready,
		Ad:          adService,
		AccessLog:   accessLogWriter(cfg, logs.AccessLog()),
	})
	if err != nil {
		return err
	}

	public := srv.HTTPServer()
	publicLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("ASAP_HTTP_ADDR: %w", err)
	}
	defer publicLn.Close()
	var adminSrv *http.Server
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("ASAP_ADMIN_ADDR: %w", err)
		}
		defer adminLn.Close()
		placements := admin.NewManager(st, log, admin.Checks(cfg.Ad.Upstreams)...)
		// The admin API, and the page for ad ops over it (adminui.Prefix).
		api := http.NewServeMux()
		api.Handle("/admin/", admin.NewAPI(placements, cfg.AdminTokens, log))
		api.Handle(adminui.Prefix, adminui.New(placements, cfg.AdminTokens, log))
		adminSrv = adminServer(cfg, reg, adService, api, log)
	}

	failed := make(chan error, 2)
	go func() {
		if err := public.Serve(publicLn); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("public server: %w", err)
		}
	}()
	adminAddr := net.Addr(nil)
	if adminSrv != nil {
		adminAddr = adminLn.Addr()
		go func() {
			if err := adminSrv.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("admin server: %w", err)
			}
		}()
	}
	log.Info("serving", "http", publicLn.Addr().String(), "admin", fmt.Sprint(adminAddr), "debug_endpoints", cfg.Debug)
	if o.Listening != nil {
		o.Listening(publicLn.Addr(), adminAddr)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-failed:
		log.Error("server failed; shutting down", "err", serveErr)
	}
	shutdown(cfg.Server, srv, public, adminSrv, serveErr == nil, log)
	return serveErr
}

// shutdown stops serving in phases: /readyz turns 503 while the listener keeps
// serving for the drain period (the load balancer takes a few health checks to
// notice); then the listener closes and requests in flight get up to the shutdown
// timeout to finish; then the admin server closes.
func shutdown(cfg config.Server, srv *server.Server, public, admin *http.Server, drain bool, log *slog.Logger) {
	srv.Drain()
	if drain {
		log.Info("shutdown: draining: /readyz answers 503, requests are still served", "drain_period", cfg.DrainPeriod.String())
		time.Sleep(cfg.DrainPeriod)
	}
	log.Info("shutdown: listener closed; waiting for requests in flight", "timeout", cfg.ShutdownTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := public.Shutdown(ctx); err != nil {
		log.Warn("shutdown: requests still in flight at the timeout; closing their connections", "err", err)
		public.Close()
	}
	if admin != nil {
		if err := admin.Shutdown(ctx); err != nil {
			admin.Close()
		}
	}
	log.Info("shutdown: done")
}

// adminServer serves /metrics; the admin API under /admin/ (api: bearer tokens
// of ASAP_ADMIN_TOKENS, refused when there are none); when ASAP_DEBUG=true, pprof
// and expvar; when ASAP_AUCTION_TRACE=true, GET /debug/auction (ad's trace of one
// auction). It listens on ASAP_ADMIN_ADDR, which is never behind the load balancer.
func adminServer(cfg config.Config, reg *prometheus.Registry, ads *ad.Service, api http.Handler, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/admin/", api)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}))
	if cfg.Debug {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("GET /debug/vars", expvar.Handler())
	}
	if cfg.Ad.AuctionTrace {
		mux.Handle("GET /debug/auction", server.AuctionTrace(ads))
	}
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// CPU profiles and traces take 30 s by default.
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newLogger returns the process's logger: JSON for log shipping or text for
// people, at the configured level.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// accessLogWriter is where the server writes access log lines itself: the log
// writer's buffered access log when logs are JSON at info level or below (the
// lines are what the JSON handler would write, for a tenth of its cost), else nil,
// so that they go through the logger and its format and level (and are written
// at once, as every logger line is).
func accessLogWriter(cfg config.Config, w io.Writer) io.Writer {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config
	if cfg.LogFormat == "text" || level > slog.LevelInfo {
		return nil
	}
	return w
}

// setMemoryLimit applies ASAP_MEMORY_LIMIT as the runtime's soft memory limit,
// unless GOMEMLIMIT (which the runtime has applied already) is set, and
// ASAP_GC_PERCENT as the collector's target, unless GOGC is set.
func setMemoryLimit(cfg config.Config, log *slog.Logger) {
	switch {
	case cfg.GoGC != "":
		log.Info("GC target from GOGC; ASAP_GC_PERCENT ignored", "gogc", cfg.GoGC)
	case cfg.GCPercent > 0:
		debug.SetGCPercent(cfg.GCPercent)
		log.Info("GC target set", "gc_percent", cfg.GCPercent)
	}
	switch {
	case cfg.GoMemLimit != "":
		log.Info("memory limit from GOMEMLIMIT; ASAP_MEMORY_LIMIT ignored", "limit", cfg.GoMemLimit)
	case cfg.MemoryLimit != "":
		n, err := config.ParseBytes(cfg.MemoryLimit)
		if err != nil { // validated by config
			return
		}
		debug.SetMemoryLimit(n)
		log.Info("memory limit set", "limit", cfg.MemoryLimit)
	}
}

// buildInfo is the asap_build_info gauge: always 1, labelled with the version and
// environment, so that dashboards can show which build runs where.
func buildInfo(version, env string) prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "asap_build_info",
		Help: "Always 1; labelled with the running build's version and environment.",
	}, []string{"version", "env"})
	g.WithLabelValues(version, env).Set(1)
	return g
}
