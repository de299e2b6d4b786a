// Package doccheck holds the tests of the repository's Markdown documentation
// (README.md and docs/*.md): every relative link and anchor resolves. It has no
// code of its own: the test is the point.
package doccheck
