package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func floatValue(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) (float64, bool) {
	m := find(rm, name)
	if m == nil {
		return 0, false
	}
	if d, ok := m.Data.(metricdata.Gauge[float64]); ok {
		for _, dp := range d.DataPoints {
			if hasAll(dp.Attributes, want) {
				return dp.Value, true
			}
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

func connName(name string) attribute.KeyValue { return semconv.NATSConnectionKey.String(name) }

// connect dials url with fast reconnects.
func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func dialer(url string, opts ...nats.Option) func(context.Context) (*nats.Conn, error) {
	return func(context.Context) (*nats.Conn, error) { return nats.Connect(url, opts...) }
}

var _ = metrics.ScopeName
