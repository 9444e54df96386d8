package docs_test

import (
	"errors"
	"go/ast"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/naq-io/naq/scope"
)

// scopeEnvVars returns the values of scope's exported Env* constants.
func scopeEnvVars(t *testing.T) map[string]bool {
	_, pkgs := parseSources(t, filepath.Join(repoRoot(t), "scope"), 0)
	vars := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if !strings.HasPrefix(n.Name, "Env") || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, err := strconv.Unquote(lit.Value)
							require.NoError(t, err)
							vars[v] = true
						}
					}
				}
			}
		}
	}
	require.NotEmpty(t, vars, "no scope.Env* constants found")
	return vars
}

// TestEnvTable checks that the environment table of docs/api/connection.md
// lists exactly the variables scope reads (its Env* constants).
func TestEnvTable(t *testing.T) {
	want := scopeEnvVars(t)
	doc := readMarkdown(t, "docs/api/connection.md")
	tb, ok := doc.table("variable")
	require.True(t, ok, "docs/api/connection.md: no table whose first column is \"variable\"")
	documented := map[string]bool{}
	for _, row := range tb.rows {
		for _, v := range codeSpans(row[0]) {
			documented[v] = true
			assert.True(t, want[v], "docs/api/connection.md documents %s, which scope does not read", v)
		}
	}
	var missing []string
	for v := range want {
		if !documented[v] {
			missing = append(missing, v)
		}
	}
	sort.Strings(missing)
	assert.Empty(t, missing, "scope reads these variables, but the table of docs/api/connection.md does not list them")
}

// TestYAMLExamples loads every ```yaml block of the docs that has a top-level
// nats: section with scope.Load (strict decoding, validation), with and
// without each of its profiles. Files the examples name (certificates,
// credentials) need not exist.
func TestYAMLExamples(t *testing.T) {
	dir := t.TempDir()
	n := 0
	for _, f := range markdownFiles(t) {
		for _, fc := range readMarkdown(t, f).fences {
			if (fc.lang != "yaml" && fc.lang != "yml") || !strings.HasPrefix(fc.body, "nats:") && !strings.Contains(fc.body, "\nnats:") {
				continue
			}
			n++
			path := filepath.Join(dir, "naq-"+strconv.Itoa(n)+".yaml")
			require.NoError(t, os.WriteFile(path, []byte(fc.body), 0o600))
			var doc struct {
				Profiles map[string]any `yaml:"profiles"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(fc.body), &doc), "%s:%d", f, fc.line)
			profiles := []string{""}
			for p := range doc.Profiles {
				profiles = append(profiles, p)
			}
			sort.Strings(profiles)
			for _, p := range profiles {
				_, err := scope.Load(scope.WithConfigFile(path), scope.WithProfile(p), scope.WithLookupEnv(nil))
				if err != nil && errors.Is(err, fs.ErrNotExist) {
					continue // a certificate or credentials file of the example
				}
				assert.NoError(t, err, "%s:%d (profile %q): the example does not load", f, fc.line, p)
			}
		}
	}
	require.Positive(t, n, "no YAML configuration examples found")
}
