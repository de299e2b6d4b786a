// Package loader is the `asap load` command: it loads placements from a JSON file
// into Redis and announces the changed ones on the placements channel, so every
// running ASAP instance serves them within a second.
package loader

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"time"

	"asap/service/config"
	"asap/service/internal/admin"
	"asap/service/internal/placement"
	"asap/service/internal/placement/samples"
	"asap/service/internal/store"
)

// timeout bounds the whole load; a batch tool may wait longer than a request.
const timeout = time.Minute

const usage = `usage: asap load [-file FILE | FILE] [-redis URL] [-prefix PREFIX] [-dry-run]

Loads placements from FILE (a JSON array of placement records; default: the
sample placements) into Redis, then publishes the pkey of every record whose
stored JSON changed on <prefix>placements. Each change is a new version of its
placement, as the admin API writes them (history, audit line on stderr, who
"load:<OS user>"). Every record is validated first, and
each ad.upstream and ad.upstreams[].name must be one of ASAP_UPSTREAMS when that
is set; nothing is written unless all records are valid. Configuration (ASAP_ENV, ASAP_REDIS_URL,
ASAP_REDIS_KEY_PREFIX, ASAP_UPSTREAMS, ...) is read as the server reads it.

`

// Main runs `asap load` with args (the arguments after "load").
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("asap load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("file", "", "placements `file`: a JSON array of placement records (default: the sample placements)")
	redisURL := fs.String("redis", "", "Redis `URL` to load into (default: ASAP_REDIS_URL)")
	prefix := fs.String("prefix", "", "key `prefix` (default: ASAP_REDIS_KEY_PREFIX)")
	dryRun := fs.Bool("dry-run", false, "validate only: connect to nothing, write nothing")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("load: %w", err)
	}
	switch {
	case fs.NArg() > 1:
		return fmt.Errorf("load: one placements file at most, got %q", fs.Args())
	case fs.NArg() == 1 && *file != "":
		return errors.New("load: give the placements file either as -file or as an argument, not both")
	case fs.NArg() == 1:
		*file = fs.Arg(0)
	}

	cfg, err := config.Load()
	if err != nil {
		return fmt.Errorf("load: configuration: %w", err)
	}
	if *prefix == "" {
		*prefix = cfg.Redis.KeyPrefix
	}

	source, data := "sample placements", samples.JSON
	if *file != "" {
		source = *file
		if data, err = os.ReadFile(*file); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	checks := admin.Checks(cfg.Ad.Upstreams)
	ps, err := placement.Decode(data, checks...)
	if err != nil {
		return fmt.Errorf("load: %s: %w", source, err)
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%s: %d placements valid (dry run: nothing written)\n", source, len(ps))
		return nil
	}

	rc := cfg.Redis
	if *redisURL != "" {
		rc.URL = *redisURL
	}
	if rc.URL == "" {
		return errors.New("load: no Redis to load into: pass -redis redis://host:6379/0 or set ASAP_REDIS_URL " +
			"(the embedded Redis of `make run` lives inside the server and is seeded with the samples already)")
	}
	// A batch of writes may take longer than the request-path timeouts.
	rc.ReadTimeout = max(rc.ReadTimeout, 10*time.Second)
	rc.WriteTimeout = max(rc.WriteTimeout, 10*time.Second)
	rc.DialTimeout = max(rc.DialTimeout, 2*time.Second)
	rc.PoolTimeout = max(rc.PoolTimeout, 2*time.Second)
	rc.PoolSize, rc.MinIdleConns = 2, 0
	client, err := store.NewRedisClient(rc, nil)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st := store.NewStore(client, *prefix)
	// The same writes as the admin API's: versioned, published, one audit line each.
	audit := slog.New(slog.NewTextHandler(stderr, nil))
	changed, err := admin.NewManager(st, audit, checks...).PutAll(ctx, Who(), ps)
	if err != nil {
		return fmt.Errorf("load into %s: %w", store.RedactURL(rc.URL), err)
	}
	fmt.Fprintf(stdout, "%s: %d loaded, %d changed into %s prefix %q (changes published on %s)\n",
		source, len(ps), len(changed), store.RedactURL(rc.URL), *prefix, st.Channel())
	return nil
}

// Who is the writer `asap load` records in each version and audit line:
// "load:<OS user>", or "load" when the user is unknown.
func Who() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "load:" + u.Username
	}
	return "load"
}
