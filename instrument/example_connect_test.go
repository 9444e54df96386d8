package instrument_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
)

func ExampleConnect() {
	srv := exampleServer()
	defer srv.Shutdown()

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	// The gate's connect breaker opens after 3 failed dials in a row.
	gate, err := circuit.NewGate("orders", circuit.WithMeterProvider(mp),
		circuit.WithDialOptions(circuit.WithConsecutiveFailures(3)))
	if err != nil {
		panic(err)
	}
	defer gate.Close()
	opts := []instrument.Option{
		instrument.WithTracerProvider(tp),
		instrument.WithMeterProvider(mp),
		instrument.WithGate(gate),
		instrument.WithConnectionName("orders"),
	}

	nc, err := instrument.Connect(context.Background(), func(ctx context.Context) (*nats.Conn, error) {
		return nats.Connect(srv.ClientURL(), nats.Name("orders"))
	}, opts...)
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanKind())
		for _, kv := range s.Attributes() {
			if kv.Key == "messaging.operation.name" || kv.Key == "server.address" {
				fmt.Printf("  %s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					op, _ := dp.Attributes.Value(attribute.Key("messaging.operation.name"))
					fmt.Printf("%s{operation=%s} count=%d\n", m.Name, op.Emit(), dp.Count)
				}
			}
		}
	}
	// Output:
	// connect client
	//   messaging.operation.name=connect
	//   server.address=127.0.0.1
	// messaging.client.operation.duration{operation=connect} count=1
}
