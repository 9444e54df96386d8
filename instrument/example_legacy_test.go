package instrument_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/instrument"
)

// A legacy pull consumer: publish, fetch a batch, process and ack each
// message, all in the publisher's trace.
func ExampleConn_JetStream() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	conn := instrument.NewConn(nc, exampleOptions(spans)...)
	js, err := conn.JetStream() // the instrumented legacy JetStream context
	if err != nil {
		panic(err)
	}

	_, _ = js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	_, _ = js.Publish("orders.1042", []byte(`{"sku":"A7"}`))
	sub, _ := js.PullSubscribe("orders.>", "billing")
	defer func() { _ = sub.Unsubscribe() }()

	// instead of sub.Fetch(10, nats.MaxWait(time.Second)):
	msgs, _ := instrument.FetchJS(context.Background(), js, sub, 10, nats.MaxWait(time.Second))
	for _, msg := range msgs {
		_ = instrument.ProcessJS(js, msg, func(ctx context.Context, msg *nats.Msg) error {
			return instrument.Ack(ctx, js, msg) // instead of msg.Ack()
		})
	}

	ended := spans.Ended()
	for _, s := range ended {
		fmt.Println(s.SpanKind(), s.Name())
	}
	publish, process := ended[1], ended[4]
	fmt.Println("process is a child of publish:", process.Parent().SpanID() == publish.SpanContext().SpanID())
	// Output:
	// client js.stream.create ORDERS
	// producer publish orders.*
	// client receive ORDERS
	// client ack ORDERS
	// consumer process ORDERS
	// process is a child of publish: true
}

// A legacy push consumer: the handler runs in a process span;
// instrument.ContextFromMsg hands its context to the work done for the
// message.
func ExampleNewJetStreamContext() {
	url, stop := runJetStreamServer()
	defer stop()
	spans := tracetest.NewSpanRecorder()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	raw, err := nc.JetStream()
	if err != nil {
		panic(err)
	}
	js := instrument.NewJetStreamContext(raw, exampleOptions(spans)...) // the one-line change

	_, _ = js.AddStream(&nats.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	_, _ = js.Publish("orders.1042", []byte(`{"sku":"A7"}`))

	done := make(chan trace.SpanContext, 1)
	sub, _ := js.Subscribe("orders.>", func(msg *nats.Msg) {
		ctx := instrument.ContextFromMsg(msg) // carries the process span
		_ = instrument.Ack(ctx, js, msg)
		done <- trace.SpanContextFromContext(ctx)
	}, nats.Durable("billing"), nats.ManualAck())
	defer func() { _ = sub.Unsubscribe() }()
	inHandler := <-done
	for len(spans.Ended()) < 4 { // the process span ends when the handler returns
		time.Sleep(time.Millisecond)
	}

	for _, s := range spans.Ended() {
		fmt.Println(s.SpanKind(), s.Name())
	}
	fmt.Println("handler context is the process span:", inHandler.Equal(spans.Ended()[3].SpanContext()))
	// Output:
	// client js.stream.create ORDERS
	// producer publish orders.*
	// client ack ORDERS
	// consumer process ORDERS
	// handler context is the process span: true
}
