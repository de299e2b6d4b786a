// Package formattest gives tests the IAB's VAST schemas and sample documents,
// embedded from testdata/vast (a verbatim copy; source in its SOURCE.txt), and
// validates a VAST document against the schema of its version with libxml2's
// xmllint, the validator the IAB's own samples are checked with.
package formattest

import (
	"bytes"
	"embed"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

//go:embed testdata/vast/schemas/*.xsd testdata/vast/samples/*/*.xml
var files embed.FS

// root is the directory of the copy inside files.
const root = "testdata/vast"

// schemas maps a VAST version to its schema file; 4.0 and 4.3 have none here
// (see testdata/vast/SOURCE.txt).
var schemas = map[string]string{
	"2.0": "vast_2.0.1.xsd",
	"3.0": "vast3_draft.xsd",
	"4.1": "vast_4.1.xsd",
	"4.2": "vast_4.2.xsd",
}

// HasSchema reports whether ValidateVAST can validate documents of version.
func HasSchema(version string) bool { _, ok := schemas[version]; return ok }

// ValidateVAST fails the test when doc does not validate against the IAB schema
// of VAST version (HasSchema must hold) with `xmllint --noout --schema XSD -`.
// Without xmllint (Debian package libxml2-utils) the test is skipped, except
// under CI=true, where it fails: CI must not pass a check it did not run.
func ValidateVAST(t testing.TB, doc []byte, version string) {
	t.Helper()
	xsd := schemaFile(t, version)
	cmd := exec.Command(xmllint(t), "--noout", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("VAST %s document does not validate against %s: %v\n%s\ndocument:\n%s", version, path.Base(xsd), err, out, doc)
	}
}

// xmllint returns the path of xmllint, or skips (fails under CI=true) the test.
func xmllint(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("xmllint not found (install libxml2-utils): %v", err)
		}
		t.Skipf("xmllint not found (install libxml2-utils; under CI=true this fails): %v", err)
	}
	return p
}

// schemaFile writes the schema of version to a temporary file for xmllint.
func schemaFile(t testing.TB, version string) string {
	t.Helper()
	name, ok := schemas[version]
	if !ok {
		t.Fatalf("no VAST %q schema here; have 2.0, 3.0, 4.1, 4.2", version)
	}
	data, err := files.ReadFile(root + "/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Sample is one of the IAB's sample VAST documents that holds an Ad (VAST 2.0 and
// later), with what ASAP must read from it (decided by reading each document).
type Sample struct {
	// Path is the file under testdata/vast/samples, "4.1/Inline_Simple.xml".
	Path string
	Doc  []byte
	// Version is the document's VAST version.
	Version string
	// Duration is its first Linear's Duration in seconds; 0 for non-linear ads and wrappers.
	Duration int
	// Wrapper reports whether its Ad is a Wrapper.
	Wrapper bool
	// Schema reports whether ValidateVAST has the schema of its version.
	Schema bool
}

// expected is what each sample with an Ad holds. TestReadVASTSamples (package
// format) holds it to the files: every sample not listed is a VAST 1 one, and
// ReadVAST reads each listed one as listed.
var expected = map[string]struct {
	duration int
	wrapper  bool
}{
	"1-2.0/Inline_LinearRegular_VAST2.0.xml":              {30, false},
	"1-2.0/Inline_LinearVAST2vpaid.xml":                   {15, false},
	"1-2.0/Inline_NonLinear_VAST2.0.xml":                  {0, false},
	"1-2.0/Inline_NonLinear_Verification_VAST2.0.xml":     {30, false}, // named non-linear, holds a Linear
	"3.0/Event_Tracking-test.xml":                         {16, false},
	"3.0/Inline_Companion_Tag-test.xml":                   {16, false},
	"3.0/Inline_Linear_Tag-test.xml":                      {16, false},
	"3.0/Inline_Non-Linear_Tag-test.xml":                  {0, false},
	"3.0/No_Wrapper_Tag-test.xml":                         {16, false},
	"3.0/Video_Clicks_and_click_tracking-Inline-test.xml": {16, false},
	"3.0/Wrapper_Tag-test.xml":                            {0, true},
	"4.0/Ad_Verification-test.xml":                        {16, false},
	"4.0/Category-test.xml":                               {16, false},
	"4.0/Conditional_Ad-test.xml":                         {16, false},
	"4.0/Event_Tracking-test.xml":                         {16, false},
	"4.0/Inline_Companion_Tag-test.xml":                   {16, false},
	"4.0/Inline_Linear_Tag-test.xml":                      {16, false},
	"4.0/Inline_Non-Linear_Tag-test.xml":                  {0, false},
	"4.0/Inline_Simple.xml":                               {16, false},
	"4.0/No_Wrapper_Tag-test.xml":                         {16, false},
	"4.0/Ready_to_serve_Media_Files_check-test.xml":       {16, false},
	"4.0/SSAI_stitching__VPAID_separation-test.xml":       {16, false},
	"4.0/SSAI_stitching_mezzanine_file_support-test.xml":  {16, false},
	"4.0/Universal_Ad_ID-test.xml":                        {16, false},
	"4.0/Video_Clicks_and_click_tracking-Inline-test.xml": {16, false},
	"4.0/Viewable_Impression-test.xml":                    {0, true},
	"4.0/Wrapper_Tag-test.xml":                            {0, true},
	"4.1/Ad_Verification-test.xml":                        {16, false},
	"4.1/Audio_DAAST_Sample.xml":                          {16, false},
	"4.1/Category-test.xml":                               {16, false},
	"4.1/Closed_Caption_Test.xml":                         {16, false},
	"4.1/Conditional_Ad-test.xml":                         {16, false},
	"4.1/Event_Tracking-test.xml":                         {16, false},
	"4.1/Inline_Companion_Tag-test.xml":                   {16, false},
	"4.1/Inline_Linear_Tag-test.xml":                      {16, false},
	"4.1/Inline_Non-Linear_Tag-test.xml":                  {0, false},
	"4.1/Inline_Simple.xml":                               {16, false},
	"4.1/No_Wrapper_Tag-test.xml":                         {16, false},
	"4.1/Ready_to_serve_Media_Files_check-test.xml":       {16, false},
	"4.1/SSAI_stitching__VPAID_separation-test.xml":       {16, false},
	"4.1/SSAI_stitching_mezzanine_file_support-test.xml":  {16, false},
	"4.1/Universal_Ad_ID-test.xml":                        {16, false},
	"4.1/Video_Clicks_and_click_tracking-Inline-test.xml": {16, false},
	"4.1/Viewable_Impression-test.xml":                    {0, true},
	"4.1/Wrapper_Tag-test.xml":                            {0, true},
}

// Samples returns the sample documents that hold an Ad and have a VAST root
// (VAST 2.0 and later; the VAST 1 ones are in Files), sorted by path.
func Samples(t testing.TB) []Sample {
	t.Helper()
	var out []Sample
	for _, f := range Files(t) {
		want, ok := expected[f.Path]
		if !ok {
			continue
		}
		v := path.Dir(f.Path)
		if v == "1-2.0" {
			v = "2.0"
		}
		out = append(out, Sample{Path: f.Path, Doc: f.Doc, Version: v, Duration: want.duration, Wrapper: want.wrapper, Schema: HasSchema(v)})
	}
	if len(out) != len(expected) {
		t.Fatalf("found %d of the %d listed samples", len(out), len(expected))
	}
	return out
}

// File is one sample document, any version.
type File struct {
	Path string // under testdata/vast/samples, "1-2.0/vast1Nonlinear.xml"
	Doc  []byte
}

// Files returns every sample document, VAST 1 included, sorted by path.
func Files(t testing.TB) []File {
	t.Helper()
	names, err := fs.Glob(files, root+"/samples/*/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, File{Path: strings.TrimPrefix(n, root+"/samples/"), Doc: data})
	}
	return out
}
