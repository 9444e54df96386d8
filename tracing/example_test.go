package tracing_test

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
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
