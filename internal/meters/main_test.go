package meters_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/internal/version"
)

// newReader returns a MeterProvider backed by a manual reader.
func newReader(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, rd
}

func collect(t *testing.T, rd *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, rd.Collect(context.Background(), &rm))
	return rm
}

// find returns the named metric, or nil.
func find(rm metricdata.ResourceMetrics, name string) *metricdata.Metrics {
	for _, sm := range rm.ScopeMetrics {
		for i := range sm.Metrics {
			if sm.Metrics[i].Name == name {
				return &sm.Metrics[i]
			}
		}
	}
	return nil
}

// intValue returns the int64 data point of the named sum or gauge whose
// attributes contain all of want; ok is false when there is none.
func intValue(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (int64, bool) {
	m := find(rm, name)
	if m == nil {
		return 0, false
	}
	var dps []metricdata.DataPoint[int64]
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		dps = d.DataPoints
	case metricdata.Gauge[int64]:
		dps = d.DataPoints
	}
	for _, dp := range dps {
		if hasAll(dp.Attributes, want) {
			return dp.Value, true
		}
	}
	return 0, false
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// Every instrument lives on naq's one identity: scope name, version and
// semconv schema URL.
func TestMeterIdentity(t *testing.T) {
	mp, rd := newReader(t)
	meters.NewConnection(mp).Opened.Add(context.Background(), 1)
	rm := collect(t, rd)
	require.Len(t, rm.ScopeMetrics, 1)
	sc := rm.ScopeMetrics[0].Scope
	assert.Equal(t, version.ScopeName, sc.Name)
	assert.Equal(t, version.Version, sc.Version)
	assert.Equal(t, semconv.SchemaURL, sc.SchemaURL)
}
