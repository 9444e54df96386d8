package meters_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/meters"
	"github.com/naq-io/naq/internal/semconv"
)

func consumerSet(stream, group string) attribute.Set {
	return attribute.NewSet(semconv.System, semconv.NATSStreamKey.String(stream),
		semconv.MessagingConsumerGroupNameKey.String(group))
}

// The instruments record what they are given, with the names, units and
// buckets of the names table; a cell reports nothing until a count is
// stored, then its last count.
func TestConsumerHealthInstruments(t *testing.T) {
	mp, rd := newReader(t)
	h := meters.NewConsumerHealth(mp)
	ctx := context.Background()
	set := consumerSet("ORDERS", "billing")
	cell := h.Pending(set)
	assert.Same(t, cell, h.Pending(consumerSet("ORDERS", "billing")), "one cell per attribute set")
	_, ok := intValue(collect(t, rd), semconv.MetricConsumerPending)
	assert.False(t, ok, "nothing stored: no series")

	cell.Store(7)
	cell.Store(3)
	h.Lag.Record(ctx, 42, metric.WithAttributeSet(set))
	h.Redelivered.Add(ctx, 2, metric.WithAttributeSet(set))
	rm := collect(t, rd)
	v, ok := intValue(rm, semconv.MetricConsumerPending, semconv.NATSStreamKey.String("ORDERS"))
	require.True(t, ok)
	assert.Equal(t, int64(3), v, "the last count stored")
	v, _ = intValue(rm, semconv.MetricConsumerRedelivered, semconv.MessagingConsumerGroupNameKey.String("billing"))
	assert.Equal(t, int64(2), v)
	lag := find(rm, semconv.MetricConsumerLag)
	require.NotNil(t, lag)
	assert.Equal(t, semconv.UnitSeconds, lag.Unit)
	hist := lag.Data.(metricdata.Histogram[float64])
	require.Len(t, hist.DataPoints, 1)
	assert.Equal(t, semconv.LagBuckets(), hist.DataPoints[0].Bounds)
	assert.Equal(t, 42.0, hist.DataPoints[0].Sum)
	got, ok := cell.Load()
	assert.True(t, ok)
	assert.Equal(t, int64(3), got)

	cell.Store(math.MaxUint64) // beyond int64: clamped, not negative
	got, ok = cell.Load()
	assert.True(t, ok)
	assert.Equal(t, int64(math.MaxInt64), got)

	var nilCell *meters.PendingCell
	nilCell.Store(1) // no-op
	_, ok = nilCell.Load()
	assert.False(t, ok)
	var nilHealth *meters.ConsumerHealth
	assert.Nil(t, nilHealth.Pending(set))
}

// Concurrent cell creation (beyond MaxPendingSeries), stores and
// collections, under -race: every set gets one cell, collection sees each
// cell's last count, and the sets beyond the bound share the one _OTHER
// series.
func TestConsumerHealthConcurrent(t *testing.T) {
	mp, rd := newReader(t)
	h := meters.NewConsumerHealth(mp)
	const sets = meters.MaxPendingSeries + 100
	const workers, rounds = 6, 20
	final := func(i int) uint64 { return uint64(10 * i) }

	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
				var rm metricdata.ResourceMetrics
				assert.NoError(t, rd.Collect(context.Background(), &rm))
			}
		}
	}()
	// Each worker walks every set (from its own offset, so creations race),
	// stores round numbers, then the set's final count.
	var wg sync.WaitGroup
	cells := make([][]*meters.PendingCell, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cells[w] = make([]*meters.PendingCell, sets)
			for k := range sets {
				i := (k + w*sets/workers) % sets
				c := h.Pending(consumerSet(fmt.Sprintf("S%d", i), "g"))
				cells[w][i] = c
				for r := range rounds {
					c.Store(uint64(r))
				}
			}
		}()
	}
	wg.Wait()
	for i := range sets {
		for w := 1; w < workers; w++ {
			require.Same(t, cells[0][i], cells[w][i], "set %d got two cells", i)
		}
		cells[0][i].Store(final(i))
	}
	close(stop)
	<-collected

	rm := collect(t, rd)
	m := find(rm, semconv.MetricConsumerPending)
	require.NotNil(t, m)
	points := m.Data.(metricdata.Gauge[int64]).DataPoints
	require.Len(t, points, meters.MaxPendingSeries+1, "the bound plus one overflow series")
	seen := map[string]int64{}
	for _, p := range points {
		s, _ := p.Attributes.Value(semconv.NATSStreamKey)
		seen[s.AsString()] = p.Value
	}
	overflowFinals := map[int64]bool{}
	inCells := 0
	for i := range sets {
		name := fmt.Sprintf("S%d", i)
		if v, ok := seen[name]; ok {
			inCells++
			assert.Equal(t, int64(final(i)), v, "%s", name)
		} else {
			overflowFinals[int64(final(i))] = true
		}
	}
	assert.Equal(t, meters.MaxPendingSeries, inCells)
	other, ok := seen[semconv.OtherValue]
	require.True(t, ok)
	assert.True(t, overflowFinals[other], "the overflow series holds the last count of an overflow set")
}
