// Package server is ASAP's public HTTP server: the SDK API (GET /v2, GET /v2/ad),
// the health endpoints, and the middleware every request goes through (access
// log, metrics, the in-flight/queue limits, body limit), with one error handler
// that maps errors to HTTP statuses and JSON bodies.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"asap/service/config"
	"asap/service/internal/adquery"
	"asap/service/internal/experiment"
	"asap/service/internal/limiter"
	"asap/service/internal/placement"
)

// Deps are the dependencies of a Server.
type Deps struct {
	// Config is the whole configuration; the server reads Limits, Server,
	// AccessLog, AccessLogSample, AccessLogSlow and Ad.TrustedProxies.
	Config config.Config
	// Placements finds placements (in production, the placement cache). Required.
	Placements placement.Getter
	// Logger receives the access log and errors. Nil discards them.
	Logger *slog.Logger
	// Registry receives the server's metrics. Nil registers them nowhere.
	Registry prometheus.Registerer
	// Ready reports whether placements can be served (nil: Redis answered recently
	// or the cache is warm) or why not, in words fit for /readyz's public answer.
	// /readyz calls it; it must be cheap. Nil means always ready.
	Ready func(ctx context.Context) error
	// Ad is the ad service behind GET /v2/ad (an *ad.Service). Nil leaves the
	// route out.
	Ad AdService
	// Experiments counts the requests of placements with experiments by arm; the
	// same Metrics counts GET /v2/ad's (the ad service's). Nil makes the server's
	// own, registered on Registry.
	Experiments *experiment.Metrics
	// AccessLog, when set, receives the access log lines (Config.AccessLog on) as
	// JSON written directly, in the format of slog's JSON handler, without going
	// through Logger: the cheap path for JSON logs at info level. Nil writes them
	// through Logger.
	AccessLog io.Writer
}

// AdService finds the ad for a GET /v2/ad request and writes the SDK's answer to
// out, returning the status to answer with. *ad.Service implements it.
type AdService interface {
	Serve(ctx context.Context, r *adquery.Request, out *bytes.Buffer) (status int, err error)
}

// Server is the public HTTP server's handler. It implements http.Handler.
type Server struct {
	echo       *echo.Echo
	cfg        config.Config
	placements placement.Getter
	log        *slog.Logger
	ready      func(ctx context.Context) error
	adService  AdService
	accessLog  io.Writer
	sampler    accessSampler
	v2Answers  v2Answers
	limiters   map[string]*limiter.Limiter // by route: limitedRoutes
	metrics    *metrics
	draining   atomic.Bool
	retryAfter string // seconds, for Retry-After
	ids        *requestIDs
	routeSet   map[string]bool // the registered paths
}

// New builds a Server from deps.
func New(deps Deps) (*Server, error) {
	if deps.Placements == nil {
		return nil, errors.New("server: Deps.Placements is nil")
	}
	s := &Server{
		cfg:        deps.Config,
		placements: deps.Placements,
		log:        deps.Logger,
		ready:      deps.Ready,
		adService:  deps.Ad,
		accessLog:  deps.AccessLog,
		sampler:    newAccessSampler(deps.Config.AccessLogSample, deps.Config.AccessLogSlow),
		limiters:   make(map[string]*limiter.Limiter, len(limitedRoutes)),
		retryAfter: strconv.Itoa(max(1, int((deps.Config.Limits.RetryAfter+time.Second-1)/time.Second))),
		ids:        newRequestIDs(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.ready == nil {
		s.ready = func(context.Context) error { return nil }
	}
	lim := deps.Config.Limits
	for _, route := range limitedRoutes {
		var opts []limiter.Option
		if route == "/v2/ad" {
			opts = append(opts, limiter.WithCeiling(deps.Config.Ad.DefaultTmax/adCeilingShare),
				limiter.WithTolerance(deps.Config.Ad.DefaultTmax/adToleranceShare))
		}
		s.limiters[route] = limiter.New(lim.MaxInFlight, lim.MaxQueued, lim.QueueTimeout, opts...)
	}
	var err error
	if s.metrics, err = newMetrics(deps.Registry, s.limiters); err != nil {
		return nil, err
	}
	if s.v2Answers.experiments = deps.Experiments; s.v2Answers.experiments == nil {
		if s.v2Answers.experiments, err = experiment.New(deps.Registry); err != nil {
			return nil, err
		}
	}

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	if e.IPExtractor, err = ipExtractor(deps.Config.Ad.TrustedProxies); err != nil {
		return nil, err
	}
	s.echo = e
	s.routes()
	s.routeSet = map[string]bool{}
	for _, r := range e.Routes() {
		s.routeSet[r.Path] = true
		s.metrics.addRoute(r.Path)
	}
	s.metrics.addRoute("unmatched")
	return s, nil
}

// ipExtractor takes the client IP from X-Forwarded-For, believing only the hops
// in trusted (the load balancer's ranges); Echo's defaults would also trust every
// private and loopback address.
func ipExtractor(trusted []string) (echo.IPExtractor, error) {
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range trusted {
		_, n, err := net.ParseCIDR(strings.TrimSpace(cidr))
		if err != nil {
			return nil, fmt.Errorf("server: trusted proxy %q: %w", cidr, err)
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

// ServeHTTP serves a request: it routes it with Echo's router, then runs the
// route's handler inside the middleware every request goes through (observe,
// recover, limitBody). It does what echo.Echo.ServeHTTP does for a server with
// no pre-middleware and one host, minus the closures Echo would build per request
// to apply its middleware (e.Use) to the route's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := s.echo
	c := e.AcquireContext()
	c.Reset(r, w)
	e.Router().Find(r.Method, echo.GetPath(r), c)
	s.observe(c, c.Handler())
	e.ReleaseContext(c)
}

// adCeilingShare sets the ceiling of /v2/ad's limiter: the latency its limit aims
// at stays under ASAP_AD_DEFAULT_TMAX ÷ adCeilingShare whatever its baseline. At
// tmax an admitted ad request ends with what has arrived, and one whose median
// peer takes half of it is already at risk: aiming at tmax itself, a flood kept
// the median just under it, and half the requests admitted ended as house ads
// (TestOverloadCurve).
const adCeilingShare = 2

// adToleranceShare sets the tolerance of /v2/ad's limiter: its limit does not
// fall while the requests admitted take less than ASAP_AD_DEFAULT_TMAX ÷
// adToleranceShare (50 ms of the default 250 ms). An ad request takes a few
// milliseconds alone, and an ECS task's CPU limit (a CFS quota) or a busy host
// stops it for milliseconds at a time whatever the concurrency: aiming at twice
// those few milliseconds, the limit fell at such noise and refused requests in
// bursts, and clients that honour Retry-After went away together for a second
// or two and came back together (TestOverloadCurve; docs/operations.md).
const adToleranceShare = 5

// Drain makes /readyz answer 503 from now on, so the load balancer stops sending
// new requests; the server itself keeps serving until its http.Server shuts down.
func (s *Server) Drain() { s.draining.Store(true) }

// HTTPServer returns an http.Server for s with the timeouts and header limit of
// the configuration. Its ErrorLog goes to the server's logger.
func (s *Server) HTTPServer() *http.Server {
	c := s.cfg.Server
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
