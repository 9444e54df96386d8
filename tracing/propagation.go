package tracing

import (
	"context"
	"reflect"
	"sync"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// Inject writes the trace context (and baggage, depending on the propagator)
// of ctx into msg's header with lower-case keys, allocating msg.Header if it
// is nil. A nil msg is ignored. The propagator is the global one unless
// [WithPropagators] is given. It is [Propagator.Inject] of that propagator.
func Inject(ctx context.Context, msg *nats.Msg, opts ...Option) {
	if msg == nil {
		return
	}
	c := newConfig(opts)
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	NewPropagator(c.propagators).Inject(ctx, msg.Header)
}

// Extract returns ctx enriched with the trace context (and baggage) found in
// msg's header, whatever the case of the header keys. A nil msg or header
// returns ctx unchanged.
func Extract(ctx context.Context, msg *nats.Msg, opts ...Option) context.Context {
	if msg == nil {
		return ctx
	}
	return ExtractHeader(ctx, msg.Header, opts...)
}

// ExtractHeader is [Extract] for a bare header, such as the one returned by
// jetstream.Msg.Headers. A nil header returns ctx unchanged. It is
// [Propagator.Extract] of the configured propagator.
func ExtractHeader(ctx context.Context, h nats.Header, opts ...Option) context.Context {
	if len(h) == 0 {
		return ctx
	}
	c := newConfig(opts)
	return NewPropagator(c.propagators).Extract(ctx, h)
}

// SpanName returns the span name for an operation on a destination:
// "<op> <destination>", or op alone when destination is empty (connect).
// destination must already be a template (see [SubjectNamer]).
func SpanName(op, destination string) string {
	if destination == "" {
		return op
	}
	return op + " " + destination
}

// LinkFromHeader returns a link to the producer span whose context is carried
// in h, and whether h carried a valid span context. Batch receives add one
// such link per message to their single span. It is [Propagator.Link] of
// the configured propagator.
func LinkFromHeader(h nats.Header, opts ...Option) (trace.Link, bool) {
	if len(h) == 0 {
		return trace.Link{}, false
	}
	c := newConfig(opts)
	return NewPropagator(c.propagators).Link(h)
}

// Links returns one link per message that carries a valid trace context,
// sized up front. Messages without one are skipped.
func Links(msgs []*nats.Msg, opts ...Option) []trace.Link {
	prop := NewPropagator(newConfig(opts).propagators)
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		if m == nil {
			continue
		}
		if l, ok := prop.Link(m.Header); ok {
			links = append(links, l)
		}
	}
	return links
}

// StartProcess starts a CONSUMER span "process <template>" for a delivered
// message, for code that handles messages without the instrument package.
// The span is a child of the producer context extracted from msg's header
// and also links to it, so a trace viewer shows one trace while the link
// survives re-parenting by samplers or batch processors. The template is
// the [SubjectNamer]'s (default [DefaultSubjectNamer]) for the subject of
// the subscription that delivered msg (msg.Sub.Subject, so "orders.*"
// stays "orders.*" whatever the delivered subject, as in the instrument
// wrappers), or for msg.Subject when msg has no subscription. It sets
// messaging.system, messaging.operation.name/type and the destination
// name/template, only on a span that records, and ends nothing: the caller
// must end the returned span. A nil msg yields a span with no destination.
//
// The tracer of a TracerProvider is created once and reused, and
// OTEL_SEMCONV_STABILITY_OPT_IN is read then, as the instrument wrappers
// read it when they are built: with "messaging" the span carries
// messaging.system.name instead of messaging.system, with "messaging/dup"
// both. A later change of the variable affects only TracerProviders
// StartProcess has not met yet (for a provider of a non-comparable type,
// which cannot be cached, the value read at the first such call holds).
func StartProcess(ctx context.Context, msg *nats.Msg, opts ...Option) (context.Context, trace.Span) {
	c := newConfig(opts)
	var subject string
	var h nats.Header
	if msg != nil {
		subject, h = msg.Subject, msg.Header
		if msg.Sub != nil && msg.Sub.Subject != "" {
			subject = msg.Sub.Subject
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	dest := ""
	if subject != "" {
		dest = c.namer(subject)
	}
	pt := processTracerOf(c.tp)
	attrs := pt.base // not modified: StartLinked copies it onto the span
	if dest != "" {
		attrs = make([]attribute.KeyValue, 0, len(pt.base)+2)
		attrs = append(attrs, pt.base...)
		attrs = append(attrs,
			semconv.MessagingDestinationNameKey.String(dest),
			semconv.MessagingDestinationTemplateKey.String(dest))
	}
	pctx := NewPropagator(c.propagators).Extract(ctx, h)
	sctx, span, _ := StartLinked(pctx, pt.tracer, SpanName(semconv.OpProcess, dest), consumerKind, attrs)
	return sctx, span
}

// consumerKind are the start options of a process span.
var consumerKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// StartLinked starts the span of a delivered message: a child of ctx
// (which carries the producer context extracted from the message's header,
// see [Propagator.Extract]) that also links to that context when it is a
// remote one, so that the link survives re-parenting by samplers and
// batch processors. opts are the start options (at least the
// span kind); attrs are set, and the link added, only when the span
// records, so an unsampled span costs no attribute copy. It returns the
// context carrying the span, the span, and whether it records. It is the
// one process-span start of naq: [StartProcess] and the instrument
// wrappers' process spans use it.
func StartLinked(ctx context.Context, tracer trace.Tracer, name string, opts []trace.SpanStartOption, attrs []attribute.KeyValue) (context.Context, trace.Span, bool) {
	sctx, span := tracer.Start(ctx, name, opts...)
	if !span.IsRecording() {
		return sctx, span, false
	}
	if len(attrs) > 0 {
		span.SetAttributes(attrs...)
	}
	if l, ok := producerLink(ctx); ok {
		span.AddLink(l)
	}
	return sctx, span, true
}

// processTracer is what StartProcess builds once per TracerProvider: the
// tracer, and the attributes every process span carries, renamed for the
// semconv stability opt-in read when it was built.
type processTracer struct {
	tracer trace.Tracer
	base   []attribute.KeyValue // never modified after it is built
}

// processAttrs are the attributes of every process span under today's
// names.
var processAttrs = []attribute.KeyValue{
	semconv.System,
	semconv.MessagingOperationNameKey.String(semconv.OpProcess),
	semconv.MessagingOperationTypeKey.String(semconv.OpTypeProcess),
}

// tracers caches the processTracer of each TracerProvider (of a comparable
// type) for StartProcess.
var tracers sync.Map // trace.TracerProvider → *processTracer

// uncachedBase is processAttrs under the opt-in read at the first
// StartProcess on a TracerProvider of a non-comparable type, for all of
// them.
var uncachedBase = sync.OnceValue(func() []attribute.KeyValue {
	return semconv.StabilityFromEnv().Attrs(processAttrs)
})

// processTracerOf returns the processTracer of tp (nil: the global
// TracerProvider now), created once per provider, reading the semconv
// stability opt-in from the environment then.
func processTracerOf(tp trace.TracerProvider) processTracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if t := reflect.TypeOf(tp); t != nil && t.Comparable() {
		if v, ok := tracers.Load(tp); ok {
			return *v.(*processTracer)
		}
		pt := &processTracer{tracer: newTracer(tp), base: semconv.StabilityFromEnv().Attrs(processAttrs)}
		v, _ := tracers.LoadOrStore(tp, pt)
		return *v.(*processTracer)
	}
	return processTracer{tracer: newTracer(tp), base: uncachedBase()}
}

func newTracer(tp trace.TracerProvider) trace.Tracer {
	return tp.Tracer(ScopeName,
		trace.WithInstrumentationVersion(Version),
		trace.WithSchemaURL(semconv.SchemaURL))
}
