package instrument

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// consumerSpecs are the operations of one consumer, declared once when the
// consumer handle is wrapped. The destination of every one of them is the
// stream: "process <stream>", "receive <stream>", "ack <stream>", ...
// The stream name and the durable name (messaging.consumer.group.name;
// "_ephemeral" for ephemeral and ordered consumers, whose names are random)
// go on spans and metrics, both through the cardinality caps of health.go;
// the consumer name goes on spans only. The consumer-health metrics
// (health.go) carry the same two labels.
type consumerSpecs struct {
	p      *pipeline
	mgmt   *mgmtSpecs
	stream string

	receive, process           *opSpec
	ack, nak, term, inProgress *opSpec
	active                     bool            // any of the above is active
	health                     *consumerHealth // nil: metrics off
}

func newConsumerSpecs(p *pipeline, mgmt *mgmtSpecs, stream string, info *jetstream.ConsumerInfo) *consumerSpecs {
	var durable string
	var spanAttrs []attribute.KeyValue
	if info != nil {
		durable = info.Config.Durable
		if info.Name != "" {
			spanAttrs = append(spanAttrs, semconv.NATSConsumerKey.String(info.Name))
		}
	}
	labels := p.health.labels(stream, durable)
	attrs, realStream := consumerAttrs(labels, stream)
	spanAttrs = append(spanAttrs, realStream...)
	// Receives, settles and processing are never gated: receives are long
	// polls (an idle consumer is neither failing nor slow), settles are
	// publishes nats.go buffers while it reconnects.
	mk := func(op, opType string, kind trace.SpanKind) *opSpec {
		return p.spec(specConfig{
			Op: op, OpType: opType, Kind: kind, Dest: labels.stream, FilterDest: stream,
			Attrs: attrs, SpanAttrs: spanAttrs,
		})
	}
	cs := &consumerSpecs{
		p:          p,
		mgmt:       mgmt,
		stream:     stream,
		health:     p.health.consumer(labels),
		receive:    mk(semconv.OpReceive, semconv.OpTypeReceive, trace.SpanKindClient),
		process:    mk(semconv.OpProcess, semconv.OpTypeProcess, trace.SpanKindConsumer),
		ack:        mk(semconv.OpAck, semconv.OpTypeSettle, trace.SpanKindClient),
		nak:        mk(semconv.OpNak, semconv.OpTypeSettle, trace.SpanKindClient),
		term:       mk(semconv.OpTerm, semconv.OpTypeSettle, trace.SpanKindClient),
		inProgress: mk(semconv.OpInProgress, semconv.OpTypeSettle, trace.SpanKindClient),
	}
	cs.active = cs.receive.active() || cs.process.active() || cs.ack.active() ||
		cs.nak.active() || cs.term.active() || cs.inProgress.active()
	return cs
}

// handler wraps a message handler: each message runs inside a CONSUMER span
// "process <stream>", a child of the producer context in its header that
// also links to it; messaging.process.duration and
// messaging.client.consumed.messages are recorded when the handler returns,
// the consumer-health metrics before it runs. The span ends in a defer: a
// panicking handler ends it with the panic recorded, and the panic goes on
// as with raw nats.go.
func (cs *consumerSpecs) handler(h jetstream.MessageHandler) jetstream.MessageHandler {
	return func(m jetstream.Msg) {
		var c call
		ctx := cs.p.beginProcess(context.Background(), cs.process, m.Headers(), &c)
		defer c.finish(nil)
		md := cs.delivered(&c, m, time.Time{})
		h(cs.wrapMsg(m, ctx, nil, md))
	}
}

// delivered handles the metadata of a message delivered by call c (a
// process or receive call of cs): parsed once, it gives the span its
// delivery count and stream sequence (when the span records) and the
// consumer-health metrics their values, with now as the delivery time
// (zero: the call's start, see call.wall). An
// inactive c (filtered) records nothing. It returns the metadata, or nil
// when it was not needed or cannot be parsed (then nothing is recorded).
func (cs *consumerSpecs) delivered(c *call, m jetstream.Msg, now time.Time) *jetstream.MsgMetadata {
	if c.spec == nil {
		return nil
	}
	rec := c.recording()
	if cs.health == nil && !rec {
		return nil
	}
	md, err := m.Metadata()
	if err != nil || md == nil {
		return nil
	}
	if rec {
		setMsgAttrs(c, md)
	}
	if cs.health != nil {
		cs.health.record(c.ctx, c.wall(now), md.Timestamp, md.NumDelivered, md.NumPending)
	}
	return md
}

// consumer is the instrumented jetstream.Consumer returned by the
// JetStream and Stream wrappers.
//
//   - Consume: a CONSUMER span "process <stream>" per message around the
//     handler (child of the producer span, plus a link to it),
//     messaging.process.duration and messaging.client.consumed.messages.
//   - Messages: the same process span per message, from the moment Next
//     returns it until the message is settled (Ack, DoubleAck, Nak,
//     NakWithDelay, Term, TermWithReason), the next call to Next, or Stop or
//     Drain, whichever comes first.
//   - Fetch, FetchBytes, FetchNoWait: ONE CLIENT span "receive <stream>"
//     from the call until the batch channel closes, with a link to the
//     producer span of every message and messaging.batch.message_count.
//   - Next: a CLIENT span "receive <stream>" linked to the producer span; a
//     Next that times out without a message is recorded as an empty
//     receive, not as a failure.
//   - Info: "js.consumer.info <stream>".
//
// Messages handed out are wrapped so that settling them is traced (see
// jsMsg). Every message handed out by Consume, Messages, Fetch, FetchBytes,
// FetchNoWait and Next also records the consumer-health metrics
// (nats.client.consumer.lag, .pending, .redelivered; see health.go) from
// its metadata, with metrics on and the delivering operation not filtered.
// Receives, settles and processing are never gated. It is safe for
// concurrent use.
type consumer struct {
	jetstream.Consumer
	cs *consumerSpecs
}

var _ jetstream.Consumer = (*consumer)(nil)

func newConsumer(c jetstream.Consumer, j *jetStream, stream string) *consumer {
	return &consumer{Consumer: c, cs: j.consumerSpecs(stream, c.CachedInfo())}
}

// consumerKey identifies the specs of a consumer: stream, name and durable
// name (the attributes the specs carry).
type consumerKey struct{ stream, name, durable string }

// consumerSpecs returns the specs for a consumer of stream, cached per
// consumer so that looking a consumer up again builds nothing new (up to
// maxMgmtSpecs consumers; beyond, specs are built per handle).
func (j *jetStream) consumerSpecs(stream string, info *jetstream.ConsumerInfo) *consumerSpecs {
	k := consumerKey{stream: stream}
	if info != nil {
		k.name, k.durable = info.Name, info.Config.Durable
	}
	if v, ok := j.consumers.Load(k); ok {
		return v.(*consumerSpecs)
	}
	return storeBounded(&j.consumers, &j.nConsumers, k, newConsumerSpecs(j.p, j.mgmt, stream, info))
}

// Info is traced as "js.consumer.info <stream>".
func (c *consumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	return streamOp(ctx, c.cs.mgmt, opConsumerInfo, c.cs.stream, c.Consumer.Info)
}

// Consume runs handler inside a process span per message.
func (c *consumer) Consume(handler jetstream.MessageHandler, opts ...jetstream.PullConsumeOpt) (jetstream.ConsumeContext, error) {
	if handler == nil || !c.cs.active {
		return c.Consumer.Consume(handler, opts...)
	}
	return c.Consumer.Consume(c.cs.handler(handler), opts...)
}

// Messages returns an iterator whose messages each get a process span.
func (c *consumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	it, err := c.Consumer.Messages(opts...)
	if err != nil || !c.cs.active {
		return it, err
	}
	return &messagesContext{MessagesContext: it, cs: c.cs}, nil
}

// Fetch is one receive span for the whole batch.
func (c *consumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if !c.cs.active {
		return c.Consumer.Fetch(batch, opts...)
	}
	return c.fetch(func() (jetstream.MessageBatch, error) { return c.Consumer.Fetch(batch, opts...) })
}

// FetchBytes is one receive span for the whole batch.
func (c *consumer) FetchBytes(maxBytes int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if !c.cs.active {
		return c.Consumer.FetchBytes(maxBytes, opts...)
	}
	return c.fetch(func() (jetstream.MessageBatch, error) { return c.Consumer.FetchBytes(maxBytes, opts...) })
}

// FetchNoWait is one receive span for the whole batch.
func (c *consumer) FetchNoWait(batch int) (jetstream.MessageBatch, error) {
	if !c.cs.active {
		return c.Consumer.FetchNoWait(batch)
	}
	return c.fetch(func() (jetstream.MessageBatch, error) { return c.Consumer.FetchNoWait(batch) })
}

func (c *consumer) fetch(fn func() (jetstream.MessageBatch, error)) (jetstream.MessageBatch, error) {
	ctx := context.Background()
	var cl call // zero call: end, link and setCount do nothing
	if c.cs.receive.active() {
		var err error
		ctx, err = c.cs.p.begin(ctx, c.cs.receive, &cl)
		if err != nil {
			return nil, err
		}
	}
	defer cl.endOnPanic() // until the forwarder owns the call
	cl.setCount(0)        // no message yet; the forwarder counts the batch
	up, err := fn()
	if err != nil {
		cl.end(err)
		return nil, err
	}
	in := up.Messages()
	// As large as the upstream buffer, which bounds the batch: the forwarder
	// never blocks, so it ends when the upstream channel closes even if the
	// caller abandons the batch half read.
	b := &messageBatch{MessageBatch: up, out: make(chan jetstream.Msg, cap(in))}
	go b.forward(in, c.cs, ctx, cl)
	return b, nil
}

// messageBatch hands out wrapped messages of an upstream batch.
type messageBatch struct {
	jetstream.MessageBatch // Error
	out                    chan jetstream.Msg
}

var _ jetstream.MessageBatch = (*messageBatch)(nil)

// Messages returns the channel of wrapped messages; it closes after the
// upstream one, once the receive span has ended.
func (b *messageBatch) Messages() <-chan jetstream.Msg { return b.out }

func (b *messageBatch) forward(in <-chan jetstream.Msg, cs *consumerSpecs, ctx context.Context, cl call) {
	defer close(b.out) // after the span has ended
	var err error
	defer cl.finish(&err)
	n := 0
	for m := range in {
		n++
		cl.link(m.Headers())
		var md *jetstream.MsgMetadata
		if cs.health != nil && cl.spec != nil {
			if md, _ = m.Metadata(); md != nil {
				cs.health.record(ctx, time.Now(), md.Timestamp, md.NumDelivered, md.NumPending)
			}
		}
		b.out <- cs.wrapMsg(m, ctx, nil, md)
	}
	cl.setCount(n)
	cl.setAttributes(semconv.MessagingBatchMessageCountKey.Int(n))
	err = b.MessageBatch.Error()
}

// Next is a receive span linked to the message's producer span.
func (c *consumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if !c.cs.receive.active() {
		m, err := c.Consumer.Next(opts...)
		if err != nil || !c.cs.active {
			return m, err
		}
		return c.cs.wrapMsg(m, context.Background(), nil, nil), nil
	}
	var cl call
	ctx, err := c.cs.p.begin(context.Background(), c.cs.receive, &cl)
	if err != nil {
		return nil, err
	}
	var outcome error // what the span records
	defer cl.finish(&outcome)
	m, err := c.Consumer.Next(opts...)
	if err != nil {
		cl.setCount(0)
		if !errors.Is(err, nats.ErrTimeout) { // a timeout: an empty receive
			outcome = err
		}
		return m, err
	}
	cl.link(m.Headers())
	md := c.cs.delivered(&cl, m, time.Now())
	return c.cs.wrapMsg(m, ctx, nil, md), nil
}

// messagesContext is the iterator returned by consumer.Messages.
type messagesContext struct {
	jetstream.MessagesContext
	cs *consumerSpecs

	mu  sync.Mutex
	cur *processing // process span of the last message handed out
}

var _ jetstream.MessagesContext = (*messagesContext)(nil)

// Next ends the process span of the previous message, if still open, and
// starts one for the next message.
func (it *messagesContext) Next(opts ...jetstream.NextOpt) (jetstream.Msg, error) {
	it.finishCurrent()
	m, err := it.MessagesContext.Next(opts...)
	if err != nil {
		return m, err
	}
	pr := &processing{}
	var ctx context.Context
	ctx = it.cs.p.beginProcess(context.Background(), it.cs.process, m.Headers(), &pr.c)
	defer pr.endOnPanic() // the span outlives Next, but not a panic in it
	md := it.cs.delivered(&pr.c, m, time.Time{})
	it.mu.Lock()
	it.cur = pr
	it.mu.Unlock()
	return it.cs.wrapMsg(m, ctx, pr, md), nil
}

// Stop ends the open process span and stops the iterator.
func (it *messagesContext) Stop() {
	it.finishCurrent()
	it.MessagesContext.Stop()
}

// Drain ends the open process span and drains the iterator.
func (it *messagesContext) Drain() {
	it.finishCurrent()
	it.MessagesContext.Drain()
}

func (it *messagesContext) finishCurrent() {
	it.mu.Lock()
	pr := it.cur
	it.cur = nil
	it.mu.Unlock()
	pr.finish()
}

// processing is a process span that ends once, at the first of several
// events.
type processing struct {
	once sync.Once
	c    call
}

func (p *processing) finish() {
	if p != nil {
		p.once.Do(func() { p.c.end(nil) })
	}
}

// endOnPanic, deferred directly, ends the span as panicked (once) when the
// function panics, and the panic goes on; otherwise it does nothing.
func (p *processing) endOnPanic() {
	if r := recover(); r != nil {
		p.once.Do(func() { p.c.endPanic(r) })
		panic(r)
	}
}

// pushConsumer is the instrumented jetstream.PushConsumer: Consume runs the
// handler in a process span per message, like consumer.Consume.
type pushConsumer struct {
	jetstream.PushConsumer
	cs *consumerSpecs
}

var _ jetstream.PushConsumer = (*pushConsumer)(nil)

func newPushConsumer(c jetstream.PushConsumer, j *jetStream, stream string) *pushConsumer {
	return &pushConsumer{PushConsumer: c, cs: j.consumerSpecs(stream, c.CachedInfo())}
}

// Consume runs handler inside a process span per message.
func (c *pushConsumer) Consume(handler jetstream.MessageHandler, opts ...jetstream.PushConsumeOpt) (jetstream.ConsumeContext, error) {
	if handler == nil || !c.cs.active {
		return c.PushConsumer.Consume(handler, opts...)
	}
	return c.PushConsumer.Consume(c.cs.handler(handler), opts...)
}

// Info is traced as "js.consumer.info <stream>".
func (c *pushConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	return streamOp(ctx, c.cs.mgmt, opConsumerInfo, c.cs.stream, c.PushConsumer.Info)
}
