package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Check is an extra validation of a decoded placement, such as "its upstream is
// configured". It returns every problem it finds, errors.Join-ed.
type Check func(*Placement) error

// Decode reads a JSON array of placement records, as a placements file holds them,
// and validates every record with Validate and then with checks. Unlike records
// read from Redis, a file may not hold unknown fields: in a file they are typos.
// The error lists every problem of every record at once (errors.Join), one per
// line, each naming the record's index and pkey.
func Decode(data []byte, checks ...Check) ([]Placement, error) {
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
		problems := decodeRecord(raw, &ps[i], checks)
		for _, err := range problems {
			errs = append(errs, fmt.Errorf("record %d: %w", i, err))
		}
		if len(problems) > 0 && ps[i].PKey == "" {
			continue
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

// DecodeRecord reads one placement record, as the admin API's PUT receives it,
// and validates it as Decode validates each record of a file: no unknown fields,
// Validate, then checks. The error lists every problem, one per line.
func DecodeRecord(data []byte, checks ...Check) (*Placement, error) {
	var p Placement
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, errors.New("null is not a placement")
	}
	if err := errors.Join(decodeRecord(data, &p, checks)...); err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeRecord decodes raw into p strictly and returns every problem of it.
func decodeRecord(raw []byte, p *Placement, checks []Check) []error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		var syn *json.SyntaxError
		switch {
		case errors.As(err, &syn):
			line, col := position(raw, syn.Offset)
			err = fmt.Errorf("line %d, column %d: %w", line, col, err)
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			err = errors.New("the JSON ends before the record does")
		}
		return []error{err}
	}
	if dec.More() {
		return []error{errors.New("more than one JSON value: want one placement record")}
	}
	errs := eachProblem("", p.Validate())
	for _, check := range checks {
		errs = append(errs, eachProblem(fmt.Sprintf("placement %q", p.PKey), check(p))...)
	}
	return errs
}

// eachProblem splits a joined error into its problems, each prefixed with prefix
// (none when prefix is empty).
func eachProblem(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		if prefix == "" {
			return []error{err}
		}
		return []error{fmt.Errorf("%s: %w", prefix, err)}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, eachProblem(prefix, e)...)
	}
	return out
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

// DecodeStored decodes a record read from Redis. Unknown fields are tolerated, so
// a writer may add fields before every instance knows them. A record that is not
// a valid placement is refused with an error wrapping ErrInvalid; one whose only
// problems are in its ad section is returned with those problems in AdProblem, so
// that GET /v2, which does not need that section, still answers.
func DecodeStored(data []byte, pkey string) (*Placement, error) {
	var p Placement
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: placement %q in Redis is not valid JSON: %w", ErrInvalid, pkey, err)
	}
	if p.PKey != pkey {
		return nil, fmt.Errorf("%w: placement %q in Redis has pkey %q", ErrInvalid, pkey, p.PKey)
	}
	err := p.Validate()
	if err == nil {
		return &p, nil
	}
	core := p
	core.Ad = nil
	if coreErr := core.Validate(); coreErr != nil {
		return nil, fmt.Errorf("%w: placement %q in Redis: %w", ErrInvalid, pkey, err)
	}
	p.AdProblem = err
	return &p, nil
}

// Encode returns the JSON that the store writes for p.
func Encode(p *Placement) ([]byte, error) {
	return json.Marshal(p)
}
