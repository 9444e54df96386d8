// Command apisurface counts the exported surface of naq's library packages
// in a source tree, so a change to the public API can be measured:
//
//	go run ./internal/cmd/apisurface [-md] [-pkgs scope,instrument,...] [DIR]
//
// DIR is the module root to read (default "."): the current checkout, or
// another one such as a `git worktree` of an older commit. For each package
// directory (its non-test files that build on this GOOS/GOARCH; files of
// subdirectories are other packages) it prints:
//
//   - funcs, types, vars, consts: exported top-level identifiers of each kind
//     (every name of a grouped or multi-name declaration counts), and their
//     total;
//   - methods: exported methods declared on exported types (methods of
//     unexported types are not reachable by name);
//   - iface methods: exported methods listed in exported interface types;
//   - fields: exported fields of exported struct types, embedded ones
//     included, counted through nested anonymous structs.
//
// Nothing is type-checked: only the syntax is read, so a tree that does not
// build can still be counted.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// libraryPackages are naq's library packages, the default of -pkgs.
const libraryPackages = "scope,instrument,tracing,metrics,circuit,telemetry"

func main() {
	md := flag.Bool("md", false, "print a Markdown table")
	pkgs := flag.String("pkgs", libraryPackages, "comma-separated package directories, relative to DIR")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: apisurface [-md] [-pkgs list] [DIR]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	root := "."
	if flag.NArg() == 1 {
		root = flag.Arg(0)
	}
	var rows []Surface
	for _, p := range strings.Split(*pkgs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		s, err := Count(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			fmt.Fprintln(os.Stderr, "apisurface:", err)
			os.Exit(1)
		}
		s.Package = p
		rows = append(rows, s)
	}
	if err := write(os.Stdout, rows, *md); err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
}

// Surface is the exported surface of one package.
type Surface struct {
	Package                    string
	Funcs, Types, Vars, Consts int
	Methods, IfaceMethods      int
	Fields                     int
}

// TopLevel is the number of exported top-level identifiers.
func (s Surface) TopLevel() int { return s.Funcs + s.Types + s.Vars + s.Consts }

// Count reads the package in dir (non-test files that match the build
// context) and counts its exported surface.
func Count(dir string) (Surface, error) {
	bp, err := build.Default.ImportDir(dir, 0)
	if err != nil {
		return Surface{}, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return Surface{}, err
		}
		files = append(files, f)
	}
	return countFiles(files), nil
}

func countFiles(files []*ast.File) Surface {
	var s Surface
	exportedTypes := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
				for _, sp := range g.Specs {
					if ts := sp.(*ast.TypeSpec); ts.Name.IsExported() {
						exportedTypes[ts.Name.Name] = true
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					s.Funcs++
				} else if exportedTypes[receiverType(d.Recv.List[0].Type)] {
					s.Methods++
				}
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						if !sp.Name.IsExported() {
							continue
						}
						s.Types++
						switch t := sp.Type.(type) {
						case *ast.StructType:
							s.Fields += exportedFields(t)
						case *ast.InterfaceType:
							s.IfaceMethods += exportedMethods(t)
						}
					case *ast.ValueSpec:
						n := exportedNames(sp.Names)
						if d.Tok == token.CONST {
							s.Consts += n
						} else {
							s.Vars += n
						}
					}
				}
			}
		}
	}
	return s
}

// receiverType returns the base type name of a method receiver: T from T,
// *T, T[K], *T[K, V].
func receiverType(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

func exportedNames(names []*ast.Ident) int {
	n := 0
	for _, id := range names {
		if id.IsExported() {
			n++
		}
	}
	return n
}

// exportedFields counts the exported fields of st, embedded ones (named by
// their type) included, and those of anonymous structs they hold.
func exportedFields(st *ast.StructType) int {
	n := 0
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			if name := receiverType(embeddedType(f.Type)); ast.IsExported(name) {
				n++
			}
			continue
		}
		k := exportedNames(f.Names)
		n += k
		if inner, ok := f.Type.(*ast.StructType); ok && k > 0 {
			n += k * exportedFields(inner)
		}
	}
	return n
}

// embeddedType strips a package qualifier: pkg.T is named T.
func embeddedType(e ast.Expr) ast.Expr {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	if sel, ok := e.(*ast.SelectorExpr); ok {
		return sel.Sel
	}
	return e
}

// exportedMethods counts the exported methods listed in it (embedded
// interfaces and type-set terms are not methods).
func exportedMethods(it *ast.InterfaceType) int {
	n := 0
	for _, m := range it.Methods.List {
		if _, ok := m.Type.(*ast.FuncType); ok {
			n += exportedNames(m.Names)
		}
	}
	return n
}

func write(w io.Writer, rows []Surface, md bool) error {
	var total Surface
	total.Package = "total"
	for _, r := range rows {
		total.Funcs += r.Funcs
		total.Types += r.Types
		total.Vars += r.Vars
		total.Consts += r.Consts
		total.Methods += r.Methods
		total.IfaceMethods += r.IfaceMethods
		total.Fields += r.Fields
	}
	rows = append(rows, total)
	header := []string{"package", "funcs", "types", "vars", "consts", "top-level", "methods", "iface methods", "fields"}
	line := func(r Surface) []string {
		return []string{r.Package,
			fmt.Sprint(r.Funcs), fmt.Sprint(r.Types), fmt.Sprint(r.Vars), fmt.Sprint(r.Consts),
			fmt.Sprint(r.TopLevel()), fmt.Sprint(r.Methods), fmt.Sprint(r.IfaceMethods), fmt.Sprint(r.Fields)}
	}
	if md {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
		for _, r := range rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(line(r), " | "))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(line(r), "\t")+"\t")
	}
	return tw.Flush()
}
