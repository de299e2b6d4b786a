package doccheck

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, from this package's directory.
const root = "../../.."

// TestLinks checks every relative link of README.md and docs/*.md: its file (or
// directory) exists inside the repository, and its #anchor, if any, is a heading
// of that Markdown file. Links with a scheme (https:, mailto:) are not followed.
// Every broken link is reported, with its file and line.
func TestLinks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	anchors := map[string]map[string]bool{} // by cleaned path
	docs := map[string]*markdown{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md := parse(data)
		docs[filepath.Clean(f)] = md
		anchors[filepath.Clean(f)] = md.anchors
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		name, _ := filepath.Rel(root, f)
		for _, l := range docs[filepath.Clean(f)].links {
			if err := resolve(absRoot, f, l.target, anchors); err != nil {
				t.Errorf("%s:%d: link %s: %v", name, l.line, l.target, err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no links found: the parser is broken")
	}
	t.Logf("%d links in %d files", checked, len(files))
}

// resolve checks one link target of file from.
func resolve(absRoot, from, target string, anchors map[string]map[string]bool) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "" || u.Host != "" {
		return nil
	}
	path := filepath.FromSlash(u.Path)
	switch {
	case path == "":
		path = from
	case strings.HasPrefix(u.Path, "/"):
		path = filepath.Join(absRoot, path) // GitHub resolves /x from the repository root
	default:
		path = filepath.Join(filepath.Dir(from), path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(absRoot, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("points outside the repository")
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("no such file in the repository: %s", filepath.ToSlash(rel))
	}
	if u.Fragment == "" {
		return nil
	}
	heads, ok := anchors[filepath.Clean(path)]
	if !ok {
		if !strings.HasSuffix(path, ".md") {
			return fmt.Errorf("an anchor into %s, which is not Markdown", path)
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			return err
		}
		heads = parse(data).anchors
		anchors[filepath.Clean(path)] = heads
	}
	if !heads[u.Fragment] {
		return fmt.Errorf("no heading #%s in %s", u.Fragment, filepath.Base(path))
	}
	return nil
}

// markdown is what the test needs of one file.
type markdown struct {
	anchors map[string]bool
	links   []link
}

type link struct {
	target string
	line   int
}

var (
	heading    = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
)

// parse reads the headings and inline links of a Markdown document, leaving out
// fenced code blocks and code spans, where neither is one.
func parse(data []byte) *markdown {
	md := &markdown{anchors: map[string]bool{}}
	seen := map[string]int{}
	walk(data, func(line string, n int, fenced bool) {
		if fenced {
			return
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := slug(m[2])
			if k := seen[slug]; k > 0 {
				md.anchors[fmt.Sprintf("%s-%d", slug, k)] = true
			} else {
				md.anchors[slug] = true
			}
			seen[slug]++
		}
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			md.links = append(md.links, link{target: m[2], line: n})
		}
	})
	return md
}

// walk calls f with every line of a Markdown document and its number, saying
// whether it is inside a fenced code block; the fences themselves are left out.
func walk(data []byte, f func(line string, n int, fenced bool)) {
	fence := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "" && strings.HasPrefix(trimmed, fence):
			fence = ""
		case fence != "":
			f(line, n, true)
		case strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
		default:
			f(line, n, false)
		}
	}
}

// slug is the anchor GitHub gives a heading: its text without Markdown, lower
// case, punctuation other than - and _ dropped, spaces made hyphens.
func slug(text string) string {
	text = inlineLink.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	tests := []struct{ heading, want string }{
		{"GET /v2 — placement and mediation", "get-v2--placement-and-mediation"},
		{"GET /v2/ad — the ad, over OpenRTB 2.6", "get-v2ad--the-ad-over-openrtb-26"},
		{"Connecting: `ASAP_REDIS_URL`", "connecting-asap_redis_url"},
		{"In-flight limits (the Tomcat knobs)", "in-flight-limits-the-tomcat-knobs"},
		{"See [the API](api.md) first", "see-the-api-first"},
		{"Ünïcode stays", "ünïcode-stays"},
	}
	for _, tt := range tests {
		if got := slug(tt.heading); got != tt.want {
			t.Errorf("slug(%q) = %q; want %q", tt.heading, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	md := parse([]byte("# Top\n\nSee [a](a.md#x), ![img](i.png \"t\") and `[not](code.md)`.\n\n```sh\n# not a heading [nor](link.md)\n```\n\n## Top\n## Top\n"))
	var targets []string
	for _, l := range md.links {
		targets = append(targets, l.target)
	}
	if got, want := strings.Join(targets, " "), "a.md#x i.png"; got != want {
		t.Errorf("links = %s; want %s", got, want)
	}
	for _, a := range []string{"top", "top-1", "top-2"} {
		if !md.anchors[a] {
			t.Errorf("no anchor %q in %v", a, md.anchors)
		}
	}
	if md.anchors["not-a-heading-nor"] {
		t.Error("a comment in a code block was taken for a heading")
	}
}
