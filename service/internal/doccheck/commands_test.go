package doccheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"asap/service/internal/demoad"
	"asap/service/internal/placement/samples"
)

// documents returns README.md and docs/*.md: name (relative to the root) → content.
func documents(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	for _, f := range append([]string{filepath.Join(root, "README.md")}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, f)
		docs[filepath.ToSlash(name)] = data
	}
	return docs
}

var (
	// makeRule is a rule of the Makefile; makeHelp one that `make help` lists
	// (its grep: a `## ` comment after the prerequisites).
	makeRule = regexp.MustCompile(`(?m)^([a-z][a-z-]*):([^=]|$)`)
	makeHelp = regexp.MustCompile(`(?m)^([a-z][a-z-]*):.*## `)
	// makeCall is `make TARGET` in a document's code, not `remake` or `$(MAKE)`.
	makeCall = regexp.MustCompile(`(?:^|[^\w$(./-])make ([a-z][a-z-]*)`)
)

// makefileTargets returns the Makefile's rules and the ones `make help` lists.
func makefileTargets(t *testing.T) (rules, listed map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	rules, listed = map[string]bool{}, map[string]bool{}
	for _, m := range makeRule.FindAllSubmatch(data, -1) {
		rules[string(m[1])] = true
	}
	for _, m := range makeHelp.FindAllSubmatch(data, -1) {
		listed[string(m[1])] = true
	}
	if len(listed) < 5 || !listed["help"] || !listed["test"] {
		t.Fatalf("the Makefile's listed targets %v: the parser is broken", slices.Sorted(maps.Keys(listed)))
	}
	return rules, listed
}

// TestMakeTargets holds the documents' commands to the Makefile: every
// `make TARGET` in the code of README.md and docs/*.md is a target `make help`
// lists, and the commands table of docs/development.md (marked
// `<!-- commands: make -->`) lists exactly those targets.
func TestMakeTargets(t *testing.T) {
	rules, listed := makefileTargets(t)
	calls := 0
	for name, data := range documents(t) {
		for _, c := range codeOf(data) {
			for _, m := range makeCall.FindAllStringSubmatch(c.text, -1) {
				calls++
				switch target := m[1]; {
				case listed[target]:
				case rules[target]:
					t.Errorf("%s:%d: `make %s` is a rule of the Makefile that `make help` does not list (give it a ## comment, or show a listed one)", name, c.line, target)
				default:
					t.Errorf("%s:%d: `make %s`: the Makefile has no such target", name, c.line, target)
				}
			}
		}
	}
	if calls < 10 {
		t.Fatalf("found %d make commands in the documents: the parser is broken", calls)
	}

	data := documents(t)["docs/development.md"]
	tables, _ := tablesOf(data, nil)
	var found bool
	for _, tb := range tables {
		if tb.kind != "commands" || tb.arg != "make" {
			continue
		}
		found = true
		inTable := map[string]bool{}
		for _, r := range tb.rows {
			for _, s := range spans(r[0]) {
				target, ok := strings.CutPrefix(s, "make ")
				if !ok {
					t.Errorf("docs/development.md:%d: %q in the commands column: write each command as `make TARGET`", tb.line, s)
					continue
				}
				target, _, _ = strings.Cut(target, " ")
				inTable[target] = true
				if !listed[target] {
					t.Errorf("docs/development.md:%d: the commands table lists `make %s`, which `make help` does not", tb.line, target)
				}
			}
		}
		for target := range listed {
			if !inTable[target] && target != "help" {
				t.Errorf("docs/development.md:%d: the commands table lacks `make %s`, which `make help` lists", tb.line, target)
			}
		}
	}
	if !found {
		t.Error("docs/development.md has no table marked <!-- commands: make -->")
	}
}

// numberWords are the counts the README spells out.
var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

// TestMakeRunParagraph holds the README's description of `make run` to what it
// starts: it names every placement the local environment is seeded with
// (samples.Local, whatever the samples directory holds) and no other, and the
// number and addresses of the demo ad servers scripts/run-local.sh starts.
func TestMakeRunParagraph(t *testing.T) {
	readme := string(documents(t)["README.md"])
	start := strings.Index(readme, "`make run` starts")
	if start < 0 {
		t.Fatal("README.md has no paragraph beginning \"`make run` starts\"")
	}
	para, _, _ := strings.Cut(readme[start:], "\n\n")

	local, err := samples.Local()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range local {
		want[p.PKey] = true
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_-]{1,64})`").FindAllStringSubmatch(para, -1) {
		named[m[1]] = true
	}
	for pkey := range want {
		if !named[pkey] {
			t.Errorf("README.md's `make run` paragraph does not name the sample placement %q (service/internal/placement/samples)", pkey)
		}
	}
	for pkey := range named {
		if !want[pkey] {
			t.Errorf("README.md's `make run` paragraph names %q, which is not a sample placement of the local environment", pkey)
		}
	}

	script, err := os.ReadFile(filepath.Join(root, "scripts", "run-local.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, m := range regexp.MustCompile(`(?m)^[A-Z_]+_ADDR=\$\{[A-Z_]+_ADDR:-([0-9.]+:[0-9]+)\}`).FindAllSubmatch(script, -1) {
		addrs = append(addrs, string(m[1]))
	}
	if len(addrs) == 0 || len(addrs) >= len(numberWords) {
		t.Fatalf("found %d demo ad server addresses in scripts/run-local.sh: the parser is broken", len(addrs))
	}
	count := numberWords[len(addrs)] + " demo ad server"
	if len(addrs) > 1 {
		count += "s"
	}
	if !strings.Contains(para, count) {
		t.Errorf("README.md's `make run` paragraph does not say %q (scripts/run-local.sh starts %d: %v)", count, len(addrs), addrs)
	}
	for _, a := range addrs {
		if !strings.Contains(para, a) {
			t.Errorf("README.md's `make run` paragraph does not name %s, where scripts/run-local.sh starts a demo ad server", a)
		}
	}
}

// TestDemoStatsExample holds the `GET /stats` answer docs/development.md shows
// to the demo ad server's counters: the same fields, in the same order.
func TestDemoStatsExample(t *testing.T) {
	data := documents(t)["docs/development.md"]
	i := bytes.Index(data, []byte("/stats\n"))
	if i < 0 {
		t.Fatal("docs/development.md shows no `curl …/stats`")
	}
	line, _, _ := bytes.Cut(data[i+len("/stats\n"):], []byte("\n"))
	got, err := keys(line)
	if err != nil {
		t.Fatalf("the /stats answer shown, %s: %v", line, err)
	}
	b, err := json.Marshal(demoad.Stats{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := keys(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("docs/development.md shows /stats answering the fields %v; the demo ad server answers %v", got, want)
	}
}

// keys returns the keys of a JSON object, in order.
func keys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		out = append(out, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return out, nil
}
