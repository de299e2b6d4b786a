// Command bench is `make bench` and `make soak`: it measures ASAP side by side with
// the limits it is held to, on 127.0.0.1 only.
//
//	go run ./service/cmd/bench [-rounds 3] [-duration 5s] [-conns 32] [-rate 2000] [-only auction] [-out bench/results.md]
//	go run ./service/cmd/bench -soak [-duration 10m] [-rate 1000]
//
// It builds ASAP and the demo ad server into a temporary directory, loads the
// sample placements into Redis (ASAP_TEST_REDIS_URL, as scripts/with-redis.sh sets
// it) under a key prefix of its own, and starts, each as a process of its own:
//
//   - ASAP as shipped for production (ASAP_ENV=production, JSON access log on),
//     with the demo ad server, in its fixed-response mode, as upstream "primary";
//   - a bare Echo handler answering GET /v2 with the bytes ASAP answers (the limit
//     for /v2);
//   - httputil.ReverseProxy in front of the same upstream (the thinnest Go proxy);
//   - nginx proxy_pass with upstream keep-alive, when nginx is on the PATH;
//   - and it calls the upstream directly (the limit for /v2/ad).
//
// With taskset and a machine not busy with other work (-pin), the load generator
// runs on CPU 0 and every contender and upstream on the other CPUs.
//
// Each round runs every contender in turn (A B C A B C ...), so that drift of the
// machine hits them alike: first closed-loop throughput (-conns connections, each
// sending its next request when the last one is answered, for -duration), then
// open-loop latency at a constant -rate (vegeta's pacer: latency includes any
// queueing, so it is not hidden by coordinated omission). The report shows the
// median of the rounds, the ratios the targets are stated in, and the Redis
// commands per ASAP request from Redis's INFO commandstats; it is printed and
// written to -out.
//
// The Echo and ReverseProxy contenders are this same binary, started again with
// -serve echo or -serve proxy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	// Benchmark (and soak).
	rounds   int
	duration time.Duration
	warmup   time.Duration
	conns    int
	rate     int
	out      string
	root     string
	redisURL string
	nginx    string
	only     string
	profile  string

	// Placement and latency runs (benchmark).
	pin         string
	latencyRuns int

	// Soak.
	soak      bool
	sample    time.Duration
	soakGrace time.Duration

	// Contender modes (internal: the driver starts itself with them).
	serve    string
	addr     string
	upstream string
	bodyFile string
	cpuProf  string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "rounds: each runs every contender once, alternating")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measurement (throughput, then latency); with -soak, of the whole soak")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "closed-loop traffic to each contender before the first round")
	fs.IntVar(&o.conns, "conns", 32, "connections of the closed-loop throughput run")
	fs.IntVar(&o.rate, "rate", 0, "requests per second of the open-loop latency run (default 2000; with -soak, 1000)")
	fs.StringVar(&o.out, "out", "bench/results.md", "file the results table is written to, relative to -root (empty: none)")
	fs.StringVar(&o.root, "root", "", "repository root (default: found from the working directory, where go.work is)")
	fs.StringVar(&o.redisURL, "redis", os.Getenv("ASAP_TEST_REDIS_URL"), "Redis URL ASAP reads placements from (default ASAP_TEST_REDIS_URL, set by scripts/with-redis.sh)")
	fs.StringVar(&o.nginx, "nginx", "auto", "nginx contender: auto (when nginx is on the PATH), off, or the path of an nginx binary")
	fs.StringVar(&o.only, "only", "", "run only the contenders of this route: /v2, /v2/ad, or auction (the auction rows) (default: all)")
	fs.StringVar(&o.pin, "pin", "auto", "auto: with taskset, 2 CPUs or more and a load average under half of them, the load generator on CPU 0 and the contenders on the others; on: pin whatever the load, or fail; off: no pinning")
	fs.IntVar(&o.latencyRuns, "latency-runs", 2, "open-loop latency runs per contender per round; the report shows the spread of their p99")
	fs.StringVar(&o.profile, "profile", "", "save CPU profiles of ASAP (its first throughput run per route) into this `dir`; turns ASAP_DEBUG on")
	fs.BoolVar(&o.soak, "soak", false, "soak instead: ASAP alone at -rate for -duration, sampling its resident memory")
	fs.DurationVar(&o.sample, "sample", 10*time.Second, "with -soak: how often resident memory is sampled")
	fs.DurationVar(&o.soakGrace, "soak-warmup", time.Minute, "with -soak: the memory sample at this time is the baseline the rest is held to")
	fs.StringVar(&o.serve, "serve", "", "internal: serve as a contender (echo or proxy) on -addr")
	fs.StringVar(&o.addr, "addr", "", "internal: listen address of -serve")
	fs.StringVar(&o.upstream, "upstream", "", "internal: upstream URL of -serve proxy")
	fs.StringVar(&o.bodyFile, "body", "", "internal: file holding the body -serve echo answers")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "internal: with -serve, write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.serve != "" && o.cpuProf != "" {
		stop, err := startCPUProfile(o.cpuProf)
		if err != nil {
			return err
		}
		defer stop()
	}
	switch o.serve {
	case "echo":
		return serveEcho(ctx, o.addr, o.bodyFile)
	case "proxy":
		return serveProxy(ctx, o.addr, o.upstream)
	case "":
	default:
		return fmt.Errorf("-serve %q: want echo or proxy", o.serve)
	}
	if o.rate == 0 {
		o.rate = 2000
		if o.soak {
			o.rate = 1000
		}
	}
	if o.soak && !flagSet(fs, "duration") {
		o.duration = 10 * time.Minute
	}
	switch {
	case o.rounds < 1:
		return errors.New("-rounds must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return errors.New("-duration must be positive and -warmup not negative")
	case o.conns < 1 || o.rate < 1 || o.latencyRuns < 1:
		return errors.New("-conns, -rate and -latency-runs must be positive")
	case o.pin != "auto" && o.pin != "on" && o.pin != "off":
		return fmt.Errorf("-pin %q: want auto, on or off", o.pin)
	case o.only != "" && o.only != "/v2" && o.only != "/v2/ad" && o.only != "auction":
		return fmt.Errorf("-only %q: want /v2, /v2/ad or auction", o.only)
	case o.redisURL == "":
		return errors.New("no Redis: set ASAP_TEST_REDIS_URL or -redis (make bench runs under scripts/with-redis.sh, which sets it)")
	}
	if o.root == "" {
		root, err := findRoot()
		if err != nil {
			return err
		}
		o.root = root
	}
	if o.soak {
		return soak(ctx, o, stdout)
	}
	return bench(ctx, o, stdout)
}

// startCPUProfile profiles this process into file until stop is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
