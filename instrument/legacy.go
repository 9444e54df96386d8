package instrument

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// The legacy JetStream API (nats.JetStreamContext) through the one
// operation pipeline: the same names, kinds, attributes, meters and gate
// families as the new-API wrappers of jetstream.go, consumer.go and msg.go.

// NewJetStreamContext wraps a legacy JetStream context (nc.JetStream()) so
// that its calls are traced and measured through the one operation
// pipeline, with the names of the new API ([NewJetStream]); it returns the
// upstream interface. On an instrumented [Conn], [Conn.JetStream] does this
// with the Conn's options and gate.
//
//   - Publish, PublishMsg: a PRODUCER span "publish <subject template>"
//     (gate family "js.publish"), messaging.client.sent.messages. The trace
//     context travels in a header of the message SENT: PublishMsg sends a
//     copy of msg carrying it and never writes the trace context into msg.
//     msg gets what raw nats.go would write into it, no more: with publish
//     options nats.go sets their headers (Nats-Msg-Id, Nats-Expected-*, ...)
//     on the message it sends, and the wrapper copies those onto msg. The
//     trace header is left out, with a nats.propagation.skipped span event,
//     when the server does not support headers or the header would push
//     the message past max_payload: the message then goes out exactly as
//     raw nats.go sends it. [Conn.JetStream] checks both before sending;
//     NewJetStreamContext, which does not know the connection, sends the
//     message again without the header when nats.go refuses the traced
//     copy for either reason (nats.go refuses before sending anything).
//   - PublishAsync, PublishMsgAsync: the same span, ended when the ack
//     future resolves or fails; the gate's outcome is reported then. The
//     future is the wrapper's: Ok and Err receive nats.go's result after
//     the span has ended, Msg returns the caller's msg (PublishMsgAsync) or
//     the message nats.go sent (PublishAsync). A goroutine per pending
//     future waits for the result. nats.go never resolves a future whose
//     connection closes first: with [Conn.JetStream] the wrapper watches the
//     connection and ends such spans with error.type=connection_closed;
//     NewJetStreamContext cannot reach the connection through
//     nats.JetStreamContext, so there a future still pending at close keeps
//     its span and goroutine: bound the wait with nats.PublishAsyncTimeout,
//     or use [Conn.JetStream]. PublishAsyncComplete's channel closes once
//     nats.go's does and every wrapper future has its outcome on its
//     channel.
//   - Subscribe, QueueSubscribe (push, with a handler): the handler runs in
//     a CONSUMER span "process <stream>" (stream from the message metadata;
//     the subject template when a message has none), a child of the
//     producer context in the message header that also links to it, with
//     messaging.process.duration and messaging.client.consumed.messages;
//     the queue group is messaging.consumer.group.name, the consumer name,
//     delivery count and stream sequence are span attributes. Inside the
//     handler [ContextFromMsg] returns the span's context. nats.go's
//     auto-ack (without nats.ManualAck) runs after the handler returns, so
//     after the span, untraced.
//   - PullSubscribe returns nats.go's *nats.Subscription (a struct, it can't
//     be wrapped): fetch with [FetchJS] for one CLIENT span "receive
//     <stream>" per batch, process a message with [ProcessJS].
//   - Consumer health (nats.client.consumer.lag, .pending, .redelivered,
//     from each message's metadata, labelled with the stream and the queue
//     or pull durable name, "_ephemeral" without one) is recorded in the
//     Subscribe and QueueSubscribe handlers, by [FetchJS] for every message
//     of a batch, and by [ProcessJS] for messages no wrapper receive saw
//     (SubscribeSync, ChanSubscribe).
//   - Settles (msg.Ack, Nak, Term, InProgress, AckSync) are methods of the
//     *nats.Msg struct and can't be intercepted: [Ack], [AckSync], [Nak],
//     [NakWithDelay], [Term] and [InProgress] are the traced forms.
//   - KeyValue, CreateKeyValue: "js.key_value.bind|create <bucket>", and
//     the nats.KeyValue returned is wrapped ("kv.<op> <bucket>" spans as
//     [NewKeyValue], gate family "kv"); DeleteKeyValue is
//     "js.key_value.delete <bucket>".
//   - ObjectStore, CreateObjectStore: "js.object_store.bind|create
//     <bucket>", and the nats.ObjectStore returned is wrapped ("obj.<op>
//     <bucket>" spans as [NewObjectStore]); DeleteObjectStore is
//     "js.object_store.delete <bucket>".
//   - AddStream, UpdateStream, DeleteStream, StreamInfo, PurgeStream,
//     GetMsg, GetLastMsg, DeleteMsg, SecureDeleteMsg, AddConsumer,
//     UpdateConsumer, DeleteConsumer, ConsumerInfo, AccountInfo,
//     StreamNameBySubject: CLIENT spans "js.<op> <stream>" (gate family
//     "js") named as the new API's: js.stream.create, js.stream.update,
//     js.stream.delete, js.stream.info, js.stream.purge, js.stream.get_msg,
//     js.stream.get_last_msg, js.stream.delete_msg,
//     js.stream.secure_delete_msg, js.consumer.create, js.consumer.update,
//     js.consumer.delete, js.consumer.info, js.account.info,
//     js.stream.name_by_subject.
//
// Spans have no parent unless the call's options carry one: a
// nats.Context(ctx) among the PubOpt, JSOpt or AckOpt options parents the
// span with the span of ctx (the legacy API takes no context otherwise).
//
// Untraced, calling nats.go directly: SubscribeSync, QueueSubscribeSync,
// ChanSubscribe and ChanQueueSubscribe (the message is processed in code
// naq does not see, after a channel hand-off or a NextMsg naq does not
// make; wrapping the channel would change nats.go's buffering, which it
// also uses to size MaxAckPending; use [Conn.NextMsg] and [ProcessJS] on
// such messages), the creation of the consumer inside the Subscribe calls,
// Subscription.FetchBatch, the listing channels (Streams, StreamNames,
// StreamsInfo, Consumers, ConsumerNames, ConsumersInfo,
// KeyValueStoreNames, KeyValueStores, ObjectStoreNames, ObjectStores),
// PublishAsyncPending, CleanupPublisher, and any
// method nats.go adds later.
//
// A nil js returns nil. Wrapping a wrapper does not instrument twice: with
// no options it returns it as is, with options it re-wraps the original.
// The wrapper is safe for concurrent use, like js.
func NewJetStreamContext(js nats.JetStreamContext, opts ...Option) nats.JetStreamContext {
	if js == nil {
		return nil
	}
	var nc *nats.Conn
	if w, ok := js.(*legacyJS); ok { // never instrument twice
		if len(opts) == 0 {
			return w
		}
		js, nc = w.JetStreamContext, w.nc
	}
	return newLegacyJS(js, newPipeline(nc, opts), nc)
}

// newLegacyJS wraps js with pipeline p; nc (may be nil) is the connection
// of js, watched to end the spans of async publishes it never resolves.
func newLegacyJS(js nats.JetStreamContext, p *pipeline, nc *nats.Conn) *legacyJS {
	return &legacyJS{
		JetStreamContext: js,
		p:                p,
		nc:               nc,
		mgmt:             &mgmtSpecs{p: p},
		publish: p.family(specConfig{
			Op: semconv.OpPublish, OpType: semconv.OpTypeSend, Kind: trace.SpanKindProducer,
			Gate: gateJSPublish,
		}),
	}
}

// legacyJS is the instrumented nats.JetStreamContext.
type legacyJS struct {
	nats.JetStreamContext
	p       *pipeline
	nc      *nats.Conn // nil with NewJetStreamContext
	mgmt    *mgmtSpecs
	publish *specFamily

	consumers  sync.Map // legacyConsumerKey → *legacyConsumerSpecs
	nConsumers atomic.Int32
	subs       sync.Map // weak.Pointer[nats.Subscription] → *legacySub

	conn connWatch // closed when nc closes; never when nc is nil

	// Futures whose outcome is not yet on the wrapper future's channels
	// (see PublishAsyncComplete).
	fwd forwarders // async-publish futures still handing over their outcome
}

var _ nats.JetStreamContext = (*legacyJS)(nil)

// optContext returns the context of the last nats.Context option among
// opts (PubOpt, JSOpt, AckOpt, PullOpt all accept it), or Background.
func optContext[O any](opts []O) context.Context {
	for i := len(opts) - 1; i >= 0; i-- {
		if c, ok := any(opts[i]).(nats.ContextOpt); ok && c.Context != nil {
			return c.Context
		}
	}
	return context.Background()
}

// parentContext returns ctx when it carries a span, else the context of a
// nats.Context option in opts when that does, else ctx (or Background).
func parentContext[O any](ctx context.Context, opts []O) context.Context {
	if ctx != nil && trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if octx := optContext(opts); trace.SpanContextFromContext(octx).IsValid() || ctx == nil {
		return octx
	}
	return ctx
}

// --- publishing ---

// Publish publishes data to subj as a PRODUCER span.
func (j *legacyJS) Publish(subj string, data []byte, opts ...nats.PubOpt) (*nats.PubAck, error) {
	s := j.publish.spec(subj)
	if !s.active() {
		return j.JetStreamContext.Publish(subj, data, opts...)
	}
	return j.publishSync(s, nil, subj, data, opts)
}

// PublishMsg publishes a copy of msg carrying the trace context as a
// PRODUCER span; msg gets only what raw nats.go writes into it (the headers
// of publish options), never the trace context.
func (j *legacyJS) PublishMsg(msg *nats.Msg, opts ...nats.PubOpt) (*nats.PubAck, error) {
	if msg == nil {
		return j.JetStreamContext.PublishMsg(msg, opts...)
	}
	s := j.publish.spec(msg.Subject)
	if !s.active() {
		return j.JetStreamContext.PublishMsg(msg, opts...)
	}
	return j.publishSync(s, msg, msg.Subject, msg.Data, opts)
}

// publishSync publishes, as one call of s, the caller's msg (PublishMsg) or
// subj and data (Publish, msg nil). nats.go's Publish is
// PublishMsg(&Msg{Subject, Data}), and a sync publish keeps no reference to
// the message once it returns: the traced copy is pooled.
func (j *legacyJS) publishSync(s *opSpec, msg *nats.Msg, subj string, data []byte, opts []nats.PubOpt) (*nats.PubAck, error) {
	return do(optContext(opts), j.p, s, func(ctx context.Context) (*nats.PubAck, error) {
		return sendTraced(ctx, j.p, j.nc, subj, data, msg, true, len(opts) > 0,
			func(out *nats.Msg) (*nats.PubAck, error) { return j.JetStreamContext.PublishMsg(out, opts...) },
			func() (*nats.PubAck, error) {
				if msg == nil {
					return j.JetStreamContext.Publish(subj, data, opts...)
				}
				return j.JetStreamContext.PublishMsg(msg, opts...)
			})
	})
}

// PublishAsync publishes data to subj without waiting for the ack; the
// PRODUCER span ends when the returned future resolves or fails.
func (j *legacyJS) PublishAsync(subj string, data []byte, opts ...nats.PubOpt) (nats.PubAckFuture, error) {
	s := j.publish.spec(subj)
	if !s.active() {
		return j.JetStreamContext.PublishAsync(subj, data, opts...)
	}
	return j.publishAsync(s, nil, subj, data, opts)
}

// PublishMsgAsync publishes a copy of msg carrying the trace context without
// waiting for the ack; msg gets only what raw nats.go writes into it (see
// PublishMsg) and is what the future's Msg returns. The PRODUCER span ends
// when the future resolves or fails.
func (j *legacyJS) PublishMsgAsync(msg *nats.Msg, opts ...nats.PubOpt) (nats.PubAckFuture, error) {
	if msg == nil {
		return j.JetStreamContext.PublishMsgAsync(msg, opts...)
	}
	s := j.publish.spec(msg.Subject)
	if !s.active() {
		return j.JetStreamContext.PublishMsgAsync(msg, opts...)
	}
	return j.publishAsync(s, msg, msg.Subject, msg.Data, opts)
}

// publishAsync publishes, as one call of s ended by the future, the
// caller's msg (PublishMsgAsync) or subj and data (PublishAsync, msg nil).
// nats.go keeps the message in its future (and resends it on retries): the
// traced copy is not pooled.
func (j *legacyJS) publishAsync(s *opSpec, msg *nats.Msg, subj string, data []byte, opts []nats.PubOpt) (nats.PubAckFuture, error) {
	closed := j.connClosed() // before begin: nothing to end if this fails
	f, err := publishAsync(optContext(opts), j.p, s, &j.fwd, closed,
		func(ctx context.Context) (nats.PubAckFuture, error) {
			return sendTraced(ctx, j.p, j.nc, subj, data, msg, false, len(opts) > 0,
				func(out *nats.Msg) (nats.PubAckFuture, error) {
					return j.JetStreamContext.PublishMsgAsync(out, opts...)
				},
				func() (nats.PubAckFuture, error) {
					if msg == nil {
						return j.JetStreamContext.PublishAsync(subj, data, opts...)
					}
					return j.JetStreamContext.PublishMsgAsync(msg, opts...)
				})
		},
		func(up nats.PubAckFuture) *legacyPubAckFuture {
			return &legacyPubAckFuture{PubAckFuture: up, msg: msg, ok: make(chan *nats.PubAck, 1), err: make(chan error, 1)}
		})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// PublishAsyncComplete returns a channel that is closed once nats.go's is
// and every future the wrapper returned has its outcome on its channels
// (the wrapper's futures hand the outcome over after their span ends). If
// the connection closes with futures pending, nats.go never closes its
// channel, and neither does the wrapper.
func (j *legacyJS) PublishAsyncComplete() <-chan struct{} {
	return j.fwd.complete(j.JetStreamContext.PublishAsyncComplete(), j.connClosed())
}

// legacyPubAckFuture is the future returned by the legacy async publishes:
// it hands nats.go's result over after the span has ended.
type legacyPubAckFuture struct {
	nats.PubAckFuture
	msg *nats.Msg // the caller's message; nil: the upstream one
	ok  chan *nats.PubAck
	err chan error
}

var _ nats.PubAckFuture = (*legacyPubAckFuture)(nil)

// Ok returns a channel that receives the ack once, like nats.go's.
func (f *legacyPubAckFuture) Ok() <-chan *nats.PubAck { return f.ok }

// Err returns a channel that receives the error once, like nats.go's.
func (f *legacyPubAckFuture) Err() <-chan error { return f.err }

// Msg returns the message the caller published (PublishMsgAsync) or the
// one nats.go sent (PublishAsync).
func (f *legacyPubAckFuture) Msg() *nats.Msg {
	if f.msg != nil {
		return f.msg
	}
	return f.PubAckFuture.Msg()
}

// wait ends the call with the upstream outcome and then forwards it (see
// forwardAck).
func (f *legacyPubAckFuture) wait(c call, closed <-chan struct{}) {
	forwardAck[*nats.PubAck](c, f.PubAckFuture, closed, f.ok, f.err)
}

// connClosed returns a channel closed once the wrapper's connection closes
// (nil, never ready, when the connection is unknown; see connWatch).
func (j *legacyJS) connClosed() <-chan struct{} { return j.conn.closed(j.nc) }

// --- consumers: specs per stream ---

// legacyConsumerKey identifies the consumer-side specs of one destination:
// a stream (from message metadata), or the subject template of a
// subscription when a message has no metadata, plus the consumer group
// (queue or durable name) and the consumer name.
type legacyConsumerKey struct{ stream, subject, group, consumer string }

// legacyConsumerSpecs are the consumer-side operations on one destination,
// with the attributes of the new API's consumerSpecs: messaging.nats.stream
// and messaging.consumer.group.name (the queue or pull durable name, else
// "_ephemeral"; both through the caps of health.go) on spans and metrics,
// the consumer name on spans only; and the consumer-health recorder of the
// same labels.
type legacyConsumerSpecs struct {
	process     *opSpec // push handler: counts the message as consumed
	processOnly *opSpec // ProcessJS: the receive (FetchJS) counted it
	receive     *opSpec
	ack, nak    *opSpec
	term, inPrg *opSpec
	health      *consumerHealth // nil: metrics off
}

// consumerSpecs returns the specs for k, cached per key (up to
// maxMgmtSpecs keys; beyond, built per call).
func (j *legacyJS) consumerSpecs(k legacyConsumerKey) *legacyConsumerSpecs {
	if v, ok := j.consumers.Load(k); ok {
		return v.(*legacyConsumerSpecs)
	}
	labels := j.p.health.labels(k.stream, k.group)
	attrs, spanAttrs := consumerAttrs(labels, k.stream)
	dest, filterDest := labels.stream, k.stream
	if k.stream == "" && k.subject != "" {
		dest, filterDest = j.p.template(k.subject), k.subject
	}
	if k.consumer != "" {
		spanAttrs = append(spanAttrs, semconv.NATSConsumerKey.String(k.consumer))
	}
	// Receives, settles and processing are never gated (see consumer.go).
	mk := func(op, opType string, kind trace.SpanKind, count countKind) *opSpec {
		return j.p.spec(specConfig{
			Op: op, OpType: opType, Kind: kind, Dest: dest, FilterDest: filterDest,
			Attrs: attrs, SpanAttrs: spanAttrs, Count: count,
		})
	}
	cs := &legacyConsumerSpecs{
		process:     mk(semconv.OpProcess, semconv.OpTypeProcess, trace.SpanKindConsumer, countAuto),
		processOnly: mk(semconv.OpProcess, semconv.OpTypeProcess, trace.SpanKindConsumer, countNone),
		receive:     mk(semconv.OpReceive, semconv.OpTypeReceive, trace.SpanKindClient, countAuto),
		ack:         mk(semconv.OpAck, semconv.OpTypeSettle, trace.SpanKindClient, countAuto),
		nak:         mk(semconv.OpNak, semconv.OpTypeSettle, trace.SpanKindClient, countAuto),
		term:        mk(semconv.OpTerm, semconv.OpTypeSettle, trace.SpanKindClient, countAuto),
		inPrg:       mk(semconv.OpInProgress, semconv.OpTypeSettle, trace.SpanKindClient, countAuto),
		health:      j.p.health.consumer(labels),
	}
	return storeBounded(&j.consumers, &j.nConsumers, k, cs)
}

// legacySub is what the wrapper knows of a subscription it made (or
// fetched from): the subject given to the subscribe call, the consumer
// group, whether the wrapper records its messages' consumer health where
// it receives them (push handlers, FetchJS on its pull subscriptions; else
// ProcessJS does), and the specs of the last stream and consumer seen in
// its messages (a subscription delivers from one stream).
type legacySub struct {
	subject, group string
	auto           bool        // registered by sub: the wrapper did not make it
	bound          atomic.Bool // registered as the state of its subscription
	receives       atomic.Bool
	last           atomic.Pointer[legacySubSpecs]
}

type legacySubSpecs struct {
	stream, consumer string
	specs            *legacyConsumerSpecs
}

// specsFor returns the specs for a message of ls with metadata md (nil when
// the message has none).
func (j *legacyJS) specsFor(ls *legacySub, md *nats.MsgMetadata) *legacyConsumerSpecs {
	var stream, consumer string
	if md != nil {
		stream, consumer = md.Stream, md.Consumer
	}
	if l := ls.last.Load(); l != nil && l.stream == stream && l.consumer == consumer {
		return l.specs
	}
	specs := j.consumerSpecs(legacyConsumerKey{stream: stream, subject: ls.subject, group: ls.group, consumer: consumer})
	ls.last.Store(&legacySubSpecs{stream: stream, consumer: consumer, specs: specs})
	return specs
}

// current returns the specs of the last stream seen by ls, or of its
// subject template when no message has been seen yet.
func (j *legacyJS) current(ls *legacySub) *legacyConsumerSpecs {
	if l := ls.last.Load(); l != nil {
		return l.specs
	}
	return j.specsFor(ls, nil)
}

// track registers ls as the state of sub, kept until sub is garbage
// collected; it returns the state registered. An earlier registration wins,
// except an empty one sub registered for a subscription it did not know
// yet: a handler can settle its first messages (sub) before the subscribe
// call that made the subscription returns and tracks it, and the state of
// the subscribe call must then replace the empty one.
func (j *legacyJS) track(sub *nats.Subscription, ls *legacySub) *legacySub {
	k := weak.Make(sub)
	for {
		v, loaded := j.subs.LoadOrStore(k, ls)
		if !loaded {
			runtime.AddCleanup(sub, func(k weak.Pointer[nats.Subscription]) { j.subs.Delete(k) }, k)
			ls.bound.Store(true)
			return ls
		}
		old := v.(*legacySub)
		if !old.auto || ls.auto {
			return old
		}
		if j.subs.CompareAndSwap(k, old, ls) {
			ls.bound.Store(true)
			return ls
		}
	}
}

// sub returns the state of sub, registering an empty one when the wrapper
// has none (yet).
func (j *legacyJS) sub(sub *nats.Subscription) *legacySub {
	if sub == nil {
		return &legacySub{}
	}
	if v, ok := j.subs.Load(weak.Make(sub)); ok {
		return v.(*legacySub)
	}
	return j.track(sub, &legacySub{auto: true})
}

// metadata returns m's JetStream metadata, or nil.
func metadata(m *nats.Msg) *nats.MsgMetadata {
	md, err := m.Metadata()
	if err != nil {
		return nil
	}
	return md
}

// recordHealth records the consumer health of a delivered message with
// metadata md (nil: nothing) at time now (zero: the start of call c, see
// call.wall).
func recordHealth(ctx context.Context, h *consumerHealth, md *nats.MsgMetadata, c *call, now time.Time) {
	if md != nil && h != nil {
		h.record(ctx, c.wall(now), md.Timestamp, md.NumDelivered, md.NumPending)
	}
}

// legacyMsgAttrs adds the delivery count and stream sequence of md to a
// recording call's span.
func legacyMsgAttrs(c *call, md *nats.MsgMetadata) {
	if md == nil || !c.recording() {
		return
	}
	c.setAttributes(
		semconv.NATSDeliveryCountKey.Int64(int64(md.NumDelivered)),
		semconv.NATSStreamSequenceKey.Int64(int64(md.Sequence.Stream)),
	)
}

// --- push subscriptions ---

// Subscribe is nats.go's Subscribe with cb run in a process span per
// message; see [NewJetStreamContext].
func (j *legacyJS) Subscribe(subj string, cb nats.MsgHandler, opts ...nats.SubOpt) (*nats.Subscription, error) {
	if cb == nil || !j.observing() {
		return j.JetStreamContext.Subscribe(subj, cb, opts...)
	}
	ls := &legacySub{subject: subj}
	ls.receives.Store(true)
	sub, err := j.JetStreamContext.Subscribe(subj, j.handler(ls, cb), opts...)
	if err == nil && sub != nil {
		j.track(sub, ls)
	}
	return sub, err
}

// QueueSubscribe is nats.go's QueueSubscribe with cb run in a process span
// per message; the queue is messaging.consumer.group.name.
func (j *legacyJS) QueueSubscribe(subj, queue string, cb nats.MsgHandler, opts ...nats.SubOpt) (*nats.Subscription, error) {
	if cb == nil || !j.observing() {
		return j.JetStreamContext.QueueSubscribe(subj, queue, cb, opts...)
	}
	ls := &legacySub{subject: subj, group: queue}
	ls.receives.Store(true)
	sub, err := j.JetStreamContext.QueueSubscribe(subj, queue, j.handler(ls, cb), opts...)
	if err == nil && sub != nil {
		j.track(sub, ls)
	}
	return sub, err
}

// observing reports whether a process span or metric can be recorded at
// all (process specs are never gated).
func (j *legacyJS) observing() bool { return j.p.tracing || j.p.metering }

// handler wraps cb: each message runs in a "process <stream>" span, ended in
// a defer so that a panicking handler still ends it (with the panic
// recorded) and the panic goes on, as with raw nats.go. While cb runs,
// ContextFromMsg(m) returns the span's context.
func (j *legacyJS) handler(ls *legacySub, cb nats.MsgHandler) nats.MsgHandler {
	return func(m *nats.Msg) {
		if !ls.bound.Load() && m.Sub != nil {
			// The first messages can arrive before Subscribe returns and
			// tracks the subscription: register ls now, so that a settle
			// in cb finds the queue group.
			j.track(m.Sub, ls)
		}
		md := metadata(m)
		specs := j.specsFor(ls, md)
		s := specs.process
		if !s.active() {
			cb(m)
			return
		}
		var c call
		ctx := j.p.beginProcess(context.Background(), s, m.Header, &c)
		defer c.finish(nil)
		legacyMsgAttrs(&c, md)
		recordHealth(ctx, specs.health, md, &c, time.Time{})
		if trace.SpanContextFromContext(ctx).IsValid() {
			msgContexts.Store(m, ctx)
			defer msgContexts.Delete(m)
		}
		cb(m)
	}
}

// --- pull subscriptions ---

// PullSubscribe is nats.go's PullSubscribe; the wrapper remembers the
// subject and durable name of the subscription for [FetchJS] and
// [ProcessJS].
func (j *legacyJS) PullSubscribe(subj, durable string, opts ...nats.SubOpt) (*nats.Subscription, error) {
	sub, err := j.JetStreamContext.PullSubscribe(subj, durable, opts...)
	if err == nil && sub != nil && j.observing() {
		ls := &legacySub{subject: subj, group: durable}
		ls.receives.Store(true)
		j.track(sub, ls)
	}
	return sub, err
}

// FetchJS is sub.Fetch(batch, opts...) recorded as ONE CLIENT span
// "receive <stream>" through the pipeline of js, an instrumented context
// ([Conn.JetStream], [NewJetStreamContext]): a link to the producer span of
// every message, messaging.batch.message_count, and
// messaging.client.consumed.messages counting the messages received. It
// replaces sub.Fetch one for one: the same arguments go to nats.go and its
// messages and error come back unchanged.
//
// ctx is used for telemetry only: its span (else the span of a
// nats.Context option in opts) is the parent of the receive span. To bound
// the wait, pass nats.MaxWait or nats.Context in opts, as with sub.Fetch.
// A fetch that ends without a message (nats.ErrTimeout, or the deadline or
// cancellation of a nats.Context) is recorded as a receive of no message,
// not as a failure; the error is still returned. Receives are never gated.
//
// The stream comes from the messages' metadata; until a message of sub has
// been seen the span is named after the subject given to PullSubscribe
// ("receive <subject template>", or "receive" for a subscription the
// wrapper did not make), and a first batch renames its span after its
// stream. Process each message with [ProcessJS] and settle it with [Ack]
// (and friends) to keep it in the producer's trace.
//
// With js not an instrumented context, or a nil sub, it is sub.Fetch.
func FetchJS(ctx context.Context, js nats.JetStreamContext, sub *nats.Subscription, batch int, opts ...nats.PullOpt) ([]*nats.Msg, error) {
	j, ok := js.(*legacyJS)
	if !ok || sub == nil {
		return sub.Fetch(batch, opts...)
	}
	return j.fetch(parentContext(ctx, opts), sub, batch, opts)
}

func (j *legacyJS) fetch(ctx context.Context, sub *nats.Subscription, batch int, opts []nats.PullOpt) ([]*nats.Msg, error) {
	if !j.observing() {
		return sub.Fetch(batch, opts...)
	}
	ls := j.sub(sub)
	ls.receives.Store(true) // its messages' health is recorded here, not by ProcessJS
	s := j.current(ls).receive
	if !s.active() {
		msgs, err := sub.Fetch(batch, opts...)
		if len(msgs) > 0 {
			j.specsFor(ls, metadata(msgs[0])) // learn the stream
		}
		return msgs, err
	}
	var c call
	_, err := j.p.begin(ctx, s, &c)
	if err != nil {
		return nil, err
	}
	var outcome error // what the span records: no failure for an empty wait
	defer c.finish(&outcome)
	msgs, err := sub.Fetch(batch, opts...)
	if len(msgs) == 0 {
		c.setCount(0)
		if !emptyWait(err) {
			outcome = err
		}
		return msgs, err
	}
	md := metadata(msgs[0])
	specs := j.specsFor(ls, md)
	if learned := specs.receive; learned != s && learned.active() {
		retarget(&c, learned)
	}
	now := time.Now()
	for i, m := range msgs {
		c.link(m.Header)
		if specs.health != nil && c.spec == specs.receive {
			if i > 0 {
				md = metadata(m)
			}
			recordHealth(c.ctx, specs.health, md, &c, now)
		}
	}
	c.setCount(len(msgs))
	c.setAttributes(semconv.MessagingBatchMessageCountKey.Int(len(msgs)))
	outcome = err
	return msgs, err
}

// emptyWait reports whether err ends a receive that got no message by
// waiting out its time (not a failure).
func emptyWait(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// retarget moves a running receive call to the spec of the stream its
// messages revealed: span name and destination attributes, and the
// metrics it records when it ends. Receives are never gated, so no gate
// outcome moves.
func retarget(c *call, s *opSpec) {
	if c.spec == nil {
		return
	}
	c.spec = s
	if c.recording() {
		c.span.SetName(s.name)
		c.span.SetAttributes(s.spanAttrs...)
	}
}

// ProcessJS runs fn for msg, a message of a legacy JetStream subscription
// (a [FetchJS] batch, SubscribeSync, ChanSubscribe), inside a CONSUMER span
// "process <stream>" through the pipeline of js: a child of the producer
// context in msg's header that also links to it, with
// messaging.process.duration (the message is not counted again: its
// receive was). A message of a subscription no wrapper receive saw
// (SubscribeSync, ChanSubscribe, a raw Fetch on a subscription the wrapper
// did not make) also records its consumer health (nats.client.consumer.lag,
// .pending, .redelivered) here; a message [FetchJS] or a wrapped handler
// delivered was recorded there. fn gets the span's context, and
// [ContextFromMsg](msg) returns it while fn runs; fn's error is recorded
// and returned unchanged.
// If fn panics the span ends with the panic recorded and the panic goes on.
// With js not an instrumented context, fn runs with context.Background().
func ProcessJS(js nats.JetStreamContext, msg *nats.Msg, fn func(ctx context.Context, msg *nats.Msg) error) error {
	j, ok := js.(*legacyJS)
	if !ok || msg == nil || !j.observing() {
		return fn(context.Background(), msg)
	}
	return j.process(msg, fn)
}

func (j *legacyJS) process(msg *nats.Msg, fn func(ctx context.Context, msg *nats.Msg) error) (err error) {
	md := metadata(msg)
	ls := j.sub(msg.Sub)
	specs := j.specsFor(ls, md)
	s := specs.processOnly
	if !s.active() {
		return fn(context.Background(), msg)
	}
	var c call
	ctx := j.p.beginProcess(context.Background(), s, msg.Header, &c)
	c.metersFirst = false // ProcessJS returns once the call has ended
	defer c.finish(&err)
	legacyMsgAttrs(&c, md)
	if !ls.receives.Load() { // SubscribeSync, ChanSubscribe: no naq receive saw it
		recordHealth(ctx, specs.health, md, &c, time.Time{})
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		msgContexts.Store(msg, ctx)
		defer msgContexts.Delete(msg)
	}
	return fn(ctx, msg)
}

// --- settles ---

// Ack is msg.Ack(opts...) as a CLIENT span "ack <stream>" through the
// pipeline of js, an instrumented context ([Conn.JetStream],
// [NewJetStreamContext]). A *nats.Msg is a struct whose settle methods
// nats.go calls on its own connection, so naq cannot intercept msg.Ack():
// where a settle should be traced, call this instead (the arguments and
// result are msg.Ack's). The span is a child of the span in ctx, else of
// the message's process span (inside a handler or [ProcessJS]: see
// [ContextFromMsg]), else of the span of a nats.Context option in opts; it
// carries the stream, consumer, delivery count and stream sequence from
// the message metadata, and records messaging.client.operation.duration
// with messaging.operation.name=ack. ctx is used for telemetry only; pass
// nats.Context(ctx) in opts for nats.go's synchronous ack, as with msg.Ack.
// Settles are never gated. With js not an instrumented context it is
// msg.Ack(opts...).
func Ack(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleAck, func() error { return msg.Ack(opts...) })
}

// AckSync is msg.AckSync(opts...) traced as "ack <stream>"; see [Ack].
func AckSync(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleAck, func() error { return msg.AckSync(opts...) })
}

// Nak is msg.Nak(opts...) traced as "nak <stream>"; see [Ack].
func Nak(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleNak, func() error { return msg.Nak(opts...) })
}

// NakWithDelay is msg.NakWithDelay(delay, opts...) traced as "nak
// <stream>"; see [Ack].
func NakWithDelay(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, delay time.Duration, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleNak, func() error { return msg.NakWithDelay(delay, opts...) })
}

// Term is msg.Term(opts...) traced as "term <stream>"; see [Ack].
func Term(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleTerm, func() error { return msg.Term(opts...) })
}

// InProgress is msg.InProgress(opts...) traced as "in_progress <stream>";
// see [Ack].
func InProgress(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts ...nats.AckOpt) error {
	return settle(ctx, js, msg, opts, settleInProgress, func() error { return msg.InProgress(opts...) })
}

type settleKind uint8

const (
	settleAck settleKind = iota
	settleNak
	settleTerm
	settleInProgress
)

func (cs *legacyConsumerSpecs) settle(k settleKind) *opSpec {
	switch k {
	case settleNak:
		return cs.nak
	case settleTerm:
		return cs.term
	case settleInProgress:
		return cs.inPrg
	default:
		return cs.ack
	}
}

func settle(ctx context.Context, js nats.JetStreamContext, msg *nats.Msg, opts []nats.AckOpt, k settleKind, fn func() error) (err error) {
	j, ok := js.(*legacyJS)
	if !ok || msg == nil || !j.observing() {
		return fn()
	}
	md := metadata(msg)
	ls := &legacySub{subject: msg.Subject}
	if msg.Sub != nil {
		ls = j.sub(msg.Sub)
	}
	s := j.specsFor(ls, md).settle(k)
	if !s.active() {
		return fn()
	}
	parent := ctx
	if parent == nil || !trace.SpanContextFromContext(parent).IsValid() {
		if pc := ContextFromMsg(msg); trace.SpanContextFromContext(pc).IsValid() {
			parent = pc
		} else {
			parent = parentContext(ctx, opts)
		}
	}
	var c call
	_, err = j.p.begin(parent, s, &c)
	if err != nil {
		return err
	}
	defer c.finish(&err)
	legacyMsgAttrs(&c, md)
	return fn()
}

// --- handler context ---

// ContextFromJetStreamMsg returns the context of the span a message handed
// out by an instrumented new-API consumer ([NewJetStream]) belongs to, for
// use as the parent of work done for it:
//
//   - in a Consume handler and for a message from Messages().Next: the
//     message's "process <stream>" span (a child of the producer's span);
//   - for a message from Fetch, FetchBytes, FetchNoWait or Next: the
//     "receive <stream>" span of its batch (which links to the producers).
//
// With tracing off it is the producer's context extracted from the message
// (Consume, Messages) or context.Background(). For a message the wrapper
// did not hand out (a raw consumer, or a consumer with nothing to record)
// it returns context.Background().
//
// Its twin for *nats.Msg is [ContextFromMsg]: inside a handler of an
// instrumented core subscription ([Conn.Subscribe], [Conn.QueueSubscribe])
// or of a legacy JetStream push subscription ([Conn.JetStream] or
// [NewJetStreamContext], then Subscribe or QueueSubscribe), and inside fn
// of [ProcessJS], it returns the context of the message's "process" span;
// elsewhere, context.Background().
func ContextFromJetStreamMsg(msg jetstream.Msg) context.Context {
	if m, ok := msg.(*jsMsg); ok && m != nil && m.ctx != nil {
		return m.ctx
	}
	return context.Background()
}

// --- management ---

func streamConfigName(cfg *nats.StreamConfig) string {
	if cfg == nil {
		return ""
	}
	return cfg.Name
}

// AddStream is traced as "js.stream.create <stream>".
func (j *legacyJS) AddStream(cfg *nats.StreamConfig, opts ...nats.JSOpt) (*nats.StreamInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opCreateStream, streamConfigName(cfg), func(context.Context) (*nats.StreamInfo, error) {
		return j.JetStreamContext.AddStream(cfg, opts...)
	})
}

// UpdateStream is traced as "js.stream.update <stream>".
func (j *legacyJS) UpdateStream(cfg *nats.StreamConfig, opts ...nats.JSOpt) (*nats.StreamInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opUpdateStream, streamConfigName(cfg), func(context.Context) (*nats.StreamInfo, error) {
		return j.JetStreamContext.UpdateStream(cfg, opts...)
	})
}

// DeleteStream is traced as "js.stream.delete <stream>".
func (j *legacyJS) DeleteStream(name string, opts ...nats.JSOpt) error {
	return j.streamRun(opts, opDeleteStream, name, func() error { return j.JetStreamContext.DeleteStream(name, opts...) })
}

// StreamInfo is traced as "js.stream.info <stream>".
func (j *legacyJS) StreamInfo(stream string, opts ...nats.JSOpt) (*nats.StreamInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opStreamInfo, stream, func(context.Context) (*nats.StreamInfo, error) {
		return j.JetStreamContext.StreamInfo(stream, opts...)
	})
}

// PurgeStream is traced as "js.stream.purge <stream>".
func (j *legacyJS) PurgeStream(name string, opts ...nats.JSOpt) error {
	return j.streamRun(opts, opPurgeStream, name, func() error { return j.JetStreamContext.PurgeStream(name, opts...) })
}

// GetMsg is traced as "js.stream.get_msg <stream>"; nats.ErrMsgNotFound is
// an expected miss for the default classifier.
func (j *legacyJS) GetMsg(name string, seq uint64, opts ...nats.JSOpt) (*nats.RawStreamMsg, error) {
	return streamOp(optContext(opts), j.mgmt, opGetMsg, name, func(context.Context) (*nats.RawStreamMsg, error) {
		return j.JetStreamContext.GetMsg(name, seq, opts...)
	})
}

// GetLastMsg is traced as "js.stream.get_last_msg <stream>" (the subject is
// not recorded).
func (j *legacyJS) GetLastMsg(name, subject string, opts ...nats.JSOpt) (*nats.RawStreamMsg, error) {
	return streamOp(optContext(opts), j.mgmt, opGetLastMsg, name, func(context.Context) (*nats.RawStreamMsg, error) {
		return j.JetStreamContext.GetLastMsg(name, subject, opts...)
	})
}

// DeleteMsg is traced as "js.stream.delete_msg <stream>".
func (j *legacyJS) DeleteMsg(name string, seq uint64, opts ...nats.JSOpt) error {
	return j.streamRun(opts, opDeleteMsg, name, func() error { return j.JetStreamContext.DeleteMsg(name, seq, opts...) })
}

// SecureDeleteMsg is traced as "js.stream.secure_delete_msg <stream>".
func (j *legacyJS) SecureDeleteMsg(name string, seq uint64, opts ...nats.JSOpt) error {
	return j.streamRun(opts, opSecureDeleteMsg, name, func() error { return j.JetStreamContext.SecureDeleteMsg(name, seq, opts...) })
}

// AddConsumer is traced as "js.consumer.create <stream>".
func (j *legacyJS) AddConsumer(stream string, cfg *nats.ConsumerConfig, opts ...nats.JSOpt) (*nats.ConsumerInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opCreateConsumer, stream, func(context.Context) (*nats.ConsumerInfo, error) {
		return j.JetStreamContext.AddConsumer(stream, cfg, opts...)
	})
}

// UpdateConsumer is traced as "js.consumer.update <stream>".
func (j *legacyJS) UpdateConsumer(stream string, cfg *nats.ConsumerConfig, opts ...nats.JSOpt) (*nats.ConsumerInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opUpdateConsumer, stream, func(context.Context) (*nats.ConsumerInfo, error) {
		return j.JetStreamContext.UpdateConsumer(stream, cfg, opts...)
	})
}

// DeleteConsumer is traced as "js.consumer.delete <stream>".
func (j *legacyJS) DeleteConsumer(stream, consumer string, opts ...nats.JSOpt) error {
	return j.streamRun(opts, opDeleteConsumer, stream, func() error { return j.JetStreamContext.DeleteConsumer(stream, consumer, opts...) })
}

// ConsumerInfo is traced as "js.consumer.info <stream>".
func (j *legacyJS) ConsumerInfo(stream, name string, opts ...nats.JSOpt) (*nats.ConsumerInfo, error) {
	return streamOp(optContext(opts), j.mgmt, opConsumerInfo, stream, func(context.Context) (*nats.ConsumerInfo, error) {
		return j.JetStreamContext.ConsumerInfo(stream, name, opts...)
	})
}

// AccountInfo is traced as "js.account.info".
func (j *legacyJS) AccountInfo(opts ...nats.JSOpt) (*nats.AccountInfo, error) {
	return do(optContext(opts), j.p, j.mgmt.spec(opAccountInfo, "", ""), func(context.Context) (*nats.AccountInfo, error) {
		return j.JetStreamContext.AccountInfo(opts...)
	})
}

// StreamNameBySubject is traced as "js.stream.name_by_subject" (the subject
// is not recorded).
func (j *legacyJS) StreamNameBySubject(subject string, opts ...nats.JSOpt) (string, error) {
	return do(optContext(opts), j.p, j.mgmt.spec(opStreamNameBySubject, "", ""), func(context.Context) (string, error) {
		return j.JetStreamContext.StreamNameBySubject(subject, opts...)
	})
}

// streamRun runs a management call on stream that returns only an error.
func (j *legacyJS) streamRun(opts []nats.JSOpt, op, stream string, fn func() error) error {
	return streamRun(optContext(opts), j.mgmt, op, stream, func(context.Context) error { return fn() })
}

// --- KeyValue and ObjectStore management ---

// kvOp runs management call op on bucket and wraps the KeyValue it
// returns.
func (j *legacyJS) kvOp(op, bucket string, fn func() (nats.KeyValue, error)) (nats.KeyValue, error) {
	return wrapped(context.Background(), j.mgmt, op, bucket, semconv.NATSKVBucketKey,
		func(context.Context) (nats.KeyValue, error) { return fn() },
		func(kv nats.KeyValue) nats.KeyValue { return newLegacyKV(kv, j.p) })
}

// KeyValue is traced as "js.key_value.bind <bucket>"; the KeyValue returned
// is wrapped.
func (j *legacyJS) KeyValue(bucket string) (nats.KeyValue, error) {
	return j.kvOp(opKeyValue, bucket, func() (nats.KeyValue, error) { return j.JetStreamContext.KeyValue(bucket) })
}

// CreateKeyValue is traced as "js.key_value.create <bucket>"; the KeyValue
// returned is wrapped.
func (j *legacyJS) CreateKeyValue(cfg *nats.KeyValueConfig) (nats.KeyValue, error) {
	var bucket string
	if cfg != nil {
		bucket = cfg.Bucket
	}
	return j.kvOp(opCreateKeyValue, bucket, func() (nats.KeyValue, error) { return j.JetStreamContext.CreateKeyValue(cfg) })
}

// DeleteKeyValue is traced as "js.key_value.delete <bucket>".
func (j *legacyJS) DeleteKeyValue(bucket string) error {
	return run(context.Background(), j.p, j.mgmt.spec(opDeleteKeyValue, bucket, semconv.NATSKVBucketKey), func(context.Context) error {
		return j.JetStreamContext.DeleteKeyValue(bucket)
	})
}

// objOp runs management call op on bucket and wraps the ObjectStore it
// returns.
func (j *legacyJS) objOp(op, bucket string, fn func() (nats.ObjectStore, error)) (nats.ObjectStore, error) {
	return wrapped(context.Background(), j.mgmt, op, bucket, semconv.NATSObjBucketKey,
		func(context.Context) (nats.ObjectStore, error) { return fn() },
		func(obs nats.ObjectStore) nats.ObjectStore { return newLegacyObjectStore(j.p, obs) })
}

// ObjectStore is traced as "js.object_store.bind <bucket>"; the
// ObjectStore returned is wrapped.
func (j *legacyJS) ObjectStore(bucket string) (nats.ObjectStore, error) {
	return j.objOp(opObjectStore, bucket, func() (nats.ObjectStore, error) { return j.JetStreamContext.ObjectStore(bucket) })
}

// CreateObjectStore is traced as "js.object_store.create <bucket>"; the
// ObjectStore returned is wrapped.
func (j *legacyJS) CreateObjectStore(cfg *nats.ObjectStoreConfig) (nats.ObjectStore, error) {
	var bucket string
	if cfg != nil {
		bucket = cfg.Bucket
	}
	return j.objOp(opCreateObjectStore, bucket, func() (nats.ObjectStore, error) { return j.JetStreamContext.CreateObjectStore(cfg) })
}

// DeleteObjectStore is traced as "js.object_store.delete <bucket>".
func (j *legacyJS) DeleteObjectStore(bucket string) error {
	return run(context.Background(), j.p, j.mgmt.spec(opDeleteObjectStore, bucket, semconv.NATSObjBucketKey), func(context.Context) error {
		return j.JetStreamContext.DeleteObjectStore(bucket)
	})
}
