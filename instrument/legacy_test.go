package instrument

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"weak"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// legacyEnv is a jsEnv plus legacy JetStream contexts: raw ones on both
// connections, the instrumented producer side from Conn.JetStream and the
// consumer side from NewJetStreamContext.
type legacyEnv struct {
	*jsEnv
	rawL  nats.JetStreamContext // raw, on nc
	rawL2 nats.JetStreamContext // raw, on nc2
	conn  *Conn                 // instrumented nc
	lj    nats.JetStreamContext // conn.JetStream()
	lj2   nats.JetStreamContext // NewJetStreamContext(rawL2)
}

func newLegacyEnv(t *testing.T, extra ...Option) *legacyEnv {
	t.Helper()
	e := &legacyEnv{jsEnv: newJSEnv(t, extra...)}
	var err error
	e.rawL, err = e.nc.JetStream()
	require.NoError(t, err)
	e.rawL2, err = e.nc2.JetStream()
	require.NoError(t, err)
	e.conn = NewConn(e.nc, e.o...)
	e.lj, err = e.conn.JetStream()
	require.NoError(t, err)
	e.lj2 = NewJetStreamContext(e.rawL2, e.o...)
	return e
}

// legacyStream creates a stream capturing subjects with the raw legacy API.
func (e *legacyEnv) legacyStream(name string, subjects ...string) {
	e.t.Helper()
	_, err := e.rawL.AddStream(&nats.StreamConfig{Name: name, Subjects: subjects})
	require.NoError(e.t, err)
}

// storedHeader returns the header of the message stored at seq in stream.
func (e *legacyEnv) storedHeader(stream string, seq uint64) nats.Header {
	e.t.Helper()
	m, err := e.rawL.GetMsg(stream, seq)
	require.NoError(e.t, err)
	return m.Header
}

func hasLink(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.SpanID() == sc.SpanID() && l.SpanContext.TraceID() == sc.TraceID() {
			return true
		}
	}
	return false
}

func TestLegacyConnJetStreamIsInstrumented(t *testing.T) {
	e := newLegacyEnv(t)
	w, ok := e.lj.(*legacyJS)
	require.True(t, ok, "Conn.JetStream returns the instrumented context")
	assert.Same(t, e.conn.p, w.p, "it shares the Conn's pipeline (options, gate)")
	assert.Same(t, e.nc, w.nc)

	// nats.go's error comes back unchanged, with a nil context.
	rawJS, rawErr := e.nc.JetStream(nats.PublishAsyncMaxPending(0))
	js, err := e.conn.JetStream(nats.PublishAsyncMaxPending(0))
	require.Error(t, rawErr)
	assert.Equal(t, rawErr, err)
	assert.Nil(t, rawJS)
	assert.Nil(t, js)
}

func TestLegacyPublish(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("ORDERS", "orders.>")

	ack, err := e.lj.Publish("orders.new", []byte("payload"))
	require.NoError(t, err)
	assert.Equal(t, "ORDERS", ack.Stream)

	s := e.one("publish orders.new")
	assertSpan(t, s, trace.SpanKindProducer, semconv.OpPublish, semconv.OpTypeSend, destAttr("orders.new"))
	assertOK(t, s)
	assert.False(t, s.Parent().IsValid(), "no parent without a nats.Context option")
	h := e.storedHeader("ORDERS", ack.Sequence)
	assert.Contains(t, h.Get("traceparent"), s.SpanContext().SpanID().String())

	rm := e.collect(t)
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricSentMessages, opAttr(semconv.OpPublish), destAttr("orders.new")))
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpPublish), destAttr("orders.new")))
}

// PublishMsg sends a copy: the caller's message is never written.
func TestLegacyPublishMsgLeavesTheCallersMessageAlone(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("ORDERS", "orders.>")

	bare := &nats.Msg{Subject: "orders.1", Data: []byte("x")}
	ack, err := e.lj.PublishMsg(bare)
	require.NoError(t, err)
	assert.Nil(t, bare.Header, "no header allocated on the caller's message")
	assert.NotEmpty(t, e.storedHeader("ORDERS", ack.Sequence).Get("traceparent"))

	withHdr := &nats.Msg{Subject: "orders.2", Data: []byte("y"), Header: nats.Header{"App": {"v"}}}
	ack, err = e.lj.PublishMsg(withHdr)
	require.NoError(t, err)
	assert.Equal(t, nats.Header{"App": {"v"}}, withHdr.Header)
	stored := e.storedHeader("ORDERS", ack.Sequence)
	assert.Equal(t, "v", stored.Get("App"))
	assert.NotEmpty(t, stored.Get("traceparent"))

	// With publish options nats.go writes their headers into the message it
	// is given; the caller's message gets exactly those, as raw, and never
	// the trace context.
	rawMsg := &nats.Msg{Subject: "orders.3", Data: []byte("z")}
	_, err = e.rawL.PublishMsg(rawMsg, nats.MsgId("id-raw"), nats.ExpectStream("ORDERS"))
	require.NoError(t, err)
	instMsg := &nats.Msg{Subject: "orders.4", Data: []byte("z")}
	ack, err = e.lj.PublishMsg(instMsg, nats.MsgId("id-inst"), nats.ExpectStream("ORDERS"))
	require.NoError(t, err)
	assert.Equal(t, nats.Header{nats.MsgIdHdr: {"id-raw"}, nats.ExpectedStreamHdr: {"ORDERS"}}, rawMsg.Header)
	assert.Equal(t, nats.Header{nats.MsgIdHdr: {"id-inst"}, nats.ExpectedStreamHdr: {"ORDERS"}}, instMsg.Header)
	stored = e.storedHeader("ORDERS", ack.Sequence)
	assert.Equal(t, "id-inst", stored.Get(nats.MsgIdHdr))
	assert.NotEmpty(t, stored.Get("traceparent"))

	spans := e.named("publish orders.*")
	require.Len(t, spans, 3)
	assert.EqualValues(t, 3, sumValue(e.collect(t), semconv.MetricSentMessages, destAttr("orders.*")))
}

// A nats.Context option parents the spans of the legacy calls.
func TestLegacyContextOptionParentsSpans(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("ORDERS", "orders.>")
	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "parent")
	defer parent.End()
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()

	_, err := e.lj.Publish("orders.ctx", []byte("x"), nats.Context(tctx))
	require.NoError(t, err)
	_, err = e.lj.StreamInfo("ORDERS", nats.Context(tctx))
	require.NoError(t, err)
	for _, name := range []string{"publish orders.ctx", "js.stream.info ORDERS"} {
		s := e.one(name)
		assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), name)
		assert.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID(), name)
	}
}

func TestLegacyPublishAsync(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("ORDERS", "orders.>")

	const n = 4
	futs := make([]nats.PubAckFuture, 0, n+1)
	for range n {
		f, err := e.lj.PublishAsync("orders.async", []byte("payload"))
		require.NoError(t, err)
		futs = append(futs, f)
	}
	msg := &nats.Msg{Subject: "orders.async", Data: []byte("m"), Header: nats.Header{"App": {"v"}}}
	f, err := e.lj.PublishMsgAsync(msg)
	require.NoError(t, err)
	futs = append(futs, f)
	assert.Same(t, msg, f.Msg(), "the future returns the caller's message, as nats.go's does")
	assert.Equal(t, nats.Header{"App": {"v"}}, msg.Header, "the caller's message is not written")

	// Once PublishAsyncComplete's channel closes, every future holds its
	// outcome, as with nats.go.
	select {
	case <-e.lj.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
		t.Fatal("PublishAsyncComplete")
	}
	var last *nats.PubAck
	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			assert.Equal(t, "ORDERS", ack.Stream)
			last = ack
		case err := <-f.Err():
			t.Fatalf("async publish failed: %v", err)
		default:
			t.Fatal("no outcome after PublishAsyncComplete")
		}
	}
	// Telemetry is recorded before the ack is handed over.
	spans := e.named("publish orders.async")
	require.Len(t, spans, n+1)
	for _, s := range spans {
		assertSpan(t, s, trace.SpanKindProducer, semconv.OpPublish, semconv.OpTypeSend)
		assertOK(t, s)
	}
	stored := e.storedHeader("ORDERS", last.Sequence)
	assert.Equal(t, "v", stored.Get("App"))
	assert.NotEmpty(t, stored.Get("traceparent"))
	rm := e.collect(t)
	assert.EqualValues(t, n+1, sumValue(rm, semconv.MetricSentMessages, destAttr("orders.async")))
	assert.EqualValues(t, n+1, histCount(rm, semconv.MetricOperationDuration, destAttr("orders.async")))

	assert.Zero(t, e.lj.PublishAsyncPending())
}

func TestLegacyPublishAsyncError(t *testing.T) {
	e := newLegacyEnv(t)
	f, err := e.lj.PublishAsync("nostream.async", []byte("payload"))
	require.NoError(t, err)
	select {
	case <-f.Ok():
		t.Fatal("ack without a stream")
	case err := <-f.Err():
		assert.ErrorIs(t, err, nats.ErrNoResponders, "legacy async: no responders")
	case <-time.After(10 * time.Second):
		t.Fatal("no error")
	}
	assertFailed(t, e.one("publish nostream.async"), "no_responders")
}

// An async publish whose connection closes before the ack ends its span
// (nats.go never resolves such a future) and its goroutine (goleak).
func TestLegacyPublishAsyncConnClosed(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("ORDERS", "orders.>")
	e.srv.Stop()
	require.Eventually(t, func() bool { return e.nc.Status() == nats.RECONNECTING }, 5*time.Second, 5*time.Millisecond)
	f, err := e.lj.PublishAsync("orders.lost", []byte("payload"))
	require.NoError(t, err, "buffered while reconnecting")
	e.nc.Close()

	s := e.waitNamed("publish orders.lost", 1)[0]
	assertFailed(t, s, "connection_closed")
	select {
	case <-f.Ok():
		t.Fatal("ack after close")
	case err := <-f.Err():
		t.Fatalf("nats.go resolves nothing on close, got %v", err)
	default:
	}
}

// A legacy push consumer: publish → process is one trace; the handler gets
// the process span through ContextFromMsg and Ack records a settle span
// under it.
func TestLegacyPushConsumerOneTrace(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("PUSH", "push.>")

	type seen struct {
		ctx context.Context
		err error
	}
	got := make(chan seen, 1)
	sub, err := e.lj2.Subscribe("push.>", func(m *nats.Msg) {
		ctx := ContextFromMsg(m)
		got <- seen{ctx: ctx, err: Ack(context.Background(), e.lj2, m)}
	}, nats.Durable("pd"), nats.ManualAck())
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()

	_, err = e.lj.Publish("push.1", []byte("x"))
	require.NoError(t, err)
	var s seen
	select {
	case s = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	require.NoError(t, s.err)

	prod := e.one("publish push.*")
	p := e.waitNamed("process PUSH", 1)[0]
	assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess,
		destAttr("PUSH"), semconv.NATSStreamKey.String("PUSH"), semconv.NATSConsumerKey.String("pd"),
		semconv.NATSDeliveryCountKey.Int64(1), semconv.NATSStreamSequenceKey.Int64(1))
	assertOK(t, p)
	assert.Equal(t, prod.SpanContext().TraceID(), p.SpanContext().TraceID(), "one trace")
	assert.Equal(t, prod.SpanContext().SpanID(), p.Parent().SpanID(), "child of the publish span")
	assert.True(t, hasLink(p, prod.SpanContext()), "and linked to it")
	assert.Equal(t, p.SpanContext(), trace.SpanContextFromContext(s.ctx), "ContextFromMsg is the process span's")
	assert.False(t, trace.SpanContextFromContext(ContextFromMsg(&nats.Msg{})).IsValid())

	ack := e.one("ack PUSH")
	assertSpan(t, ack, trace.SpanKindClient, semconv.OpAck, semconv.OpTypeSettle, semconv.NATSStreamKey.String("PUSH"))
	assert.Equal(t, p.SpanContext().SpanID(), ack.Parent().SpanID(), "settle under the process span")

	rm := e.collect(t)
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricProcessDuration, opAttr(semconv.OpProcess), destAttr("PUSH")))
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpProcess), destAttr("PUSH")))
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpAck), destAttr("PUSH")))
	// The consumer name is a span attribute only.
	pt := pointWith(t, e.histPoints(t, semconv.MetricProcessDuration), destAttr("PUSH"))
	_, hasName := pt.Attributes.Value(semconv.NATSConsumerKey)
	assert.False(t, hasName)
}

// QueueSubscribe records the queue as the consumer group; auto-ack runs
// after the handler (untraced).
func TestLegacyQueueSubscribe(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("Q", "q.>")
	got := make(chan struct{}, 1)
	sub, err := e.lj2.QueueSubscribe("q.*", "workers", func(m *nats.Msg) { got <- struct{}{} })
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	_, err = e.lj.Publish("q.a", []byte("x"))
	require.NoError(t, err)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	p := e.waitNamed("process Q", 1)[0]
	assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess,
		semconv.MessagingConsumerGroupNameKey.String("workers"))
	assert.Equal(t, e.one("publish q.a").SpanContext().SpanID(), p.Parent().SpanID())
	pointWith(t, e.histPoints(t, semconv.MetricProcessDuration), destAttr("Q"),
		semconv.MessagingConsumerGroupNameKey.String("workers"))
	assert.Empty(t, e.named("ack Q"), "nats.go's auto-ack is not traced")
}

// A legacy pull consumer: FetchJS is one receive span with a link per
// message; ProcessJS puts each message back into its producer's trace.
func TestLegacyPullConsumerOneTrace(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("PULL", "pull.>")
	sub, err := e.lj2.PullSubscribe("pull.>", "pd")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()

	const n = 3
	for i := range n {
		_, err := e.lj.Publish("pull."+string(rune('a'+i)), []byte("x"))
		require.NoError(t, err)
	}
	producers := e.named("publish pull.a")
	producers = append(producers, e.named("publish pull.b")...)
	producers = append(producers, e.named("publish pull.c")...)
	require.Len(t, producers, n)

	msgs, err := FetchJS(context.Background(), e.lj2, sub, 10, nats.MaxWait(2*time.Second))
	require.NoError(t, err)
	require.Len(t, msgs, n)
	r := e.one("receive PULL")
	assertSpan(t, r, trace.SpanKindClient, semconv.OpReceive, semconv.OpTypeReceive,
		destAttr("PULL"), semconv.NATSStreamKey.String("PULL"), semconv.MessagingConsumerGroupNameKey.String("pd"),
		semconv.MessagingBatchMessageCountKey.Int(n))
	assertOK(t, r)
	require.Len(t, r.Links(), n)
	for _, p := range producers {
		assert.True(t, hasLink(r, p.SpanContext()), "receive links to %s", p.SpanContext().SpanID())
	}

	for _, m := range msgs {
		err := ProcessJS(e.lj2, m, func(ctx context.Context, m *nats.Msg) error {
			assert.Equal(t, trace.SpanContextFromContext(ctx), trace.SpanContextFromContext(ContextFromMsg(m)))
			return Ack(ctx, e.lj2, m)
		})
		require.NoError(t, err)
	}
	procs := e.named("process PULL")
	require.Len(t, procs, n)
	acks := e.named("ack PULL")
	require.Len(t, acks, n)
	for i, p := range procs {
		assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess, destAttr("PULL"),
			semconv.MessagingConsumerGroupNameKey.String("pd"))
		prod := producers[i]
		assert.Equal(t, prod.SpanContext().TraceID(), p.SpanContext().TraceID(), "one trace")
		assert.Equal(t, prod.SpanContext().SpanID(), p.Parent().SpanID(), "child of the publish span")
		assert.True(t, hasLink(p, prod.SpanContext()))
		assert.Equal(t, p.SpanContext().SpanID(), acks[i].Parent().SpanID())
	}

	// An empty fetch is a receive of no message, not a failure; the error
	// comes back unchanged.
	none, err := FetchJS(context.Background(), e.lj2, sub, 5, nats.MaxWait(200*time.Millisecond))
	assert.ErrorIs(t, err, nats.ErrTimeout)
	assert.Empty(t, none)
	recv := e.named("receive PULL")
	require.Len(t, recv, 2, "the empty fetch is named after the stream seen before")
	assertOK(t, recv[1])

	rm := e.collect(t)
	assert.EqualValues(t, n, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpReceive), destAttr("PULL")))
	assert.EqualValues(t, 0, sumValue(rm, semconv.MetricConsumedMessages, opAttr(semconv.OpProcess), destAttr("PULL")),
		"ProcessJS does not count the message again")
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpReceive), destAttr("PULL")))
	assert.EqualValues(t, 0, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpReceive), errAttr("timeout")))
	assert.EqualValues(t, n, histCount(rm, semconv.MetricProcessDuration, destAttr("PULL")))
}

// Before a subscription has delivered anything its receive is named after
// the PullSubscribe subject; a batch renames its span after the stream.
// FetchJS also traces subscriptions the wrapper did not make.
func TestLegacyFetchLearnsTheStream(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("LEARN", "learn.>")

	sub, err := e.lj2.PullSubscribe("learn.*", "l1")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	_, err = FetchJS(context.Background(), e.lj2, sub, 1, nats.MaxWait(200*time.Millisecond))
	assert.ErrorIs(t, err, nats.ErrTimeout)
	s := e.one("receive learn.*")
	assertOK(t, s)

	// A subscription made with the raw context: "receive" until a message
	// reveals the stream, in the very batch that does.
	rawSub, err := e.rawL2.PullSubscribe("learn.*", "l2")
	require.NoError(t, err)
	defer func() { _ = rawSub.Unsubscribe() }()
	_, err = e.lj.Publish("learn.x", []byte("x"))
	require.NoError(t, err)
	msgs, err := FetchJS(context.Background(), e.lj2, rawSub, 1, nats.MaxWait(2*time.Second))
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	r := e.one("receive LEARN")
	assertSpan(t, r, trace.SpanKindClient, semconv.OpReceive, semconv.OpTypeReceive, destAttr("LEARN"),
		semconv.MessagingDestinationTemplateKey.String("LEARN"), semconv.NATSStreamKey.String("LEARN"))
	assert.EqualValues(t, 1, sumValue(e.collect(t), semconv.MetricConsumedMessages, opAttr(semconv.OpReceive), destAttr("LEARN")))

	// Not an instrumented context, or a nil subscription: nats.go's Fetch.
	_, err = FetchJS(context.Background(), e.rawL2, rawSub, 1, nats.MaxWait(100*time.Millisecond))
	assert.ErrorIs(t, err, nats.ErrTimeout)
	_, err = FetchJS(context.Background(), e.lj2, nil, 1)
	assert.ErrorIs(t, err, nats.ErrBadSubscription)
	assert.Len(t, e.named("receive LEARN"), 1)
	assert.Len(t, e.named("receive"), 0)
}

func TestLegacySettles(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("SET", "set.>")
	sub, err := e.lj2.PullSubscribe("set.>", "sd", nats.AckWait(30*time.Second))
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	for range 5 {
		_, err := e.lj.Publish("set.x", []byte("x"))
		require.NoError(t, err)
	}
	msgs, err := FetchJS(context.Background(), e.lj2, sub, 5, nats.MaxWait(2*time.Second))
	require.NoError(t, err)
	require.Len(t, msgs, 5)

	ctx, parent := e.tp.Tracer("test").Start(context.Background(), "handler")
	require.NoError(t, InProgress(ctx, e.lj2, msgs[0]))
	require.NoError(t, AckSync(ctx, e.lj2, msgs[0], nats.AckWait(2*time.Second)))
	require.NoError(t, Nak(ctx, e.lj2, msgs[1]))
	require.NoError(t, NakWithDelay(ctx, e.lj2, msgs[2], time.Minute))
	require.NoError(t, Term(ctx, e.lj2, msgs[3]))
	require.NoError(t, Ack(ctx, e.lj2, msgs[4]))
	// A second ack: nats.go's error, unchanged and recorded.
	err = Ack(ctx, e.lj2, msgs[4])
	assert.ErrorIs(t, err, nats.ErrMsgAlreadyAckd)
	parent.End()

	for _, tc := range []struct {
		name string
		n    int
	}{{"in_progress SET", 1}, {"ack SET", 3}, {"nak SET", 2}, {"term SET", 1}} {
		spans := e.named(tc.name)
		require.Len(t, spans, tc.n, tc.name)
		op, _, _ := strings.Cut(tc.name, " ")
		for _, s := range spans {
			assertSpan(t, s, trace.SpanKindClient, op, semconv.OpTypeSettle, semconv.NATSStreamKey.String("SET"),
				semconv.MessagingConsumerGroupNameKey.String("sd"), semconv.NATSConsumerKey.String("sd"))
			assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID(), tc.name)
		}
	}
	assertFailed(t, e.named("ack SET")[2], "msg_already_acked")

	// Not an instrumented context, or a message not bound to a
	// subscription: nats.go's own result.
	assert.ErrorIs(t, Ack(ctx, e.rawL2, msgs[4]), nats.ErrMsgAlreadyAckd)
	loose := &nats.Msg{Subject: "set.x"}
	assert.Equal(t, loose.Ack(), Ack(ctx, e.lj2, loose))
	assert.Equal(t, (*nats.Msg)(nil).Ack(), Ack(ctx, e.lj2, nil))
}

func TestLegacyManagement(t *testing.T) {
	e := newLegacyEnv(t)
	js := e.lj

	_, err := js.AddStream(&nats.StreamConfig{Name: "MGMT", Subjects: []string{"mgmt.>"}})
	require.NoError(t, err)
	_, err = js.UpdateStream(&nats.StreamConfig{Name: "MGMT", Subjects: []string{"mgmt.>"}, MaxMsgs: 10})
	require.NoError(t, err)
	_, err = js.StreamInfo("MGMT")
	require.NoError(t, err)
	name, err := js.StreamNameBySubject("mgmt.x")
	require.NoError(t, err)
	assert.Equal(t, "MGMT", name)
	for range 3 {
		_, err := js.Publish("mgmt.x", []byte("m"))
		require.NoError(t, err)
	}
	_, err = js.GetMsg("MGMT", 1)
	require.NoError(t, err)
	_, err = js.GetMsg("MGMT", 99)
	assert.ErrorIs(t, err, nats.ErrMsgNotFound)
	_, err = js.GetLastMsg("MGMT", "mgmt.x")
	require.NoError(t, err)
	require.NoError(t, js.DeleteMsg("MGMT", 1))
	require.NoError(t, js.SecureDeleteMsg("MGMT", 2))
	_, err = js.AddConsumer("MGMT", &nats.ConsumerConfig{Durable: "C1", AckPolicy: nats.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = js.UpdateConsumer("MGMT", &nats.ConsumerConfig{Durable: "C1", AckPolicy: nats.AckExplicitPolicy, Description: "d"})
	require.NoError(t, err)
	_, err = js.ConsumerInfo("MGMT", "C1")
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer("MGMT", "C1"))
	_, err = js.AccountInfo()
	require.NoError(t, err)
	require.NoError(t, js.PurgeStream("MGMT"))
	require.NoError(t, js.DeleteStream("MGMT"))
	_, err = js.StreamInfo("MGMT")
	assert.ErrorIs(t, err, nats.ErrStreamNotFound)

	for _, tc := range []struct {
		name   string
		n      int
		failed int
	}{
		{"js.stream.create MGMT", 1, 0}, {"js.stream.update MGMT", 1, 0},
		{"js.stream.info MGMT", 2, 1}, {"js.stream.name_by_subject", 1, 0},
		{"js.stream.get_msg MGMT", 2, 0}, // a missing message is an expected miss
		{"js.stream.get_last_msg MGMT", 1, 0}, {"js.stream.delete_msg MGMT", 1, 0},
		{"js.stream.secure_delete_msg MGMT", 1, 0},
		{"js.consumer.create MGMT", 1, 0}, {"js.consumer.update MGMT", 1, 0},
		{"js.consumer.info MGMT", 1, 0}, {"js.consumer.delete MGMT", 1, 0},
		{"js.account.info", 1, 0}, {"js.stream.purge MGMT", 1, 0}, {"js.stream.delete MGMT", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := e.named(tc.name)
			require.Len(t, spans, tc.n)
			op, stream, _ := strings.Cut(tc.name, " ")
			failed := 0
			for _, s := range spans {
				if stream != "" {
					assertSpan(t, s, trace.SpanKindClient, op, "", semconv.NATSStreamKey.String(stream))
				} else {
					assertSpan(t, s, trace.SpanKindClient, op, "")
				}
				assertNoAttr(t, s.Attributes(), semconv.MessagingDestinationNameKey)
				if attrs(s.Attributes())[semconv.ErrorTypeKey].AsString() != "" {
					failed++
				}
			}
			assert.Equal(t, tc.failed, failed)
			assert.EqualValues(t, tc.n, histCount(e.collect(t), semconv.MetricOperationDuration, opAttr(op)))
		})
	}
}

func TestLegacyKeyValue(t *testing.T) {
	e := newLegacyEnv(t)
	kv, err := e.lj.CreateKeyValue(&nats.KeyValueConfig{Bucket: "cfg", History: 5})
	require.NoError(t, err)
	_, wrapped := kv.(*legacyKV)
	require.True(t, wrapped)
	bound, err := e.lj.KeyValue("cfg")
	require.NoError(t, err)
	_, wrapped = bound.(*legacyKV)
	require.True(t, wrapped)
	_, err = e.lj.KeyValue("missing")
	assert.ErrorIs(t, err, nats.ErrBucketNotFound)

	const value = "value-Zq8wLm3xTk7pVr2N"
	rev, err := kv.Put("k1", []byte(value))
	require.NoError(t, err)
	_, err = kv.PutString("k2", value)
	require.NoError(t, err)
	_, err = kv.Get("k1")
	require.NoError(t, err)
	_, err = kv.GetRevision("k1", rev)
	require.NoError(t, err)
	_, err = kv.Get("nope")
	assert.ErrorIs(t, err, nats.ErrKeyNotFound)
	_, err = kv.Create("k3", []byte(value))
	require.NoError(t, err)
	_, err = kv.Update("k1", []byte(value), rev)
	require.NoError(t, err)
	_, err = kv.Update("k1", []byte(value), rev) // stale revision
	require.Error(t, err)
	require.NoError(t, kv.Delete("k2"))
	require.NoError(t, kv.Purge("k3"))
	require.NoError(t, kv.PurgeDeletes())
	_, err = kv.Keys()
	require.NoError(t, err)
	l, err := kv.ListKeys()
	require.NoError(t, err)
	for range l.Keys() {
	}
	_, err = kv.History("k1")
	require.NoError(t, err)
	_, err = kv.Status()
	require.NoError(t, err)
	assert.Equal(t, "cfg", kv.Bucket())
	require.NoError(t, e.lj.DeleteKeyValue("cfg"))

	for _, tc := range []struct {
		op     string
		n      int
		failed int
	}{
		{"kv.put", 2, 0}, {"kv.get", 3, 0}, {"kv.create", 1, 0}, {"kv.update", 2, 1},
		{"kv.delete", 1, 0}, {"kv.purge", 2, 0}, {"kv.keys", 2, 0}, {"kv.history", 1, 0}, {"kv.status", 1, 0},
	} {
		spans := e.named(tc.op + " cfg")
		require.Len(t, spans, tc.n, tc.op)
		failed := 0
		for _, s := range spans {
			assertSpan(t, s, trace.SpanKindClient, tc.op, "", semconv.NATSKVBucketKey.String("cfg"))
			assertNoAttr(t, s.Attributes(), semconv.NATSKVKeyKey)
			if s.Status().Description != "" {
				failed++
			}
		}
		assert.Equal(t, tc.failed, failed, tc.op)
	}
	e.one("js.key_value.create cfg")
	assert.Len(t, e.named("js.key_value.bind cfg"), 1)
	assertFailed(t, e.one("js.key_value.bind missing"), "bucket_not_found")
	e.one("js.key_value.delete cfg")
	rm := e.collect(t)
	assert.EqualValues(t, 3, histCount(rm, semconv.MetricOperationDuration, opAttr("kv.get"), semconv.NATSKVBucketKey.String("cfg")))
	assertNoSecrets(t, e.telemetry, value, "Zq8wLm3xTk7pVr2N")
}

func TestLegacyKeyValueKeysOptIn(t *testing.T) {
	e := newLegacyEnv(t, WithKVKeys(true))
	kv, err := e.lj.CreateKeyValue(&nats.KeyValueConfig{Bucket: "keys"})
	require.NoError(t, err)
	_, err = kv.Put("user.42", []byte("v"))
	require.NoError(t, err)
	assertAttrs(t, e.one("kv.put keys").Attributes(), semconv.NATSKVKeyKey.String("user.42"))
	pt := pointWith(t, e.histPoints(t, semconv.MetricOperationDuration), opAttr("kv.put"))
	_, has := pt.Attributes.Value(semconv.NATSKVKeyKey)
	assert.False(t, has, "keys never become metric labels")
}

func TestLegacyObjectStore(t *testing.T) {
	e := newLegacyEnv(t)
	obs, err := e.lj.CreateObjectStore(&nats.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	_, wrapped := obs.(*legacyObjectStore)
	assert.True(t, wrapped, "the store returned is wrapped")
	_, err = obs.PutString("a", "body")
	require.NoError(t, err)
	again, err := e.lj.ObjectStore("files")
	require.NoError(t, err)
	got, err := again.GetString("a")
	require.NoError(t, err)
	assert.Equal(t, "body", got)
	require.NoError(t, e.lj.DeleteObjectStore("files"))
	_, err = e.lj.ObjectStore("files")
	assert.ErrorIs(t, err, nats.ErrStreamNotFound)

	for _, name := range []string{"js.object_store.create files", "js.object_store.delete files"} {
		s := e.one(name)
		op, _, _ := strings.Cut(name, " ")
		assertSpan(t, s, trace.SpanKindClient, op, "")
		assertOK(t, s)
	}
	binds := e.named("js.object_store.bind files")
	require.Len(t, binds, 2)
	assertOK(t, binds[0])
	assertFailed(t, binds[1], "")
	for _, op := range []string{semconv.OpObjPut, semconv.OpObjGet} {
		s := e.one(op + " files")
		assertSpan(t, s, trace.SpanKindClient, op, "")
		assertOK(t, s)
	}
}

// Raw and instrumented legacy publishes on the same server return the same
// acks and the same errors.
func TestLegacyPublishDifferential(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("DIFF", "diff.>")
	e.legacyStream("OTHER", "other.>")

	type result struct {
		ack *nats.PubAck
		err error
	}
	for _, tc := range []struct {
		name string
		call func(js nats.JetStreamContext, i int) (*nats.PubAck, error)
	}{
		{"publish", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("diff.a", []byte("x"))
		}},
		{"publish_msg_with_header", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.PublishMsg(&nats.Msg{Subject: "diff.b", Data: []byte("x"), Header: nats.Header{"A": {"1"}}})
		}},
		{"publish_msg_with_options", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			m := &nats.Msg{Subject: "diff.b", Data: []byte("x")}
			ack, err := js.PublishMsg(m, nats.MsgId("opt-"+string(rune('0'+i))), nats.ExpectStream("DIFF"))
			if err == nil && (m.Header.Get(nats.MsgIdHdr) == "" || m.Header.Get("traceparent") != "") {
				return nil, errors.New("caller's header differs from raw nats.go's")
			}
			return ack, err
		}},
		{"msg_id_duplicate", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			id := "dup-" + string(rune('0'+i))
			if _, err := js.Publish("diff.c", []byte("x"), nats.MsgId(id)); err != nil {
				return nil, err
			}
			return js.PublishMsg(&nats.Msg{Subject: "diff.c", Data: []byte("x")}, nats.MsgId(id))
		}},
		{"expect_stream", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("diff.d", []byte("x"), nats.ExpectStream("DIFF"))
		}},
		{"no_stream_for_subject", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("nostream.x", []byte("x"))
		}},
		{"wrong_expected_stream", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("diff.e", []byte("x"), nats.ExpectStream("OTHER"))
		}},
		{"invalid_expected_stream_name", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("diff.f", []byte("x"), nats.ExpectStream("bad.name"))
		}},
		{"wrong_last_sequence", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("diff.g", []byte("x"), nats.ExpectLastSequence(999999))
		}},
		{"empty_subject", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			return js.Publish("", []byte("x"))
		}},
		{"context_and_timeout", func(js nats.JetStreamContext, i int) (*nats.PubAck, error) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return js.Publish("diff.h", []byte("x"), nats.Context(ctx), nats.AckWait(time.Second))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]result
			for i, js := range []nats.JetStreamContext{e.rawL, e.lj} {
				ack, err := tc.call(js, i)
				got[i] = result{ack, err}
			}
			raw, inst := got[0], got[1]
			if raw.err != nil {
				require.Error(t, inst.err)
				assert.Equal(t, raw.err.Error(), inst.err.Error())
				var rawAPI, instAPI *nats.APIError
				if errors.As(raw.err, &rawAPI) {
					require.True(t, errors.As(inst.err, &instAPI))
					assert.Equal(t, rawAPI.ErrorCode, instAPI.ErrorCode)
				}
				for _, sentinel := range []error{nats.ErrNoStreamResponse, nats.ErrNoResponders, nats.ErrBadSubject, nats.ErrContextAndTimeout} {
					assert.Equal(t, errors.Is(raw.err, sentinel), errors.Is(inst.err, sentinel), "errors.Is %v", sentinel)
				}
				assert.Nil(t, inst.ack)
				return
			}
			require.NoError(t, inst.err)
			assert.Equal(t, raw.ack.Stream, inst.ack.Stream)
			assert.Equal(t, raw.ack.Domain, inst.ack.Domain)
			assert.Equal(t, raw.ack.Duplicate, inst.ack.Duplicate)
			assert.Equal(t, raw.ack.Sequence+1, inst.ack.Sequence, "published right after the raw one")
		})
	}
	// Management errors too.
	_, rawErr := e.rawL.AddStream(&nats.StreamConfig{Name: "bad.name"})
	_, err := e.lj.AddStream(&nats.StreamConfig{Name: "bad.name"})
	assert.Equal(t, rawErr, err)
	_, rawErr = e.rawL.StreamInfo("")
	_, err = e.lj.StreamInfo("")
	assert.Equal(t, rawErr, err)
}

// Inside the handlers of the new-API consumer wrappers
// ContextFromJetStreamMsg returns the span the message belongs to.
func TestContextFromJetStreamMsg(t *testing.T) {
	e := newLegacyEnv(t)
	e.stream("NEW", "new.>")
	ctx := context.Background()
	_, err := e.js.Publish(ctx, "new.1", []byte("x"))
	require.NoError(t, err)
	cons, err := e.js2.CreateConsumer(ctx, "NEW", jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)

	got := make(chan context.Context, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		got <- ContextFromJetStreamMsg(m)
		_ = m.Ack()
	})
	require.NoError(t, err)
	var hctx context.Context
	select {
	case hctx = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	cc.Stop()
	p := e.waitNamed("process NEW", 1)[0]
	assert.Equal(t, p.SpanContext(), trace.SpanContextFromContext(hctx), "Consume: the process span")
	assert.Equal(t, e.one("publish new.*").SpanContext().TraceID(), trace.SpanContextFromContext(hctx).TraceID())

	// Another consumer: the stopped Consume may still hold a pull request.
	fcons, err := e.js2.CreateConsumer(ctx, "NEW", jetstream.ConsumerConfig{Durable: "f", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	b, err := fcons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var fctx context.Context
	for m := range b.Messages() {
		fctx = ContextFromJetStreamMsg(m)
		require.NoError(t, m.Ack())
	}
	r := e.waitNamed("receive NEW", 1)[0]
	assert.Equal(t, r.SpanContext(), trace.SpanContextFromContext(fctx), "Fetch: the receive span")

	// A message the wrapper did not hand out, or none.
	rawCons, err := e.raw2.CreateConsumer(ctx, "NEW", jetstream.ConsumerConfig{Durable: "r", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	m, err := rawCons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	assert.Equal(t, context.Background(), ContextFromJetStreamMsg(m))
	assert.Equal(t, context.Background(), ContextFromJetStreamMsg(nil))
}

// A filtered publish goes straight to nats.go; with noop providers the
// handler and fetch are nats.go's.
func TestLegacyFilterAndNoopProviders(t *testing.T) {
	e := newLegacyEnv(t, WithFilter(func(op, dest string) bool { return op != semconv.OpPublish && dest != "F" }))
	e.legacyStream("F", "f.>")
	msg := &nats.Msg{Subject: "f.1", Data: []byte("x")}
	ack, err := e.lj.PublishMsg(msg)
	require.NoError(t, err)
	assert.Empty(t, e.storedHeader("F", ack.Sequence).Get("traceparent"))
	got := make(chan struct{}, 1)
	sub, err := e.lj2.Subscribe("f.>", func(*nats.Msg) { got <- struct{}{} }, nats.DeliverAll())
	require.NoError(t, err)
	<-got
	require.NoError(t, sub.Unsubscribe())
	_, err = e.lj.StreamInfo("F")
	require.NoError(t, err)
	assert.Empty(t, e.spans(), "publish, process and js.stream.info F are all filtered")

	srv := runServer(t)
	nc := connect(t, srv)
	noop, err := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider())).JetStream()
	require.NoError(t, err)
	_, err = noop.AddStream(&nats.StreamConfig{Name: "N", Subjects: []string{"n.>"}})
	require.NoError(t, err)
	msg = &nats.Msg{Subject: "n.1", Data: []byte("x")}
	_, err = noop.PublishMsg(msg)
	require.NoError(t, err)
	assert.Nil(t, msg.Header)
	psub, err := noop.PullSubscribe("n.>", "n")
	require.NoError(t, err)
	msgs, err := FetchJS(context.Background(), noop, psub, 1, nats.MaxWait(5*time.Second))
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.NoError(t, Ack(context.Background(), noop, msgs[0]))
	_, tracked := noop.(*legacyJS).subs.Load(weak.Make(psub))
	assert.False(t, tracked, "nothing recorded, nothing remembered")
}

func TestLegacyNeverWrappedTwice(t *testing.T) {
	e := newLegacyEnv(t)
	e.legacyStream("W", "w.>")
	assert.Same(t, e.lj2, NewJetStreamContext(e.lj2))
	again := NewJetStreamContext(e.lj, e.o...)
	assert.Same(t, e.lj.(*legacyJS).JetStreamContext, again.(*legacyJS).JetStreamContext)
	assert.Same(t, e.nc, again.(*legacyJS).nc, "re-wrapping keeps the connection")
	_, err := again.Publish("w.1", []byte("x"))
	require.NoError(t, err)
	e.one("publish w.*") // one span, not two
	assert.Nil(t, NewJetStreamContext(nil))
}

// Legacy publishes, API calls and KeyValue calls are gated per destination
// through the Conn's gate; receives, settles and processing never are.
func TestLegacyGate(t *testing.T) {
	e := newLegacyEnv(t)
	g, shown := strictGate(t, e.telemetry)
	conn := NewConn(e.nc, e.opts(WithGate(g))...)
	js, err := conn.JetStream()
	require.NoError(t, err)
	e.legacyStream("G", "g.>")
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "gkv"})
	require.NoError(t, err)

	// A publish no stream captures trips "js.publish none.*" only.
	_, err = js.Publish("none.1", []byte("x"))
	require.ErrorIs(t, err, nats.ErrNoStreamResponse)
	assert.ErrorIs(t, <-shown, nats.ErrNoStreamResponse)
	_, err = js.Publish("none.1", []byte("x"))
	assert.ErrorIs(t, err, circuit.ErrOpen)
	f, err := js.PublishMsgAsync(&nats.Msg{Subject: "none.2", Data: []byte("x")})
	assert.Nil(t, f)
	assert.ErrorIs(t, err, circuit.ErrOpen)
	_, err = js.Publish("g.ok", []byte("x"))
	require.NoError(t, err, "another subject is not touched")

	// An async publish reports its outcome when the future resolves.
	f, err = js.PublishAsync("async.none", []byte("x"))
	require.NoError(t, err)
	select {
	case err := <-f.Err():
		assert.ErrorIs(t, err, nats.ErrNoResponders)
	case <-time.After(5 * time.Second):
		t.Fatal("no error")
	}
	assert.ErrorIs(t, <-shown, nats.ErrNoResponders)
	_, err = js.PublishAsync("async.none", []byte("x"))
	assert.ErrorIs(t, err, circuit.ErrOpen)

	// API calls: per stream.
	_, err = js.StreamInfo("MISSING")
	require.ErrorIs(t, err, nats.ErrStreamNotFound)
	assert.ErrorIs(t, <-shown, nats.ErrStreamNotFound)
	_, err = js.StreamInfo("MISSING")
	assert.ErrorIs(t, err, circuit.ErrOpen)
	_, err = js.StreamInfo("G")
	require.NoError(t, err)

	// KeyValue: a missing key is an expected miss, the breaker sees a success.
	_, err = kv.Put("k", []byte("v"))
	require.NoError(t, err)
	_, err = kv.Get("missing")
	require.ErrorIs(t, err, nats.ErrKeyNotFound)
	_, err = kv.Get("k")
	require.NoError(t, err)

	// Receives, processing and settles are never gated.
	sub, err := js.PullSubscribe("g.>", "gd")
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	msgs, err := FetchJS(context.Background(), js, sub, 1, nats.MaxWait(5*time.Second))
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.NoError(t, ProcessJS(js, msgs[0], func(ctx context.Context, m *nats.Msg) error { return Ack(ctx, js, m) }))
	assert.Empty(t, shown)
	var open []string
	for _, d := range g.State().Destinations {
		if d.State == circuit.StateOpen {
			open = append(open, d.Destination)
		}
	}
	assert.ElementsMatch(t, []string{"js.publish none.*", "js.publish async.none", "js MISSING"}, open)
	w := kv.(*legacyKV)
	for _, s := range []*opSpec{w.get, w.put, w.create, w.update, w.del, w.purge, w.keys, w.history, w.status} {
		assert.NotNil(t, s.guard, "%s is gated", s.name)
	}
}

// skipReasons returns the nats.propagation.skipped reasons on s.
func skipReasons(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, ev := range s.Events() {
		if ev.Name == semconv.EventPropagationSkipped {
			out = append(out, attrs(ev.Attributes)[semconv.NATSPropagationReasonKey].AsString())
		}
	}
	return out
}

// A message that fits max_payload only without the trace header, or a
// server without header support: the message goes out as raw nats.go sends
// it, with a nats.propagation.skipped event, whether the wrapper knows the
// connection (Conn.JetStream checks first) or not (NewJetStreamContext
// resends when nats.go refuses the traced copy).
func TestLegacyPublishSkipsTheTraceHeader(t *testing.T) {
	const maxPayload = 4096
	for _, tc := range []struct {
		name   string
		opt    natstest.Option
		reason string
		data   []byte
	}{
		{"max_payload", func(o *natsserver.Options) { o.MaxPayload = maxPayload }, semconv.PropagationMaxPayload, make([]byte, maxPayload)},
		{"headers_unsupported", func(o *natsserver.Options) { o.NoHeaderSupport = true }, semconv.PropagationHeadersUnsupported, []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			srv := natstest.RunServer(t, tc.opt)
			nc := connect(t, srv)
			raw, err := nc.JetStream()
			require.NoError(t, err)
			_, err = raw.AddStream(&nats.StreamConfig{Name: "BIG", Subjects: []string{"big.>"}})
			require.NoError(t, err)
			viaConn, err := NewConn(nc, tel.opts()...).JetStream()
			require.NoError(t, err)
			wrapped := NewJetStreamContext(raw, tel.opts()...)

			rawAck, rawErr := raw.Publish("big.raw", tc.data)
			require.NoError(t, rawErr)
			for _, js := range []nats.JetStreamContext{viaConn, wrapped} {
				for _, publish := range []func() (*nats.PubAck, error){
					func() (*nats.PubAck, error) { return js.Publish("big.1", tc.data) },
					func() (*nats.PubAck, error) { return js.PublishMsg(&nats.Msg{Subject: "big.1", Data: tc.data}) },
					func() (*nats.PubAck, error) {
						f, err := js.PublishAsync("big.1", tc.data)
						if err != nil {
							return nil, err
						}
						select {
						case ack := <-f.Ok():
							return ack, nil
						case err := <-f.Err():
							return nil, err
						case <-time.After(5 * time.Second):
							return nil, errors.New("no ack")
						}
					},
				} {
					ack, err := publish()
					require.NoError(t, err)
					assert.Equal(t, rawAck.Stream, ack.Stream)
					m, err := raw.GetMsg("BIG", ack.Sequence)
					require.NoError(t, err)
					assert.Empty(t, m.Header.Get("traceparent"), "sent as raw nats.go sends it")
				}
			}
			if tc.reason == semconv.PropagationMaxPayload {
				// The option's header fits raw, the trace header on top
				// does not: nats.go refuses the copy, the caller's message
				// is sent, and gets the option's header as raw.
				opt := nats.Header{nats.ExpectedStreamHdr: {"BIG"}}
				data := make([]byte, maxPayload-headerSize(opt))
				rawMsg := &nats.Msg{Subject: "big.raw", Data: data}
				_, err := raw.PublishMsg(rawMsg, nats.ExpectStream("BIG"))
				require.NoError(t, err)
				for _, js := range []nats.JetStreamContext{viaConn, wrapped} {
					msg := &nats.Msg{Subject: "big.1", Data: data}
					ack, err := js.PublishMsg(msg, nats.ExpectStream("BIG"))
					require.NoError(t, err)
					assert.Equal(t, rawMsg.Header, msg.Header)
					m, err := raw.GetMsg("BIG", ack.Sequence)
					require.NoError(t, err)
					assert.Empty(t, m.Header.Get("traceparent"))
				}
			}
			spans := tel.spans()
			if tc.reason == semconv.PropagationMaxPayload {
				require.Len(t, spans, 8)
			} else {
				require.Len(t, spans, 6)
			}
			for _, s := range spans {
				assertOK(t, s)
				assert.Equal(t, []string{tc.reason}, skipReasons(s), s.Name())
			}
		})
	}
}
