package tracing

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// Inject writes the trace context (and baggage, depending on the propagator)
// of ctx into msg's header with lower-case keys, allocating msg.Header if it
// is nil. A nil msg is ignored. The propagator is the global one unless
// [WithPropagators] is given.
func Inject(ctx context.Context, msg *nats.Msg, opts ...Option) {
	if msg == nil {
		return
	}
	c := newConfig(opts)
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	c.propagators.Inject(ctx, HeaderCarrier(msg.Header))
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
// jetstream.Msg.Headers. A nil header returns ctx unchanged.
func ExtractHeader(ctx context.Context, h nats.Header, opts ...Option) context.Context {
	if len(h) == 0 {
		return ctx
	}
	c := newConfig(opts)
	return c.propagators.Extract(ctx, HeaderCarrier(h))
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
// such link per message to their single span.
func LinkFromHeader(h nats.Header, opts ...Option) (trace.Link, bool) {
	if len(h) == 0 {
		return trace.Link{}, false
	}
	ctx := ExtractHeader(context.Background(), h, opts...)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return trace.Link{}, false
	}
	return trace.Link{SpanContext: sc}, true
}

// Links returns one link per message that carries a valid trace context,
// sized up front. Messages without one are skipped.
func Links(msgs []*nats.Msg, opts ...Option) []trace.Link {
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		if m == nil {
			continue
		}
		if l, ok := LinkFromHeader(m.Header, opts...); ok {
			links = append(links, l)
		}
	}
	return links
}

// StartProcess starts a CONSUMER span "process <template>" for a delivered
// message, for code that handles messages without the instrument package.
// The span is a child of the producer context extracted from msg's header
// and also links to it, so a trace viewer shows one trace while the link
// survives re-parenting by samplers or batch processors. It sets
// messaging.system, messaging.operation.name/type and the destination
// name/template from the [SubjectNamer] (default [DefaultSubjectNamer]).
// The caller must end the returned span. A nil msg yields a span with no
// destination.
func StartProcess(ctx context.Context, msg *nats.Msg, opts ...Option) (context.Context, trace.Span) {
	c := newConfig(opts)
	tp := c.tp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	var subject string
	var h nats.Header
	if msg != nil {
		subject, h = msg.Subject, msg.Header
	}
	pctx := ctx
	if len(h) > 0 {
		pctx = c.propagators.Extract(ctx, HeaderCarrier(h))
	}
	dest := ""
	if subject != "" {
		dest = c.namer(subject)
	}
	sopts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.System,
			semconv.MessagingOperationNameKey.String(semconv.OpProcess),
			semconv.MessagingOperationTypeKey.String(semconv.OpTypeProcess),
		),
	}
	if dest != "" {
		sopts = append(sopts, trace.WithAttributes(
			semconv.MessagingDestinationNameKey.String(dest),
			semconv.MessagingDestinationTemplateKey.String(dest),
		))
	}
	if psc := trace.SpanContextFromContext(pctx); psc.IsValid() && psc.IsRemote() {
		sopts = append(sopts, trace.WithLinks(trace.Link{SpanContext: psc}))
	}
	tracer := tp.Tracer(ScopeName,
		trace.WithInstrumentationVersion(Version),
		trace.WithSchemaURL(semconv.SchemaURL))
	return tracer.Start(pctx, SpanName(semconv.OpProcess, dest), sopts...)
}
