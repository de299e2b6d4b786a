package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// serveEcho is the bare Echo contender: GET /v2 answers the bytes of bodyFile
// with ASAP's headers, and nothing else happens per request. It is the ceiling
// for ASAP's /v2.
func serveEcho(ctx context.Context, addr, bodyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/v2", func(c echo.Context) error {
		c.Response().Header()["Cache-Control"] = []string{"no-store"}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	})
	return serve(ctx, addr, e)
}

// serveProxy is the httputil.ReverseProxy contender: every request goes to
// upstream (its path replaced by upstream's), over a keep-alive pool sized for
// the benchmark's connections, without HTTP/2 (the upstream is plain HTTP/1.1).
func serveProxy(ctx context.Context, addr, upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-upstream %q: want an absolute URL", upstream)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host, r.Out.URL.Path, r.Out.URL.RawPath = target.Scheme, target.Host, target.Path, ""
			r.Out.Host = target.Host
		},
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	return serve(ctx, addr, proxy)
}

// serve serves h on addr until ctx is done.
func serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
