package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds the readiness check, so that /readyz answers within the load
// balancer's health-check timeout even if the check blocks.
const readyTimeout = time.Second

// healthz is the liveness probe: 200 while the process serves.
func (s *Server) healthz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"ALIVE"}`))
}

// readyz is the readiness probe the load balancer's health check calls: 200 while
// serving; 503 once shutdown has begun (Drain), and while neither Redis nor a warm
// placement cache can answer.
func (s *Server) readyz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	if s.draining.Load() {
		return c.JSONBlob(http.StatusServiceUnavailable,
			[]byte(`{"status":"DRAINING","error":"shutting down: finishing the requests in flight"}`))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{
			"status": "NOT_READY", "error": "placements cannot be served: " + err.Error()})
	}
	return c.JSONBlob(http.StatusOK, []byte(`{"status":"READY"}`))
}
