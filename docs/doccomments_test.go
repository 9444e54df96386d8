package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// libraryPackages are the packages whose exported API must be documented.
var libraryPackages = []string{"scope", "instrument", "tracing", "metrics", "circuit", "telemetry"}

// TestExportedSymbolsDocumented checks that every exported package-level
// function, type, constant and variable, every exported method of an
// exported type, and every exported field or interface method of an exported
// type of the library packages has a doc comment (a comment on a
// grouped const/var declaration covers its members; a trailing line comment
// counts for fields). It also requires a package comment.
func TestExportedSymbolsDocumented(t *testing.T) {
	root := repoRoot(t)
	var missing []string
	for _, pkg := range libraryPackages {
		missing = append(missing, undocumented(t, root, pkg)...)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d exported symbols of the library packages have no doc comment "+
			"(every exported symbol states what it does, its defaults and nil behaviour):\n\t%s",
			len(missing), strings.Join(missing, "\n\t"))
	}
}

func undocumented(t *testing.T, root, pkg string) []string {
	dir := filepath.Join(root, pkg)
	fset, pkgs := parseSources(t, dir, parser.ParseComments)
	p, ok := pkgs[pkg]
	require.True(t, ok, "package %s not found in %s", pkg, dir)

	var missing []string
	report := func(pos token.Pos, what string) {
		position := fset.Position(pos)
		rel, _ := filepath.Rel(root, position.Filename)
		missing = append(missing, filepath.ToSlash(rel)+":"+strconv.Itoa(position.Line)+": "+pkg+"."+what)
	}

	hasPkgDoc := false
	exportedTypes := map[string]bool{}
	for _, f := range p.Files {
		if f.Doc != nil {
			hasPkgDoc = true
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, s := range g.Specs {
					if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
						exportedTypes[ts.Name.Name] = true
					}
				}
			}
		}
	}
	if !hasPkgDoc {
		missing = append(missing, pkg+": no package comment (doc.go)")
	}

	for _, f := range p.Files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := receiverType(d.Recv)
					if !exportedTypes[recv] {
						continue // methods of unexported types are not API
					}
					name = recv + "." + name
				}
				if !documented(d.Doc) {
					report(d.Pos(), name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						if !documented(s.Doc) && !documented(d.Doc) {
							report(s.Pos(), s.Name.Name)
						}
						checkMembers(s, typeDoc(s, d), report)
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() && !documented(s.Doc) && !documented(d.Doc) && !documented(s.Comment) {
								report(n.Pos(), n.Name)
							}
						}
					}
				}
			}
		}
	}
	return missing
}

// checkMembers reports undocumented exported fields and interface methods.
// An interface method may instead be described, by name, in its type's doc
// comment.
func checkMembers(s *ast.TypeSpec, doc string, report func(token.Pos, string)) {
	var fields *ast.FieldList
	iface := false
	switch tt := s.Type.(type) {
	case *ast.StructType:
		fields = tt.Fields
	case *ast.InterfaceType:
		fields, iface = tt.Methods, true
	default:
		return
	}
	for _, fld := range fields.List {
		for _, n := range fld.Names {
			if iface && strings.Contains(doc, n.Name) {
				continue
			}
			if n.IsExported() && !documented(fld.Doc) && !documented(fld.Comment) {
				report(n.Pos(), s.Name.Name+"."+n.Name)
			}
		}
	}
}

func typeDoc(s *ast.TypeSpec, d *ast.GenDecl) string {
	if documented(s.Doc) {
		return s.Doc.Text()
	}
	if documented(d.Doc) {
		return d.Doc.Text()
	}
	return ""
}

func receiverType(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	x := fl.List[0].Type
	for {
		switch e := x.(type) {
		case *ast.StarExpr:
			x = e.X
		case *ast.IndexExpr:
			x = e.X
		case *ast.IndexListExpr:
			x = e.X
		case *ast.Ident:
			return e.Name
		default:
			return ""
		}
	}
}

func documented(cg *ast.CommentGroup) bool {
	return cg != nil && strings.TrimSpace(cg.Text()) != ""
}
