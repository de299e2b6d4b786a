// Package loader is being built; see the open issues.
package loader

import (
	"context"
	"errors"
	"io"
)

// Main is not built yet.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("loader: not built yet")
}
