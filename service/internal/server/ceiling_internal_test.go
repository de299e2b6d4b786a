package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCeilingInOperationsDoc: docs/operations.md gives /v2/ad's ceiling and
// tolerance as the code sets them.
func TestCeilingInOperationsDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("ceiling   = ASAP_AD_DEFAULT_TMAX ÷ %d on /v2/ad; none on /v2", adCeilingShare),
		fmt.Sprintf("tolerance = ASAP_AD_DEFAULT_TMAX ÷ %d on /v2/ad; none on /v2", adToleranceShare),
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/operations.md does not say %q", want)
		}
	}
}
