package instrument_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/naq-io/naq/instrument"
)

// runJetStreamServer starts an embedded JetStream server standing in for
// your NATS deployment; stop shuts it down and removes its store.
func runJetStreamServer() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "naq-example-")
	if err != nil {
		panic(err)
	}
	srv, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir,
	})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		panic("server not ready")
	}
	return srv.ClientURL(), func() {
		srv.Shutdown()
		srv.WaitForShutdown()
		_ = os.RemoveAll(dir)
	}
}

// exampleOptions records in memory; usually the providers come from the
// otel globals and no option is needed.
func exampleOptions(spans *tracetest.SpanRecorder) []instrument.Option {
	return []instrument.Option{
		instrument.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))),
		instrument.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
		instrument.WithPropagators(propagation.TraceContext{}),
	}
}

func ExampleNewJetStream() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	raw, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	js := instrument.NewJetStream(raw, exampleOptions(spans)...) // the one-line change

	ctx := context.Background()
	stream, _ := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	_, _ = js.Publish(ctx, "orders.1042", []byte(`{"sku":"A7"}`))
	cons, _ := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy})

	done := make(chan struct{})
	cc, _ := cons.Consume(func(msg jetstream.Msg) {
		_ = msg.Ack() // "ack ORDERS", a child of the process span
		close(done)
	})
	<-done
	cc.Stop()
	for len(spans.Ended()) < 5 { // the process span ends when the handler returns
		time.Sleep(time.Millisecond)
	}

	for _, s := range spans.Ended() {
		fmt.Println(s.SpanKind(), s.Name())
	}
	// Output:
	// client js.stream.create ORDERS
	// producer publish orders.*
	// client js.consumer.create ORDERS
	// client ack ORDERS
	// consumer process ORDERS
}

func ExampleNewKeyValue() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	raw, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "profiles"})
	if err != nil {
		panic(err)
	}
	kv := instrument.NewKeyValue(raw, exampleOptions(spans)...) // the one-line change

	_, _ = kv.Put(ctx, "user.42", []byte("secret value, never recorded"))
	_, err = kv.Get(ctx, "user.7")
	fmt.Println("missing key:", errors.Is(err, jetstream.ErrKeyNotFound))

	for _, s := range spans.Ended() {
		fmt.Println(s.SpanKind(), s.Name(), s.Status().Code)
	}
	// Output:
	// missing key: true
	// client kv.put profiles Unset
	// client kv.get profiles Unset
}
