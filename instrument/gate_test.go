package instrument

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
)

// strictGate is a real circuit.Gate whose destination breakers count every
// error they are shown as a failure, open on the first one and stay open for
// an hour. shown receives each of those errors: the pipeline reports nil for
// successes and expected misses, which a breaker never classifies.
func strictGate(t *testing.T, tel *telemetry, opts ...circuit.GateOption) (*circuit.Gate, <-chan error) {
	t.Helper()
	shown := make(chan error, 100)
	g, err := circuit.NewGate("test", append([]circuit.GateOption{
		circuit.WithMeterProvider(tel.mp),
		circuit.WithDestinationOptions(
			circuit.WithClassifier(func(err error) bool { shown <- err; return true }),
			circuit.WithConsecutiveFailures(1),
			circuit.WithOpenTimeout(time.Hour), circuit.WithOpenBackoff(1, time.Hour)),
	}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	return g, shown
}

// One destination's breaker never touches another: a tripped "request
// nobody" rejects only requests to nobody.
func TestGateDestinationsAreIndependent(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	g, shown := strictGate(t, tel)
	c := NewConn(connect(t, srv), tel.opts(WithGate(g))...)
	_, err := c.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	require.NoError(t, err)
	require.NoError(t, c.Flush())

	_, err = c.Request("nobody", nil, waitFor)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	assert.ErrorIs(t, <-shown, nats.ErrNoResponders, "the destination's breaker sees the failure")

	_, err = c.Request("nobody", nil, waitFor)
	require.ErrorIs(t, err, circuit.ErrOpen)
	var oe *circuit.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "request nobody", oe.Destination)
	assert.Equal(t, circuit.StateOpen, oe.State)
	assert.Zero(t, oe.Down)

	for range 20 {
		m, err := c.Request("svc", nil, waitFor)
		require.NoError(t, err, "another destination is not touched")
		assert.Equal(t, "pong", string(m.Data))
	}
	require.NoError(t, c.Publish("nobody", []byte("x")), "core publishes are never gated")

	st := g.State()
	assert.Equal(t, circuit.StateClosed, st.Connection)
	assert.Equal(t, []circuit.DestinationState{{Destination: "request nobody", State: circuit.StateOpen}}, st.Destinations)

	// The breaker sees the operation's span: the call that tripped it
	// carries the state-change event, the rejected one the rejection event.
	var events [][]string
	for _, s := range tel.spans() {
		if s.Name() != "request nobody" {
			continue
		}
		var names []string
		for _, e := range s.Events() {
			names = append(names, e.Name)
		}
		events = append(events, names)
	}
	assert.Equal(t, [][]string{{semconv.EventCircuitStateChange}, {semconv.EventCircuitRejected}}, events)
	pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration),
		destAttr("nobody"), errAttr(semconv.ErrorTypeCircuitOpen))
	pointWith(t, tel.sumPoints(t, semconv.MetricCircuitRejected),
		semconv.NATSCircuitNameKey.String("test"), semconv.NATSCircuitDestinationKey.String("request nobody"))
}

// Every request form is gated by the same destination breaker; publishes
// and reads of a sync subscription never are.
func TestGateRequestForms(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	g, shown := strictGate(t, tel)
	c := NewConn(connect(t, srv), tel.opts(WithGate(g))...)
	_, err := c.Request("r", nil, waitFor)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	<-shown

	ctx := context.Background()
	calls := map[string]func() (*nats.Msg, error){
		"Request":               func() (*nats.Msg, error) { return c.Request("r", nil, time.Second) },
		"RequestMsg":            func() (*nats.Msg, error) { return c.RequestMsg(&nats.Msg{Subject: "r"}, time.Second) },
		"RequestWithContext":    func() (*nats.Msg, error) { return c.RequestWithContext(ctx, "r", nil) },
		"RequestMsgWithContext": func() (*nats.Msg, error) { return c.RequestMsgWithContext(ctx, &nats.Msg{Subject: "r"}) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			m, err := call()
			assert.Nil(t, m)
			var oe *circuit.OpenError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, "request r", oe.Destination)
		})
	}
	sub := receiver(t, srv, "r")
	assert.NoError(t, c.PublishMsg(&nats.Msg{Subject: "r"}), "publishes are not gated")
	assert.NoError(t, c.PublishRequest("r", "reply.to", nil))
	_, err = sub.NextMsg(waitFor)
	assert.NoError(t, err)

	// Reading what a sync subscription already holds is never gated.
	ssub, err := c.SubscribeSync("held")
	require.NoError(t, err)
	require.NoError(t, c.Conn().Publish("held", nil))
	_, err = c.NextMsg(ssub, waitFor)
	assert.NoError(t, err)
	assert.Empty(t, shown, "rejected calls report no outcome")
}

// The connection-health layer: while the connection is down past the
// grace, calls that wait for an answer fail fast; publishes keep nats.go's
// buffering; on reconnect calls pass at once; a closed connection returns
// nats.go's own error.
func TestGateConnectionHealth(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	g, err := circuit.NewGate("health", circuit.WithMeterProvider(tel.mp), circuit.WithGrace(20*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	reconnected := make(chan struct{}, 1)
	nc := connect(t, srv, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	g.Watch(nc)
	c := NewConn(nc, tel.opts(WithGate(g))...)
	js := NewJetStream(mustJS(t, nc), tel.opts(WithGate(g))...)
	_, err = c.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond(nil) })
	require.NoError(t, err)
	require.NoError(t, c.Flush())

	srv.Stop()
	require.Eventually(t, func() bool { return g.State().Connection == circuit.StateOpen }, 5*time.Second, 5*time.Millisecond)
	start := time.Now()
	_, err = c.Request("svc", nil, 5*time.Second)
	var oe *circuit.OpenError
	require.ErrorAs(t, err, &oe)
	assert.Less(t, time.Since(start), time.Second, "fails fast, not after the request's timeout")
	assert.Positive(t, oe.Down)
	assert.Equal(t, "request svc", oe.Destination)
	assert.Contains(t, err.Error(), "disconnected")
	_, err = js.Publish(context.Background(), "orders.1", nil)
	assert.ErrorIs(t, err, circuit.ErrOpen)
	assert.NoError(t, c.Publish("svc", nil), "core publishes are buffered by nats.go, as raw")

	srv.Restart()
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect")
	}
	assert.Equal(t, circuit.StateClosed, g.State().Connection)
	_, err = c.Request("svc", nil, 5*time.Second)
	assert.NoError(t, err, "calls pass at once after the reconnect")

	nc.Close()
	_, err = c.Request("svc", nil, time.Second)
	assert.ErrorIs(t, err, nats.ErrConnectionClosed, "a closed connection gets nats.go's own error")
	assert.NotErrorIs(t, err, circuit.ErrOpen)

	rm := tel.collect(t)
	conn := semconv.NATSCircuitDestinationKey.String(semconv.CircuitConnection)
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricCircuitTransition, conn,
		semconv.NATSCircuitFromKey.String("closed"), semconv.NATSCircuitToKey.String("open")))
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricCircuitTransition, conn,
		semconv.NATSCircuitFromKey.String("open"), semconv.NATSCircuitToKey.String("closed")))
	assert.EqualValues(t, 2, sumValue(rm, semconv.MetricCircuitRejected, conn))
}

func mustJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// JetStream publishes, API calls and KeyValue calls are gated per
// destination; receives, settles and processing never are.
func TestJetStreamGate(t *testing.T) {
	e := newJSEnv(t)
	g, shown := strictGate(t, e.telemetry)
	js := NewJetStream(e.raw, e.opts(WithGate(g))...)
	e.stream("G", "g.>")
	ctx := context.Background()
	cons, err := js.CreateOrUpdateConsumer(ctx, "G", jetstream.ConsumerConfig{Durable: "gc"})
	require.NoError(t, err)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "gkv"})
	require.NoError(t, err)

	// A publish no stream captures trips "js.publish none.*" (the subject's
	// template) only.
	_, err = js.Publish(ctx, "none.1", []byte("x"))
	require.ErrorIs(t, err, jetstream.ErrNoStreamResponse)
	assert.ErrorIs(t, <-shown, jetstream.ErrNoStreamResponse)
	_, err = js.Publish(ctx, "none.1", []byte("x"))
	assert.ErrorIs(t, err, circuit.ErrOpen)
	f, err := js.PublishAsync("none.1", []byte("x"))
	assert.Nil(t, f)
	assert.ErrorIs(t, err, circuit.ErrOpen)
	_, err = js.Publish(ctx, "g.ok", []byte("x"))
	require.NoError(t, err, "another subject is not touched")
	_, err = js.Stream(ctx, "G")
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)

	// A missing key is an expected miss: the breaker sees a success.
	_, err = kv.Get(ctx, "missing")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound)
	_, err = kv.Get(ctx, "k")
	require.NoError(t, err)

	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err, "receives are not gated")
	m := <-b.Messages()
	require.NotNil(t, m)
	assert.NoError(t, m.Ack(), "settles are not gated")
	for range b.Messages() {
	}
	assert.Empty(t, shown)
	assert.Equal(t, []circuit.DestinationState{{Destination: "js.publish none.*", State: circuit.StateOpen}}, g.State().Destinations)
	assert.EqualValues(t, 2, histCount(e.collect(t), semconv.MetricOperationDuration, errAttr(semconv.ErrorTypeCircuitOpen)))
}

// The pipeline asks the gate only for specs naming a gate family; process
// specs are never gated; a rejected call is not made and a mistaken end
// after a rejection records nothing.
func TestPipelineGating(t *testing.T) {
	tel := newTelemetry(t)
	g, shown := strictGate(t, tel)
	p := newPipeline(nil, tel.opts(WithGate(g)))
	send := p.spec(specConfig{Op: semconv.OpRequest, OpType: semconv.OpTypeSend, Dest: "d", Gate: gateRequest})
	require.NotNil(t, send.guard)
	errBoom := errors.New("boom")
	assert.Same(t, errBoom, run(context.Background(), p, send, func(context.Context) error { return errBoom }))
	assert.Same(t, errBoom, <-shown)

	called := false
	err := run(context.Background(), p, send, func(context.Context) error { called = true; return nil })
	assert.ErrorIs(t, err, circuit.ErrOpen)
	assert.False(t, called, "a rejected call is not made")
	var c call
	_, err = p.begin(context.Background(), send, &c)
	require.Error(t, err)
	c.end(nil) // records nothing more
	assert.Len(t, tel.spans(), 3)

	proc := p.spec(specConfig{Op: semconv.OpProcess, OpType: semconv.OpTypeProcess, Kind: trace.SpanKindConsumer, Dest: "d", Gate: gateRequest})
	assert.Nil(t, proc.guard, "process specs are never gated")
	ungated := p.spec(specConfig{Op: "x", Dest: "d"})
	assert.Nil(t, ungated.guard)
	assert.NoError(t, run(context.Background(), p, ungated, func(context.Context) error { return nil }))

	filtered := newPipeline(nil, tel.opts(WithGate(g), WithFilter(func(string, string) bool { return false })))
	assert.Nil(t, filtered.spec(specConfig{Op: "y", Dest: "other", Gate: gateKV}).guard, "a filtered spec makes no breaker")
}

// An expected miss reaches the gate as a success; a timeout as a failure.
func TestGateSeesExpectedMissAsSuccess(t *testing.T) {
	tel := newTelemetry(t)
	g, shown := strictGate(t, tel)
	p := newPipeline(nil, tel.opts(WithGate(g)))
	s := p.spec(specConfig{Op: semconv.OpKVGet, Dest: "b", Gate: gateKV})
	_ = run(context.Background(), p, s, func(context.Context) error { return jetstream.ErrKeyNotFound })
	assert.Empty(t, shown)
	assert.Empty(t, g.State().Destinations)
	_ = run(context.Background(), p, s, func(context.Context) error { return nats.ErrTimeout })
	assert.ErrorIs(t, <-shown, nats.ErrTimeout)
}
