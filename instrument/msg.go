package instrument

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// jsMsg is the instrumented jetstream.Msg handed out by the consumer
// wrappers. Settling it is a CLIENT span "<ack|nak|term|in_progress>
// <stream>" (messaging.operation.type=settle) with the delivery count
// (messaging.nats.message.delivery_count) and stream sequence from the
// message metadata, and a messaging.client.operation.duration data point.
// DoubleAck is recorded as ack, NakWithDelay as nak, TermWithReason as term.
// The settle span is a child of the message's process span (Consume,
// Messages) or receive span (Fetch, Next), or of the span in the context
// given to DoubleAck. The ack subject ($JS.ACK.…) is never recorded.
//
// Data, Headers, Subject, Reply and Metadata are the wrapped message's. It
// is safe for concurrent use as far as the wrapped message is.
type jsMsg struct {
	jetstream.Msg
	cs   *consumerSpecs
	ctx  context.Context        // parent of the settle spans
	proc *processing            // Messages: the process span ended by a final settle
	md   *jetstream.MsgMetadata // parsed at delivery, or nil; never handed out
}

var _ jetstream.Msg = (*jsMsg)(nil)

// wrapMsg wraps m; md is its metadata when the delivery parsed it (reused
// for the settle spans' attributes), else nil.
func (cs *consumerSpecs) wrapMsg(m jetstream.Msg, ctx context.Context, pr *processing, md *jetstream.MsgMetadata) jetstream.Msg {
	return &jsMsg{Msg: m, cs: cs, ctx: ctx, proc: pr, md: md}
}

// Ack is traced as "ack <stream>".
func (m *jsMsg) Ack() error {
	return m.settle(nil, m.cs.ack, true, func(context.Context) error { return m.Msg.Ack() })
}

// DoubleAck is traced as "ack <stream>"; ctx is passed to nats.go and, when
// it carries a span, parents the settle span.
func (m *jsMsg) DoubleAck(ctx context.Context) error {
	return m.settle(ctx, m.cs.ack, true, m.Msg.DoubleAck)
}

// Nak is traced as "nak <stream>".
func (m *jsMsg) Nak() error {
	return m.settle(nil, m.cs.nak, true, func(context.Context) error { return m.Msg.Nak() })
}

// NakWithDelay is traced as "nak <stream>".
func (m *jsMsg) NakWithDelay(delay time.Duration) error {
	return m.settle(nil, m.cs.nak, true, func(context.Context) error { return m.Msg.NakWithDelay(delay) })
}

// InProgress is traced as "in_progress <stream>"; it does not end the
// message's process span.
func (m *jsMsg) InProgress() error {
	return m.settle(nil, m.cs.inProgress, false, func(context.Context) error { return m.Msg.InProgress() })
}

// Term is traced as "term <stream>".
func (m *jsMsg) Term() error {
	return m.settle(nil, m.cs.term, true, func(context.Context) error { return m.Msg.Term() })
}

// TermWithReason is traced as "term <stream>"; the reason is not recorded.
func (m *jsMsg) TermWithReason(reason string) error {
	return m.settle(nil, m.cs.term, true, func(context.Context) error { return m.Msg.TermWithReason(reason) })
}

// settle runs one settle call of s through the pipeline. ctx is the
// caller's (DoubleAck) or nil. A final settle ends the message's process
// span (Messages) afterwards.
func (m *jsMsg) settle(ctx context.Context, s *opSpec, final bool, fn func(context.Context) error) (err error) {
	if final {
		defer m.proc.finish() // after the settle span, panic or not
	}
	if !s.active() {
		return fn(ctx)
	}
	var c call
	sctx, err := m.cs.p.begin(m.parent(ctx), s, &c)
	if err != nil {
		return err
	}
	defer c.finish(&err)
	if c.recording() {
		md := m.md
		if md == nil {
			md, _ = m.Msg.Metadata()
		}
		setMsgAttrs(&c, md)
	}
	return fn(sctx)
}

// parent returns the context that parents a settle span: ctx when it
// carries a span, else ctx (or Background) with the message's span.
func (m *jsMsg) parent(ctx context.Context) context.Context {
	if ctx == nil {
		return m.ctx
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if span := trace.SpanFromContext(m.ctx); span.SpanContext().IsValid() {
		return trace.ContextWithSpan(ctx, span)
	}
	return ctx
}

// setMsgAttrs adds the delivery count and stream sequence of md (nil:
// nothing) to a recording call's span.
func setMsgAttrs(c *call, md *jetstream.MsgMetadata) {
	if md == nil {
		return
	}
	c.setAttributes(
		semconv.NATSDeliveryCountKey.Int64(int64(md.NumDelivered)),
		semconv.NATSStreamSequenceKey.Int64(int64(md.Sequence.Stream)),
	)
}
