package metrics_test

import (
	"context"
	"fmt"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/metrics"
)

// observedRecorder observes conns connections with two tracked subscriptions
// each.
func observedRecorder(b *testing.B, conns int) (*metrics.Recorder, *sdkmetric.ManualReader) {
	b.Helper()
	s := natstest.RunServer(b)
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	r := metrics.NewRecorder(metrics.WithMeterProvider(mp))
	for i := 0; i < conns; i++ {
		nc, err := r.Dial(context.Background(), fmt.Sprintf("c%d", i), dialer(s.URL()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(nc.Close)
		o, _ := r.Observer(nc)
		for j := 0; j < 2; j++ {
			sub, err := nc.SubscribeSync(fmt.Sprintf("bench.%d", j))
			if err != nil {
				b.Fatal(err)
			}
			o.Track(sub, fmt.Sprintf("bench.%d", j))
		}
	}
	return r, rd
}

// BenchmarkCollect measures one metric collection over 10 observed
// connections: it reads only local state, never the network.
func BenchmarkCollect(b *testing.B) {
	_, rd := observedRecorder(b, 10)
	ctx := context.Background()
	var rm metricdata.ResourceMetrics
	b.ReportAllocs()
	for b.Loop() {
		if err := rd.Collect(ctx, &rm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot measures Recorder.Snapshot over 10 observed connections.
func BenchmarkSnapshot(b *testing.B) {
	r, _ := observedRecorder(b, 10)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Snapshot()
	}
}
