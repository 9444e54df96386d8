package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/naq-io/naq/internal/semconv"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		name    string
		buckets []uint64
		q       float64
		want    time.Duration
	}{
		{name: "empty", buckets: []uint64{0, 0, 0, 0}, q: 0.5, want: 0},
		{name: "first bucket from zero", buckets: []uint64{10, 0, 0, 0}, q: 0.5, want: 500 * time.Millisecond},
		{name: "interpolated", buckets: []uint64{0, 10, 0, 0}, q: 0.5, want: 1500 * time.Millisecond},
		{name: "p99 in the upper bucket", buckets: []uint64{90, 0, 10, 0}, q: 0.99, want: 3800 * time.Millisecond},
		{name: "overflow reports the last bound", buckets: []uint64{0, 0, 0, 5}, q: 0.5, want: 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &opWindow{}
			w.add([]float64{1, 2, 4}, tt.buckets, 0, "")
			assert.Equal(t, tt.want, w.quantile(tt.q))
		})
	}
}

// TestLiveStats: interval rows are deltas of the cumulative histograms,
// grouped by operation and destination, with error counts and types.
func TestLiveStats(t *testing.T) {
	ctx := context.Background()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer func() { _ = mp.Shutdown(ctx) }()
	h, err := mp.Meter("test").Float64Histogram(semconv.MetricOperationDuration,
		metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
	require.NoError(t, err)
	pub := metric.WithAttributes(semconv.MessagingOperationNameKey.String("publish"),
		semconv.MessagingDestinationTemplateKey.String("orders.*"))
	pubErr := metric.WithAttributes(semconv.MessagingOperationNameKey.String("publish"),
		semconv.MessagingDestinationTemplateKey.String("orders.*"), semconv.ErrorTypeKey.String("timeout"))
	kvGet := metric.WithAttributes(semconv.MessagingOperationNameKey.String("kv.get"),
		semconv.NATSKVBucketKey.String("status"))

	l := newLiveStats(r)
	for range 3 {
		h.Record(ctx, 0.0002, pub)
	}
	h.Record(ctx, 0.5, pubErr)
	h.Record(ctx, 0.001, kvGet)
	interval, total, err := l.collect(ctx)
	require.NoError(t, err)
	p := interval[opKey{"publish", "orders.*"}]
	require.NotNil(t, p)
	assert.Equal(t, uint64(4), p.count)
	assert.Equal(t, uint64(1), p.errors)
	assert.Equal(t, "timeout", p.topError())
	assert.Equal(t, uint64(1), interval[opKey{"kv.get", "status"}].count)
	assert.Equal(t, uint64(4), total[opKey{"publish", "orders.*"}].count)

	h.Record(ctx, 0.0002, pub)
	interval, total, err = l.collect(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), interval[opKey{"publish", "orders.*"}].count, "the second interval holds only the new value")
	assert.Equal(t, uint64(0), interval[opKey{"publish", "orders.*"}].errors)
	assert.Equal(t, uint64(0), interval[opKey{"kv.get", "status"}].count)
	assert.Equal(t, uint64(5), total[opKey{"publish", "orders.*"}].count)

	var b strings.Builder
	writeTable(&b, interval, 1)
	assert.Contains(t, b.String(), "orders.*")
	assert.NotContains(t, b.String(), "kv.get", "idle rows are left out of an interval")
}
