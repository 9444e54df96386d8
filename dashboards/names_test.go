package dashboards_test

import (
	"bufio"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/telemetry"
)

type instrumentKind int

const (
	histogramKind instrumentKind = iota
	counterKind
	upDownKind
	gaugeKind
)

// instruments says how each metric of the names table is recorded (kind and
// unit, which decide the exporter's suffixes), keyed by the semconv name.
// TestNamesTableComplete fails when internal/semconv gains a metric that is
// not listed here.
var instruments = map[string]struct {
	kind instrumentKind
	unit string
}{
	semconv.MetricOperationDuration:   {histogramKind, semconv.UnitSeconds},
	semconv.MetricProcessDuration:     {histogramKind, semconv.UnitSeconds},
	semconv.MetricSentMessages:        {counterKind, semconv.UnitMessage},
	semconv.MetricConsumedMessages:    {counterKind, semconv.UnitMessage},
	semconv.MetricConnectionsActive:   {upDownKind, semconv.UnitConnection},
	semconv.MetricConnectionsOpened:   {counterKind, semconv.UnitConnection},
	semconv.MetricConnectionsFailed:   {counterKind, semconv.UnitConnection},
	semconv.MetricConnectDuration:     {histogramKind, semconv.UnitSeconds},
	semconv.MetricReconnects:          {counterKind, semconv.UnitEvent},
	semconv.MetricDisconnects:         {counterKind, semconv.UnitEvent},
	semconv.MetricConnected:           {gaugeKind, semconv.UnitDimless},
	semconv.MetricRTT:                 {gaugeKind, semconv.UnitSeconds},
	semconv.MetricSentBytes:           {counterKind, semconv.UnitBytes},
	semconv.MetricReceivedBytes:       {counterKind, semconv.UnitBytes},
	semconv.MetricSubPending:          {gaugeKind, semconv.UnitMessage},
	semconv.MetricSubDropped:          {counterKind, semconv.UnitMessage},
	semconv.MetricCircuitState:        {gaugeKind, semconv.UnitDimless},
	semconv.MetricCircuitTransition:   {counterKind, semconv.UnitEvent},
	semconv.MetricCircuitRejected:     {counterKind, semconv.UnitCall},
	semconv.MetricConsumerLag:         {histogramKind, semconv.UnitSeconds},
	semconv.MetricConsumerPending:     {gaugeKind, semconv.UnitMessage},
	semconv.MetricConsumerRedelivered: {counterKind, semconv.UnitMessage},
	semconv.MetricSlowConsumers:       {counterKind, semconv.UnitEvent},
}

// semconvMetricNames parses internal/semconv and returns the value of every
// Metric* string constant: the OTel side of the names table.
func semconvMetricNames(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	dir := repoPath("internal", "semconv")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Metric") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out[name.Name] = v
				}
			}
		}
	}
	require.NotEmpty(t, out, "no Metric* constants found in internal/semconv")
	return out
}

// promSeries describes the Prometheus side of the names table: every series
// name a scrape can contain, and whether it is a counter (a counter family,
// or a histogram's _bucket, _sum or _count) that may only be read through
// rate() or increase().
type promSeries struct {
	names    map[string]bool // series name -> is a counter
	families map[string]string
}

var (
	promNamesOnce sync.Once
	promNamesVal  promSeries
	promNamesErr  error
)

// promNames records every instrument of the names table once through the
// telemetry package's SDK setup (the exporter and translation strategy the
// demo and users get) and reads the series names back from its /metrics.
func promNames(t *testing.T) promSeries {
	t.Helper()
	promNamesOnce.Do(func() { promNamesVal, promNamesErr = buildPromNames() })
	require.NoError(t, promNamesErr)
	return promNamesVal
}

func buildPromNames() (promSeries, error) {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.WithoutOTLP(), telemetry.WithServiceName("names"))
	if err != nil {
		return promSeries{}, err
	}
	defer func() { _ = tel.Shutdown(ctx) }()

	m := meters.Meter(tel.MeterProvider())
	attrs := metric.WithAttributes(semconv.System, semconv.NATSConnectionKey.String("c"))
	var regErr error
	keep := func(err error) {
		if err != nil && regErr == nil {
			regErr = err
		}
	}
	for name, in := range instruments {
		switch in.kind {
		case histogramKind:
			h, err := m.Float64Histogram(name, metric.WithUnit(in.unit),
				metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
			keep(err)
			h.Record(ctx, 0.001, attrs)
		case counterKind:
			c, err := m.Int64Counter(name, metric.WithUnit(in.unit))
			keep(err)
			c.Add(ctx, 1, attrs)
		case upDownKind:
			c, err := m.Int64UpDownCounter(name, metric.WithUnit(in.unit))
			keep(err)
			c.Add(ctx, 1, attrs)
		case gaugeKind:
			g, err := m.Int64Gauge(name, metric.WithUnit(in.unit))
			keep(err)
			g.Record(ctx, 1, attrs, metric.WithAttributes(attribute.String("state", "closed")))
		}
	}
	if regErr != nil {
		return promSeries{}, regErr
	}

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	ps := promSeries{names: map[string]bool{}, families: map[string]string{}}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			parts := strings.Fields(f)
			if len(parts) == 2 {
				ps.families[parts[0]] = parts[1]
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		if !strings.HasPrefix(name, "messaging_") && !strings.HasPrefix(name, "nats_") {
			continue // target_info and the like
		}
		ps.names[name] = false
	}
	for name := range ps.names {
		for fam, typ := range ps.families {
			switch {
			case typ == "counter" && name == fam:
				ps.names[name] = true
			case typ == "histogram" && (name == fam+"_bucket" || name == fam+"_sum" || name == fam+"_count"):
				ps.names[name] = true
			}
		}
	}
	return ps, sc.Err()
}

// TestNamesTableComplete: every metric constant in internal/semconv is
// recorded by promNames, so the lint below knows its Prometheus name.
func TestNamesTableComplete(t *testing.T) {
	got := semconvMetricNames(t)
	seen := map[string]bool{}
	for c, v := range got {
		_, ok := instruments[v]
		assert(t, ok, "semconv.%s = %q is missing from the instruments table in names_test.go", c, v)
		seen[v] = true
	}
	for v := range instruments {
		assert(t, seen[v], "instruments table lists %q, which internal/semconv does not define", v)
	}
}

// TestPrometheusNames pins the exporter's translation of the names table:
// one family per instrument, the suffixes Prometheus users expect, and no
// "_ratio" on the dimensionless gauges.
func TestPrometheusNames(t *testing.T) {
	ps := promNames(t)
	var names []string
	for n := range ps.names {
		names = append(names, n)
		assert(t, !strings.HasSuffix(n, "_ratio"), "%s: unit 1 must not add _ratio", n)
	}
	sort.Strings(names)
	t.Logf("Prometheus series names of the names table:\n  %s", strings.Join(names, "\n  "))
	// One family per instrument.
	fams := 0
	for f := range ps.families {
		if strings.HasPrefix(f, "messaging_") || strings.HasPrefix(f, "nats_") {
			fams++
		}
	}
	require.Equal(t, len(instruments), fams)
	for name, in := range instruments {
		base := strings.ReplaceAll(name, ".", "_")
		switch in.kind {
		case histogramKind:
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				assert(t, ps.names[base+"_seconds"+s], "%s: want counter series %s", name, base+"_seconds"+s)
			}
		case counterKind:
			want := base + "_total"
			if in.unit == semconv.UnitBytes {
				want = strings.TrimSuffix(base, "_bytes") + "_bytes_total"
			}
			assert(t, ps.names[want], "%s: want counter %s", name, want)
		default:
			want := base
			if in.unit == semconv.UnitSeconds {
				want += "_seconds"
			}
			isCounter, ok := ps.names[want]
			assert(t, ok && !isCounter, "%s: want gauge %s", name, want)
		}
	}
}

// assert is a formatted check that keeps the test going; it returns ok.
func assert(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}
