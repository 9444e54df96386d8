package instrument

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/semconv"
)

// publishN publishes n messages on the producer side (instrumented) and
// returns the producer spans, in order.
func (e *jsEnv) publishN(subject string, n int) []sdktrace.ReadOnlySpan {
	e.t.Helper()
	ctx := context.Background()
	before := len(e.named("publish " + subject))
	for i := 0; i < n; i++ {
		_, err := e.js.Publish(ctx, subject, []byte(fmt.Sprintf("body-%d", i)))
		require.NoError(e.t, err)
	}
	spans := e.named("publish " + subject)
	require.Len(e.t, spans, before+n)
	return spans[before:]
}

// consumer creates a durable explicit-ack pull consumer on the consumer side
// (instrumented js2).
func (e *jsEnv) consumer(stream, name string, cfg ...jetstream.ConsumerConfig) jetstream.Consumer {
	e.t.Helper()
	c := jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy}
	if len(cfg) > 0 {
		c = cfg[0]
	}
	cons, err := e.js2.CreateOrUpdateConsumer(context.Background(), stream, c)
	require.NoError(e.t, err)
	return cons
}

func linkedTo(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	for _, l := range s.Links() {
		if l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID() {
			return true
		}
	}
	return false
}

// Published on one connection, consumed via Consume on another: one trace,
// the process span a child of the producer span and linked to it.
func TestConsumeOneTrace(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	prod := e.publishN("ev.created", 3)
	cons := e.consumer("EV", "worker")

	var handled atomic.Int32
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		// The handler runs inside the process span: settle spans are its
		// children. assert, not require: this is nats.go's goroutine.
		assert.NoError(t, m.Ack())
		if handled.Add(1) == 3 {
			close(done)
		}
	})
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("messages not consumed")
	}
	cc.Stop()
	<-cc.Closed()

	procs := e.waitNamed("process EV", 3)
	require.Len(t, procs, 3)
	for i, p := range procs {
		assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess, destAttr("EV"))
		ps := prod[i].SpanContext()
		assert.Equal(t, ps.TraceID(), p.Parent().TraceID(), "one trace")
		assert.Equal(t, ps.SpanID(), p.Parent().SpanID(), "process span is the producer span's child")
		assert.True(t, linkedTo(p, ps), "process span links to the producer span")
		assert.EqualValues(t, 1, attrs(p.Attributes())[semconv.NATSDeliveryCountKey].AsInt64())
	}
	acks := e.waitNamed("ack EV", 3)
	for _, a := range acks {
		assertSpan(t, a, trace.SpanKindClient, semconv.OpAck, semconv.OpTypeSettle, destAttr("EV"))
		var parent sdktrace.ReadOnlySpan
		for _, p := range procs {
			if p.SpanContext().SpanID() == a.Parent().SpanID() {
				parent = p
			}
		}
		assert.NotNil(t, parent, "ack span is a child of a process span")
	}
	rm := e.collect(t)
	assert.EqualValues(t, 3, histCount(rm, semconv.MetricProcessDuration, opAttr(semconv.OpProcess), destAttr("EV")))
	assert.EqualValues(t, 3, sumValue(rm, semconv.MetricConsumedMessages, destAttr("EV")))
	assert.EqualValues(t, 3, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpAck), destAttr("EV")))
}

// Fetch yields one receive span with a link per message.
func TestFetchOneSpanWithLinks(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	prod := e.publishN("ev.created", 4)
	cons := e.consumer("EV", "batch")

	batch, err := cons.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range batch.Messages() {
		n++
		require.NoError(t, m.Ack())
	}
	require.NoError(t, batch.Error())
	assert.Equal(t, 4, n)

	r := e.one("receive EV")
	assertSpan(t, r, trace.SpanKindClient, semconv.OpReceive, semconv.OpTypeReceive,
		destAttr("EV"), semconv.MessagingBatchMessageCountKey.Int(4))
	assertOK(t, r)
	require.Len(t, r.Links(), 4)
	for _, p := range prod {
		assert.True(t, linkedTo(r, p.SpanContext()), "receive span links to producer %s", p.SpanContext().SpanID())
	}
	// Not a child of any producer: a batch has many parents.
	assert.False(t, r.Parent().IsValid())
	for _, a := range e.waitNamed("ack EV", 4) {
		assert.Equal(t, r.SpanContext().SpanID(), a.Parent().SpanID(), "ack is a child of the receive span")
	}
	rm := e.collect(t)
	assert.EqualValues(t, 4, sumValue(rm, semconv.MetricConsumedMessages, destAttr("EV")))
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpReceive), destAttr("EV")))
}

func TestFetchVariants(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	e.publishN("ev.x", 3)
	cons := e.consumer("EV", "v")

	drain := func(b jetstream.MessageBatch) int {
		n := 0
		for m := range b.Messages() {
			n++
			require.NoError(t, m.Ack())
		}
		return n
	}
	b, err := cons.FetchBytes(1<<20, jetstream.FetchMaxWait(300*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, 3, drain(b))
	b, err = cons.FetchNoWait(10)
	require.NoError(t, err)
	assert.Equal(t, 0, drain(b))

	spans := e.named("receive EV")
	require.Len(t, spans, 2)
	assert.EqualValues(t, 3, attrs(spans[0].Attributes())[semconv.MessagingBatchMessageCountKey].AsInt64())
	assert.Len(t, spans[0].Links(), 3)
	assert.EqualValues(t, 0, attrs(spans[1].Attributes())[semconv.MessagingBatchMessageCountKey].AsInt64())

	// An invalid fetch fails before any request; the error passes through.
	_, err = cons.Fetch(1, jetstream.FetchMaxWait(-1))
	require.Error(t, err)
	assert.ErrorIs(t, err, jetstream.ErrInvalidOption)
}

// A batch that is abandoned half-read does not leak the forwarding goroutine
// (goleak in TestMain checks it).
func TestFetchAbandoned(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	e.publishN("ev.x", 5)
	cons := e.consumer("EV", "ab")
	b, err := cons.Fetch(5, jetstream.FetchMaxWait(time.Second))
	require.NoError(t, err)
	<-b.Messages()
	e.waitNamed("receive EV", 1)
}

func TestNext(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	prod := e.publishN("ev.one", 1)
	cons := e.consumer("EV", "n")

	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	assert.Equal(t, "body-0", string(m.Data()))
	require.NoError(t, m.Ack())
	r := e.one("receive EV")
	assertSpan(t, r, trace.SpanKindClient, semconv.OpReceive, semconv.OpTypeReceive, destAttr("EV"))
	assert.True(t, linkedTo(r, prod[0].SpanContext()))

	// Nothing left: nats.go's timeout error passes through.
	_, err = cons.Next(jetstream.FetchMaxWait(100 * time.Millisecond))
	require.Error(t, err)
	assert.ErrorIs(t, err, nats.ErrTimeout)
}

func TestMessages(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	prod := e.publishN("ev.it", 3)
	cons := e.consumer("EV", "it")

	it, err := cons.Messages()
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		m, err := it.Next()
		require.NoError(t, err)
		if i < 2 {
			require.NoError(t, m.Ack()) // the third is left unsettled: Stop ends its span
		}
	}
	it.Stop()

	procs := e.waitNamed("process EV", 3)
	for i, p := range procs {
		assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess, destAttr("EV"))
		assert.Equal(t, prod[i].SpanContext().SpanID(), p.Parent().SpanID())
		assert.True(t, linkedTo(p, prod[i].SpanContext()))
	}
	assert.EqualValues(t, 3, sumValue(e.collect(t), semconv.MetricConsumedMessages, destAttr("EV")))
}

func TestSettle(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	e.publishN("ev.s", 7)
	cons := e.consumer("EV", "s", jetstream.ConsumerConfig{Durable: "s", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5})
	ctx := context.Background()

	b, err := cons.Fetch(7, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	var msgs []jetstream.Msg
	for m := range b.Messages() {
		msgs = append(msgs, m)
	}
	require.Len(t, msgs, 7)
	require.NoError(t, msgs[0].Ack())
	require.NoError(t, msgs[1].DoubleAck(ctx))
	require.NoError(t, msgs[2].Nak())
	require.NoError(t, msgs[3].NakWithDelay(time.Hour))
	require.NoError(t, msgs[4].InProgress())
	require.NoError(t, msgs[4].Term())
	require.NoError(t, msgs[5].TermWithReason("bad input"))
	// Settling twice fails in nats.go; the error passes through and is recorded.
	err = msgs[0].Ack()
	assert.ErrorIs(t, err, jetstream.ErrMsgAlreadyAckd)

	for _, tc := range []struct {
		op   string
		n    int
		fail int
	}{
		{semconv.OpAck, 3, 1}, {semconv.OpNak, 2, 0}, {semconv.OpTerm, 2, 0}, {semconv.OpInProgress, 1, 0},
	} {
		t.Run(tc.op, func(t *testing.T) {
			spans := e.named(tc.op + " EV")
			require.Len(t, spans, tc.n)
			failed := 0
			for _, s := range spans {
				assertSpan(t, s, trace.SpanKindClient, tc.op, semconv.OpTypeSettle, destAttr("EV"))
				assert.EqualValues(t, 1, attrs(s.Attributes())[semconv.NATSDeliveryCountKey].AsInt64())
				if s.Status().Code == codes.Error {
					failed++
				}
			}
			assert.Equal(t, tc.fail, failed)
			assert.EqualValues(t, tc.n, histCount(e.collect(t), semconv.MetricOperationDuration, opAttr(tc.op), destAttr("EV")))
		})
	}
	// Redelivery after a nak raises the delivery count.
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.NoError(t, m.Ack())
	acks := e.named("ack EV")
	assert.EqualValues(t, 2, attrs(acks[len(acks)-1].Attributes())[semconv.NATSDeliveryCountKey].AsInt64())

	// No ack subject ever becomes a destination or a span name.
	for _, s := range e.spans() {
		assert.NotContains(t, s.Name(), "$JS.ACK")
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), "$JS.ACK", "attribute %s of %q", kv.Key, s.Name())
		}
	}
}

// The Msg wrapper still satisfies jetstream.Msg and returns the raw data.
func TestMsgWrapperPassThrough(t *testing.T) {
	e := newJSEnv(t)
	e.stream("EV", "ev.>")
	e.publishN("ev.p", 1)
	cons := e.consumer("EV", "p")
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	md, err := m.Metadata()
	require.NoError(t, err)
	assert.Equal(t, "EV", md.Stream)
	assert.Equal(t, "ev.p", m.Subject())
	assert.Equal(t, "body-0", string(m.Data()))
	assert.NotEmpty(t, m.Reply())
	assert.NotEmpty(t, m.Headers().Get("traceparent"))
	require.NoError(t, m.Ack())
}
