package benchutil

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkinstrumentation "go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Snapshot is what an exporter copies out of an ended span before it
// converts it to its wire format: every field of the ReadOnlySpan.
type Snapshot struct {
	Name                 string
	SpanContext, Parent  trace.SpanContext
	Kind                 trace.SpanKind
	Start, End           time.Time
	Attributes           []attribute.KeyValue
	Events               []sdktrace.Event
	EventAttributes      []attribute.KeyValue // the attributes of every event, flattened
	Links                []sdktrace.Link
	LinkAttributes       []attribute.KeyValue // the attributes of every link, flattened
	Status               sdktrace.Status
	DroppedAttributes    int
	DroppedEvents        int
	DroppedLinks         int
	ChildSpanCount       int
	Resource             *resource.Resource
	InstrumentationScope sdkinstrumentation.Scope
	// Size is a checksum over every attribute value read (string lengths,
	// numbers), so that no accessor call can be optimised away.
	Size int
}

// SnapshotProcessor is a span processor for benchmarks: on OnEnd it calls
// every accessor of the ended span and copies the result into a [Snapshot],
// reading every attribute value, as an exporter does before converting the
// span; then it drops it. It reuses one Snapshot (under a mutex), so it
// allocates nothing of its own: the allocations a benchmark reports are the
// SDK's and the instrumented code's. It is safe for concurrent use.
//
// Without any processor the SDK skips building the read-only snapshot of a
// span when it ends, which makes "sampled" benchmarks optimistic by the
// cost of ending a span; register this one instead.
type SnapshotProcessor struct {
	mu    sync.Mutex
	snap  Snapshot
	ended atomic.Int64
}

var _ sdktrace.SpanProcessor = (*SnapshotProcessor)(nil)

// OnStart does nothing: exporters act on ended spans.
func (p *SnapshotProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd copies s into the processor's snapshot.
func (p *SnapshotProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	p.mu.Lock()
	sn := &p.snap
	sn.Name = s.Name()
	sn.SpanContext = s.SpanContext()
	sn.Parent = s.Parent()
	sn.Kind = s.SpanKind()
	sn.Start, sn.End = s.StartTime(), s.EndTime()
	sn.Attributes = append(sn.Attributes[:0], s.Attributes()...)
	sn.Events = append(sn.Events[:0], s.Events()...)
	sn.EventAttributes = sn.EventAttributes[:0]
	for _, e := range sn.Events {
		sn.EventAttributes = append(sn.EventAttributes, e.Attributes...)
	}
	sn.Links = append(sn.Links[:0], s.Links()...)
	sn.LinkAttributes = sn.LinkAttributes[:0]
	for _, l := range sn.Links {
		sn.LinkAttributes = append(sn.LinkAttributes, l.Attributes...)
	}
	sn.Status = s.Status()
	sn.DroppedAttributes = s.DroppedAttributes()
	sn.DroppedEvents = s.DroppedEvents()
	sn.DroppedLinks = s.DroppedLinks()
	sn.ChildSpanCount = s.ChildSpanCount()
	sn.Resource = s.Resource()
	sn.InstrumentationScope = s.InstrumentationScope()
	size := len(sn.Name) + len(sn.Status.Description)
	size += visit(sn.Attributes) + visit(sn.EventAttributes) + visit(sn.LinkAttributes)
	for _, e := range sn.Events {
		size += len(e.Name)
	}
	sn.Size = size
	p.mu.Unlock()
	p.ended.Add(1)
}

// visit reads every attribute value the way an exporter converting it does,
// without allocating.
func visit(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += len(kv.Key)
		switch kv.Value.Type() {
		case attribute.STRING:
			n += len(kv.Value.AsString())
		case attribute.INT64:
			n += int(kv.Value.AsInt64() & 7)
		case attribute.BOOL:
			if kv.Value.AsBool() {
				n++
			}
		case attribute.FLOAT64:
			n += int(kv.Value.AsFloat64()) & 7
		case attribute.STRINGSLICE:
			for _, s := range kv.Value.AsStringSlice() {
				n += len(s)
			}
		default:
			n++
		}
	}
	return n
}

// Ended returns how many spans the processor has seen end.
func (p *SnapshotProcessor) Ended() int64 { return p.ended.Load() }

// Last returns a copy of the last snapshot (its slices are shared with the
// processor's buffer: read them before the next span ends).
func (p *SnapshotProcessor) Last() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

// Shutdown does nothing.
func (p *SnapshotProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (p *SnapshotProcessor) ForceFlush(context.Context) error { return nil }

// W3C is the propagator the benchmarks give naq and the floors alike: W3C
// trace context plus baggage (what otel's autoprop sets up by default).
var W3C = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// Providers are the SDK providers of one benchmark: a sampling tracer
// provider with a [SnapshotProcessor], a never-sampling one (same
// processor, never called), and a meter provider with a manual reader
// (never collected during the benchmark, as a periodic reader would run on
// another goroutine). Each comparison (naq, floor) uses the same providers.
type Providers struct {
	Processor *SnapshotProcessor
	Sampled   *sdktrace.TracerProvider
	Unsampled *sdktrace.TracerProvider
	Reader    *sdkmetric.ManualReader
	Meter     *sdkmetric.MeterProvider
}

// NewProviders returns fresh providers, shut down in tb.Cleanup.
func NewProviders(tb testing.TB) *Providers {
	tb.Helper()
	p := &Providers{Processor: &SnapshotProcessor{}, Reader: sdkmetric.NewManualReader()}
	p.Sampled = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(p.Processor))
	p.Unsampled = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()),
		sdktrace.WithSpanProcessor(p.Processor))
	p.Meter = sdkmetric.NewMeterProvider(sdkmetric.WithReader(p.Reader))
	tb.Cleanup(func() {
		ctx := context.Background()
		_ = p.Sampled.Shutdown(ctx)
		_ = p.Unsampled.Shutdown(ctx)
		_ = p.Meter.Shutdown(ctx)
	})
	return p
}
