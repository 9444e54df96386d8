package tracing_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/tracing"
)

func ExampleInject() {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled,
	}))

	msg := &nats.Msg{Subject: "orders.created", Data: []byte("{}")}
	tracing.Inject(ctx, msg, tracing.WithPropagators(propagation.TraceContext{}))
	fmt.Println(msg.Header.Get("traceparent"))

	// Extract reads the header back, whatever the case of its keys.
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), msg,
		tracing.WithPropagators(propagation.TraceContext{})))
	fmt.Println(got.TraceID())
	// Output:
	// 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	// 4bf92f3577b34da6a3ce929d0e0e4736
}

func ExampleDefaultSubjectNamer() {
	for _, s := range []string{"orders.created", "orders.12345.shipped", "_INBOX.x7Fq9.1", "$JS.ACK.ORDERS.c.1.5.5.0.0"} {
		fmt.Println(tracing.DefaultSubjectNamer(s))
	}
	// Output:
	// orders.created
	// orders.*.shipped
	// _INBOX
	// $JS.ACK
}

// StartProcess makes the handler's span a child of the producer span carried
// in the message header (one trace) and links it to that span too.
func ExampleStartProcess() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	opts := []tracing.Option{tracing.WithTracerProvider(tp), tracing.WithPropagators(propagation.TraceContext{})}

	// The producer side: a span whose context travels in the header.
	pctx, producer := tp.Tracer("producer").Start(context.Background(), "publish orders.*")
	msg := &nats.Msg{Subject: "orders.42", Data: []byte("{}")}
	tracing.Inject(pctx, msg, opts...)
	producer.End()

	// The consumer side.
	_, span := tracing.StartProcess(context.Background(), msg, opts...)
	span.End()

	s := rec.Ended()[1]
	fmt.Println(s.Name(), s.SpanKind())
	fmt.Println("same trace:", s.Parent().TraceID() == producer.SpanContext().TraceID())
	fmt.Println("child of the producer:", s.Parent().SpanID() == producer.SpanContext().SpanID())
	fmt.Println("linked to the producer:", len(s.Links()) == 1 && s.Links()[0].SpanContext.SpanID() == producer.SpanContext().SpanID())
	// Output:
	// process orders.* consumer
	// same trace: true
	// child of the producer: true
	// linked to the producer: true
}
