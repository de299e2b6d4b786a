// Package samples holds the sample placements that the local environment's embedded
// Redis is seeded with and that `asap load` loads by default, and the few that
// only the local environment adds (LocalOnly).
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

// LocalOnly is samples/local.json: the sample placements that only the local
// environment adds, because they name upstreams that only local.env configures
// (demo-auction: an auction across the three demo ad servers of `make run`).
// `asap load` leaves them out: staging and production configure one upstream.
//
//go:embed local.json
var LocalOnly []byte

// Local returns the placements the local environment's embedded Redis is
// seeded with: the samples and LocalOnly, decoded and validated.
func Local() ([]placement.Placement, error) {
	ps, err := placement.Decode(JSON)
	if err != nil {
		return nil, fmt.Errorf("placements.json: %w", err)
	}
	local, err := placement.Decode(LocalOnly)
	if err != nil {
		return nil, fmt.Errorf("local.json: %w", err)
	}
	for _, l := range local {
		for _, p := range ps {
			if p.PKey == l.PKey {
				return nil, fmt.Errorf("local.json: pkey %q is a sample of placements.json already", l.PKey)
			}
		}
	}
	return append(ps, local...), nil
}

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
