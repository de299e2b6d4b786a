package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// ParseFile reads a JSON array of placements from the file at path; see Decode.
func ParseFile(path string) ([]Placement, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ps, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ps, nil
}

// Decode reads a JSON array of placement records, as a placements file holds them,
// and validates every record. Unlike records read from Redis, a file may not hold
// unknown fields: in a file they are typos. The error lists every problem of every
// record at once (errors.Join), each naming the record's index and pkey.
func Decode(data []byte) ([]Placement, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return nil, describeJSONError(data, err)
	}
	if len(raws) == 0 {
		return nil, errors.New("no placements: want a JSON array of placement records")
	}
	ps := make([]Placement, len(raws))
	var errs []error
	first := make(map[string]int, len(raws))
	for i, raw := range raws {
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			errs = append(errs, fmt.Errorf("record %d: null is not a placement", i))
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ps[i]); err != nil {
			errs = append(errs, fmt.Errorf("record %d: %w", i, err))
			continue
		}
		if err := ps[i].Validate(); err != nil {
			errs = append(errs, fmt.Errorf("record %d: %w", i, err))
		}
		if j, dup := first[ps[i].PKey]; dup {
			errs = append(errs, fmt.Errorf("record %d: pkey %q is already record %d", i, ps[i].PKey, j))
		} else {
			first[ps[i].PKey] = i
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ps, nil
}

// describeJSONError adds the line and column to a syntax error's byte offset.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, syn.Offset)
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("want a JSON array of placement records, got %s", typ.Value)
	}
	return err
}

func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}
