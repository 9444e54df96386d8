package instrument

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

// metricNames collects the names of every metric with at least one point.
func metricNames(rm metricdata.ResourceMetrics) map[string]bool {
	names := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names[m.Name] = true
		}
	}
	return names
}

// One line, NewConn, reports the connection itself too: active,
// connected, RTT, bytes, reconnects and disconnects, and the pending and
// dropped messages of its subscriptions.
func TestNewConnObservesTheConnection(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	nc := connect(t, srv, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	c := NewConn(nc, tel.opts(WithConnectionName("one-line"))...)
	ob, ok := metrics.ObserverOf(nc)
	require.True(t, ok, "the connection is observed")
	assert.Equal(t, "one-line", ob.Name())
	assert.Same(t, ob, func() *metrics.Observer { o, _ := metrics.ObserverOf(NewConn(nc, tel.opts()...).Conn()); return o }(),
		"a second wrapper does not observe again")

	sub, err := c.SubscribeSync("watched.1")
	require.NoError(t, err)
	require.NoError(t, c.Publish("watched.1", []byte("x")))
	require.NoError(t, c.Flush())
	srv.Stop()
	srv.Restart()
	require.Eventually(t, func() bool { return nc.Stats().Reconnects > 0 }, 10*time.Second, 10*time.Millisecond)

	// nats.go counts the reconnect before it runs the reconnect handlers
	// (on its own callback goroutine), so the Observer's disconnect and
	// reconnect counters may lag Stats by a moment: wait for them.
	want := []string{
		semconv.MetricConnectionsActive, semconv.MetricConnected, semconv.MetricSentBytes,
		semconv.MetricReceivedBytes, semconv.MetricReconnects, semconv.MetricDisconnects,
		semconv.MetricSubPending, semconv.MetricSubDropped,
		semconv.MetricOperationDuration, semconv.MetricSentMessages,
	}
	var names map[string]bool
	assert.Eventually(t, func() bool {
		names = metricNames(tel.collect(t))
		for _, w := range want {
			if !names[w] {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond)
	for _, w := range want {
		assert.True(t, names[w], "%s reported for a connection wrapped with NewConn", w)
	}
	require.NoError(t, sub.Unsubscribe())

	nc.Close()
	require.Eventually(t, func() bool { _, ok := metrics.ObserverOf(nc); return !ok }, 5*time.Second, 10*time.Millisecond,
		"observing stops when the connection closes")
}

// A connection a Recorder already observes (as a scope pool's are) is not
// observed twice: the wrapper tracks subscriptions on the existing Observer
// and reports no second set of connection series.
func TestNewConnDoesNotDoubleCount(t *testing.T) {
	srv := runServer(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(t.Context()) })
	rec := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	nc := connect(t, srv)
	ob, err := rec.Observe(nc, "pooled")
	require.NoError(t, err)

	other := sdkmetric.NewManualReader()
	mp2 := sdkmetric.NewMeterProvider(sdkmetric.WithReader(other))
	t.Cleanup(func() { _ = mp2.Shutdown(t.Context()) })
	c := NewConn(nc, WithMeterProvider(mp2), WithTracerProvider(tracenoop.NewTracerProvider()))
	got, _ := metrics.ObserverOf(nc)
	assert.Same(t, ob, got)
	_, err = c.SubscribeSync("tracked")
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, other.Collect(t.Context(), &rm))
	assert.False(t, metricNames(rm)[semconv.MetricConnectionsActive], "no second active-connections series")
	require.NoError(t, reader.Collect(t.Context(), &rm))
	assert.True(t, metricNames(rm)[semconv.MetricSubPending], "the subscription is tracked on the existing Observer")
}
