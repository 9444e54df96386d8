package circuit

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/semconv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is the breaker clock of the tests: time moves only when a test
// advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// transitions records state-change callbacks.
type transitions struct {
	mu  sync.Mutex
	got [][2]State
}

func (r *transitions) record(_ string, from, to State) {
	r.mu.Lock()
	r.got = append(r.got, [2]State{from, to})
	r.mu.Unlock()
}

func (r *transitions) list() [][2]State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][2]State(nil), r.got...)
}

var errBoom = errBoomType{}

type errBoomType struct{}

func (errBoomType) Error() string { return "boom" }

// newTest builds a breaker on a fake clock with a manual metric reader.
func newTest(t *testing.T, opts ...Option) (*Breaker, *fakeClock, *sdkmetric.ManualReader, *transitions) {
	t.Helper()
	clk := newFakeClock()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tr := &transitions{}
	all := append([]Option{withClock(clk.Now), WithMeterProvider(mp), WithOnStateChange(tr.record)}, opts...)
	b, err := New("test", all...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b, clk, reader, tr
}

// call runs one call through b that ends with err and took d.
func call(t *testing.T, b *Breaker, err error, d time.Duration) error {
	t.Helper()
	done, aerr := b.Allow(context.Background())
	if aerr != nil {
		return aerr
	}
	done(err, d)
	return nil
}

func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// gaugeState returns the state whose nats.client.circuit.state series is 1
// for breaker name, requiring exactly one such series out of three.
func gaugeState(t *testing.T, r *sdkmetric.ManualReader, name string) string {
	t.Helper()
	m, ok := collect(t, r)[semconv.MetricCircuitState]
	require.True(t, ok, "gauge %s not collected", semconv.MetricCircuitState)
	g, ok := m.Data.(metricdata.Gauge[int64])
	require.True(t, ok)
	cur, n := "", 0
	for _, dp := range g.DataPoints {
		if v, _ := dp.Attributes.Value(semconv.NATSCircuitNameKey); v.AsString() != name {
			continue
		}
		n++
		if dp.Value == 1 {
			require.Empty(t, cur, "two states at 1")
			v, _ := dp.Attributes.Value(semconv.NATSCircuitStateKey)
			cur = v.AsString()
		}
	}
	require.Equal(t, 3, n, "one series per state")
	return cur
}

// counterValue sums the data points of counter name matching attrs.
func counterValue(t *testing.T, r *sdkmetric.ManualReader, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := collect(t, r)[name]
	if !ok {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	var total int64
	for _, dp := range sum.DataPoints {
		match := true
		for _, kv := range attrs {
			if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}
