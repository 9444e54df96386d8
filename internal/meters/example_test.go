package meters_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/naq-io/naq/internal/meters"
)

// NewMessaging creates the messaging instruments once; every duration
// histogram uses the explicit buckets that resolve loopback latency (a 1.5 ms
// publish lands in the 2.5 ms bucket, not in the first one).
func ExampleNewMessaging() {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	m := meters.NewMessaging(mp)
	m.OperationDuration.Record(context.Background(), 0.0015)
	m.SentMessages.Add(context.Background(), 1)

	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		fmt.Println("collect:", err)
		return
	}
	for _, x := range rm.ScopeMetrics[0].Metrics {
		if h, ok := x.Data.(metricdata.Histogram[float64]); ok {
			p := h.DataPoints[0]
			fmt.Println(x.Name, x.Unit, p.Bounds)
			for i, n := range p.BucketCounts {
				if n > 0 {
					fmt.Println("in bucket <=", p.Bounds[i])
				}
			}
		} else {
			fmt.Println(x.Name, x.Unit)
		}
	}
	// Output:
	// messaging.client.operation.duration s [5e-05 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10]
	// in bucket <= 0.0025
	// messaging.client.sent.messages {message}
}

// NewConnection creates the nats.client.* connection instruments that
// metrics.Recorder records and metrics.Observer observes.
func ExampleNewConnection() {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() { _ = mp.Shutdown(context.Background()) }()

	c := meters.NewConnection(mp)
	c.Active.Add(context.Background(), 1)
	c.ConnectDuration.Record(context.Background(), 0.0004)

	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		fmt.Println("collect:", err)
		return
	}
	for _, x := range rm.ScopeMetrics[0].Metrics {
		fmt.Println(x.Name, x.Unit)
	}
	// Output:
	// nats.client.connections.active {connection}
	// nats.client.connect.duration s
}
