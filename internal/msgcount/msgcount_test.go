package msgcount

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// provider returns an SDK meter provider with a manual reader of the given
// temporality, shut down at cleanup.
func provider(t *testing.T, temporality metricdata.Temporality) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	rd := sdkmetric.NewManualReader(sdkmetric.WithTemporalitySelector(func(sdkmetric.InstrumentKind) metricdata.Temporality {
		return temporality
	}))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, rd
}

// counters returns the pair of m, made with observable counters named
// "sent" and "consumed".
func counters(t *testing.T, m metric.Meter) (*Counter, *Counter) {
	t.Helper()
	return For(m, func() (metric.Int64ObservableCounter, metric.Int64ObservableCounter) {
		s, err := m.Int64ObservableCounter("sent")
		require.NoError(t, err)
		c, err := m.Int64ObservableCounter("consumed")
		require.NoError(t, err)
		return s, c
	})
}

// points collects rd and returns the values of the named sum by the value
// of attribute "k" (and "error.type", when set, as k+"/"+error.type).
func points(t *testing.T, rd *sdkmetric.ManualReader, name string) (map[string]int64, metricdata.Sum[int64]) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, rd.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			require.True(t, ok, "%s is a %T", name, m.Data)
			for _, dp := range sum.DataPoints {
				k, _ := dp.Attributes.Value("k")
				key := k.AsString()
				if et, ok := dp.Attributes.Value("error.type"); ok {
					key += "/" + et.AsString()
				}
				_, dup := out[key]
				require.False(t, dup, "two data points for %s", key)
				out[key] = dp.Value
			}
			return out, sum
		}
	}
	return out, metricdata.Sum[int64]{}
}

func set(kv ...attribute.KeyValue) attribute.Set { return attribute.NewSet(kv...) }

func TestTotalsAreExactCumulativeSums(t *testing.T) {
	mp, rd := provider(t, metricdata.CumulativeTemporality)
	m := mp.Meter("test")
	sent, consumed := counters(t, m)
	a := sent.Cell(set(attribute.String("k", "a")))
	aTimeout := sent.Cell(set(attribute.String("k", "a"), attribute.String("error.type", "timeout")))
	aPanic := sent.Cell(set(attribute.String("k", "a"), attribute.String("error.type", "panic")))
	unused := sent.Cell(set(attribute.String("k", "unused")))
	require.NotNil(t, unused)
	assert.Same(t, a, sent.Cell(set(attribute.String("k", "a"))), "one cell per attribute set")

	for range 1000 {
		a.Add(1)
	}
	for range 7 {
		aTimeout.Add(1)
	}
	aPanic.Add(3)
	a.Add(0)
	a.Add(-5) // a counter only grows
	// The metric.Int64Counter face adds to the same series.
	sent.Add(context.Background(), 2, metric.WithAttributeSet(set(attribute.String("k", "a"))))
	sent.Add(context.Background(), 4, metric.WithAttributes(attribute.String("k", "b")))
	consumed.Cell(set(attribute.String("k", "a"))).Add(9)
	assert.True(t, sent.Enabled(context.Background()))

	got, sum := points(t, rd, "sent")
	assert.Equal(t, map[string]int64{"a": 1002, "a/timeout": 7, "a/panic": 3, "b": 4}, got,
		"a series never added to has no data point, as with a synchronous counter")
	assert.True(t, sum.IsMonotonic)
	assert.Equal(t, metricdata.CumulativeTemporality, sum.Temporality)
	got, _ = points(t, rd, "consumed")
	assert.Equal(t, map[string]int64{"a": 9}, got)

	// Cumulative: a second collection reports the totals again, grown.
	a.Add(10)
	got, _ = points(t, rd, "sent")
	assert.Equal(t, int64(1012), got["a"])
	assert.Equal(t, int64(7), got["a/timeout"])
	assert.Equal(t, int64(1012), a.Load())
}

func TestDeltaReaderGetsDeltas(t *testing.T) {
	mp, rd := provider(t, metricdata.DeltaTemporality)
	sent, _ := counters(t, mp.Meter("test"))
	a := sent.Cell(set(attribute.String("k", "a")))
	a.Add(5)
	got, _ := points(t, rd, "sent")
	assert.Equal(t, int64(5), got["a"])
	a.Add(3)
	got, _ = points(t, rd, "sent")
	assert.Equal(t, int64(3), got["a"])
}

func TestOnePairAndOneCallbackPerMeter(t *testing.T) {
	mp, rd := provider(t, metricdata.CumulativeTemporality)
	m := mp.Meter("test")
	s1, c1 := counters(t, m)
	s2, c2 := counters(t, mp.Meter("test")) // the SDK returns the same meter
	assert.Same(t, s1, s2)
	assert.Same(t, c1, c2)
	s1.Cell(set(attribute.String("k", "a"))).Add(1)
	s2.Cell(set(attribute.String("k", "a"))).Add(1)
	got, _ := points(t, rd, "sent")
	assert.Equal(t, map[string]int64{"a": 2}, got, "one series, observed once per collection")

	// Another meter (another scope) has counters of its own.
	s3, _ := counters(t, mp.Meter("other"))
	assert.NotSame(t, s1, s3)
}

// TestConcurrentAddsNewSeriesAndCollection runs adds on known cells, the
// creation of new series and collections at once (go test -race): every
// total is exact at the end, and no collection sees a total go down.
func TestConcurrentAddsNewSeriesAndCollection(t *testing.T) {
	mp, rd := provider(t, metricdata.CumulativeTemporality)
	sent, _ := counters(t, mp.Meter("test"))
	const (
		writers = 8
		adds    = 2000
		series  = 50
	)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	collected := make(chan error, 1)
	go func() {
		last := map[string]int64{}
		for {
			select {
			case <-stop:
				collected <- nil
				return
			default:
			}
			var rm metricdata.ResourceMetrics
			if err := rd.Collect(context.Background(), &rm); err != nil {
				collected <- err
				return
			}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
						k, _ := dp.Attributes.Value("k")
						if dp.Value < last[k.AsString()] {
							collected <- fmt.Errorf("%s went down: %d after %d", k.AsString(), dp.Value, last[k.AsString()])
							return
						}
						last[k.AsString()] = dp.Value
					}
				}
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range adds {
				// A new series now and then, shared by the writers.
				sent.Cell(set(attribute.String("k", fmt.Sprint("s", (w+i)%series)))).Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	require.NoError(t, <-collected)
	got, _ := points(t, rd, "sent")
	require.Len(t, got, series)
	var total int64
	for _, v := range got {
		total += v
	}
	assert.Equal(t, int64(writers*adds), total)
	for s := range series {
		want := int64(0)
		for w := range writers {
			for i := range adds {
				if (w+i)%series == s {
					want++
				}
			}
		}
		assert.Equal(t, want, got[fmt.Sprint("s", s)], "series s%d", s)
	}
}

func TestCellAddAllocatesNothing(t *testing.T) {
	mp, _ := provider(t, metricdata.CumulativeTemporality)
	sent, _ := counters(t, mp.Meter("test"))
	c := sent.Cell(set(attribute.String("k", "a")))
	assert.Zero(t, testing.AllocsPerRun(100, func() { c.Add(1) }))
}
