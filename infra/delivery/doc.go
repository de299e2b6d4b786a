// Package delivery holds the tests of ASAP's delivery files: the Dockerfiles in
// docker/ (parsed with BuildKit's own Dockerfile parser) and the static build they
// run, including the binary's healthcheck subcommand. It has no code of its own.
package delivery
