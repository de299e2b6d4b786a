package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCeilingInOperationsDoc: docs/operations.md gives /v2/ad's ceiling as the
// code sets it.
func TestCeilingInOperationsDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ceiling  = ASAP_AD_DEFAULT_TMAX ÷ %d on /v2/ad; none on /v2", adCeilingShare)
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/operations.md does not say %q", want)
	}
}
