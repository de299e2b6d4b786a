package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"asap/service/internal/placement"
	"asap/service/internal/query"
)

// observe runs h, the routed request's handler (Echo's 404 or 405 handler when
// no route matched), measures the request and writes its access log line. It
// answers errors itself (c.Error), so that what it records is the final status.
//
// Metrics: requests by route and status, latency by route, for every request.
// Access log (when ASAP_ACCESS_LOG is on): one line per request that the sampler
// keeps (every error but sheds and every slow request, ASAP_ACCESS_LOG_SAMPLE of
// the rest) with method, route (the registered path, never the query string,
// which holds privacy data such as uid or gdpr_consent), status, latency, bytes,
// request id and a well-formed pkey.
func (s *Server) observe(c echo.Context, h echo.HandlerFunc) {
	start := time.Now()
	err := s.recover(c, h)
	if err != nil {
		c.Error(err)
	}
	end := time.Now()
	elapsed := end.Sub(start)
	req, res := c.Request(), c.Response()
	route := s.routeLabel(c)
	s.metrics.observe(route, res.Status, elapsed)
	if !s.cfg.AccessLog || !s.sampler.keep(res.Status, elapsed, err == errShed) {
		return
	}
	if s.accessLog != nil {
		writeAccessLine(s.accessLog, &accessLine{
			time: end, method: req.Method, route: route, status: res.Status, latency: elapsed,
			bytes: res.Size, requestID: s.requestID(req), pkey: queryPkey(req.URL.RawQuery),
		})
		return
	}
	attrs := [...]slog.Attr{
		slog.String("method", req.Method),
		slog.String("route", route),
		slog.Int("status", res.Status),
		slog.Float64("latency_ms", float64(elapsed.Microseconds())/1000),
		slog.Int64("bytes", res.Size),
		slog.String("request_id", s.requestID(req)),
		slog.String("pkey", queryPkey(req.URL.RawQuery)),
	}
	n := len(attrs)
	if attrs[n-1].Value.String() == "" {
		n--
	}
	s.log.LogAttrs(req.Context(), slog.LevelInfo, "request", attrs[:n]...)
}

// recover runs h after the body check, and turns a panic into an error (a logged
// 500) instead of a dropped connection.
func (s *Server) recover(c echo.Context, h echo.HandlerFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	if err := s.limitBody(c); err != nil {
		return err
	}
	return h(c)
}

// limitBody refuses request bodies over Server.MaxBodyBytes. The API reads no
// body, so a large one is either a mistake or an attack.
func (s *Server) limitBody(c echo.Context) error {
	limit := s.cfg.Server.MaxBodyBytes
	req := c.Request()
	switch {
	case req.ContentLength > limit:
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body larger than %d bytes; the API takes no body", limit))
	case req.ContentLength < 0: // chunked: the length is known only while reading
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)
	}
	return nil
}

// limit admits requests to route through its limiter (adaptive, bounded by
// ASAP_MAX_IN_FLIGHT, with ASAP_MAX_QUEUED waiting at most ASAP_QUEUE_TIMEOUT):
// a request it refuses gets 503 with Retry-After, at once when the queue is full.
// Each SDK route has a limiter of its own, because each has a latency of its own
// (GET /v2 answers from the cache, GET /v2/ad waits for the upstreams), and one
// gradient over both would judge one against the other's baseline.
func (s *Server) limit(route string, next echo.HandlerFunc) echo.HandlerFunc {
	l := s.limiters[route]
	return func(c echo.Context) error {
		t, err := l.Acquire(c.Request().Context())
		if err != nil {
			s.metrics.shed(err)
			return errShed
		}
		defer l.Release(t)
		return next(c)
	}
}

// routeLabel is the registered route of the request, or "unmatched", so that
// metric labels and log fields never carry raw client paths.
func (s *Server) routeLabel(c echo.Context) string {
	if p := c.Path(); s.routeSet[p] {
		return p
	}
	return "unmatched"
}

// codeLabels holds the decimal strings of the HTTP status codes, so that counting a
// request does not format one.
var codeLabels = func() (l [600]string) {
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}()

func codeLabel(code int) string {
	if code >= 0 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}

// queryPkey returns the pkey of a raw query when it is a well-formed key, else "".
// It is the access log's cheap look at the query: nothing else of it is logged.
func queryPkey(raw string) string {
	pkey, seen := "", false
	for {
		name, value, rest, ok, err := query.Next(raw)
		if !ok || err != nil {
			break
		}
		raw = rest
		if name != "pkey" {
			continue
		}
		v, err := query.Unescape(value)
		if err != nil || (seen && query.Repeated("pkey", pkey, v) != nil) {
			return "" // the request was refused for its pkey
		}
		pkey, seen = v, true
	}
	if !placement.ValidKey(pkey) {
		return ""
	}
	return pkey
}

// requestIDs makes request ids unique within the process: a random boot prefix
// and a counter, cheaper than a UUID per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

// requestID returns the request's X-Request-Id or X-Amzn-Trace-Id (set by the
// ALB) when it is a plausible id, else a new one.
func (s *Server) requestID(req *http.Request) string {
	for _, h := range [...]string{echo.HeaderXRequestID, "X-Amzn-Trace-Id"} {
		if id := req.Header.Get(h); id != "" && len(id) <= 128 && printable(id) {
			return id
		}
	}
	return s.ids.next()
}

// next returns a new id: the prefix and the counter in base 36, built in one
// allocation.
func (ids *requestIDs) next() string {
	var b [32]byte // a 9-byte prefix and at most 13 base-36 digits
	id := append(b[:0], ids.prefix...)
	return string(strconv.AppendUint(id, ids.n.Add(1), 36))
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
