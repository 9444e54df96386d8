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
//   - [Connect] for a connect attempt: the same pipeline (the gate's connect
//     breaker, a "connect" span, messaging.client.operation.duration with
//     operation name connect) around a dial function.
//
// Every wrapped call runs through one pipeline: a span named
// "<operation> <destination>" with the messaging.* attributes, the
// connection's gate when one is set ([WithGate]), trace-context injection
// into published headers, the nats.go call itself, the
// messaging.client.operation.duration histogram and message counters with
// precomputed attribute sets, the outcome report to the gate, and the span
// end (the metric duration equals the span duration), all finished in a
// defer so that a panic is recorded and goes on. Values and errors are
// returned exactly as nats.go returned them, so errors.Is(err,
// nats.ErrNoResponders) keeps working. A telemetry failure goes to
// otel.Handle, never to the caller.
//
// The gate (a *circuit.Gate shared by every wrapper of one connection; the
// wrappers make it watch their connection) guards the calls that wait for
// an answer, each with the breaker of its own destination: core requests
// ("request <subject template>"), JetStream publishes ("js.publish <subject
// template>"), JetStream API calls ("js <stream or bucket>"), KeyValue calls
// ("kv <bucket>") and connect attempts (the connect breaker). They fail fast
// with circuit.ErrOpen (error.type circuit_open) while the connection has
// been down for longer than the gate's grace or while their destination's
// breaker is open. Core publishes (nats.go buffers them while it
// reconnects), receives, settles and message processing are never gated.
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
