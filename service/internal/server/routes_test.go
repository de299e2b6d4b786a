package server

import (
	"reflect"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestNoEchoMiddleware holds routes.go to what ServeHTTP does: it dispatches
// through Echo's router and wraps every route in observe itself, so middleware
// registered with e.Pre or e.Use would never run. Route-level middleware
// (e.GET(path, h, mw...)) is composed into the routed handler by Echo and does run.
// Add middleware to the chain in observe/recover, or dispatch through
// echo.Echo.ServeHTTP, instead.
func TestNoEchoMiddleware(t *testing.T) {
	newServer := func() *Server {
		s, err := New(Deps{Placements: mapGetter{}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if n := echoMiddleware(t, newServer()); n != 0 {
		t.Errorf("Echo holds %d pre/use middleware: ServeHTTP skips them (see its doc)", n)
	}
	// The check itself sees what it guards against.
	s := newServer()
	s.echo.Pre(func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	s.echo.Use(func(next echo.HandlerFunc) echo.HandlerFunc { return next })
	if n := echoMiddleware(t, s); n != 2 {
		t.Errorf("after e.Pre and e.Use, echoMiddleware = %d; want 2", n)
	}
}

// echoMiddleware counts the middleware registered with e.Pre and e.Use.
func echoMiddleware(t *testing.T, s *Server) int {
	t.Helper()
	e := reflect.ValueOf(s.echo).Elem()
	n := 0
	for _, field := range []string{"premiddleware", "middleware"} {
		f := e.FieldByName(field)
		if !f.IsValid() {
			t.Fatalf("echo.Echo has no field %q: Echo changed; check that ServeHTTP still runs everything routes.go registers", field)
		}
		n += f.Len()
	}
	return n
}
