// Package samples holds the sample placements that the local environment's embedded
// Redis is seeded with and that `asap load` loads by default.
package samples

import (
	_ "embed"
	"fmt"

	"asap/service/internal/placement"
)

// JSON is samples/placements.json: a JSON array of placement records.
//
//go:embed placements.json
var JSON []byte

// Placements returns the sample placements, decoded and validated. It panics when
// placements.json is not valid, which placement's tests and `asap load` would
// report first: the file is part of the binary, not outside input.
func Placements() []placement.Placement {
	ps, err := placement.Decode(JSON)
	if err != nil {
		panic(fmt.Sprintf("samples: placements.json: %v", err))
	}
	return ps
}

// Placement returns the sample placement pkey. It panics when there is none: it
// serves tests, which name the samples they use.
func Placement(pkey string) placement.Placement {
	for _, p := range Placements() {
		if p.PKey == pkey {
			return p
		}
	}
	panic(fmt.Sprintf("samples: no sample placement %q", pkey))
}
