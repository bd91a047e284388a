package framework

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSuiteSkipsOnlyThroughSkip: every skip in the e2e suite and this framework goes through
// Skip, so that each one's reason carries SkipPrefix and the CI summary lists it. A t.Skip with
// another message ("skipped: ...") was missed by the summary before.
func TestSuiteSkipsOnlyThroughSkip(t *testing.T) {
	files, err := filepath.Glob("../*.go")
	require.NoError(t, err)
	own, err := filepath.Glob("*.go")
	require.NoError(t, err)
	files = append(files, own...)
	require.NotEmpty(t, files)
	fset := token.NewFileSet()
	for _, path := range files {
		if path == "skip.go" {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Skip", "Skipf", "SkipNow":
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "framework" && sel.Sel.Name == "Skip" {
					return true
				}
				assert.Failf(t, "a skip not through framework.Skip", "%s: %s.%s: use framework.Skip(t, reason) so the CI summary sees it",
					fset.Position(call.Pos()), exprName(sel.X), sel.Sel.Name)
			}
			return true
		})
	}
}

func exprName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "…"
}
