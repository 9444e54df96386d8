package instrument_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/tracing"
)

func ExampleWithServerTrace() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prop := propagation.TraceContext{}

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()

	// The collector turns the servers' trace events into spans of the
	// publisher's trace.
	ctx := context.Background()
	hops, err := tracing.NewHopCollector(ctx, nc, "naq.trace.hops",
		tracing.WithTracerProvider(tp), tracing.WithPropagators(prop))
	if err != nil {
		panic(err)
	}
	defer hops.Close()

	// Sampled publishes ask the servers for their hops.
	raw, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	js := instrument.NewJetStream(raw,
		instrument.WithTracerProvider(tp), instrument.WithPropagators(prop),
		instrument.WithServerTrace(instrument.ServerTrace{Dest: "naq.trace.hops"}))
	_, _ = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	_, _ = js.Publish(ctx, "orders.1042", []byte(`{"sku":"A7"}`))

	for deadline := time.Now().Add(5 * time.Second); hops.Stats().Received == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.SpanKind().String()+" "+s.Name())
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	fmt.Printf("%+v\n", hops.Stats())
	// Output:
	// client js.stream.create ORDERS
	// internal ingress orders.*
	// internal jetstream ORDERS
	// producer publish orders.*
	// {Received:1 Collected:1 Spans:2 RateLimited:0 Malformed:0 NoParent:0 SampledOut:0 Truncated:0 SlowConsumer:0}
}
