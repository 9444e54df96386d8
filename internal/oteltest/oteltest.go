// Package oteltest holds telemetry checks shared by naq's tests. It imports
// the OpenTelemetry SDK and testify, so only test files may import it.
package oteltest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// AssertNoSecrets fails t when any of the forbidden strings (payloads,
// passwords, tokens, KV values, inbox prefixes) appears, case-insensitively,
// in a span's name, status description, attributes, event names and
// attributes or link attributes, or in the attributes of any metric data
// point of rm. It also fails when there is no span or no data point to
// scan: an empty scan proves nothing.
func AssertNoSecrets(t testing.TB, spans []sdktrace.ReadOnlySpan, rm metricdata.ResourceMetrics, forbidden ...string) {
	t.Helper()
	check := func(where, s string) {
		ls := strings.ToLower(s)
		for _, f := range forbidden {
			assert.NotContains(t, ls, strings.ToLower(f), "%s leaks %q", where, f)
		}
	}
	checkAttrs := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			check(where+" "+string(kv.Key), string(kv.Key)+"="+kv.Value.Emit())
		}
	}
	for _, s := range spans {
		where := "span " + s.Name()
		check(where+" name", s.Name())
		check(where+" status", s.Status().Description)
		checkAttrs(where, s.Attributes())
		for _, e := range s.Events() {
			check(where+" event", e.Name)
			checkAttrs(where+" event "+e.Name, e.Attributes)
		}
		for _, l := range s.Links() {
			checkAttrs(where+" link", l.Attributes)
		}
	}
	points := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, set := range PointAttributes(m) {
				points++
				checkAttrs("metric "+m.Name, set.ToSlice())
			}
		}
	}
	require.NotEmpty(t, spans, "no spans recorded to scan")
	require.NotZero(t, points, "no metric data points recorded to scan")
}

// PointAttributes returns the attribute set of every data point of m
// (histograms, sums and gauges, int64 and float64).
func PointAttributes(m metricdata.Metrics) []attribute.Set {
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		return histSets(d.DataPoints)
	case metricdata.Histogram[int64]:
		return histSets(d.DataPoints)
	case metricdata.Sum[int64]:
		return pointSets(d.DataPoints)
	case metricdata.Sum[float64]:
		return pointSets(d.DataPoints)
	case metricdata.Gauge[int64]:
		return pointSets(d.DataPoints)
	case metricdata.Gauge[float64]:
		return pointSets(d.DataPoints)
	}
	return nil
}

func pointSets[N int64 | float64](dps []metricdata.DataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(dps))
	for i, p := range dps {
		sets[i] = p.Attributes
	}
	return sets
}

func histSets[N int64 | float64](dps []metricdata.HistogramDataPoint[N]) []attribute.Set {
	sets := make([]attribute.Set, len(dps))
	for i, p := range dps {
		sets[i] = p.Attributes
	}
	return sets
}
