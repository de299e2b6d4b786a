// Package openrtbtest gives tests the official OpenRTB 2.6 JSON Schema and examples,
// embedded from testdata/openrtb2.6 (a verbatim copy; source and licence in its NOTICE),
// so the tests of any package need nothing outside the repository.
package openrtbtest

import (
	"bytes"
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaBase = "https://iabtechlab.com/openrtb/2.6/"

//go:embed testdata/openrtb2.6/*.json testdata/openrtb2.6/examples/*/*.json
var files embed.FS

// root is the directory of the copy inside files.
const root = "testdata/openrtb2.6"

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

// Load compiles every schema file once per test binary.
func Load(t testing.TB) Schemas {
	t.Helper()
	compileOnce.Do(func() { compiled, compileErr = compile() })
	if compileErr != nil {
		t.Fatalf("compile OpenRTB schema: %v", compileErr)
	}
	return compiled
}

func compile() (Schemas, error) {
	names, err := fs.Glob(files, root+"/*.json")
	if err != nil {
		return Schemas{}, err
	}
	c := jsonschema.NewCompiler()
	for _, f := range names {
		data, err := files.ReadFile(f)
		if err != nil {
			return Schemas{}, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return Schemas{}, err
		}
		if err := c.AddResource(schemaBase+path.Base(f), doc); err != nil {
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

// Example is one file of testdata/openrtb2.6/examples.
type Example struct {
	Name string
	Body []byte
}

// Examples returns the examples of kind "bid-requests" or "bid-responses", sorted
// by name; the test fails when there are none.
func Examples(t testing.TB, kind string) []Example {
	t.Helper()
	names, err := fs.Glob(files, root+"/examples/"+kind+"/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no examples in %s/examples/%s", root, kind)
	}
	sort.Strings(names)
	out := make([]Example, 0, len(names))
	for _, f := range names {
		data, err := files.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Example{Name: strings.TrimSuffix(path.Base(f), ".json"), Body: data})
	}
	return out
}
