// Package tracing carries OpenTelemetry trace context through NATS message
// headers and names NATS destinations with bounded cardinality.
//
// nats.Header is case-sensitive and has no canonical form, so the stock
// propagation.HeaderCarrier (which canonicalises to "Traceparent") misses the
// "traceparent" that other NATS clients write. [HeaderCarrier] reads keys
// case-insensitively and writes them in lower case.
//
// Entry points:
//
//   - [Propagator] ([NewPropagator]) is the one propagation implementation:
//     built once from a propagation.TextMapPropagator, it injects
//     ([Propagator.Inject], formatting a W3C traceparent directly),
//     extracts and links. The instrument wrappers build one per wrapper.
//   - [Inject] writes the trace context of a context into a message header
//     (allocating it when nil); [Extract] and [ExtractHeader] read it back.
//   - [StartProcess] starts a CONSUMER span for a delivered message: a child
//     of the producer context that also links to it ([StartLinked] is the
//     start it and the wrappers share).
//   - [LinkFromHeader] and [Links] build span links for batch receives.
//   - [SubjectNamer], [DefaultSubjectNamer] and [LimitTemplates] turn
//     subjects into destination templates ("_INBOX.abc" → "_INBOX",
//     "orders.42" → "orders.*") and cap the number of distinct templates.
//   - [SpanName] formats "<operation> <destination>".
//   - [NewHopCollector] subscribes to the destination of nats-server's
//     message tracing (ADR-41, nats-server 2.11+: the [TraceDestHeader]
//     header, or an account's msg_trace) and turns each server hop of a
//     traced message (ingress, subject mapping, imports and exports, the
//     JetStream store, egress) into an INTERNAL span of the publisher's
//     trace, bounded by a sampling ratio and an events-per-second cap
//     ([HopStats] counts what it dropped); the event format is
//     nats-server's, read by the collector and not exported.
//     [TraceIDRatio] is the trace-id sampling rule it shares with
//     instrument.WithServerTrace.
//
// The package imports only the OpenTelemetry API (and not nats-server: the
// trace event types are its own); without an SDK every call is a cheap
// no-op. All functions are safe for concurrent use.
package tracing
