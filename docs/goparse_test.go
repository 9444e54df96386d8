package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// parseSources parses the non-test Go files of the package in dir with the
// given parser mode; the checks in this package read the library's source
// through it.
func parseSources(t *testing.T, dir string, mode parser.Mode) (*token.FileSet, map[string]*ast.Package) {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, mode)
	require.NoError(t, err)
	return fset, pkgs
}
