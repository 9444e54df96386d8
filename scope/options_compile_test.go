package scope_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The option kinds of scope, as the option interfaces declare them.
const (
	kindLoad    = "load"    // LoadOption: Load, and every function that loads a config
	kindOpen    = "open"    // Option: Open, the helpers, Health, WaitReady
	kindAcquire = "acquire" // AcquireOption: Pool.Acquire (and as an Option and a PoolOption)
	kindPool    = "pool"    // PoolOption: NewPool
	kindChecker = "checker" // HealthCheckerOption: NewHealthChecker
)

// optionCases lists every With* function of scope with a sample call and
// the functions that honour it (by the kinds they accept). A new option
// must be added here (TestOptionKindsCompile fails otherwise), which is the
// moment to decide where it applies.
var optionCases = []struct {
	name  string // the With* function
	expr  string // a call of it
	kinds []string
}{
	{"WithConfigFile", `scope.WithConfigFile("naq.yaml")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithProfile", `scope.WithProfile("prod")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithLookupEnv", `scope.WithLookupEnv(nil)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithConfig", `scope.WithConfig(scope.DefaultConfig())`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithConfigEdit", `scope.WithConfigEdit(nil)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithServers", `scope.WithServers("nats://a:4222")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithClientName", `scope.WithClientName("x")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithMaxReconnectAttempts", `scope.WithMaxReconnectAttempts(1)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithReconnectTimeWait", `scope.WithReconnectTimeWait(time.Second)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithConnectionTimeout", `scope.WithConnectionTimeout(time.Second)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithDrainTimeout", `scope.WithDrainTimeout(time.Second)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithFlushTimeout", `scope.WithFlushTimeout(time.Second)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithPingInterval", `scope.WithPingInterval(time.Second)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithMaxOutstandingPings", `scope.WithMaxOutstandingPings(2)`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithTLS", `scope.WithTLS(scope.TLSConfig{})`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithUserPassword", `scope.WithUserPassword("u", "p")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithToken", `scope.WithToken("t")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithNKeySeedFile", `scope.WithNKeySeedFile("u.nk")`, []string{kindLoad, kindOpen, kindChecker}},
	{"WithCredsFile", `scope.WithCredsFile("u.creds")`, []string{kindLoad, kindOpen, kindChecker}},

	{"WithPool", `scope.WithPool(nil)`, []string{kindOpen, kindChecker}},
	{"WithRetry", `scope.WithRetry(scope.DefaultRetryPolicy())`, []string{kindAcquire, kindOpen, kindPool, kindChecker}},
	{"WithLimiter", `scope.WithLimiter(nil)`, []string{kindAcquire, kindOpen, kindPool, kindChecker}},

	{"WithIdleTimeout", `scope.WithIdleTimeout(0)`, []string{kindPool}},
	{"WithNATSOptions", `scope.WithNATSOptions()`, []string{kindPool}},
	{"WithDialObserver", `scope.WithDialObserver(nil)`, []string{kindPool}},
	{"WithTracerProvider", `scope.WithTracerProvider(nil)`, []string{kindPool}},
	{"WithMeterProvider", `scope.WithMeterProvider(nil)`, []string{kindPool}},
	{"WithPropagators", `scope.WithPropagators(nil)`, []string{kindPool}},
	{"WithInstrumentOptions", `scope.WithInstrumentOptions()`, []string{kindPool}},
	{"WithGateOptions", `scope.WithGateOptions()`, []string{kindPool}},
	{"WithoutGate", `scope.WithoutGate()`, []string{kindPool}},
	{"WithRecorder", `scope.WithRecorder(nil)`, []string{kindPool}},

	{"WithOnCheck", `scope.WithOnCheck(nil)`, []string{kindChecker}},
}

// functionCases are the functions of scope that take options, as call
// templates (OPT stands for the option) and the kind they accept.
var functionCases = []struct {
	name string
	call string
	kind string
}{
	{"Load", `_, _ = scope.Load(OPT)`, kindLoad},
	{"Open", `_, _ = scope.Open(ctx, "", OPT)`, kindOpen},
	{"Run", `_ = scope.Run(ctx, "", func(context.Context, *instrument.Conn) error { return nil }, OPT)`, kindOpen},
	{"Do", `_, _ = scope.Do(ctx, "", func(context.Context, *instrument.Conn) (int, error) { return 0, nil }, OPT)`, kindOpen},
	{"JetStream", `_ = scope.JetStream(ctx, "", func(context.Context, jetstream.JetStream) error { return nil }, OPT)`, kindOpen},
	{"DoJetStream", `_, _ = scope.DoJetStream(ctx, "", func(context.Context, jetstream.JetStream) (int, error) { return 0, nil }, OPT)`, kindOpen},
	{"KeyValue", `_ = scope.KeyValue(ctx, "", "b", func(context.Context, jetstream.KeyValue) error { return nil }, OPT)`, kindOpen},
	{"DoKeyValue", `_, _ = scope.DoKeyValue(ctx, "", "b", func(context.Context, jetstream.KeyValue) (int, error) { return 0, nil }, OPT)`, kindOpen},
	{"Health", `_, _ = scope.Health(ctx, "", OPT)`, kindOpen},
	{"WaitReady", `_, _ = scope.WaitReady(ctx, "", OPT)`, kindOpen},
	{"NewPool", `_, _ = scope.NewPool(OPT)`, kindPool},
	{"Pool.Acquire", `_, _ = pool.Acquire(ctx, scope.DefaultConfig(), OPT)`, kindAcquire},
	{"NewHealthChecker", `_, _ = scope.NewHealthChecker("", time.Second, OPT)`, kindChecker},
}

const snippetHeader = `package snippets

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/scope"
)

var (
	ctx  = context.Background()
	pool *scope.Pool
	_    = time.Second
	_    jetstream.JetStream
)
`

// TestOptionKindsCompile type-checks, against the package as built, every
// option passed to every function that takes options: where the function
// honours the option it compiles, everywhere else it is a compile error
// naming the option (so scope.Open(ctx, url, scope.WithTracerProvider(tp))
// cannot be written). It also checks that one value serves every kind it
// belongs to (a []scope.Option holds config options and WithRetry) and
// that every With* function of the package is in the table.
func TestOptionKindsCompile(t *testing.T) {
	imp, fset := exportImporter(t)

	scopePkg, err := imp.Import("github.com/naq-io/naq/scope")
	require.NoError(t, err)
	var withFuncs, listed []string
	for _, name := range scopePkg.Scope().Names() {
		if _, ok := scopePkg.Scope().Lookup(name).(*types.Func); ok && strings.HasPrefix(name, "With") {
			withFuncs = append(withFuncs, name)
		}
	}
	for _, oc := range optionCases {
		listed = append(listed, oc.name)
	}
	sort.Strings(listed)
	require.Equal(t, withFuncs, listed, "every With* function of scope is classified in optionCases")

	type snippet struct {
		fn, opt string
		expr    string
		ok      bool
	}
	var (
		src      bytes.Buffer
		snippets = map[int]snippet{} // by line
	)
	src.WriteString(snippetHeader)
	line := strings.Count(snippetHeader, "\n") + 1
	for _, fc := range functionCases {
		for _, oc := range optionCases {
			body := strings.Replace(fc.call, "OPT", oc.expr, 1)
			fmt.Fprintf(&src, "func _() { %s }\n", body)
			snippets[line] = snippet{fn: fc.name, opt: oc.name, expr: oc.expr, ok: contains(oc.kinds, fc.kind)}
			line++
		}
	}
	// One value, several kinds: option slices and interface conversions.
	valid := `
func _() {
	opts := []scope.Option{scope.WithServers("nats://a:4222"), scope.WithPool(nil), scope.WithRetry(scope.RetryPolicy{}), scope.WithLimiter(nil)}
	_ = scope.Run(ctx, "", func(context.Context, *instrument.Conn) error { return nil }, opts...)
	var load scope.LoadOption = scope.WithClientName("x")
	var acquire scope.AcquireOption = scope.WithRetry(scope.RetryPolicy{})
	var o scope.Option = load
	o = acquire
	var p scope.PoolOption = acquire
	var hc scope.HealthCheckerOption = o
	_, _, _ = o, p, hc
	_, _ = scope.NewHealthChecker("", time.Second, scope.WithOnCheck(nil), hc, load, acquire)
}
`
	src.WriteString(valid)

	f, err := parser.ParseFile(fset, "snippets.go", src.Bytes(), 0)
	require.NoError(t, err)
	errsAt := map[int][]string{}
	conf := types.Config{Importer: imp, Error: func(err error) {
		te := err.(types.Error)
		p := te.Fset.Position(te.Pos)
		errsAt[p.Line] = append(errsAt[p.Line], te.Msg)
	}}
	_, _ = conf.Check("snippets", fset, []*ast.File{f}, nil)

	compiled, rejected := 0, 0
	for l, s := range snippets {
		errs := errsAt[l]
		delete(errsAt, l)
		if s.ok {
			compiled++
			assert.Empty(t, errs, "%s with %s must compile", s.fn, s.opt)
			continue
		}
		rejected++
		if assert.Len(t, errs, 1, "%s with %s must not compile", s.fn, s.opt) {
			assert.True(t, strings.HasPrefix(errs[0], "cannot use "+s.expr+" (value of interface type scope."),
				"%s with %s: the option is what is rejected: %s", s.fn, s.opt, errs[0])
		}
	}
	assert.Empty(t, errsAt, "the valid combinations compile:\n%s", src.String())
	t.Logf("%d option/function pairs compile, %d are compile errors", compiled, rejected)
	assert.Positive(t, compiled)
	assert.Positive(t, rejected)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// exportImporter returns a go/types importer reading the export data the
// go command builds for scope and its dependencies (go list -export), so
// snippets are checked against the package as it is compiled.
func exportImporter(t *testing.T) (types.Importer, *token.FileSet) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goBin, "list", "-export", "-deps", "-f", "{{if .Export}}{{.ImportPath}}={{.Export}}{{end}}",
		"github.com/naq-io/naq/scope", "github.com/naq-io/naq/instrument", "github.com/nats-io/nats.go/jetstream", "context", "time")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list -export: %s", stderr.String())
	exports := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if path, file, ok := strings.Cut(sc.Text(), "="); ok {
			exports[path] = file
		}
	}
	fset := token.NewFileSet()
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(file)
	}), fset
}
