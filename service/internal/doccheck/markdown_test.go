package doccheck

import (
	"regexp"
	"strings"
)

// code is one piece of code in a Markdown document: a line of a fenced block or
// the text of a code span.
type code struct {
	text string
	line int
}

// table is a Markdown table marked by an HTML comment on the line before it,
// `<!-- KIND: ARG -->`, which says what the table lists and what holds it.
type table struct {
	kind, arg string
	line      int        // of the header row
	rows      [][]string // the body's cells, trimmed, header and rule left out
}

var marker = regexp.MustCompile(`^<!--\s*([a-z]+):\s*(.*?)\s*-->$`)

// codeOf returns the code of a Markdown document: every line of its fenced
// blocks and every code span of its other lines.
func codeOf(data []byte) []code {
	var out []code
	walk(data, func(line string, n int, fenced bool) {
		if fenced {
			out = append(out, code{text: line, line: n})
			return
		}
		for _, span := range codeSpan.FindAllString(line, -1) {
			out = append(out, code{text: strings.Trim(span, "`"), line: n})
		}
	})
	return out
}

// tablesOf returns the marked tables of a Markdown document, and the line of
// every unmarked table whose first header cell is one of the kinds' names
// ("flag", "command"), which should have been marked.
func tablesOf(data []byte, header map[string]bool) (marked []table, unmarked []int) {
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		cells := row(lines[i])
		if cells == nil || i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|-") {
			continue
		}
		var m []string
		if i > 0 {
			m = marker.FindStringSubmatch(strings.TrimSpace(lines[i-1]))
		}
		if m == nil {
			if header[strings.ToLower(cells[0])] {
				unmarked = append(unmarked, i+1)
			}
			continue
		}
		t := table{kind: m[1], arg: m[2], line: i + 1}
		for i += 2; i < len(lines); i++ {
			r := row(lines[i])
			if r == nil {
				break
			}
			t.rows = append(t.rows, r)
		}
		marked = append(marked, t)
	}
	return marked, unmarked
}

// row splits a Markdown table row into its trimmed cells; nil when line is not one.
// A | inside a code span does not split (the tables here keep none outside one).
func row(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range line[1 : len(line)-1] {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// spans returns the texts of the code spans of a table cell.
func spans(cell string) []string {
	var out []string
	for _, s := range codeSpan.FindAllString(cell, -1) {
		out = append(out, strings.Trim(s, "`"))
	}
	return out
}
