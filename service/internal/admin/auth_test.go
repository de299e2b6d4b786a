package admin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"testing"

	"asap/service/config"
)

func TestAuthenticate(t *testing.T) {
	var tokens config.AdminTokens
	if err := tokens.Decode("alice:alice-token-0123456789,bob:bob-token-0123456789ab,carol:carol:token:with:colons"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header   string
		wantName string
		wantErr  error
	}{
		{"Bearer alice-token-0123456789", "alice", nil},
		{"bearer bob-token-0123456789ab", "bob", nil},
		{"Bearer carol:token:with:colons", "carol", nil},
		{"Bearer  alice-token-0123456789 ", "alice", nil},
		{"", "", ErrNoToken},
		{"Bearer", "", ErrNoToken},
		{"Bearer ", "", ErrNoToken},
		{"Basic alice-token-0123456789", "", ErrNoToken},
		{"Bearer alice-token-012345678", "", ErrUnknownToken},
		{"Bearer alice-token-01234567890", "", ErrUnknownToken},
		{"Bearer bob-token-0123456789", "", ErrUnknownToken},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "/admin/placements", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			name, err := Authenticate(tokens, r)
			if name != tt.wantName || err != tt.wantErr {
				t.Errorf("Authenticate = %q, %v; want %q, %v", name, err, tt.wantName, tt.wantErr)
			}
		})
	}
	r, _ := http.NewRequest(http.MethodGet, "/admin/placements", nil)
	r.Header.Set("Authorization", "Bearer alice-token-0123456789")
	if _, err := Authenticate(nil, r); err != ErrNoTokens {
		t.Errorf("Authenticate with no tokens = %v; want ErrNoTokens", err)
	}
}

// TestMatchIsConstantTime holds match to its promise, which no timing test on a
// busy machine could: it compares with crypto/subtle, and neither compares tokens
// with == or != nor returns or breaks inside its loop, so every token is compared
// whatever matched.
func TestMatchIsConstantTime(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "auth.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var match *ast.FuncDecl
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "match" {
			match = fd
		}
	}
	if match == nil {
		t.Fatal("auth.go has no func match")
	}
	calls := map[string]int{}
	ast.Inspect(match.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok {
					calls[pkg.Name+"."+sel.Sel.Name]++
				}
			}
		case *ast.RangeStmt:
			ast.Inspect(n.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BinaryExpr:
					if n.Op == token.EQL || n.Op == token.NEQ {
						t.Errorf("match compares with %s inside its loop: not constant time", n.Op)
					}
				case *ast.ReturnStmt, *ast.BranchStmt, *ast.IfStmt, *ast.SwitchStmt:
					t.Errorf("match branches inside its loop (%T): it must compare every token", n)
				}
				return true
			})
		}
		return true
	})
	if calls["subtle.ConstantTimeCompare"] == 0 {
		t.Errorf("match does not call subtle.ConstantTimeCompare")
	}
}
