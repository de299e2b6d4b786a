// Package healthcheck is the `asap healthcheck` subcommand: the container health
// check of the task definition (["CMD", "/asap", "healthcheck"]). The images have no
// curl or shell, so the binary probes itself: it GETs /healthz of the server in the
// same container and exits 0 on 200, non-zero with a one-line reason otherwise.
//
// It probes liveness (/healthz), not readiness (/readyz): a task that drains during
// shutdown, or waits for Redis, is alive, and ECS must not kill and replace it for
// that. Routing decisions are the load balancer's, from /readyz.
package healthcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"asap/service/config"
)

// DefaultTimeout bounds the probe. ECS's own health check timeout (5 s by default)
// bounds the whole command; the probe gives up earlier so it can say why.
const DefaultTimeout = 2 * time.Second

// Main runs the subcommand with args (the arguments after "healthcheck").
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "URL to probe (default: /healthz on the port of ASAP_HTTP_ADDR on the loopback address)")
	timeout := fs.Duration("timeout", DefaultTimeout, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected arguments %q", fs.Args())
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: -timeout %s: want a positive duration", *timeout)
	}
	if *url == "" {
		u, err := LocalURL(config.HTTPAddr())
		if err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
		*url = u
	}
	if err := Probe(ctx, *url, *timeout); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	fmt.Fprintf(stdout, "healthy: GET %s: 200\n", *url)
	return nil
}

// LocalURL is the /healthz URL of a server listening on addr (host:port), reached
// from inside its own container: a wildcard or empty host becomes the loopback address.
func LocalURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("ASAP_HTTP_ADDR %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// Probe GETs url and returns nil when it answers 200 within timeout.
func Probe(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	// No proxy (the probe is of this container's own server), no keep-alive (the
	// process exits right after), no redirects (a redirect is not a healthy answer).
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	resp, err := transport.RoundTrip(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %s", url, timeout)
		}
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d, want 200", url, resp.StatusCode)
	}
	return nil
}
