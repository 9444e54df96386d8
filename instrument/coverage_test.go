package instrument

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stretchr/testify/require"
)

// The coverage test: every exported method of the nats.go API types naq
// wraps is either wrapped (the wrapper type declares the method itself, not
// merely promotes it from the embedded upstream value) or listed as
// untraced, with the reason, in the coverage table of
// docs/api/instrument.md. The table is the one source: it lists every
// method, what naq records for it or "untraced: <why>", and this test
// parses it, so a nats.go upgrade that adds a method, a wrapper that starts
// or stops tracing one, and the docs cannot drift apart.

// coverageDoc is the page holding the coverage table, relative to this
// package.
const coverageDoc = "../docs/api/instrument.md"

// coverageHeader is the first header cell of the coverage table.
const coverageHeader = "nats.go type"

// coverageTargets are the nats.go API types checked, named as in the
// table. The wrapper of each is the instrument type that asserts it
// (`var _ <type> = (*wrapper)(nil)`), except *nats.Conn, wrapped by Conn.
var coverageTargets = []struct {
	name    string
	typ     reflect.Type
	wrapper string // "" = found through its var _ assertion
}{
	{"*nats.Conn", reflect.TypeFor[*nats.Conn](), "Conn"},
	{"nats.JetStreamContext", reflect.TypeFor[nats.JetStreamContext](), ""},
	{"jetstream.JetStream", reflect.TypeFor[jetstream.JetStream](), ""},
	{"jetstream.Consumer", reflect.TypeFor[jetstream.Consumer](), ""},
	{"jetstream.KeyValue", reflect.TypeFor[jetstream.KeyValue](), ""},
	{"jetstream.ObjectStore", reflect.TypeFor[jetstream.ObjectStore](), ""},
	{"nats.KeyValue", reflect.TypeFor[nats.KeyValue](), ""},
	{"nats.ObjectStore", reflect.TypeFor[nats.ObjectStore](), ""},
	{"micro.Service", reflect.TypeFor[micro.Service](), ""},
}

func TestCoverage(t *testing.T) {
	src := parseWrappers(t)
	table := readCoverageTable(t)

	known := map[string]bool{}
	for _, target := range coverageTargets {
		known[target.name] = true
		t.Run(target.name, func(t *testing.T) {
			wrapper := target.wrapper
			if wrapper == "" {
				ws := src.asserts[target.name]
				require.Len(t, ws, 1, "want exactly one instrument type with `var _ %s = (*T)(nil)`", target.name)
				wrapper = ws[0]
			}
			own := src.methods[wrapper]
			require.NotEmpty(t, own, "wrapper type %s declares no methods", wrapper)
			rows := table[target.name]

			var missing []string
			for i := 0; i < target.typ.NumMethod(); i++ {
				m := target.typ.Method(i).Name
				wrapped := own[m]
				row, documented := rows[m]
				switch {
				case !documented:
					what := "untraced: <why>"
					if wrapped {
						what = "<what naq records>"
					}
					missing = append(missing, fmt.Sprintf("| `%s` | `%s` | %s |", target.name, m, what))
				case wrapped && row.untraced:
					t.Errorf("%s:%d: %s.%s is documented as untraced, but %s declares it", coverageDoc, row.line, target.name, m, wrapper)
				case !wrapped && !row.untraced:
					t.Errorf("%s:%d: %s.%s is documented as traced (%q), but %s does not declare it (it is only promoted from nats.go): wrap it or write \"untraced: <why>\"",
						coverageDoc, row.line, target.name, m, row.what, wrapper)
				}
				if typ, ok := wrapperTypes[wrapper]; ok {
					// Independent check by reflection: a method the wrapper
					// declares is compiled from its source file; a promoted
					// one is a compiler-generated wrapper.
					rm, ok := typ.MethodByName(m)
					require.True(t, ok, "%s lacks %s", wrapper, m)
					if got := declaredInSource(rm); got != wrapped {
						t.Errorf("%s.%s: declared in source per reflection %v, per the AST %v", wrapper, m, got, wrapped)
					}
				}
			}
			for m, row := range rows {
				if _, ok := target.typ.MethodByName(m); !ok {
					t.Errorf("%s:%d: %s has no method %s (removed from nats.go?)", coverageDoc, row.line, target.name, m)
				}
			}
			if len(missing) > 0 {
				sort.Strings(missing)
				t.Errorf("%d methods of %s are neither wrapped nor in the coverage table of %s; add rows:\n%s",
					len(missing), target.name, coverageDoc, strings.Join(missing, "\n"))
			}
		})
	}
	for name := range table {
		if !known[name] {
			t.Errorf("%s: the coverage table lists %s, which the test does not check (add it to coverageTargets)", coverageDoc, name)
		}
	}
}

// wrapperTypes are the wrappers the reflection cross-check can name. The
// wrappers of the legacy JetStream context and KeyValue (another file) are
// found and checked through their var _ assertions in the source alone, so
// a rename there never breaks this test's build.
var wrapperTypes = map[string]reflect.Type{
	"Conn":              reflect.TypeFor[*Conn](),
	"jetStream":         reflect.TypeFor[*jetStream](),
	"consumer":          reflect.TypeFor[*consumer](),
	"keyValue":          reflect.TypeFor[*keyValue](),
	"objectStore":       reflect.TypeFor[*objectStore](),
	"legacyObjectStore": reflect.TypeFor[*legacyObjectStore](),
	"service":           reflect.TypeFor[*service](),
}

// declaredInSource reports whether method m was compiled from a source file
// (declared by its type) rather than generated to promote an embedded
// field's method (file "<autogenerated>").
func declaredInSource(m reflect.Method) bool {
	fn := runtime.FuncForPC(m.Func.Pointer())
	if fn == nil {
		return false
	}
	file, _ := fn.FileLine(fn.Entry())
	return strings.HasSuffix(file, ".go")
}

// wrapperSource is what the package's (non-test) source declares.
type wrapperSource struct {
	asserts map[string][]string        // "jetstream.KeyValue" → ["keyValue"]
	methods map[string]map[string]bool // type name → its own methods
}

func parseWrappers(t *testing.T) wrapperSource {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	src := wrapperSource{asserts: map[string][]string{}, methods: map[string]map[string]bool{}}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) != 1 {
					continue
				}
				recv := d.Recv.List[0].Type
				if st, ok := recv.(*ast.StarExpr); ok {
					recv = st.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					if src.methods[id.Name] == nil {
						src.methods[id.Name] = map[string]bool{}
					}
					src.methods[id.Name][d.Name.Name] = true
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					if len(vs.Names) != 1 || vs.Names[0].Name != "_" || vs.Type == nil || len(vs.Values) != 1 {
						continue
					}
					sel, ok := vs.Type.(*ast.SelectorExpr)
					if !ok {
						continue
					}
					pkg, ok := sel.X.(*ast.Ident)
					if !ok {
						continue
					}
					if w := assertedType(vs.Values[0]); w != "" {
						name := pkg.Name + "." + sel.Sel.Name
						src.asserts[name] = append(src.asserts[name], w)
					}
				}
			}
		}
	}
	return src
}

// assertedType returns T of a `(*T)(nil)` expression, else "".
func assertedType(e ast.Expr) string {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 1 {
		return ""
	}
	fun := call.Fun
	if p, ok := fun.(*ast.ParenExpr); ok {
		fun = p.X
	}
	star, ok := fun.(*ast.StarExpr)
	if !ok {
		return ""
	}
	id, ok := star.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return id.Name
}

// coverageRow is one method's entry in the coverage table.
type coverageRow struct {
	what     string
	untraced bool
	line     int
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// readCoverageTable parses the coverage table: | `type` | `Method`, ... |
// what naq records, or "untraced: <why>" |. Each method is listed once.
func readCoverageTable(t *testing.T) map[string]map[string]coverageRow {
	t.Helper()
	f, err := os.Open(coverageDoc)
	require.NoError(t, err)
	defer f.Close()
	table := map[string]map[string]coverageRow{}
	sc := bufio.NewScanner(f)
	line, in, found := 0, false, false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(text, "|") {
			in = false
			continue
		}
		cells := splitCells(text)
		if !in {
			if len(cells) > 0 && cells[0] == coverageHeader {
				require.False(t, found, "%s:%d: a second coverage table", coverageDoc, line)
				require.Len(t, cells, 3, "%s:%d: columns: nats.go type | methods | naq records", coverageDoc, line)
				in, found = true, true
				sc.Scan() // delimiter row
				line++
			}
			continue
		}
		require.Len(t, cells, 3, "%s:%d: want 3 cells", coverageDoc, line)
		types := codeSpan.FindAllStringSubmatch(cells[0], -1)
		require.Len(t, types, 1, "%s:%d: first cell: one `type`", coverageDoc, line)
		typ := types[0][1]
		what := cells[2]
		untraced := strings.HasPrefix(strings.ToLower(what), "untraced")
		if untraced {
			_, why, ok := strings.Cut(what, ":")
			require.True(t, ok && strings.TrimSpace(why) != "", "%s:%d: write \"untraced: <why>\"", coverageDoc, line)
		} else {
			require.NotEmpty(t, strings.TrimSpace(what), "%s:%d: say what naq records", coverageDoc, line)
		}
		methods := codeSpan.FindAllStringSubmatch(cells[1], -1)
		require.NotEmpty(t, methods, "%s:%d: second cell: `Method`, ...", coverageDoc, line)
		if table[typ] == nil {
			table[typ] = map[string]coverageRow{}
		}
		for _, m := range methods {
			name := m[1]
			prev, dup := table[typ][name]
			require.False(t, dup, "%s:%d: %s.%s is listed twice (first on line %d)", coverageDoc, line, typ, name, prev.line)
			table[typ][name] = coverageRow{what: what, untraced: untraced, line: line}
		}
	}
	require.NoError(t, sc.Err())
	require.True(t, found, "%s: no table whose first header cell is %q", coverageDoc, coverageHeader)
	return table
}

// splitCells splits a pipe table row into trimmed cells (an escaped \| stays
// in its cell).
func splitCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	row = strings.TrimSuffix(row, "|")
	row = strings.ReplaceAll(row, `\|`, "\x00")
	var cells []string
	for c := range strings.SplitSeq(row, "|") {
		cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
	}
	return cells
}
