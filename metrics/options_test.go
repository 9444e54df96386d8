package metrics_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-io/naq/metrics"
)

// The options are one family of two kinds: every With* function returns
// exactly one kind, NewRecorder takes Option and Measure takes
// MeasureOption, and neither kind converts to the other, so an option a
// function would ignore does not compile there.
func TestOptionKinds(t *testing.T) {
	recorderKind := reflect.TypeFor[metrics.Option]()
	measureKind := reflect.TypeFor[metrics.MeasureOption]()
	assert.False(t, recorderKind.Implements(measureKind), "Measure(ctx, dial, WithMeterProvider(mp)) must not compile")
	assert.False(t, measureKind.Implements(recorderKind), "NewRecorder(WithConnects(3)) must not compile")
	assert.Equal(t, recorderKind, reflect.TypeOf(metrics.NewRecorder).In(0).Elem(), "NewRecorder takes Option")
	assert.Equal(t, measureKind, reflect.TypeOf(metrics.Measure).In(2).Elem(), "Measure takes MeasureOption")

	kinds := map[string]struct {
		fn   any
		kind reflect.Type
	}{
		"WithMeterProvider": {metrics.WithMeterProvider, recorderKind},
		"WithRTTInterval":   {metrics.WithRTTInterval, recorderKind},
		"WithRTTTimeout":    {metrics.WithRTTTimeout, recorderKind},
		"WithConnects":      {metrics.WithConnects, measureKind},
		"WithRoundTrips":    {metrics.WithRoundTrips, measureKind},
		"WithPublishes":     {metrics.WithPublishes, measureKind},
		"WithRequests":      {metrics.WithRequests, measureKind},
		"WithOperation":     {metrics.WithOperation, measureKind},
		"WithPayloadSize":   {metrics.WithPayloadSize, measureKind},
		"WithSubject":       {metrics.WithSubject, measureKind},
		"WithOpTimeout":     {metrics.WithOpTimeout, measureKind},
		"WithProgress":      {metrics.WithProgress, measureKind},
		"WithRecorder":      {metrics.WithRecorder, measureKind},
	}
	var listed []string
	for name, k := range kinds {
		listed = append(listed, name)
		ft := reflect.TypeOf(k.fn)
		if assert.Equal(t, 1, ft.NumOut(), name) {
			assert.Equal(t, k.kind, ft.Out(0), "%s returns the kind of the function it configures", name)
		}
	}
	sort.Strings(listed)
	assert.Equal(t, listed, withFuncs(t), "every With* function of metrics is classified here")
}

// withFuncs returns the exported package-level With* functions of the
// package's non-test files, sorted.
func withFuncs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	fset := token.NewFileSet()
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.IsExported() && strings.HasPrefix(fd.Name.Name, "With") {
				names = append(names, fd.Name.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}
