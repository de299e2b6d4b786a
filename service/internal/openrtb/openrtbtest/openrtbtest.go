// Package openrtbtest gives tests the official OpenRTB 2.6 JSON Schema and examples
// kept in shared/openrtb2.6 beside the repository clone.
package openrtbtest

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaBase = "https://iabtechlab.com/openrtb/2.6/"

// Dir returns the shared/openrtb2.6 directory, found by walking up from the working
// directory (a package directory under the clone) to a directory holding
// shared/openrtb2.6. The test fails, saying where it looked, when there is none.
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; {
		cand := filepath.Join(dir, "shared", "openrtb2.6")
		if fi, err := os.Stat(filepath.Join(cand, "BidRequest.json")); err == nil && !fi.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no shared/openrtb2.6 (the official OpenRTB 2.6 JSON Schema) in %s or any parent: "+
				"place a copy of shared/ beside the repository clone", wd)
		}
		dir = parent
	}
}

// Schemas holds the compiled BidRequest and BidResponse schemas.
type Schemas struct {
	BidRequest  *jsonschema.Schema
	BidResponse *jsonschema.Schema
}

var (
	compileOnce sync.Once
	compiled    Schemas
	compileErr  error
)

// Load compiles every schema file of the shared directory once per test binary.
func Load(t testing.TB) Schemas {
	t.Helper()
	dir := Dir(t)
	compileOnce.Do(func() { compiled, compileErr = compile(dir) })
	if compileErr != nil {
		t.Fatalf("compile OpenRTB schema: %v", compileErr)
	}
	return compiled
}

func compile(dir string) (Schemas, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return Schemas{}, err
	}
	c := jsonschema.NewCompiler()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return Schemas{}, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return Schemas{}, err
		}
		if err := c.AddResource(schemaBase+filepath.Base(f), doc); err != nil {
			return Schemas{}, err
		}
	}
	var s Schemas
	if s.BidRequest, err = c.Compile(schemaBase + "BidRequest.json"); err != nil {
		return Schemas{}, err
	}
	if s.BidResponse, err = c.Compile(schemaBase + "BidResponse.json"); err != nil {
		return Schemas{}, err
	}
	return s, nil
}

// ValidateRequest fails the test when body is not a BidRequest the schema accepts.
func ValidateRequest(t testing.TB, body []byte) {
	t.Helper()
	validate(t, Load(t).BidRequest, "BidRequest", body)
}

// ValidateResponse fails the test when body is not a BidResponse the schema accepts.
func ValidateResponse(t testing.TB, body []byte) {
	t.Helper()
	validate(t, Load(t).BidResponse, "BidResponse", body)
}

func validate(t testing.TB, s *jsonschema.Schema, what string, body []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, body)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("%s does not validate against the OpenRTB 2.6 schema: %v\n%s", what, err, body)
	}
}

// Example is one file of shared/openrtb2.6/examples.
type Example struct {
	Name string
	Body []byte
}

// Examples returns the examples of kind "bid-requests" or "bid-responses", sorted
// by name; the test fails when there are none.
func Examples(t testing.TB, kind string) []Example {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(t), "examples", kind, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no examples in shared/openrtb2.6/examples/%s", kind)
	}
	sort.Strings(files)
	out := make([]Example, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Example{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Body: data})
	}
	return out
}
