// Command adserver is the demo OpenRTB 2.6 ad server that `make run` starts beside
// ASAP (see package demoad).
//
//	go run ./service/cmd/adserver -addr 127.0.0.1:8081 -fill 0.8 -latency 20ms -jitter 10ms
//	go run ./service/cmd/adserver -addr 127.0.0.1:8082 -price 2.10 -seat exchange-b -latency 60ms
//	go run ./service/cmd/adserver -formats banner,native   # never bids video
//
// Several, on different addresses with different prices and latencies, are the
// upstreams of one auction (scripts/run-local.sh starts three).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"asap/service/internal/demoad"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "adserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("adserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	fill := fs.Float64("fill", 0.8, "share of auctions answered with a bid, 0 to 1 (the rest get 204)")
	latency := fs.Duration("latency", 20*time.Millisecond, "how long each auction answer waits")
	jitter := fs.Duration("jitter", 10*time.Millisecond, "random extra latency, up to ± this")
	fixed := fs.Bool("fixed", false, "answer every auction with one constant pre-encoded bid, without decoding the request (benchmarks)")
	nurl := fs.Bool("nurl", true, "with -fixed: the bid carries a nurl (ASAP then fires a win notice per ad)")
	price := fs.Float64("price", 0, "price of every bid, CPM (default: at random, at or above the floor; 1.50 with -fixed)")
	seat := fs.String("seat", "demo-seat", "seat of the bids")
	status := fs.Int("status", 0, "answer every auction with this HTTP status and no body (failure drills)")
	formats := fs.String("formats", demoad.FormatList(demoad.DefaultFormats), "formats to bid, in order of preference: an imp offering several gets the first listed; one offering none listed gets 204")
	baseURL := fs.String("base-url", "", "URL the bids' nurl and burl point at, as ASAP and SDKs reach this server (default: http://<Host header of the auction>)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *fill < 0 || *fill > 1 {
		return fmt.Errorf("-fill %v: want a share from 0 to 1", *fill)
	}
	if *latency < 0 || *jitter < 0 {
		return errors.New("-latency and -jitter must not be negative")
	}
	if *baseURL != "" {
		if u, err := url.Parse(*baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-base-url %q: want an http(s) URL", *baseURL)
		}
	}
	kinds, err := demoad.ParseFormats(*formats)
	if err != nil {
		return fmt.Errorf("-formats %q: %w", *formats, err)
	}
	if *price < 0 {
		return fmt.Errorf("-price %v: must not be negative", *price)
	}
	if *status != 0 && (*status < 100 || *status > 599) {
		return fmt.Errorf("-status %d: not an HTTP status", *status)
	}
	srv := demoad.New(demoad.Options{
		Fill: *fill, NoFill: *fill == 0, Latency: *latency, Jitter: *jitter, Fixed: *fixed, FixedNoNURL: !*nurl, Status: *status,
		BaseURL: *baseURL, Price: *price, Seat: *seat, Formats: kinds,
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	fmt.Fprintf(stdout, "demo ad server on http://%s/openrtb2/auction (seat %s, fill %.2f, price %v, latency %s ± %s, fixed %t, formats %s)\n",
		ln.Addr(), *seat, *fill, *price, *latency, *jitter, *fixed, *formats)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	s := srv.Stats()
	fmt.Fprintf(stdout, "demo ad server stopped: %d auctions, %d bids, %d wins, %d losses, %d impressions\n", s.Requests, s.Bids, s.Wins, s.Losses, s.Imps)
	return nil
}
