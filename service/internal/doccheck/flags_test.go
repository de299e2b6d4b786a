package doccheck

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"asap/service/internal/harness"
)

// commands are the programs whose flags docs may table: the marker's argument
// (`<!-- flags: NAME -->`) → the main package to build and the arguments that
// print its flags.
var commands = map[string]struct {
	pkg  string
	args []string
}{
	"adserver":  {"./service/cmd/adserver", []string{"-h"}},
	"asap load": {"./service", []string{"load", "-h"}},
	"bench":     {"./service/cmd/bench", []string{"-h"}},
}

// flagHelp is one flag as `-h` prints it.
type flagHelp struct {
	usage string
	// def is the default `-h` shows, "" for none (the zero value).
	def string
}

var (
	flagLine = regexp.MustCompile(`^  -([A-Za-z0-9_-]+)(.*)$`)
	// The flag package adds ` (default "x")` for strings and ` (default x)` for
	// the rest; a usage text's own "(default: …)" or "(default 2000; …)" is neither.
	quotedDefault = regexp.MustCompile(` \(default ("(?:[^"\\]|\\.)*")\)$`)
	plainDefault  = regexp.MustCompile(` \(default (\S+)\)$`)
)

// parseFlagHelp reads the flags of the flag package's PrintDefaults output.
func parseFlagHelp(out string) map[string]flagHelp {
	flags := map[string]flagHelp{}
	var name string
	var usage []string
	flush := func() {
		if name == "" {
			return
		}
		u := strings.Join(usage, " ")
		f := flagHelp{usage: u}
		if m := quotedDefault.FindStringSubmatch(u); m != nil {
			f.def, _ = strconv.Unquote(m[1])
		} else if m := plainDefault.FindStringSubmatch(u); m != nil && !strings.HasPrefix(m[1], `"`) {
			f.def = m[1]
		}
		flags[name] = f
		name, usage = "", nil
	}
	for line := range strings.SplitSeq(out, "\n") {
		if m := flagLine.FindStringSubmatch(line); m != nil {
			flush()
			name = m[1]
			// A one-letter bool flag keeps its usage on the same line, after a tab;
			// the others have their type there (or nothing) and the usage below.
			if u, ok := strings.CutPrefix(m[2], "\t"); ok {
				usage = []string{strings.TrimSpace(u)}
			}
			continue
		}
		if name != "" && strings.HasPrefix(line, "    \t") {
			usage = append(usage, strings.TrimSpace(line))
			continue
		}
		flush()
	}
	flush()
	return flags
}

// helpOf builds command and returns what its flags' help says.
func helpOf(t *testing.T, command string) map[string]flagHelp {
	t.Helper()
	c, ok := commands[command]
	if !ok {
		t.Fatalf("no command %q to check flags against: one of %v", command, slices.Sorted(func(yield func(string) bool) {
			for k := range commands {
				if !yield(k) {
					return
				}
			}
		}))
	}
	bin := filepath.Join(t.TempDir(), "cmd")
	if err := harness.Build(context.Background(), root, bin, c.pkg); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, c.args...)
	cmd.Env = harness.Env()        // no ASAP_* from the caller: defaults as a clean shell shows them
	out, _ := cmd.CombinedOutput() // -h exits 0 or 1 (flag.ErrHelp), depending on the command
	flags := parseFlagHelp(string(out))
	if len(flags) == 0 {
		t.Fatalf("%s %s printed no flags:\n%s", c.pkg, strings.Join(c.args, " "), out)
	}
	return flags
}

// literal is a default cell that states a value rather than describing one.
var literal = regexp.MustCompile(`^(-?[0-9.]+([a-zµ]+[0-9a-zµ.]*)?|true|false)$`)

// sameDefault reports whether a table's default cell states the default -h shows.
func sameDefault(doc, help string) bool {
	doc = strings.Trim(doc, "`")
	if doc == help {
		return true
	}
	if d1, err := time.ParseDuration(doc); err == nil {
		if d2, err := time.ParseDuration(help); err == nil {
			return d1 == d2
		}
		return help == "" && d1 == 0
	}
	if f1, err := strconv.ParseFloat(doc, 64); err == nil {
		if f2, err := strconv.ParseFloat(help, 64); err == nil {
			return f1 == f2
		}
		return help == "" && f1 == 0
	}
	if help == "" {
		// No default shown: the zero value, which the table may describe in words
		// ("all", "http://<Host …>"), but not state as another value.
		return doc == "false" || !literal.MatchString(doc)
	}
	return false
}

// TestFlagTables holds every flag table of README.md and docs/*.md (marked
// `<!-- flags: COMMAND -->`) to the command's -h: each flag it lists exists with
// the default -h shows, and it lists every flag -h shows except the internal ones
// (usage "internal: …"). A table whose first column is "flag" must be marked.
func TestFlagTables(t *testing.T) {
	tables := 0
	for name, data := range documents(t) {
		marked, unmarked := tablesOf(data, map[string]bool{"flag": true})
		for _, line := range unmarked {
			t.Errorf("%s:%d: a flag table without a <!-- flags: COMMAND --> marker above it (COMMAND one of the commands of this test)", name, line)
		}
		for _, tb := range marked {
			if tb.kind != "flags" {
				continue
			}
			tables++
			t.Run(tb.arg, func(t *testing.T) { checkFlagTable(t, name, tb, helpOf(t, tb.arg)) })
		}
	}
	if tables < len(commands) {
		t.Errorf("found %d flag tables; want one for each of the %d commands at least", tables, len(commands))
	}
}

func checkFlagTable(t *testing.T, doc string, tb table, help map[string]flagHelp) {
	listed := map[string]bool{}
	for _, r := range tb.rows {
		var names []string
		for _, s := range spans(r[0]) {
			names = append(names, strings.TrimPrefix(s, "-"))
		}
		if len(names) == 0 {
			t.Errorf("%s:%d: a row without a `-flag` in its first cell: %q", doc, tb.line, r[0])
			continue
		}
		var defs []string
		if len(r) > 2 {
			defs = strings.Split(r[1], ", ")
			if len(defs) != len(names) {
				defs = nil
			}
		}
		for i, n := range names {
			listed[n] = true
			h, ok := help[n]
			if !ok {
				t.Errorf("%s:%d: %s has no flag -%s", doc, tb.line, tb.arg, n)
				continue
			}
			if defs != nil && !sameDefault(defs[i], h.def) {
				t.Errorf("%s:%d: -%s: the table's default is %s; %s -h shows %q", doc, tb.line, n, defs[i], tb.arg, h.def)
			}
		}
	}
	for n, h := range help {
		if !listed[n] && !strings.HasPrefix(h.usage, "internal:") {
			t.Errorf("%s:%d: the flags of %s lack -%s (%s)", doc, tb.line, tb.arg, n, h.usage)
		}
	}
}

func TestParseFlagHelp(t *testing.T) {
	out := "Usage of x:\n  -addr string\n    \tlisten address (default \"127.0.0.1:8081\")\n" +
		"  -fill float\n    \tshare (the rest get 204) (default 0.8)\n" +
		"  -rate int\n    \trequests per second (default 2000; with -soak, 1000)\n" +
		"  -redis string\n    \tRedis URL (default ASAP_TEST_REDIS_URL, set by scripts)\n" +
		"  -v\tverbose\n" +
		"  -nurl\n    \twith -fixed: a nurl\n    \tsecond line (default true)\n"
	want := map[string]string{"addr": "127.0.0.1:8081", "fill": "0.8", "rate": "", "redis": "", "v": "", "nurl": "true"}
	got := parseFlagHelp(out)
	if len(got) != len(want) {
		t.Errorf("got %d flags %v; want %d", len(got), got, len(want))
	}
	for n, def := range want {
		if f, ok := got[n]; !ok || f.def != def {
			t.Errorf("-%s: got %+v (found %t); want default %q", n, f, ok, def)
		}
	}
	for _, tt := range []struct {
		doc, help string
		want      bool
	}{
		{"20ms", "20ms", true}, {"1m", "1m0s", true}, {"0.8", "0.8", true}, {"`demo-seat`", "demo-seat", true},
		{"0", "", true}, {"false", "", true}, {"all", "", true}, {"1.5", "", false}, {"3", "2", false}, {"true", "", false},
	} {
		if got := sameDefault(tt.doc, tt.help); got != tt.want {
			t.Errorf("sameDefault(%q, %q) = %t; want %t", tt.doc, tt.help, got, tt.want)
		}
	}
}
