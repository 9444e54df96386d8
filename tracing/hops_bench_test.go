package tracing

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/naq-io/naq/internal/semconv"
)

// BenchmarkHopCollectorHandle is the collector's work for one trace event
// (the captured core publish to two subscriptions: three hops), from the
// message to the ended spans: with an SDK provider that records (and exports
// nowhere), with the same under OTEL_SEMCONV_STABILITY_OPT_IN=messaging/dup
// (both names of messaging.system), and with a no-op one (parsing and
// counting only).
func BenchmarkHopCollectorHandle(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "hops", "core-publish-queue.json"))
	if err != nil {
		b.Fatal(err)
	}
	sdk := sdktrace.NewTracerProvider()
	defer func() { _ = sdk.Shutdown(context.Background()) }()
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		stab semconv.Stability
	}{
		{"sdk", sdk, semconv.StabilityDefault},
		{"sdk_dup", sdk, semconv.StabilityMessagingDup},
		{"noop", noop.NewTracerProvider(), semconv.StabilityDefault},
	} {
		b.Run(c.name, func(b *testing.B) {
			hc := &HopCollector{
				tracer: c.tp.Tracer(ScopeName), prop: propagation.TraceContext{}, ratio: 1,
				limiter: rate.NewLimiter(rate.Inf, 0),
				namer:   LimitTemplates(nil, 0), streams: LimitTemplates(func(s string) string { return s }, 0),
				names: newHopNames(c.stab),
			}
			msg := &nats.Msg{Subject: "naq.trace.hops", Data: data}
			b.ReportAllocs()
			for b.Loop() {
				hc.handle(msg)
			}
			if hc.collected.Load() == 0 || hc.spans.Load() == 0 {
				b.Fatal("nothing collected")
			}
		})
	}
}
