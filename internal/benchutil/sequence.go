package benchutil

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Sequence is the work around one instrumented call for
// [Shape.SequenceFloor]: the raw nats.go call it wraps and the propagation
// on either side of it.
type Sequence struct {
	// Tracer starts the shape's span (its sampler decides whether it
	// records); nil starts none (a metrics-only call).
	Tracer trace.TracerProvider
	// Meter makes the shape's metric recordings; nil makes none.
	Meter metric.MeterProvider
	// Prop is the propagator of Extract and Inject.
	Prop propagation.TextMapPropagator
	// Extract, when not nil, is the header of a delivered message: its
	// context is extracted first and parents the span (process calls), and
	// the metrics are recorded in it when no span is started.
	Extract map[string][]string
	// Inject, when not nil, is the reused header the span's context is
	// injected into before Call (publishes, requests).
	Inject map[string][]string
	// Call is the raw call, made with the span's context; nil: none.
	Call func(ctx context.Context) error
}

// SequenceFloor returns a function that makes, in one function and in the
// order an instrumented call makes them, the dependency calls the shape
// recorded: extract, start the span (kind, links, attributes, events and
// status as [Shape.SpanFloor]), take the start time (the recording span's
// own, else the monotonic clock when there are recordings), inject, the raw call, end
// the span, record the metrics with the span's duration in its context
// (as [Shape.MetricFloor], histograms getting the measured duration).
//
// It is the floor of a whole call. The sum of the part floors, each timed
// in its own loop, is lower: a raw publish repeated back to back lets
// nats.go's flusher write many messages per system call, which a publish
// spaced out by the SDK's work does not get, and the parts run with their
// data hot in the CPU caches. The shape must have at most one span.
func (sh Shape) SequenceFloor(tb testing.TB, seq Sequence) func() error {
	tb.Helper()
	if len(sh.Spans) > 1 {
		tb.Fatalf("benchutil: SequenceFloor of a shape with %d spans", len(sh.Spans))
	}
	var tracer trace.Tracer
	var sp SpanShape
	var opts []trace.SpanStartOption
	if seq.Tracer != nil && len(sh.Spans) == 1 {
		tracer = seq.Tracer.Tracer(FloorScope)
		sp = sh.Spans[0]
		opts = []trace.SpanStartOption{trace.WithSpanKind(sp.Kind)}
		if sp.Links > 0 {
			// Links point to a fixed context, as SpanFloor's: building
			// them from the extracted context would add the caller's work.
			link := trace.Link{SpanContext: trace.SpanContextFromContext(SampledContext())}
			links := make([]trace.Link, sp.Links)
			for i := range links {
				links[i] = link
			}
			opts = append(opts, trace.WithLinks(links...))
		}
	}
	var record func(ctx context.Context, d float64)
	if seq.Meter != nil && len(sh.Records) > 0 {
		record = sh.metricFloor(tb, seq.Meter, true)
	}
	var extract, inject headerCarrier
	if seq.Extract != nil {
		extract = headerCarrier(seq.Extract)
	}
	if seq.Inject != nil {
		inject = headerCarrier(seq.Inject)
	}
	if (extract != nil || inject != nil) && seq.Prop == nil {
		tb.Fatal("benchutil: SequenceFloor: Extract or Inject without Prop")
	}
	type times interface {
		StartTime() time.Time
		EndTime() time.Time
	}
	root := context.Background()
	return func() error {
		ctx := root
		if extract != nil {
			ctx = seq.Prop.Extract(ctx, extract)
		}
		var span trace.Span
		var st times
		var start time.Duration
		if tracer != nil {
			ctx, span = tracer.Start(ctx, sp.Name, opts...)
			if describe(span, sp.Attrs, sp.Events, sp.Status) {
				st, _ = span.(times)
			}
		}
		if st == nil && record != nil {
			start = time.Since(clockBase) // monotonic only, as Clock
		}
		if inject != nil {
			seq.Prop.Inject(ctx, inject)
		}
		var err error
		if seq.Call != nil {
			err = seq.Call(ctx)
		}
		if span != nil {
			span.End()
		}
		if record != nil {
			var d time.Duration
			if st != nil {
				d = st.EndTime().Sub(st.StartTime())
			} else {
				d = time.Since(clockBase) - start
			}
			record(ctx, d.Seconds())
		}
		return err
	}
}
