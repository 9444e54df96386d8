package tracing_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

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
