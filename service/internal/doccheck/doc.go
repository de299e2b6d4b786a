// Package doccheck holds the tests of the repository's Markdown documentation
// (README.md and docs/*.md) against what it describes: every relative link and
// anchor resolves; every `make TARGET` shown is a Makefile target and the
// commands table lists every target `make help` lists; every flag table matches
// its command's -h; the README's `make run` paragraph names the sample
// placements and the demo ad servers scripts/run-local.sh starts; the demo ad
// server's /stats example has its fields. It has no code of its own: the tests
// are the point.
package doccheck
