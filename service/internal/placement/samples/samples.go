// Package samples holds the sample placements that the local environment's embedded
// Redis is seeded with and that `asap load` loads by default.
package samples

import _ "embed"

// JSON is samples/placements.json: a JSON array of placement records.
//
//go:embed placements.json
var JSON []byte
