package server

// limitedRoutes are the routes behind the in-flight limit, each with its own
// limiter (see limit).
var limitedRoutes = []string{"/v2", "/v2/ad"}

// routes registers every route and middleware of the public server.
func (s *Server) routes() {
	e := s.echo
	// Every request, matched or not, goes through observe, recover and limitBody
	// after routing (ServeHTTP), so that c.Path() names the route, not the raw path.
	// ServeHTTP does not run e.Pre or e.Use middleware: TestNoEchoMiddleware fails
	// when any is registered.
	// Route middleware is composed here, once: route-level middleware given to
	// e.GET would be applied anew, a closure each, on every request.

	// Health endpoints bypass the in-flight limit: a busy server is still alive,
	// and the load balancer must see /readyz turn 503 while draining.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// The SDK API.
	e.GET("/v2", s.limit("/v2", s.v2))
	if s.adService != nil {
		e.GET("/v2/ad", s.limit("/v2/ad", s.ad))
	}
}
