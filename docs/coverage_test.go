package docs_test

import (
	"go/ast"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// packagePages maps each library package to its page in docs/api.
var packagePages = map[string]string{
	"scope":      "docs/api/connection.md",
	"instrument": "docs/api/instrument.md",
	"circuit":    "docs/api/circuit.md",
	"metrics":    "docs/api/metrics.md",
	"tracing":    "docs/api/tracing.md",
	"telemetry":  "docs/api/telemetry.md",
}

// TestAPICoverage checks that the docs follow the API as it grows: every
// exported package-level identifier (function, type, constant, variable) of
// the library packages is named on its package's page, or as pkg.Name
// anywhere in the docs. Methods and fields are covered by go doc.
func TestAPICoverage(t *testing.T) {
	root := repoRoot(t)
	var all strings.Builder
	for _, f := range markdownFiles(t) {
		all.WriteString(mdText(t, f))
	}
	docs := all.String()

	var missing []string
	for pkg, page := range packagePages {
		pageText := mdText(t, page)
		for _, name := range exportedNames(t, filepath.Join(root, pkg)) {
			word := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`)
			qualified := regexp.MustCompile(`\b` + pkg + `\.` + regexp.QuoteMeta(name) + `\b`)
			if !word.MatchString(pageText) && !qualified.MatchString(docs) {
				missing = append(missing, pkg+"."+name+" (expected on "+page+")")
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%d exported identifiers are not documented:\n\t%s", len(missing), strings.Join(missing, "\n\t"))
	}
}

func mdText(t *testing.T, rel string) string {
	d := readMarkdown(t, rel)
	var b strings.Builder
	for _, p := range d.prose {
		b.WriteString(p.raw)
		b.WriteByte('\n')
	}
	for _, f := range d.fences {
		b.WriteString(f.body)
		b.WriteByte('\n')
	}
	return b.String()
}

func exportedNames(t *testing.T, dir string) []string {
	_, pkgs := parseSources(t, dir, 0)
	var names []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.IsExported() {
						names = append(names, d.Name.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.TypeSpec:
							if s.Name.IsExported() {
								names = append(names, s.Name.Name)
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() {
									names = append(names, n.Name)
								}
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	return names
}
