package docs_test

// Every ```go block in README.md and docs/**/*.md is compiled (go vet, which
// type-checks) against the current API, so a stale example breaks the build.
//
// Block conventions (one of three shapes, chosen automatically):
//
//  1. A full file: the block has a package clause. It is built as is, in a
//     package of its own. It must import what it uses.
//  2. Top-level declarations: the block parses as the body of a Go file
//     (func, type, var, const declarations) but has no package clause. It
//     gets a package of its own; imports are added for the well-known package
//     names it uses (see knownImports: nats, jetstream, scope, instrument,
//     context, time, ...).
//  3. A fragment: anything else. It becomes the body of a function
//     `func _() error`, so it may `return err`; `return nil` is appended
//     unless the block ends with a terminating statement. Variables declared at
//     the top level of a fragment count as used (a fragment may stop before
//     using what it declared). Imports are added as
//     for declarations, and these package-level variables are in scope
//     (declared in the fragment package, shadow them freely):
//
//     ctx  context.Context     // context.Background()
//     url  string              // "nats://127.0.0.1:4222"
//     nc   *nats.Conn
//     js   jetstream.JetStream
//     kv   jetstream.KeyValue
//     data []byte
//
// All fragments share one package (each is its own function, so local names
// never clash). Compiler positions point back into the Markdown through
// //line directives. Declaration blocks and full files must be gofmt-clean;
// fragments are checked the same way once indented into their function.
//
// Blocks with another language tag (sh, yaml, text, promql, ...) are not
// compiled.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// knownImports maps the package names doc blocks may use without importing
// to their import paths.
var knownImports = map[string]string{
	"context":     "context",
	"errors":      "errors",
	"fmt":         "fmt",
	"log":         "log",
	"slog":        "log/slog",
	"os":          "os",
	"signal":      "os/signal",
	"syscall":     "syscall",
	"time":        "time",
	"strings":     "strings",
	"strconv":     "strconv",
	"sync":        "sync",
	"atomic":      "sync/atomic",
	"http":        "net/http",
	"httptest":    "net/http/httptest",
	"json":        "encoding/json",
	"testing":     "testing",
	"nats":        "github.com/nats-io/nats.go",
	"jetstream":   "github.com/nats-io/nats.go/jetstream",
	"natsserver":  "github.com/nats-io/nats-server/v2/server",
	"backoff":     "github.com/cenkalti/backoff/v5",
	"otel":        "go.opentelemetry.io/otel",
	"attribute":   "go.opentelemetry.io/otel/attribute",
	"propagation": "go.opentelemetry.io/otel/propagation",
	"trace":       "go.opentelemetry.io/otel/trace",
	"metric":      "go.opentelemetry.io/otel/metric",
	"sdktrace":    "go.opentelemetry.io/otel/sdk/trace",
	"sdkmetric":   "go.opentelemetry.io/otel/sdk/metric",
	"tracetest":   "go.opentelemetry.io/otel/sdk/trace/tracetest",
	"require":     "github.com/stretchr/testify/require",
	"assert":      "github.com/stretchr/testify/assert",
	"goleak":      "go.uber.org/goleak",
	"scope":       "github.com/naq-io/naq/scope",
	"instrument":  "github.com/naq-io/naq/instrument",
	"circuit":     "github.com/naq-io/naq/circuit",
	"metrics":     "github.com/naq-io/naq/metrics",
	"tracing":     "github.com/naq-io/naq/tracing",
	"telemetry":   "github.com/naq-io/naq/telemetry",
}

// importAliases are the names that differ from the last path element.
var importAliases = map[string]bool{"natsserver": true, "sdktrace": true, "sdkmetric": true, "nats": true}

const fragmentEnv = `package fragments

import (
	"context"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The variables every fragment may use (see codeblocks_test.go).
var (
	ctx  = context.Background()
	url  = "nats://127.0.0.1:4222"
	nc   *nats.Conn
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	data []byte
)
`

type goBlock struct {
	root string // repository root
	file string // relative to root
	fence
}

func (b goBlock) pos() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

func goBlocks(t testing.TB) []goBlock {
	var out []goBlock
	for _, f := range markdownFiles(t) {
		for _, fc := range readMarkdown(t, f).fences {
			if fc.lang == "go" || fc.lang == "golang" {
				out = append(out, goBlock{root: repoRoot(t), file: f, fence: fc})
			}
		}
	}
	return out
}

func TestGoBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every Go block of the docs; skipped with -short")
	}
	root := repoRoot(t)
	blocks := goBlocks(t)
	require.NotEmpty(t, blocks)

	var dir string
	var err error
	for range 3 { // another run may remove the empty testdata directory meanwhile
		if err = os.MkdirAll(filepath.Join(root, "docs", "testdata"), 0o755); err != nil {
			continue
		}
		if dir, err = os.MkdirTemp(filepath.Join(root, "docs", "testdata"), "blocks-"); err == nil {
			break
		}
	}
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = os.RemoveAll(dir)
		_ = os.Remove(filepath.Join(root, "docs", "testdata")) // only when empty
	})

	fragDir := filepath.Join(dir, "fragments")
	require.NoError(t, os.MkdirAll(fragDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(fragDir, "env.go"), []byte(fragmentEnv), 0o644))

	for i, b := range blocks {
		src, pkgDir, err := renderBlock(b, i)
		if err != nil {
			t.Errorf("%s: %v", b.pos(), err)
			continue
		}
		d := fragDir
		if pkgDir != "" {
			d = filepath.Join(dir, pkgDir)
			require.NoError(t, os.MkdirAll(d, 0o755))
		}
		require.NoError(t, os.WriteFile(filepath.Join(d, fmt.Sprintf("block%03d.go", i)), src, 0o644))
	}
	if t.Failed() {
		return
	}

	rel, err := filepath.Rel(root, dir)
	require.NoError(t, err)
	cmd := exec.Command(goTool(t), "vet", "./"+filepath.ToSlash(rel)+"/...")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("Go blocks of the docs do not compile against the current API (%v).\n"+
			"Positions are file.md:line of the Markdown:\n%s", err, out.String())
	}
	t.Logf("%d Go blocks compiled and vetted", len(blocks))
}

// goTool returns the go command: the one on PATH, else the one of the
// toolchain running the test.
func goTool(t *testing.T) string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	_, err := os.Stat(p)
	require.NoError(t, err, "no go command on PATH or in GOROOT")
	return p
}

// renderBlock turns a block into a Go file. pkgDir is "" for fragments
// (the shared fragments package) or the block's own package directory.
func renderBlock(b goBlock, i int) (src []byte, pkgDir string, err error) {
	lineDirective := fmt.Sprintf("//line %s:%d\n", filepath.Join(b.root, filepath.FromSlash(b.file)), b.line)
	body := b.body
	fset := token.NewFileSet()

	// 1. A full file.
	if f, err := parser.ParseFile(fset, "", body, parser.PackageClauseOnly); err == nil && f.Name != nil {
		full, err := parser.ParseFile(fset, "", body, parser.ParseComments)
		if err != nil {
			return nil, "", err
		}
		_ = full
		if err := checkFormatted(body); err != nil {
			return nil, "", err
		}
		return []byte(lineDirective + body + "\n"), fmt.Sprintf("file%03d", i), nil
	}

	// 2. Top-level declarations.
	declSrc := "package block\n\n" + body + "\n"
	if f, err := parser.ParseFile(fset, "", declSrc, 0); err == nil && len(f.Decls) > 0 {
		if err := checkFormatted(body); err != nil {
			return nil, "", err
		}
		imports := neededImports(f)
		return []byte("package block\n\n" + imports + lineDirective + body + "\n"), fmt.Sprintf("decl%03d", i), nil
	}

	// 3. A fragment: the body of func _() error.
	fragSrc := "package fragments\n\nfunc _() error {\n" + body + "\n}\n"
	f, err := parser.ParseFile(fset, "", fragSrc, 0)
	if err != nil {
		return nil, "", fmt.Errorf("neither a Go file, declarations nor statements: %v", err)
	}
	if err := checkFormatted("func _() error {\n" + indent(body) + "\n}"); err != nil {
		return nil, "", err
	}
	tail := "\treturn nil\n"
	if fn, ok := f.Decls[len(f.Decls)-1].(*ast.FuncDecl); ok && len(fn.Body.List) > 0 && terminates(fn.Body.List[len(fn.Body.List)-1]) {
		tail = ""
	}
	body = markUsed(fset, f, body, len("package fragments\n\nfunc _() error {\n"))
	out := "package fragments\n\n" + neededImports(f) +
		fmt.Sprintf("func _() error {\n%s%s\n%s}\n", lineDirective, body, tail)
	return []byte(out), "", nil
}

// markUsed appends `; _ = name` after every top-level := or var statement of
// a fragment (on the same line, so positions stay right): a fragment may
// stop before using what it declared.
func markUsed(fset *token.FileSet, f *ast.File, body string, offset int) string {
	fn := f.Decls[len(f.Decls)-1].(*ast.FuncDecl)
	type ins struct {
		at    int
		names []string
	}
	var inserts []ins
	for _, st := range fn.Body.List {
		var names []string
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, l := range st.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						names = append(names, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := st.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, sp := range g.Specs {
					for _, id := range sp.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							names = append(names, id.Name)
						}
					}
				}
			}
		}
		if len(names) > 0 {
			inserts = append(inserts, ins{at: fset.Position(st.End()).Offset - offset, names: names})
		}
	}
	for i := len(inserts) - 1; i >= 0; i-- {
		in := inserts[i]
		if in.at < 0 || in.at > len(body) {
			continue
		}
		blanks := strings.TrimSuffix(strings.Repeat("_, ", len(in.names)), ", ")
		body = body[:in.at] + "; " + blanks + " = " + strings.Join(in.names, ", ") + body[in.at:]
	}
	return body
}

// terminates approximates the spec's terminating statements (labelled
// breaks aside), so that `return nil` is appended only where it is
// reachable.
func terminates(s ast.Stmt) bool {
	last := func(list []ast.Stmt) bool { return len(list) > 0 && terminates(list[len(list)-1]) }
	switch s := s.(type) {
	case *ast.ReturnStmt:
		return true
	case *ast.ExprStmt:
		if c, ok := s.X.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "panic" {
				return true
			}
		}
	case *ast.BlockStmt:
		return last(s.List)
	case *ast.IfStmt:
		return s.Else != nil && terminates(s.Body) && terminates(s.Else)
	case *ast.ForStmt:
		return s.Cond == nil
	case *ast.SelectStmt:
		for _, c := range s.Body.List {
			if !last(c.(*ast.CommClause).Body) {
				return false
			}
		}
		return true
	case *ast.SwitchStmt, *ast.TypeSwitchStmt:
		var body *ast.BlockStmt
		if sw, ok := s.(*ast.SwitchStmt); ok {
			body = sw.Body
		} else {
			body = s.(*ast.TypeSwitchStmt).Body
		}
		hasDefault := false
		for _, c := range body.List {
			cc := c.(*ast.CaseClause)
			if cc.List == nil {
				hasDefault = true
			}
			if !last(cc.Body) {
				return false
			}
		}
		return hasDefault
	}
	return false
}

// neededImports returns an import declaration for the well-known package
// names f uses but does not declare.
func neededImports(f *ast.File) string {
	used := map[string]bool{}
	for _, id := range f.Unresolved {
		if _, ok := knownImports[id.Name]; ok {
			// Only count names used as a package qualifier.
			used[id.Name] = false
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil {
				if _, ok := used[id.Name]; ok {
					used[id.Name] = true
				}
			}
		}
		return true
	})
	var names []string
	for n, ok := range used {
		if ok {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("import (\n")
	for _, n := range names {
		if importAliases[n] {
			fmt.Fprintf(&b, "\t%s %q\n", n, knownImports[n])
		} else {
			fmt.Fprintf(&b, "\t%q\n", knownImports[n])
		}
	}
	b.WriteString(")\n\n")
	return b.String()
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "\t" + l
		}
	}
	return strings.Join(lines, "\n")
}

// checkFormatted reports a block that gofmt would change. Declarations are
// checked in a file of their own, fragments indented in their function.
func checkFormatted(src string) error {
	wrapped := src
	isFile := strings.HasPrefix(strings.TrimLeft(src, " \t\n"), "package ") || strings.Contains(src, "\npackage ")
	if !isFile {
		wrapped = "package x\n\n" + src
	}
	got, err := format.Source([]byte(wrapped))
	if err != nil {
		return nil // the compile step reports syntax errors with positions
	}
	if strings.TrimSpace(string(got)) != strings.TrimSpace(wrapped) {
		return fmt.Errorf("block is not gofmt-clean; gofmt gives:\n%s", got)
	}
	return nil
}
