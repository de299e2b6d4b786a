// Package app is being built; see the open issues.
package app

import (
	"context"
	"errors"
	"io"
)

// Main is not built yet.
func Main(ctx context.Context, version string, args []string, stdout, stderr io.Writer) error {
	return errors.New("app: not built yet")
}
