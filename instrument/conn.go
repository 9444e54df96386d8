package instrument

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
	"github.com/naq-io/naq/tracing"
)

// rawConn lets Conn embed *nats.Conn without an exported field named Conn,
// which would clash with the [Conn.Conn] method.
type rawConn = nats.Conn

// Conn is an instrumented core NATS connection. It embeds *nats.Conn, so
// every nats.go method keeps working; the methods below are traced and
// metered, the others (Flush, Drain, Close, Stats, ...) are the plain
// nats.go ones. Create it with [NewConn]. A Conn is safe for concurrent use.
//
// Publishes become PRODUCER spans "publish <template>" and requests CLIENT
// spans "request <template>"; both send the message with the trace context
// in its header (a copy: a caller's *nats.Msg is never modified), except
// when the server does not support headers or the header would push the
// message past the connection's max_payload: the message then goes out
// exactly as raw nats.go sends it, and the span gets a
// nats.propagation.skipped event. Every delivered message handled by a
// subscription callback runs inside a CONSUMER span "process <template>"
// that is a child of the producer's span and links to it. Reply inboxes are
// never recorded.
type Conn struct {
	*rawConn
	p       *pipeline
	publish *specFamily
	request *specFamily
	receive *specFamily
	process *specFamily // ProcessMsg, by message subject
}

// NewConn wraps nc. Options default to the OpenTelemetry globals read now
// (see [Option]). It never fails. With a nil nc the publish, request and
// subscribe methods return nats.ErrInvalidConnection, as nats.go does on a
// nil *nats.Conn.
//
// With metrics on (a MeterProvider that is not a no-op), wrapping also
// reports the connection itself: unless a metrics.Recorder already observes
// nc (a scope pool observes every connection it dials; metrics.ObserverOf),
// a Recorder shared by every NewConn on the same MeterProvider observes it
// (nats.client.connections.active, .connected, .rtt, .reconnects,
// .disconnects, sent/received bytes; see metrics.Recorder.Observe), and the
// subscriptions made through the Conn are tracked for
// nats.client.subscription.pending and .dropped (unless
// [WithSubscriptionTracker] says otherwise). Observing stops when nc closes.
// Connect attempts (nats.client.connections.opened, .failed,
// .connect.duration) happen before there is a connection to wrap: dial
// through [Connect] or metrics.Recorder.Dial to count them.
func NewConn(nc *nats.Conn, opts ...Option) *Conn {
	p := newPipeline(nc, opts)
	p.observeConn(nc)
	return &Conn{
		rawConn: nc,
		p:       p,
		publish: p.family(specConfig{
			Op: semconv.OpPublish, OpType: semconv.OpTypeSend, Kind: trace.SpanKindProducer,
		}),
		request: p.family(specConfig{
			Op: semconv.OpRequest, OpType: semconv.OpTypeSend, Kind: trace.SpanKindClient,
			Gate: gateRequest,
		}),
		receive: p.family(specConfig{
			// A sync receive reads what the client already holds: never gated.
			Op: semconv.OpReceive, OpType: semconv.OpTypeReceive, Kind: trace.SpanKindClient,
		}),
		process: p.family(specConfig{
			Op: semconv.OpProcess, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindConsumer,
			Count: countNone,
		}),
	}
}

// Conn returns the wrapped, uninstrumented *nats.Conn.
func (c *Conn) Conn() *nats.Conn { return c.rawConn }

// Publish publishes data on subj like [nats.Conn.Publish], recording a
// "publish <template>" span (with no parent) and the send metrics. When a
// span is recorded or trace context must propagate, the message is sent with
// a header carrying it.
func (c *Conn) Publish(subj string, data []byte) error {
	return c.PublishContext(context.Background(), subj, data)
}

// PublishContext is [Conn.Publish] with the span of ctx as the parent of the
// publish span. ctx is used for telemetry only; nats.go core publish does not
// take a context.
func (c *Conn) PublishContext(ctx context.Context, subj string, data []byte) error {
	s := c.publish.spec(subj)
	if !s.active() {
		return c.rawConn.Publish(subj, data)
	}
	var call call
	ctx, err := c.p.begin(ctx, s, &call)
	if err != nil {
		return err
	}
	defer call.finish(&err)
	if m := c.p.withTrace(ctx, call.spanContext(), nil, subj, "", nil, data, true); m != nil {
		err = c.rawConn.PublishMsg(m)
		putMsg(m)
		if err != nil {
			err = resendIfRefused(ctx, err, func() error { return c.rawConn.Publish(subj, data) })
		}
	} else {
		err = c.rawConn.Publish(subj, data)
	}
	return err
}

// resendIfRefused is how a core publish learns that its traced copy cannot
// be sent: nats.go refused it (err) for a reason the trace header may be the
// cause of (max_payload, a server without headers; see refusedHeader), which
// nats.go checks under its own lock before writing anything. The caller's
// message then goes out as raw nats.go sends it, through raw, with a
// nats.propagation.skipped event unless raw fails alike; raw's result is the
// call's. Any other err is returned as is. Checking after the fact spares
// every publish two reads of the connection's lock and the header's size,
// and covers a connection that is not connected yet (nats.go skips the
// max_payload check then, and so does the copy).
func resendIfRefused(ctx context.Context, err error, raw func() error) error {
	refused, reason := refusedHeader(err)
	if refused == nil {
		return err
	}
	err = raw()
	skippedUnlessSame(ctx, reason, refused, err)
	return err
}

// PublishMsg publishes msg like [nats.Conn.PublishMsg]. The message sent
// carries msg's headers plus the trace context; msg itself is not modified,
// so a message shared between goroutines stays safe to publish.
func (c *Conn) PublishMsg(msg *nats.Msg) error {
	return c.PublishMsgContext(context.Background(), msg)
}

// PublishMsgContext is [Conn.PublishMsg] with the span of ctx as parent.
func (c *Conn) PublishMsgContext(ctx context.Context, msg *nats.Msg) error {
	if msg == nil {
		return c.rawConn.PublishMsg(msg)
	}
	s := c.publish.spec(msg.Subject)
	if !s.active() {
		return c.rawConn.PublishMsg(msg)
	}
	var call call
	ctx, err := c.p.begin(ctx, s, &call)
	if err != nil {
		return err
	}
	defer call.finish(&err)
	out, pooled := c.p.traced(ctx, call.spanContext(), msg)
	err = c.rawConn.PublishMsg(out)
	if pooled {
		putMsg(out)
		if err != nil {
			err = resendIfRefused(ctx, err, func() error { return c.rawConn.PublishMsg(msg) })
		}
	}
	return err
}

// PublishRequest publishes data on subj with reply as the reply subject,
// like [nats.Conn.PublishRequest], as a publish span. The reply subject is
// never recorded. As in nats.go, an empty or invalid reply subject is
// nats.ErrBadSubject.
func (c *Conn) PublishRequest(subj, reply string, data []byte) error {
	s := c.publish.spec(subj)
	if !s.active() {
		return c.rawConn.PublishRequest(subj, reply, data)
	}
	var call call
	ctx, err := c.p.begin(context.Background(), s, &call)
	if err != nil {
		return err
	}
	defer call.finish(&err)
	// PublishMsg validates the reply only when it is not empty, while
	// PublishRequest always does: an empty reply goes to nats.go as is.
	var m *nats.Msg
	if reply != "" {
		m = c.p.withTrace(ctx, call.spanContext(), nil, subj, reply, nil, data, true)
	}
	if m != nil {
		err = c.rawConn.PublishMsg(m)
		putMsg(m)
		if err != nil {
			err = resendIfRefused(ctx, err, func() error { return c.rawConn.PublishRequest(subj, reply, data) })
		}
	} else {
		err = c.rawConn.PublishRequest(subj, reply, data)
	}
	return err
}

// Request sends a request and waits up to timeout for the reply, like
// [nats.Conn.Request], as a CLIENT span "request <template>". The reply and
// its error are returned unchanged (errors.Is(err, nats.ErrNoResponders)
// holds).
func (c *Conn) Request(subj string, data []byte, timeout time.Duration) (*nats.Msg, error) {
	s := c.request.spec(subj)
	if !s.active() {
		return c.rawConn.Request(subj, data, timeout)
	}
	var call call
	ctx, err := c.p.begin(context.Background(), s, &call)
	if err != nil {
		return nil, err
	}
	defer call.finish(&err)
	var reply *nats.Msg
	if m := c.p.withTrace(ctx, call.spanContext(), c.rawConn, subj, "", nil, data, true); m != nil {
		reply, err = c.rawConn.RequestMsg(m, timeout)
		putMsg(m)
	} else {
		reply, err = c.rawConn.Request(subj, data, timeout)
	}
	return reply, err
}

// RequestMsg is [nats.Conn.RequestMsg] as a request span; the request sent
// carries msg's headers plus the trace context, msg itself is not modified.
func (c *Conn) RequestMsg(msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	if msg == nil {
		return c.rawConn.RequestMsg(msg, timeout)
	}
	s := c.request.spec(msg.Subject)
	if !s.active() {
		return c.rawConn.RequestMsg(msg, timeout)
	}
	var call call
	ctx, err := c.p.begin(context.Background(), s, &call)
	if err != nil {
		return nil, err
	}
	defer call.finish(&err)
	out, pooled := c.p.tracedOn(ctx, call.spanContext(), c.rawConn, msg)
	reply, err := c.rawConn.RequestMsg(out, timeout)
	if pooled {
		putMsg(out)
	}
	return reply, err
}

// RequestWithContext is [nats.Conn.RequestWithContext] as a request span
// whose parent is the span of ctx.
func (c *Conn) RequestWithContext(ctx context.Context, subj string, data []byte) (*nats.Msg, error) {
	s := c.request.spec(subj)
	if !s.active() {
		return c.rawConn.RequestWithContext(ctx, subj, data)
	}
	var call call
	sctx, err := c.p.begin(ctx, s, &call)
	if err != nil {
		return nil, err
	}
	defer call.finish(&err)
	var reply *nats.Msg
	if m := c.p.withTrace(sctx, call.spanContext(), c.rawConn, subj, "", nil, data, true); m != nil {
		reply, err = c.rawConn.RequestMsgWithContext(ctx, m)
		putMsg(m)
	} else {
		reply, err = c.rawConn.RequestWithContext(ctx, subj, data)
	}
	return reply, err
}

// RequestMsgWithContext is [nats.Conn.RequestMsgWithContext] as a request
// span whose parent is the span of ctx; msg itself is not modified.
func (c *Conn) RequestMsgWithContext(ctx context.Context, msg *nats.Msg) (*nats.Msg, error) {
	if msg == nil {
		return c.rawConn.RequestMsgWithContext(ctx, msg)
	}
	s := c.request.spec(msg.Subject)
	if !s.active() {
		return c.rawConn.RequestMsgWithContext(ctx, msg)
	}
	var call call
	sctx, err := c.p.begin(ctx, s, &call)
	if err != nil {
		return nil, err
	}
	defer call.finish(&err)
	out, pooled := c.p.tracedOn(sctx, call.spanContext(), c.rawConn, msg)
	reply, err := c.rawConn.RequestMsgWithContext(ctx, out)
	if pooled {
		putMsg(out)
	}
	return reply, err
}

// MsgHandlerContext is a subscription callback that receives the context of
// the message's process span.
type MsgHandlerContext func(ctx context.Context, msg *nats.Msg)

// Subscribe is [nats.Conn.Subscribe] with cb run inside a process span per
// message. Inside cb, [ContextFromMsg] returns the span's context.
func (c *Conn) Subscribe(subj string, cb nats.MsgHandler) (*nats.Subscription, error) {
	return c.subscribe(subj, "", cb, nil)
}

// QueueSubscribe is [nats.Conn.QueueSubscribe] with cb run inside a process
// span per message; the queue group is recorded as
// messaging.consumer.group.name.
func (c *Conn) QueueSubscribe(subj, queue string, cb nats.MsgHandler) (*nats.Subscription, error) {
	return c.subscribe(subj, queue, cb, nil)
}

// SubscribeContext subscribes like [Conn.Subscribe] and passes cb the
// context carrying the process span, so spans started in cb (and messages
// published with it) join the producer's trace.
func (c *Conn) SubscribeContext(subj string, cb MsgHandlerContext) (*nats.Subscription, error) {
	return c.subscribe(subj, "", nil, cb)
}

// QueueSubscribeContext is [Conn.SubscribeContext] for a queue group.
func (c *Conn) QueueSubscribeContext(subj, queue string, cb MsgHandlerContext) (*nats.Subscription, error) {
	return c.subscribe(subj, queue, nil, cb)
}

// processSpec declares the process operation of one subscription: the
// destination is the template of the subscription subject (so "orders.*"
// stays "orders.*" whatever the delivered subject), and the queue group
// passes the cap of group names (names.go).
func (c *Conn) processSpec(subj, queue string, count countKind) *opSpec {
	_, attrs, spanAttrs := c.p.nameAttrs(nameGroup, queue)
	return c.p.spec(specConfig{
		Op: semconv.OpProcess, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindConsumer,
		Dest: c.p.template(subj), FilterDest: subj, Attrs: attrs, SpanAttrs: spanAttrs, Count: count,
	})
}

// msgHandler wraps the handler of a subscription of spec s (cb, or cbCtx
// when not nil): each message runs inside a process span, ended in a defer
// so that a panicking handler still ends it (with the panic recorded) and
// its panic goes on, as with raw nats.go.
func (c *Conn) msgHandler(s *opSpec, cb nats.MsgHandler, cbCtx MsgHandlerContext) nats.MsgHandler {
	switch {
	case cbCtx != nil:
		return func(m *nats.Msg) {
			var call call
			ctx := c.p.beginProcess(context.Background(), s, m.Header, &call)
			defer call.finish(nil)
			cbCtx(ctx, m)
		}
	case !s.active():
		return cb
	default:
		return func(m *nats.Msg) {
			var call call
			ctx := c.p.beginProcess(context.Background(), s, m.Header, &call)
			defer call.finish(nil)
			if trace.SpanContextFromContext(ctx).IsValid() {
				msgContexts.Store(m, ctx)
				defer msgContexts.Delete(m)
			}
			cb(m)
		}
	}
}

func (c *Conn) subscribe(subj, queue string, cb nats.MsgHandler, cbCtx MsgHandlerContext) (*nats.Subscription, error) {
	if cb == nil && cbCtx == nil {
		// Let nats.go report the missing handler.
		if queue == "" {
			return c.rawConn.Subscribe(subj, nil)
		}
		return c.rawConn.QueueSubscribe(subj, queue, nil)
	}
	s := c.processSpec(subj, queue, countAuto)
	handler := c.msgHandler(s, cb, cbCtx)
	var (
		sub *nats.Subscription
		err error
	)
	if queue == "" {
		sub, err = c.rawConn.Subscribe(subj, handler)
	} else {
		sub, err = c.rawConn.QueueSubscribe(subj, queue, handler)
	}
	if err == nil {
		if untrack := c.tracked(sub, s); untrack != nil {
			whenClosed(sub, untrack)
		}
	}
	return sub, err
}

// SubscribeSync is [nats.Conn.SubscribeSync]. Receive with [Conn.NextMsg]
// (and process with [Conn.ProcessMsg]) to trace the messages. With
// [WithSubscriptionTracker] the subscription is tracked (Filter op
// "receive").
func (c *Conn) SubscribeSync(subj string) (*nats.Subscription, error) {
	sub, err := c.rawConn.SubscribeSync(subj)
	if err == nil {
		c.trackSync(sub, subj)
	}
	return sub, err
}

// QueueSubscribeSync is [nats.Conn.QueueSubscribeSync]; see
// [Conn.SubscribeSync].
func (c *Conn) QueueSubscribeSync(subj, queue string) (*nats.Subscription, error) {
	sub, err := c.rawConn.QueueSubscribeSync(subj, queue)
	if err == nil {
		c.trackSync(sub, subj)
	}
	return sub, err
}

func (c *Conn) trackSync(sub *nats.Subscription, subj string) {
	if c.p.cfg.tracker == nil {
		return
	}
	if untrack := c.tracked(sub, c.receive.spec(subj)); untrack != nil {
		whenClosed(sub, untrack)
	}
}

// tracked hands sub to the [WithSubscriptionTracker] hook with the
// destination template of s, unless there is no hook or s is nil or
// filtered. It returns the hook's untrack wrapped to run at most once, or
// nil when there is nothing to undo. Panics of the hook go to otel.Handle.
func (c *Conn) tracked(sub *nats.Subscription, s *opSpec) func() {
	track := c.p.cfg.tracker
	if track == nil || sub == nil || s == nil || s.filtered {
		return nil
	}
	untrack := func() (untrack func()) {
		defer func() {
			if r := recover(); r != nil {
				otel.Handle(fmt.Errorf("instrument: subscription tracker panicked: %v", r))
				untrack = nil
			}
		}()
		return track(sub, s.dest)
	}()
	if untrack == nil {
		return nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			defer func() {
				if r := recover(); r != nil {
					otel.Handle(fmt.Errorf("instrument: subscription untrack panicked: %v", r))
				}
			}()
			untrack()
		})
	}
}

// whenClosed makes sub's closed handler run fn (which must be idempotent)
// when sub is unsubscribed, drained or its connection closes, and runs it
// at once if sub is no longer valid (closed before the handler was set).
func whenClosed(sub *nats.Subscription, fn func()) {
	sub.SetClosedHandler(func(string) { fn() })
	if !sub.IsValid() {
		fn()
	}
}

// msgContexts maps a message to the context of its running process span,
// while a plain nats.MsgHandler runs.
var msgContexts sync.Map

// ContextFromMsg returns, inside a handler passed to [Conn.Subscribe] or
// [Conn.QueueSubscribe], the context carrying msg's process span (use it as
// the parent of work done for msg, e.g. [Conn.PublishContext]). Outside such
// a handler, or when no trace context is known for msg, it returns
// context.Background(). Handlers registered with [Conn.SubscribeContext]
// receive the context directly.
func ContextFromMsg(msg *nats.Msg) context.Context {
	if msg != nil {
		if v, ok := msgContexts.Load(msg); ok {
			return v.(context.Context)
		}
	}
	return context.Background()
}

// ChanSubscribe is [nats.Conn.ChanSubscribe] with telemetry: nats.go
// delivers into an internal channel of the same capacity and a goroutine
// forwards each message to ch inside a process span (child of and linked to
// the producer) covering the hand-off, counting it as consumed. The
// goroutine stops when the subscription is closed (Unsubscribe, Drain or
// connection close), through the subscription's closed handler: do not
// replace it with Subscription.SetClosedHandler. Messages still buffered at
// that point are forwarded if ch has room, else dropped. Up to twice cap(ch)
// messages can be buffered (the internal channel plus ch) before nats.go
// reports a slow consumer. With the call filtered or telemetry off it is
// exactly nats.go's ChanSubscribe.
func (c *Conn) ChanSubscribe(subj string, ch chan *nats.Msg) (*nats.Subscription, error) {
	return c.chanSubscribe(subj, "", ch)
}

// ChanQueueSubscribe is [Conn.ChanSubscribe] for a queue group.
func (c *Conn) ChanQueueSubscribe(subj, queue string, ch chan *nats.Msg) (*nats.Subscription, error) {
	return c.chanSubscribe(subj, queue, ch)
}

func (c *Conn) chanSubscribe(subj, queue string, ch chan *nats.Msg) (*nats.Subscription, error) {
	s := c.processSpec(subj, queue, countAuto)
	if !s.active() || ch == nil {
		var (
			sub *nats.Subscription
			err error
		)
		if queue == "" {
			sub, err = c.rawConn.ChanSubscribe(subj, ch)
		} else {
			sub, err = c.rawConn.ChanQueueSubscribe(subj, queue, ch)
		}
		if err == nil {
			if untrack := c.tracked(sub, s); untrack != nil {
				whenClosed(sub, untrack)
			}
		}
		return sub, err
	}
	inner := make(chan *nats.Msg, max(cap(ch), 1))
	var (
		sub *nats.Subscription
		err error
	)
	if queue == "" {
		sub, err = c.rawConn.ChanSubscribe(subj, inner)
	} else {
		sub, err = c.rawConn.ChanQueueSubscribe(subj, queue, inner)
	}
	if err != nil {
		return sub, err
	}
	stop := make(chan struct{})
	var once sync.Once
	untrack := c.tracked(sub, s)
	whenClosed(sub, func() {
		once.Do(func() { close(stop) })
		if untrack != nil {
			untrack()
		}
	})
	go c.forward(s, inner, ch, stop)
	return sub, nil
}

func (c *Conn) forward(s *opSpec, in <-chan *nats.Msg, out chan<- *nats.Msg, stop <-chan struct{}) {
	for {
		select {
		case m := <-in:
			if !c.pass(s, m, out, stop) {
				drain(in, out)
				return
			}
		case <-stop:
			drain(in, out)
			return
		}
	}
}

// pass hands m to out inside its process span (ended in a defer); false
// when stop closed first.
func (c *Conn) pass(s *opSpec, m *nats.Msg, out chan<- *nats.Msg, stop <-chan struct{}) bool {
	var call call
	c.p.beginProcess(context.Background(), s, m.Header, &call)
	defer call.finish(nil)
	select {
	case out <- m:
		return true
	case <-stop:
		return false
	}
}

// drain forwards what is left in in without blocking.
func drain(in <-chan *nats.Msg, out chan<- *nats.Msg) {
	for {
		select {
		case m := <-in:
			select {
			case out <- m:
			default:
			}
		default:
			return
		}
	}
}

// NextMsg is sub.NextMsg(timeout) as a CLIENT span "receive <template>"
// linked to the producer, counting a consumed message. sub is any
// subscription of this connection made with SubscribeSync or
// QueueSubscribeSync. A timeout (nats.ErrTimeout) is recorded as a receive
// that got no message, not as a failure; every error is returned unchanged.
// It is never gated by [WithGate]: it reads what the client already holds.
// To process the message inside a span that joins the producer's trace, use
// [Conn.ProcessMsg].
func (c *Conn) NextMsg(sub *nats.Subscription, timeout time.Duration) (*nats.Msg, error) {
	if sub == nil {
		return nil, nats.ErrBadSubscription
	}
	return c.next(context.Background(), sub, func() (*nats.Msg, error) { return sub.NextMsg(timeout) })
}

// NextMsgWithContext is [Conn.NextMsg] with sub.NextMsgWithContext(ctx); the
// span of ctx is the parent of the receive span. Cancellation and deadline
// errors are returned unchanged and recorded as a receive with no message.
func (c *Conn) NextMsgWithContext(ctx context.Context, sub *nats.Subscription) (*nats.Msg, error) {
	if sub == nil {
		return nil, nats.ErrBadSubscription
	}
	return c.next(ctx, sub, func() (*nats.Msg, error) { return sub.NextMsgWithContext(ctx) })
}

func (c *Conn) next(ctx context.Context, sub *nats.Subscription, fn func() (*nats.Msg, error)) (*nats.Msg, error) {
	s := c.receive.spec(sub.Subject)
	if !s.active() {
		return fn()
	}
	var call call
	_, err := c.p.begin(ctx, s, &call)
	if err != nil {
		return nil, err
	}
	var outcome error // what the span records: no failure for an empty wait
	defer call.finish(&outcome)
	m, err := fn()
	switch {
	case errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		call.setCount(0)
	default:
		if m != nil {
			call.link(m.Header)
		} else {
			call.setCount(0)
		}
		outcome = err
	}
	return m, err
}

// ProcessMsg runs fn for msg inside a CONSUMER span "process <template>"
// that is a child of the producer context in msg's header and links to it,
// recording messaging.process.duration. fn's error is recorded and
// returned unchanged. It does not count the message as consumed (the
// receive that produced msg, e.g. [Conn.NextMsg], did). The template comes
// from msg.Subject. If fn panics, the span ends with the panic recorded
// (error.type=panic) and the panic goes on with the same value.
func (c *Conn) ProcessMsg(msg *nats.Msg, fn func(ctx context.Context, msg *nats.Msg) error) (err error) {
	if msg == nil {
		return fn(context.Background(), msg)
	}
	s := c.process.spec(msg.Subject)
	var call call
	ctx := c.p.beginProcess(context.Background(), s, msg.Header, &call)
	call.metersFirst = false // ProcessMsg returns once the call has ended
	defer call.finish(&err)
	return fn(ctx, msg)
}

// msgPool recycles the messages the wrapper builds to carry a trace header
// for the core publishes and requests. nats.go encodes a message before
// PublishMsg/RequestMsg return and keeps no reference to it, so the message,
// its header map and the memory of its traceparent value can be reused (see
// putMsg for what is reset).
var msgPool = sync.Pool{New: func() any { return &pooledMsg{msg: nats.Msg{Header: make(nats.Header, 2)}} }}

// pooledMsg is what msgPool holds: the message (its first field, so that
// a *nats.Msg from getMsg is the address of its pooledMsg) and the buffer
// its traceparent is formatted into.
type pooledMsg struct {
	msg nats.Msg
	tp  tracing.TraceparentBuffer
}

// pooledOf returns the pooledMsg of m, which must come from getMsg.
func pooledOf(m *nats.Msg) *pooledMsg { return (*pooledMsg)(unsafe.Pointer(m)) }

// getMsg returns a pooled message with subject and data set, every other
// field zero and an empty, non-nil header.
func getMsg(subj string, data []byte) *nats.Msg {
	m := &msgPool.Get().(*pooledMsg).msg
	m.Subject, m.Data = subj, data
	if m.Header == nil {
		m.Header = make(nats.Header, 2)
	}
	return m
}

// putMsg returns m to the pool with EVERY field reset (subject, reply, data,
// subscription and nats.go's internal fields; the header map is kept but
// emptied), so no later publish that reuses it can send a stale reply
// subject or header, and the pool keeps no reference to caller data.
func putMsg(m *nats.Msg) {
	h := m.Header
	*m = nats.Msg{}
	if len(h) > 8 {
		return // an unusually large header: let the message go
	}
	clear(h)
	m.Header = h
	msgPool.Put(pooledOf(m))
}

// tracedOn returns the message to send for the caller's msg on nc: msg
// itself when there is nothing to propagate or propagation is skipped (see
// withTrace), else a pooled copy (subject, reply, data, headers) carrying
// the trace context, which the caller returns with putMsg once nats.go is
// done with it. msg is never modified.
func (p *pipeline) tracedOn(ctx context.Context, sc trace.SpanContext, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, bool) {
	if m := p.withTrace(ctx, sc, nc, msg.Subject, msg.Reply, msg.Header, msg.Data, true); m != nil {
		return m, true
	}
	return msg, false
}

// traced is tracedOn without a connection to check: the copy always gets
// the trace context when there is one, even when the server does not
// support headers or the header pushes the message past max_payload (and
// nats.go then fails the call). The core publishes use it and resend the
// caller's message when nats.go refuses the copy (resendIfRefused); other
// wrappers that know their *nats.Conn check first with tracedOn.
func (p *pipeline) traced(ctx context.Context, sc trace.SpanContext, msg *nats.Msg) (*nats.Msg, bool) {
	return p.tracedOn(ctx, sc, nil, msg)
}

// withTrace builds the message to send in place of (subject, reply, hdr,
// data) with the trace context of ctx injected (sc: the span context of
// ctx, which the caller has already; see call.spanContext): a pooled
// message (return it with putMsg) when pooled, else a new one. hdr is copied (its value slices
// are shared read-only: the carrier's Set replaces, never appends), so the
// caller's header is never written.
//
// It returns nil, and the caller must send its message as raw nats.go would,
// when there is nothing to propagate, and when the trace header must be
// skipped so that the call does exactly what raw nats.go does; a recording
// span of ctx then gets a nats.propagation.skipped event saying why (with
// a nil nc there is nothing to check and nothing is skipped here: the core
// publishes learn it from nats.go, see resendIfRefused):
//
//   - headers_unsupported: the server does not support headers (nats.go
//     would fail any message with a header with ErrHeadersNotSupported);
//   - max_payload: the message fits nc's max_payload without the header but
//     not with it (nats.go would fail it with ErrMaxPayload). The size is
//     computed exactly as nats.go encodes headers. A message that does not
//     fit even without the header fails in nats.go as it would raw, with no
//     event.
func (p *pipeline) withTrace(ctx context.Context, sc trace.SpanContext, nc *nats.Conn, subj, reply string, hdr nats.Header, data []byte, pooled bool) *nats.Msg {
	if !propagates(ctx, sc) {
		return nil
	}
	if nc != nil && !nc.HeadersSupported() {
		propagationSkipped(ctx, skipHeadersUnsupported)
		return nil
	}
	var m *nats.Msg
	if pooled {
		m = getMsg(subj, data)
	} else {
		m = &nats.Msg{Subject: subj, Data: data, Header: make(nats.Header, len(hdr)+2)}
	}
	m.Reply = reply
	for k, v := range hdr {
		m.Header[k] = v
	}
	var buf *tracing.TraceparentBuffer
	if pooled {
		buf = &pooledOf(m).tp
	}
	p.injectHeader(ctx, sc, m.Header, buf)
	if len(m.Header) == 0 { // the propagators wrote nothing
		if pooled {
			putMsg(m)
		}
		return nil
	}
	if nc == nil {
		return m
	}
	if limit := nc.MaxPayload(); int64(len(data)+p.tracedHeaderSize(hdr, m.Header)) > limit {
		if int64(len(data)+headerSize(hdr)) <= limit {
			propagationSkipped(ctx, skipMaxPayload)
		}
		if pooled {
			putMsg(m)
		}
		return nil
	}
	return m
}

// headerSize is the size of h as nats.go encodes it on the wire (and counts
// it against max_payload): "NATS/1.0\r\n", then "key: value\r\n" per value
// (values trimmed of surrounding white space), then "\r\n"; 0 for an empty
// header, which nats.go does not send.
func headerSize(h nats.Header) int {
	if len(h) == 0 {
		return 0
	}
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(textproto.TrimString(v)) + len(": \r\n")
		}
	}
	return n
}

// tracedHeaderSize is headerSize(h) for h, the header of a copy of hdr into
// which the propagator injected: without a caller's header, h holds only
// keys of the propagator's Fields, found by lookups instead of ranging over
// the map; anything else is measured by headerSize.
func (p *pipeline) tracedHeaderSize(hdr, h nats.Header) int {
	if len(hdr) != 0 || len(p.fields) == 0 {
		return headerSize(h)
	}
	n, found := 0, 0
	for _, k := range p.fields {
		if vs, ok := h[k]; ok {
			found++
			for _, v := range vs {
				n += len(k) + len(textproto.TrimString(v)) + len(": \r\n")
			}
		}
	}
	if found != len(h) { // a key the propagator did not declare
		return headerSize(h)
	}
	if n == 0 {
		return 0
	}
	return n + len("NATS/1.0\r\n") + len("\r\n")
}

// Span event options of the propagation skips, built once.
var (
	skipHeadersUnsupported = []trace.EventOption{trace.WithAttributes(
		semconv.NATSPropagationReasonKey.String(semconv.PropagationHeadersUnsupported))}
	skipMaxPayload = []trace.EventOption{trace.WithAttributes(
		semconv.NATSPropagationReasonKey.String(semconv.PropagationMaxPayload))}
)

// propagationSkipped adds the nats.propagation.skipped event to the span of
// ctx when it records.
func propagationSkipped(ctx context.Context, opts []trace.EventOption) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(semconv.EventPropagationSkipped, opts...)
	}
}

// JetStream returns the connection's legacy JetStream context, like
// [nats.Conn.JetStream] with opts, instrumented with this Conn's pipeline:
// the same options (providers, Filter, SubjectNamer, gate, ...) as the
// Conn; see [NewJetStreamContext] for what is traced. It also ends the
// spans of async publishes still pending when the connection closes. The
// error is nats.go's, unchanged (and the context nil with it).
func (c *Conn) JetStream(opts ...nats.JSOpt) (nats.JetStreamContext, error) {
	js, err := c.rawConn.JetStream(opts...)
	if err != nil || js == nil {
		return js, err
	}
	return newLegacyJS(js, c.p, c.rawConn), nil
}

// recorders holds the metrics.Recorder NewConn observes connections with,
// one per MeterProvider (of a comparable type).
var recorders sync.Map // metric.MeterProvider → *metrics.Recorder

// observeConn makes the connection metrics of nc reported (see NewConn) and
// defaults the subscription tracker to its Observer. It never fails: an
// error goes to otel.Handle.
func (p *pipeline) observeConn(nc *nats.Conn) {
	if !p.metering || nc == nil || nc.IsClosed() {
		return
	}
	ob, ok := metrics.ObserverOf(nc)
	if !ok {
		mp := p.cfg.mp
		if t := reflect.TypeOf(mp); t == nil || !t.Comparable() {
			return
		}
		v, ok := recorders.Load(mp)
		if !ok {
			v, _ = recorders.LoadOrStore(mp, metrics.NewRecorder(metrics.WithMeterProvider(mp)))
		}
		var err error
		ob, err = v.(*metrics.Recorder).Observe(nc, p.cfg.connName)
		if err != nil {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				otel.Handle(err)
			}
			return
		}
	}
	if p.cfg.tracker == nil {
		p.cfg.tracker = ob.Track
	}
}
