// Command promote copies the image staging verified, by digest, into production's own
// ECR repository (package promote) and prints its reference there, the value `make
// promote` sets as production's asap:image:
//
//	aws ecr get-login-password --region us-east-1 | go run ./infra/cmd/promote \
//	  -image 123456789012.dkr.ecr.us-east-1.amazonaws.com/asap-staging@sha256:... \
//	  -repository asap-production -password-stdin
//
// -plan prints the reference without copying (what asap:image will be). The copy
// needs no Docker daemon; the registries' credentials are the ECR password on stdin
// (user AWS), valid for every repository the caller may use in that region.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"asap/infra/promote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		image      = fs.String("image", "", "the verified image, REGISTRY/REPOSITORY@sha256:<64 hex>")
		repository = fs.String("repository", "", "the destination repository: a name in the image's registry (asap-production) or REGISTRY/NAME")
		plan       = fs.Bool("plan", false, "print the destination reference and copy nothing")
		username   = fs.String("username", "AWS", "registry user with -password-stdin (ECR's is AWS)")
		passStdin  = fs.Bool("password-stdin", false, "read the registry password from stdin (aws ecr get-login-password); without it the registries are read anonymously")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("promote: unexpected arguments %q", fs.Args())
	}
	if *image == "" || *repository == "" {
		return errors.New("promote: -image and -repository are required")
	}
	if *plan {
		target, err := promote.Target(*image, *repository)
		if err != nil {
			return fmt.Errorf("promote: %w", err)
		}
		fmt.Fprintln(stdout, target)
		return nil
	}

	auth := authn.Anonymous
	if *passStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("promote: read the password from stdin: %w", err)
		}
		password := strings.TrimSpace(line)
		if password == "" {
			return errors.New("promote: -password-stdin: stdin holds no password (aws ecr get-login-password failed?)")
		}
		auth = authn.FromConfig(authn.AuthConfig{Username: *username, Password: password})
	}
	target, err := promote.Copy(ctx, *image, *repository, remote.WithAuth(auth))
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	fmt.Fprintf(stderr, "promote: %s is %s\n", *image, target)
	fmt.Fprintln(stdout, target)
	return nil
}
