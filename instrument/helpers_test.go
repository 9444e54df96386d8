package instrument

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/oteltest"
	"github.com/naq-io/naq/tracing"
)

// Shared test helpers for every wrapper test in this package (core, JetStream,
// KeyValue). Nothing here sets an OpenTelemetry global.

// w3c is the propagator tests use: W3C trace context plus baggage.
var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// telemetry is an in-memory SDK: a span recorder and a manual metric reader.
type telemetry struct {
	sr     *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

// newTelemetry returns an always-sampling tracer provider with a span
// recorder and a meter provider with a manual reader, shut down at cleanup.
func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel := &telemetry{
		sr:     sr,
		tp:     sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr), sdktrace.WithSampler(sdktrace.AlwaysSample())),
		reader: reader,
		mp:     sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	}
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

// opts returns the options wiring tel, then extra.
func (tel *telemetry) opts(extra ...Option) []Option {
	return append([]Option{
		WithTracerProvider(tel.tp), WithMeterProvider(tel.mp), WithPropagators(w3c),
	}, extra...)
}

// spans returns the ended spans.
func (tel *telemetry) spans() []sdktrace.ReadOnlySpan { return tel.sr.Ended() }

// collect reads the metrics.
func (tel *telemetry) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	return rm
}

// metric returns the named instrument's data, failing if absent.
func (tel *telemetry) metric(t testing.TB, name string) metricdata.Metrics {
	t.Helper()
	rm := tel.collect(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	require.Failf(t, "metric not found", "%s", name)
	return metricdata.Metrics{}
}

// histPoints returns the float64 histogram points of the named metric.
func (tel *telemetry) histPoints(t testing.TB, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := tel.metric(t, name).Data.(metricdata.Histogram[float64])
	require.True(t, ok, "%s is not a float64 histogram", name)
	return h.DataPoints
}

// sumPoints returns the int64 sum points of the named metric.
func (tel *telemetry) sumPoints(t testing.TB, name string) []metricdata.DataPoint[int64] {
	t.Helper()
	s, ok := tel.metric(t, name).Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is not an int64 sum", name)
	return s.DataPoints
}

// waitSpans waits until at least n spans ended and returns them.
func (tel *telemetry) waitSpans(t testing.TB, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool { return len(tel.sr.Ended()) >= n }, 5*time.Second, 5*time.Millisecond,
		"want %d ended spans", n)
	return tel.sr.Ended()
}

// spanNamed returns the single ended span called name.
func spanNamed(t testing.TB, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
		if s.Name() == name {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "spans named %q among %v", name, names)
	return found[0]
}

// attrs turns attributes into a map.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// assertAttrs checks that every wanted attribute is present with its value.
func assertAttrs(t testing.TB, got []attribute.KeyValue, want ...attribute.KeyValue) {
	t.Helper()
	m := attrs(got)
	for _, w := range want {
		v, ok := m[w.Key]
		if assert.True(t, ok, "attribute %s missing in %v", w.Key, got) {
			assert.Equal(t, w.Value.Emit(), v.Emit(), "attribute %s", w.Key)
		}
	}
}

// assertNoAttr checks that key is absent.
func assertNoAttr(t testing.TB, got []attribute.KeyValue, key attribute.Key) {
	t.Helper()
	_, ok := attrs(got)[key]
	assert.False(t, ok, "attribute %s must not be recorded (%v)", key, got)
}

// pointWith returns the data point whose attribute set has every wanted
// attribute, or fails.
func pointWith[P interface {
	metricdata.HistogramDataPoint[float64] | metricdata.DataPoint[int64]
}](t testing.TB, points []P, want ...attribute.KeyValue) P {
	t.Helper()
	var all []string
	for _, p := range points {
		var set attribute.Set
		switch v := any(p).(type) {
		case metricdata.HistogramDataPoint[float64]:
			set = v.Attributes
		case metricdata.DataPoint[int64]:
			set = v.Attributes
		}
		all = append(all, set.Encoded(attribute.DefaultEncoder()))
		ok := true
		for _, w := range want {
			if v, has := set.Value(w.Key); !has || v.Emit() != w.Value.Emit() {
				ok = false
				break
			}
		}
		if ok {
			return p
		}
	}
	require.Failf(t, "no data point", "want %v among %v", want, all)
	var zero P
	return zero
}

// assertNoSecrets scans every recorded span and metric data point for any
// of the forbidden strings (see oteltest.AssertNoSecrets).
func assertNoSecrets(t testing.TB, tel *telemetry, forbidden ...string) {
	t.Helper()
	oteltest.AssertNoSecrets(t, tel.spans(), tel.collect(t), forbidden...)
}

// runServer starts an embedded JetStream server for the test.
func runServer(t testing.TB) *natstest.Server {
	t.Helper()
	return natstest.RunServer(t)
}

// connect opens a raw nats.go connection closed at cleanup.
func connect(t testing.TB, s *natstest.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.URL(), opts...)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// propagationCarrier adapts a header for direct propagator calls in tests.
func propagationCarrier(h nats.Header) tracing.HeaderCarrier { return tracing.HeaderCarrier(h) }
