package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

// configurationDoc is the configuration reference, relative to this package.
const configurationDoc = "../../docs/configuration.md"

// TestConfigurationDocMatchesConfig holds the "Every variable" table of
// docs/configuration.md to Config: every variable documented, nothing documented
// that does not exist, and each default as the struct tag gives it. It reads only
// names and tag defaults, not the env files' values, which change per environment.
func TestConfigurationDocMatchesConfig(t *testing.T) {
	data, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatalf("the configuration reference: %v", err)
	}
	documented, err := variablesTable(data, "## Every variable")
	if err != nil {
		t.Fatalf("%s: %v", configurationDoc, err)
	}
	declared := configVariables(t, reflect.TypeFor[Config]())

	for name, def := range declared {
		got, ok := documented[name]
		if !ok {
			t.Errorf("%s is a variable of config.Config but not in the table of %s", name, configurationDoc)
			continue
		}
		want := "—"
		if def != "" {
			want = "`" + def + "`"
		}
		if got != want {
			t.Errorf("%s: the table's default is %s; want %s (the struct tag's)", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := declared[name]; !ok {
			t.Errorf("%s is in the table of %s but config.Config has no such variable", name, configurationDoc)
		}
	}
}

// configVariables returns the ASAP_ variables of the struct typ and of the sections
// Load reads apart (struct fields tagged ignored), with their tag defaults.
func configVariables(t *testing.T, typ reflect.Type) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for f := range typ.Fields() {
		if f.Tag.Get("ignored") == "true" {
			if f.Type.Kind() == reflect.Struct {
				for k, v := range configVariables(t, f.Type) {
					vars[k] = v
				}
			}
			continue
		}
		name := f.Tag.Get("envconfig")
		if name == "" {
			// envconfig would derive the name from the field; the contract wants it spelt out.
			t.Errorf("config field %s.%s has no envconfig tag", typ.Name(), f.Name)
			continue
		}
		vars["ASAP_"+name] = f.Tag.Get("default")
	}
	return vars
}

// variablesTable reads the first Markdown table after the line heading: the first
// column is a `variable`, the second its default. It returns default by variable.
func variablesTable(doc []byte, heading string) (map[string]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() && strings.TrimSpace(sc.Text()) != heading {
	}
	rows := map[string]string{}
	inTable := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			if strings.HasPrefix(line, "#") {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			return nil, fmt.Errorf("a row with fewer than 3 columns: %s", line)
		}
		name, def := strings.TrimSpace(cells[0]), strings.TrimSpace(cells[1])
		if name == "variable" || strings.Trim(name, "-: ") == "" {
			continue // the header and its rule
		}
		name, ok := strings.CutPrefix(name, "`ASAP_")
		if !ok || !strings.HasSuffix(name, "`") {
			return nil, fmt.Errorf("want one `ASAP_...` variable per row, got %s", cells[0])
		}
		name = "ASAP_" + strings.TrimSuffix(name, "`")
		if _, dup := rows[name]; dup {
			return nil, fmt.Errorf("%s is in the table twice", name)
		}
		rows[name] = def
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no variables table after %q", heading)
	}
	return rows, sc.Err()
}
