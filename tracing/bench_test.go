package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/tracing"
)

func BenchmarkDefaultSubjectNamer(b *testing.B) {
	for _, subj := range []string{"orders.eu.created", "orders.12345.created", "_INBOX.OJ5uF7PPC8k7QQnQBxrFGQ.1"} {
		b.Run(subj, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tracing.DefaultSubjectNamer(subj)
			}
		})
	}
}

func BenchmarkLimitTemplatesKnown(b *testing.B) {
	n := tracing.LimitTemplates(nil, 0)
	_ = n("orders.eu.created")
	b.ReportAllocs()
	for b.Loop() {
		_ = n("orders.eu.created")
	}
}

func BenchmarkHeaderCarrierGet(b *testing.B) {
	h := tracing.HeaderCarrier(nats.Header{"Traceparent": {tp}, "x": {"y"}})
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Get("traceparent") // case-insensitive path
	}
}

func BenchmarkExtract(b *testing.B) {
	msg := &nats.Msg{Header: nats.Header{"traceparent": {tp}}}
	opt := tracing.WithPropagators(w3c)
	b.ReportAllocs()
	for b.Loop() {
		_ = tracing.Extract(context.Background(), msg, opt)
	}
}

// BenchmarkPropagator compares the Propagator with the W3C propagators
// through a HeaderCarrier (generic), injecting into one reused header and
// extracting from a header carrying a traceparent.
func BenchmarkPropagator(b *testing.B) {
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, TraceFlags: trace.FlagsSampled,
	}))
	prop := tracing.NewPropagator(w3c)
	h := nats.Header{}
	b.Run("inject/generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w3c.Inject(ctx, tracing.HeaderCarrier(h))
		}
	})
	b.Run("inject/propagator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			prop.Inject(ctx, h)
		}
	})
	in := nats.Header{"traceparent": {tp}}
	b.Run("extract/generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = w3c.Extract(context.Background(), tracing.HeaderCarrier(in))
		}
	})
	b.Run("extract/propagator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = prop.Extract(context.Background(), in)
		}
	})
}

// BenchmarkStartProcess is one process span of a delivered message that
// carries a traceparent, started and ended: with an SDK provider that
// records (and exports nowhere), and with a no-op one.
func BenchmarkStartProcess(b *testing.B) {
	sdk := sdktrace.NewTracerProvider()
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	msg := &nats.Msg{Subject: "orders.42", Header: nats.Header{"traceparent": {tp}}}
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"sdk", sdk}, {"noop", noop.NewTracerProvider()}} {
		b.Run(c.name, func(b *testing.B) {
			opts := []tracing.Option{tracing.WithPropagators(w3c), tracing.WithTracerProvider(c.tp)}
			b.ReportAllocs()
			for b.Loop() {
				_, span := tracing.StartProcess(context.Background(), msg, opts...)
				span.End()
			}
		})
	}
}
