package exchange

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// TestAuctionDocFates holds the fate table of docs/auction.md to the code:
// one row per Reason but Valid, with its label and loss code.
func TestAuctionDocFates(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "auction.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| [^|]+ \\| `([a-z_]+)` \\| (\\d+) \\|$").FindAllSubmatch(doc, -1)
	got := map[string]int{}
	for _, r := range rows {
		code, _ := strconv.Atoi(string(r[2]))
		got[string(r[1])] = code
	}
	for r := Won; r < numReasons; r++ {
		code, ok := got[r.String()]
		switch {
		case !ok:
			t.Errorf("docs/auction.md's fate table has no row for %s", r)
		case code != r.LossCode():
			t.Errorf("docs/auction.md: %s has loss code %d; the code says %d", r, code, r.LossCode())
		}
		delete(got, r.String())
	}
	for label := range got {
		t.Errorf("docs/auction.md's fate table has %s, which is no bid fate", label)
	}
}
