package server

// routes registers every route and middleware of the public server.
func (s *Server) routes() {
	e := s.echo
	// After routing, so that c.Path() names the route, not the raw path.
	e.Use(s.observe, s.recover, s.limitBody)

	// Health endpoints bypass the in-flight limit: a busy server is still alive,
	// and the load balancer must see /readyz turn 503 while draining.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// The SDK API.
	e.GET("/v2", s.v2, s.limit)
	if s.ad != nil {
		e.GET("/v2/ad", s.ad, s.limit)
	}
}
