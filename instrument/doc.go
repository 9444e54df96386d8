// Package instrument makes existing nats.go code observable with one line of
// change: wrap the connection (or JetStream context, or KeyValue bucket) and
// keep calling the methods you already call.
//
//	nc, _ := nats.Connect(url)
//	conn := instrument.NewConn(nc) // *Conn embeds *nats.Conn
//	_ = conn.Publish("orders.created", data)
//
// Entry points:
//
//   - [NewConn] for core NATS: [Conn.Publish], [Conn.Request],
//     [Conn.Subscribe], [Conn.ChanSubscribe] and friends, context-taking
//     variants such as [Conn.PublishContext] and [Conn.SubscribeContext] (a
//     caller's span becomes the parent; a handler receives the context of
//     its process span), [ContextFromMsg] inside plain handlers, and
//     [Conn.NextMsg] / [Conn.ProcessMsg] for synchronous subscriptions;
//     [WithSubscriptionTracker] reports the subscriptions a Conn makes
//     (pending and dropped messages) to a metrics.Observer.
//   - [NewJetStream] and [NewKeyValue] for JetStream and KeyValue; they
//     return the upstream interfaces, and the handles they hand out are
//     wrapped too.
//   - [Connect] for a connect attempt: the same pipeline (breaker gate, a
//     "connect" span, messaging.client.operation.duration with operation
//     name connect) around a dial function.
//
// Every wrapped call runs through one pipeline: an optional breaker [Gate]
// ([WithBreaker]), a span named "<operation> <destination>" with the
// messaging.* attributes, trace-context injection into published headers,
// the nats.go call itself, the messaging.client.operation.duration
// histogram and message counters with precomputed attribute sets, the gate's
// outcome report, and the span end (the metric duration equals the span
// duration). Values and errors are returned exactly as nats.go returned them,
// so errors.Is(err, nats.ErrNoResponders) keeps working. A telemetry failure
// goes to otel.Handle, never to the caller.
//
// Destinations are subject templates from a [tracing.SubjectNamer]
// ([WithSubjectNamer]); reply inboxes, payloads, KeyValue values and
// credentials are never recorded, KeyValue keys only with [WithKVKeys].
// Expected misses such as jetstream.ErrKeyNotFound are not failures
// ([DefaultErrorClassifier], [WithErrorClassifier]); error.type comes from a
// closed set shared with the metrics package (metrics.ErrorType):
// circuit_open, JetStream error code, well-known sentinel name, Go type
// name, _OTHER.
//
// Defaults come from the OpenTelemetry globals when a wrapper is built. A
// noop TracerProvider or MeterProvider switches that half off; a call
// rejected by [WithFilter] goes straight to nats.go without allocating.
// All wrappers are safe for concurrent use.
package instrument
