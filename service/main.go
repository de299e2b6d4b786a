// Command asap is the ad proxy that mobile ad SDKs talk to.
//
//	asap                 serve (the default)
//	asap serve           serve the SDK API on ASAP_HTTP_ADDR and metrics on ASAP_ADMIN_ADDR
//	asap load FILE       load placements from a JSON file into Redis and publish the changes
//	asap healthcheck     exit 0 when the local server answers /healthz (container health check)
//	asap version         print the version
//	asap help            list the commands (also -h, --help)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"asap/service/internal/app"
	"asap/service/internal/healthcheck"
	"asap/service/internal/loader"
)

// version is stamped at build time: -ldflags "-X main.version=<git sha>".
var version = "dev"

// usage is what asap help prints: the commands of the package comment.
const usage = `asap is the ad proxy that mobile ad SDKs talk to.

Usage: asap [command] [arguments]

Commands:
  serve            serve the SDK API on ASAP_HTTP_ADDR and metrics on ASAP_ADMIN_ADDR (the default)
  load FILE        load placements from a JSON file into Redis and publish the changes
  healthcheck      exit 0 when the local server answers /healthz (container health check)
  version          print the version
  help             print this list (also -h, --help)

Configuration comes from ASAP_* environment variables over the env file that ASAP_ENV
names (local, local-docker, staging, production).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal starts a graceful shutdown; a second one kills the process.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "asap:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd, rest := "serve", []string(nil)
	if len(args) > 1 {
		cmd, rest = args[1], args[2:]
	}
	switch cmd {
	case "serve":
		return app.Main(ctx, version, rest, stdout, stderr)
	case "load":
		return loader.Main(ctx, rest, stdout, stderr)
	case "healthcheck":
		return healthcheck.Main(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help", "-h", "-help", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q: want serve, load, healthcheck, version or help (asap help lists them)", cmd)
	}
}
