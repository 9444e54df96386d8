package instrument

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

const waitFor = 5 * time.Second

// receiver subscribes synchronously on a separate raw connection.
func receiver(t *testing.T, s *natstest.Server, subj string) *nats.Subscription {
	t.Helper()
	nc := connect(t, s)
	sub, err := nc.SubscribeSync(subj)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return sub
}

func spanDuration(s sdktrace.ReadOnlySpan) float64 { return s.EndTime().Sub(s.StartTime()).Seconds() }

func TestConnPublish(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	sub := receiver(t, srv, "orders.>")
	c := NewConn(connect(t, srv), tel.opts(WithConnectionName("orders-svc"))...)

	tests := []struct {
		name    string
		publish func() error
	}{
		{"Publish", func() error { return c.Publish("orders.1001", []byte("a")) }},
		{"PublishMsg", func() error {
			return c.PublishMsg(&nats.Msg{Subject: "orders.1002", Data: []byte("b"), Header: nats.Header{"Keep": {"me"}}})
		}},
		{"PublishContext", func() error { return c.PublishContext(context.Background(), "orders.1003", []byte("c")) }},
		{"PublishMsgContext", func() error {
			return c.PublishMsgContext(context.Background(), &nats.Msg{Subject: "orders.1004", Data: []byte("d")})
		}},
		{"PublishRequest", func() error { return c.PublishRequest("orders.1005", "reply.Wz5kQm8xTv3nLp7R", []byte("e")) }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.publish())
			m, err := sub.NextMsg(waitFor)
			require.NoError(t, err)

			spans := tel.spans()
			require.Len(t, spans, i+1)
			s := spans[i]
			assert.Equal(t, "publish orders.*", s.Name())
			assert.Equal(t, trace.SpanKindProducer, s.SpanKind())
			assert.Equal(t, codes.Unset, s.Status().Code)
			assertAttrs(t, s.Attributes(),
				semconv.System,
				semconv.MessagingOperationNameKey.String("publish"),
				semconv.MessagingOperationTypeKey.String("send"),
				semconv.MessagingDestinationNameKey.String("orders.*"),
				semconv.MessagingDestinationTemplateKey.String("orders.*"),
				semconv.ServerAddressKey.String("127.0.0.1"),
				semconv.ServerPortKey.Int(srv.Port()),
				semconv.NATSConnectionKey.String("orders-svc"),
			)
			assertNoAttr(t, s.Attributes(), semconv.ErrorTypeKey)

			// The delivered message carries this span's context in lower case.
			require.NotNil(t, m.Header)
			assert.Len(t, m.Header["traceparent"], 1)
			got := w3c.Extract(context.Background(), tracing.HeaderCarrier(m.Header))
			assert.Equal(t, s.SpanContext().SpanID(), trace.SpanContextFromContext(got).SpanID())
			if tc.name == "PublishMsg" {
				assert.Equal(t, "me", m.Header.Get("Keep"), "existing headers are kept")
			}
		})
	}

	want := []attribute.KeyValue{
		semconv.System,
		semconv.MessagingOperationNameKey.String("publish"),
		semconv.MessagingOperationTypeKey.String("send"),
		semconv.MessagingDestinationNameKey.String("orders.*"),
		semconv.NATSConnectionKey.String("orders-svc"),
	}
	hp := pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration), want...)
	assert.Equal(t, uint64(len(tests)), hp.Count)
	var sum float64
	for _, s := range tel.spans() {
		sum += spanDuration(s)
	}
	assert.InDelta(t, sum, hp.Sum, 1e-9, "metric durations equal span durations")
	_, hasErr := hp.Attributes.Value(semconv.ErrorTypeKey)
	assert.False(t, hasErr)
	_, hasAddr := hp.Attributes.Value(semconv.ServerAddressKey)
	assert.False(t, hasAddr, "server.address is a span attribute only")
	sp := pointWith(t, tel.sumPoints(t, semconv.MetricSentMessages), want...)
	assert.Equal(t, int64(len(tests)), sp.Value)
	assertNoSecrets(t, tel, "reply.Wz5kQm8xTv3nLp7R", "_INBOX")
}

func TestConnPublishContextIsChildOfCallerSpan(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts()...)
	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "parent")
	require.NoError(t, c.PublishContext(ctx, "a.b", nil))
	parent.End()
	s := spanNamed(t, tel.spans(), "publish a.b")
	assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
	assert.Equal(t, parent.SpanContext().TraceID(), s.SpanContext().TraceID())
}

func TestConnPublishOnClosedConnection(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	nc := connect(t, srv)
	c := NewConn(nc, tel.opts()...)
	nc.Close()
	err := c.Publish("a.b", []byte("x"))
	require.ErrorIs(t, err, nats.ErrConnectionClosed)
	s := spanNamed(t, tel.spans(), "publish a.b")
	assert.Equal(t, codes.Error, s.Status().Code)
	assertAttrs(t, s.Attributes(), semconv.ErrorTypeKey.String("connection_closed"))
	pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration), semconv.ErrorTypeKey.String("connection_closed"))
	pointWith(t, tel.sumPoints(t, semconv.MetricSentMessages), semconv.ErrorTypeKey.String("connection_closed"))
}

func TestConnRequest(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	// A raw responder on its own connection echoes the traceparent it saw.
	resp := connect(t, srv)
	_, err := resp.Subscribe("svc.echo", func(m *nats.Msg) {
		_ = m.Respond([]byte(tracing.HeaderCarrier(m.Header).Get("traceparent")))
	})
	require.NoError(t, err)
	require.NoError(t, resp.Flush())
	c := NewConn(connect(t, srv), tel.opts()...)

	tests := []struct {
		name string
		req  func() (*nats.Msg, error)
	}{
		{"Request", func() (*nats.Msg, error) { return c.Request("svc.echo", []byte("q"), waitFor) }},
		{"RequestMsg", func() (*nats.Msg, error) {
			return c.RequestMsg(&nats.Msg{Subject: "svc.echo", Data: []byte("q")}, waitFor)
		}},
		{"RequestWithContext", func() (*nats.Msg, error) {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			return c.RequestWithContext(ctx, "svc.echo", []byte("q"))
		}},
		{"RequestMsgWithContext", func() (*nats.Msg, error) {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			return c.RequestMsgWithContext(ctx, &nats.Msg{Subject: "svc.echo", Data: []byte("q")})
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, err := tc.req()
			require.NoError(t, err)
			spans := tel.spans()
			require.Len(t, spans, i+1)
			s := spans[i]
			assert.Equal(t, "request svc.echo", s.Name())
			assert.Equal(t, trace.SpanKindClient, s.SpanKind())
			assertAttrs(t, s.Attributes(),
				semconv.System,
				semconv.MessagingOperationNameKey.String("request"),
				semconv.MessagingOperationTypeKey.String("send"),
				semconv.MessagingDestinationNameKey.String("svc.echo"),
			)
			assert.Contains(t, string(reply.Data), s.SpanContext().SpanID().String(),
				"the responder saw the request span's context")
		})
	}
	hp := pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration), semconv.MessagingOperationNameKey.String("request"))
	assert.Equal(t, uint64(len(tests)), hp.Count)
	assertNoSecrets(t, tel, "_INBOX")
}

func TestConnRequestNoResponders(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts()...)

	_, err := c.Request("nobody.home", nil, waitFor)
	require.ErrorIs(t, err, nats.ErrNoResponders, "the nats.go error is returned unchanged")

	s := spanNamed(t, tel.spans(), "request nobody.home")
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "no_responders", s.Status().Description)
	assertAttrs(t, s.Attributes(), semconv.ErrorTypeKey.String("no_responders"))
	hp := pointWith(t, tel.histPoints(t, semconv.MetricOperationDuration),
		semconv.MessagingOperationNameKey.String("request"), semconv.ErrorTypeKey.String("no_responders"))
	assert.Equal(t, uint64(1), hp.Count)
	assert.InDelta(t, spanDuration(s), hp.Sum, 1e-9)
}

func TestConnErrorClassifier(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	notFailure := func(err error) bool { return !errors.Is(err, nats.ErrNoResponders) }
	c := NewConn(connect(t, srv), tel.opts(WithErrorClassifier(notFailure))...)
	_, err := c.Request("nobody.home", nil, waitFor)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	s := spanNamed(t, tel.spans(), "request nobody.home")
	assert.Equal(t, codes.Unset, s.Status().Code)
	assertNoAttr(t, s.Attributes(), semconv.ErrorTypeKey)
	hp := tel.histPoints(t, semconv.MetricOperationDuration)
	require.Len(t, hp, 1)
	_, hasErr := hp[0].Attributes.Value(semconv.ErrorTypeKey)
	assert.False(t, hasErr)
}

func TestConnSubscribeProcessSpanJoinsProducerTrace(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	pub := NewConn(connect(t, srv), tel.opts()...)
	sub := NewConn(connect(t, srv), tel.opts()...)

	type seen struct {
		ctx context.Context
		msg *nats.Msg
	}
	got := make(chan seen, 3)
	_, err := sub.Subscribe("orders.*", func(m *nats.Msg) { got <- seen{ContextFromMsg(m), m} })
	require.NoError(t, err)
	_, err = sub.SubscribeContext("ctx.orders", func(ctx context.Context, m *nats.Msg) { got <- seen{ctx, m} })
	require.NoError(t, err)
	_, err = sub.QueueSubscribe("queued", "workers", func(m *nats.Msg) { got <- seen{ContextFromMsg(m), m} })
	require.NoError(t, err)
	require.NoError(t, sub.Flush())

	for _, subj := range []string{"orders.77", "ctx.orders", "queued"} {
		t.Run(subj, func(t *testing.T) {
			tel.sr.Reset()
			require.NoError(t, pub.Publish(subj, []byte("payload")))
			var s seen
			select {
			case s = <-got:
			case <-time.After(waitFor):
				t.Fatal("no message delivered")
			}
			spans := tel.waitSpans(t, 2)
			var producer, process sdktrace.ReadOnlySpan
			for _, sp := range spans {
				switch sp.SpanKind() {
				case trace.SpanKindProducer:
					producer = sp
				case trace.SpanKindConsumer:
					process = sp
				}
			}
			require.NotNil(t, producer)
			require.NotNil(t, process)
			assert.Equal(t, producer.SpanContext().TraceID(), process.SpanContext().TraceID(), "one trace")
			assert.Equal(t, producer.SpanContext().SpanID(), process.Parent().SpanID(), "process is a child of publish")
			require.Len(t, process.Links(), 1)
			assert.Equal(t, producer.SpanContext().SpanID(), process.Links()[0].SpanContext.SpanID(), "and links to it")
			assertAttrs(t, process.Attributes(),
				semconv.System,
				semconv.MessagingOperationNameKey.String("process"),
				semconv.MessagingOperationTypeKey.String("process"),
			)
			// The handler saw the process span's context.
			assert.Equal(t, process.SpanContext().SpanID(), trace.SpanContextFromContext(s.ctx).SpanID())
			switch subj {
			case "orders.77":
				assert.Equal(t, "process orders.*", process.Name(), "wildcard subscription subject is the template")
			case "queued":
				assertAttrs(t, process.Attributes(), semconv.MessagingConsumerGroupNameKey.String("workers"))
			}
		})
	}
	assert.Equal(t, context.Background(), ContextFromMsg(&nats.Msg{}), "outside a handler")

	pp := tel.histPoints(t, semconv.MetricProcessDuration)
	assert.Len(t, pp, 3)
	cp := pointWith(t, tel.sumPoints(t, semconv.MetricConsumedMessages),
		semconv.MessagingDestinationNameKey.String("queued"), semconv.MessagingConsumerGroupNameKey.String("workers"))
	assert.Equal(t, int64(1), cp.Value)
}

func TestConnProcessPicksUpRawPublisherHeaders(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	sub := NewConn(connect(t, srv), tel.opts()...)
	got := make(chan context.Context, 1)
	_, err := sub.SubscribeContext("raw.in", func(ctx context.Context, _ *nats.Msg) { got <- ctx })
	require.NoError(t, err)
	require.NoError(t, sub.Flush())
	raw := connect(t, srv)

	for _, key := range []string{"traceparent", "Traceparent"} {
		t.Run(key, func(t *testing.T) {
			tel.sr.Reset()
			const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
			require.NoError(t, raw.PublishMsg(&nats.Msg{Subject: "raw.in",
				Header: nats.Header{key: {"00-" + traceID + "-00f067aa0ba902b7-01"}}}))
			select {
			case <-got:
			case <-time.After(waitFor):
				t.Fatal("no message")
			}
			s := tel.waitSpans(t, 1)[0]
			assert.Equal(t, traceID, s.SpanContext().TraceID().String())
			assert.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String())
			assert.True(t, s.Parent().IsRemote())
		})
	}
}

func TestConnPublishReadByPlainW3CPropagator(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	sub := receiver(t, srv, "plain")
	c := NewConn(connect(t, srv), tel.opts()...)
	require.NoError(t, c.Publish("plain", nil))
	m, err := sub.NextMsg(waitFor)
	require.NoError(t, err)
	lower := propagation.MapCarrier{}
	for k, v := range m.Header {
		require.Equal(t, strings.ToLower(k), k)
		lower[k] = v[0]
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), lower))
	require.True(t, sc.IsValid())
	assert.Equal(t, spanNamed(t, tel.spans(), "publish plain").SpanContext().SpanID(), sc.SpanID())
}

func TestConnNextMsgAndProcessMsg(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	pub := NewConn(connect(t, srv), tel.opts()...)
	c := NewConn(connect(t, srv), tel.opts()...)
	sub, err := c.SubscribeSync("jobs.*")
	require.NoError(t, err)
	require.NoError(t, c.Flush())

	// Nothing yet: a timeout is a receive with no message, not a failure.
	_, err = c.NextMsg(sub, 10*time.Millisecond)
	require.ErrorIs(t, err, nats.ErrTimeout)
	empty := spanNamed(t, tel.spans(), "receive jobs.*")
	assert.Equal(t, codes.Unset, empty.Status().Code)
	tel.sr.Reset()

	require.NoError(t, pub.Publish("jobs.1", []byte("x")))
	m, err := c.NextMsg(sub, waitFor)
	require.NoError(t, err)
	var inner trace.SpanContext
	require.NoError(t, c.ProcessMsg(m, func(ctx context.Context, _ *nats.Msg) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	}))
	fail := errors.New("handler failed")
	require.ErrorIs(t, c.ProcessMsg(m, func(context.Context, *nats.Msg) error { return fail }), fail)

	spans := tel.spans()
	producer := spanNamed(t, spans, "publish jobs.*")
	recv := spanNamed(t, spans, "receive jobs.*")
	assert.Equal(t, trace.SpanKindClient, recv.SpanKind())
	require.Len(t, recv.Links(), 1)
	assert.Equal(t, producer.SpanContext().SpanID(), recv.Links()[0].SpanContext.SpanID())
	assertAttrs(t, recv.Attributes(), semconv.MessagingOperationTypeKey.String("receive"))

	var procs []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == "process jobs.*" {
			procs = append(procs, s)
		}
	}
	require.Len(t, procs, 2)
	assert.Equal(t, producer.SpanContext().SpanID(), procs[0].Parent().SpanID())
	assert.Equal(t, procs[0].SpanContext().SpanID(), inner.SpanID())
	assert.Equal(t, codes.Error, procs[1].Status().Code)
	assertAttrs(t, procs[1].Attributes(), semconv.ErrorTypeKey.String("_OTHER"))

	consumed := tel.sumPoints(t, semconv.MetricConsumedMessages)
	require.Len(t, consumed, 1, "counted once, on receive")
	assert.Equal(t, int64(1), consumed[0].Value)
}

func TestConnChanSubscribe(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	pub := NewConn(connect(t, srv), tel.opts()...)
	c := NewConn(connect(t, srv), tel.opts()...)
	ch := make(chan *nats.Msg, 8)
	sub, err := c.ChanSubscribe("chan.>", ch)
	require.NoError(t, err)
	qch := make(chan *nats.Msg, 8)
	qsub, err := c.ChanQueueSubscribe("qchan", "g", qch)
	require.NoError(t, err)
	require.NoError(t, c.Flush())

	require.NoError(t, pub.Publish("chan.a", []byte("1")))
	require.NoError(t, pub.Publish("qchan", []byte("2")))
	for _, in := range []chan *nats.Msg{ch, qch} {
		select {
		case m := <-in:
			assert.NotEmpty(t, m.Data)
		case <-time.After(waitFor):
			t.Fatal("not forwarded")
		}
	}
	spans := tel.waitSpans(t, 4)
	proc := spanNamed(t, spans, "process chan.>")
	assert.Equal(t, spanNamed(t, spans, "publish chan.a").SpanContext().SpanID(), proc.Parent().SpanID())
	assertAttrs(t, spanNamed(t, spans, "process qchan").Attributes(),
		semconv.MessagingConsumerGroupNameKey.String("g"))

	// Closing the subscriptions stops the forwarders (goleak checks).
	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, qsub.Drain())
}

func TestConnFilter(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	var seen []string
	var mu sync.Mutex
	filter := func(op, dest string) bool {
		mu.Lock()
		seen = append(seen, op+" "+dest)
		mu.Unlock()
		return !strings.HasPrefix(dest, "health.")
	}
	sub := receiver(t, srv, ">")
	c := NewConn(connect(t, srv), tel.opts(WithFilter(filter))...)
	require.NoError(t, c.Publish("health.ping", []byte("x")))
	require.NoError(t, c.Publish("orders.1", []byte("x")))
	for range 2 {
		_, err := sub.NextMsg(waitFor)
		require.NoError(t, err)
	}
	spans := tel.spans()
	require.Len(t, spans, 1)
	assert.Equal(t, "publish orders.*", spans[0].Name())
	assert.Contains(t, seen, "publish health.ping", "the filter sees the raw subject")
	hp := tel.histPoints(t, semconv.MetricOperationDuration)
	require.Len(t, hp, 1)
	assert.Equal(t, uint64(1), hp[0].Count)
}

func TestConnFilteredPublishDoesNotAllocate(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	nc := connect(t, srv)
	c := NewConn(nc, tel.opts(WithFilter(func(string, string) bool { return false }))...)
	data := []byte("x")
	raw := minAllocs(func() { _ = nc.Publish("f.x", data) })
	filtered := minAllocs(func() { _ = c.Publish("f.x", data) })
	assert.Zero(t, raw, "baseline")
	assert.Zero(t, filtered)
	assert.Empty(t, tel.spans())
}

func TestConnMetricsOnlyPublishAddsNoAllocations(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	nc := connect(t, srv)
	c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(tel.mp), WithPropagators(w3c))
	data := []byte("x")
	require.NoError(t, c.Publish("m.x", data)) // warm the spec cache
	raw := minAllocs(func() { _ = nc.Publish("m.x", data) })
	inst := minAllocs(func() { _ = c.Publish("m.x", data) })
	assert.Equal(t, raw, inst)
	assert.Empty(t, tel.spans())
	hp := tel.histPoints(t, semconv.MetricOperationDuration)
	require.Len(t, hp, 1)
	assert.Equal(t, uint64(1+3*(200+1)), hp[0].Count, "AllocsPerRun runs once more to warm up")
}

func TestConnNoopProvidersRecordNothing(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	c := NewConn(nc, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider()))
	sub := receiver(t, srv, "n.x")
	require.NoError(t, c.Publish("n.x", []byte("x")))
	m, err := sub.NextMsg(waitFor)
	require.NoError(t, err)
	assert.Nil(t, m.Header, "nothing to propagate, no header")
	s := c.publish.spec("n.x")
	assert.False(t, s.active(), "calls go straight through")
}

func TestConnCardinalityIsBounded(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts()...)
	for i := range 10_000 {
		// Half look like IDs, half are distinct names that are not IDs.
		subj := fmt.Sprintf("orders.%d", i)
		if i%2 == 1 {
			subj = fmt.Sprintf("tenant%d.events", i)
		}
		require.NoError(t, c.Publish(subj, nil))
	}
	require.NoError(t, c.Flush())
	rm := tel.collect(t)
	checked := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var n int
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				n = len(d.DataPoints)
			case metricdata.Sum[int64]:
				n = len(d.DataPoints)
			}
			assert.LessOrEqual(t, n, 50, "series of %s", m.Name)
			if strings.HasPrefix(m.Name, "messaging.") {
				assert.Greater(t, n, 1)
				checked++
			}
		}
	}
	assert.Equal(t, 2, checked, "duration and sent (beside the connection's own metrics)")
	names := map[string]bool{}
	for _, s := range tel.spans() {
		names[s.Name()] = true
	}
	assert.LessOrEqual(t, len(names), 50)
	assert.True(t, names["publish orders.*"])
	assert.True(t, names["publish "+tracing.OverflowTemplate])
}

func TestConnNoSecretsRecorded(t *testing.T) {
	// Long markers that cannot occur by chance in a port or id (see
	// oteltest.AssertNoSecrets).
	const user, password = "alice-Mx7pQr2wZk9vNt3B", "pw-Jk4rXw8nZq2vLt6M"
	srv := natstest.RunServer(t, func(o *natsserver.Options) { o.Username, o.Password = user, password })
	tel := newTelemetry(t)
	url := strings.Replace(srv.URL(), "nats://", "nats://"+user+":"+password+"@", 1)
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	c := NewConn(nc, tel.opts()...)

	const cardPart = "Tz6wQm3xVk8pLr2N" // a fragment must not leak either
	const payload = "card-number-4111111111111111-" + cardPart
	_, err = c.Subscribe("pay.*", func(m *nats.Msg) { _ = m.Respond([]byte(payload)) })
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	_, err = c.Request("pay.charge", []byte(payload), waitFor)
	require.NoError(t, err)
	require.NoError(t, c.PublishRequest("pay.async", "_INBOX.private.reply", []byte(payload)))
	_, err = c.Request("nobody.x", []byte(payload), waitFor)
	require.ErrorIs(t, err, nats.ErrNoResponders)
	tel.waitSpans(t, 5)
	assertNoSecrets(t, tel, payload, password, user, "_INBOX.", cardPart)
}

func TestWrapperKeepsUnwrappedMethods(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv)
	c := NewConn(nc)
	assert.Same(t, nc, c.Conn())
	assert.True(t, c.IsConnected(), "promoted nats.go method")
	assert.NoError(t, c.Flush())
}

func TestConnSubscribeEdgeCases(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts(WithFilter(func(op, dest string) bool { return dest != "quiet" }))...)

	_, err := c.Subscribe("x", nil)
	assert.ErrorIs(t, err, nats.ErrBadSubscription, "nats.go's error for a nil handler")
	_, err = c.QueueSubscribe("x", "q", nil)
	assert.ErrorIs(t, err, nats.ErrBadSubscription)

	// A filtered subscription runs the handler as nats.go would, with no span.
	got := make(chan struct{}, 1)
	_, err = c.Subscribe("quiet", func(*nats.Msg) { got <- struct{}{} })
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	require.NoError(t, c.Conn().Publish("quiet", nil))
	select {
	case <-got:
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}
	assert.Empty(t, tel.spans())

	// A chan subscription's forwarder stops when the connection closes
	// (goleak verifies at the end of the package).
	ch := make(chan *nats.Msg, 1)
	_, err = c.ChanSubscribe("chan.close", ch)
	require.NoError(t, err)
	c.Close()
}

// minAllocs is the smallest of three testing.AllocsPerRun(200, f). The
// embedded server runs in this process and allocates per read batch, which
// AllocsPerRun counts too; the minimum filters that noise out.
func minAllocs(f func()) float64 {
	best := testing.AllocsPerRun(200, f)
	for range 2 {
		best = min(best, testing.AllocsPerRun(200, f))
	}
	return best
}

func TestConnConcurrentUse(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	c := NewConn(connect(t, srv), tel.opts()...)
	const workers, per = 8, 50
	sub := receiver(t, srv, "conc.>")
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				assert.NoError(t, c.Publish(fmt.Sprintf("conc.%d.%d", w, i), nil))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, c.Flush())
	assert.Len(t, tel.spans(), workers*per)
	sent := tel.sumPoints(t, semconv.MetricSentMessages)
	var total int64
	for _, p := range sent {
		total += p.Value
	}
	assert.Equal(t, int64(workers*per), total)
	assert.Len(t, sent, 1, "conc.<n>.<n> is one template")

	// Every delivered message carries exactly its own publish span's
	// context, although the wrapper reuses message buffers.
	want := map[string]bool{}
	for _, sp := range tel.spans() {
		want[sp.SpanContext().SpanID().String()] = true
	}
	got := map[string]bool{}
	for range workers * per {
		m, err := sub.NextMsg(waitFor)
		require.NoError(t, err)
		require.Len(t, m.Header, 1)
		sc := trace.SpanContextFromContext(w3c.Extract(context.Background(), tracing.HeaderCarrier(m.Header)))
		got[sc.SpanID().String()] = true
	}
	assert.Equal(t, want, got)
}

func TestConnMoreVariants(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	pub := NewConn(connect(t, srv), tel.opts()...)
	c := NewConn(connect(t, srv), tel.opts()...)

	// QueueSubscribeContext hands the process span's context to the handler.
	got := make(chan trace.SpanContext, 1)
	_, err := c.QueueSubscribeContext("qctx", "workers", func(ctx context.Context, _ *nats.Msg) {
		got <- trace.SpanContextFromContext(ctx)
	})
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	require.NoError(t, pub.Publish("qctx", nil))
	var sc trace.SpanContext
	select {
	case sc = <-got:
	case <-time.After(waitFor):
		t.Fatal("no message")
	}
	proc := spanNamed(t, tel.waitSpans(t, 2), "process qctx")
	assert.Equal(t, proc.SpanContext().SpanID(), sc.SpanID())
	assertAttrs(t, proc.Attributes(), semconv.MessagingConsumerGroupNameKey.String("workers"))

	// NextMsgWithContext: a deadline is a receive with no message; a message is linked.
	sub, err := c.SubscribeSync("sync.ctx")
	require.NoError(t, err)
	require.NoError(t, c.Flush())
	short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = c.NextMsgWithContext(short, sub)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	tel.sr.Reset()
	require.NoError(t, pub.Publish("sync.ctx", nil))
	ctx, cancel2 := context.WithTimeout(context.Background(), waitFor)
	defer cancel2()
	m, err := c.NextMsgWithContext(ctx, sub)
	require.NoError(t, err)
	require.NotNil(t, m)
	recv := spanNamed(t, tel.spans(), "receive sync.ctx")
	assert.Len(t, recv.Links(), 1)
	for _, p := range tel.histPoints(t, semconv.MetricOperationDuration) {
		_, failed := p.Attributes.Value(semconv.ErrorTypeKey)
		assert.False(t, failed, "no receive failed")
	}

	// nil arguments get nats.go's own errors.
	assert.ErrorIs(t, c.PublishMsg(nil), nats.ErrInvalidMsg)
	_, err = c.RequestMsg(nil, time.Second)
	assert.ErrorIs(t, err, nats.ErrInvalidMsg)
	_, err = c.RequestMsgWithContext(context.Background(), nil)
	assert.ErrorIs(t, err, nats.ErrInvalidMsg)
	_, err = c.NextMsg(nil, time.Second)
	assert.ErrorIs(t, err, nats.ErrBadSubscription)
	_, err = c.NextMsgWithContext(context.Background(), nil)
	assert.ErrorIs(t, err, nats.ErrBadSubscription)
}

func TestNilConn(t *testing.T) {
	tel := newTelemetry(t)
	c := NewConn(nil, tel.opts()...)
	assert.Nil(t, c.Conn())
	assert.ErrorIs(t, c.Publish("a", nil), nats.ErrInvalidConnection)
	_, err := c.Request("a", nil, time.Millisecond)
	assert.ErrorIs(t, err, nats.ErrInvalidConnection)
	_, err = c.Subscribe("a", func(*nats.Msg) {})
	assert.ErrorIs(t, err, nats.ErrInvalidConnection)
	_, err = c.ChanSubscribe("a", make(chan *nats.Msg, 1))
	assert.ErrorIs(t, err, nats.ErrInvalidConnection)
}

func TestConnPublishMsgDoesNotModifyTheCallersMessage(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	sub := receiver(t, srv, "shared.>")
	require.NoError(t, sub.SetPendingLimits(-1, -1))
	c := NewConn(connect(t, srv), tel.opts()...)

	bare := &nats.Msg{Subject: "shared.bare", Data: []byte("x")}
	withHdr := &nats.Msg{Subject: "shared.hdr", Data: []byte("y"), Header: nats.Header{"Traceparent": {"stale"}, "K": {"v"}}}
	require.NoError(t, c.PublishMsg(bare))
	require.NoError(t, c.PublishMsg(withHdr))
	assert.Nil(t, bare.Header)
	assert.Equal(t, nats.Header{"Traceparent": {"stale"}, "K": {"v"}}, withHdr.Header)

	m, err := sub.NextMsg(waitFor)
	require.NoError(t, err)
	assert.Len(t, m.Header["traceparent"], 1)
	m, err = sub.NextMsg(waitFor)
	require.NoError(t, err)
	assert.Equal(t, "v", m.Header.Get("K"))
	assert.Nil(t, m.Header["Traceparent"], "the stale other-case copy is replaced")
	assert.NotEqual(t, "stale", m.Header.Get("traceparent"))

	// One message published from many goroutines at once (fine with nats.go)
	// stays fine with the wrapper (the race detector checks).
	shared := &nats.Msg{Subject: "shared.many", Data: []byte("z"), Header: nats.Header{"K": {"v"}}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				assert.NoError(t, c.PublishMsg(shared))
			}
		}()
	}
	wg.Wait()
	for range 160 {
		m, err := sub.NextMsg(waitFor)
		require.NoError(t, err)
		assert.Len(t, m.Header["traceparent"], 1)
	}
}

// TestConnPublishBeforeFirstConnect: with RetryOnFailedConnect, nats.go
// buffers publishes made before the first connect, but refuses any message
// with a header then (it does not know yet whether the server supports
// headers: ErrHeadersNotSupported). The instrumented publishes send the
// caller's message as raw nats.go does, with a nats.propagation.skipped
// event, and it arrives once the connection is up.
func TestConnPublishBeforeFirstConnect(t *testing.T) {
	srv := runServer(t)
	js, err := jetstream.New(connect(t, srv))
	require.NoError(t, err)
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "PRECONNECT", Subjects: []string{"pre.>"}})
	require.NoError(t, err)
	srv.Stop()

	tel := newTelemetry(t)
	nc, err := nats.Connect(srv.URL(), nats.RetryOnFailedConnect(true), nats.ReconnectWait(20*time.Millisecond),
		nats.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	require.False(t, nc.IsConnected())
	tp := nats.Header{"traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	require.ErrorIs(t, nc.PublishMsg(&nats.Msg{Subject: "pre.raw", Data: []byte("x"), Header: tp}), nats.ErrHeadersNotSupported,
		"raw nats.go refuses a header before the first connect")

	c := NewConn(nc, tel.opts()...)
	require.NoError(t, c.Publish("pre.publish", []byte("x")))
	require.NoError(t, c.PublishMsg(&nats.Msg{Subject: "pre.msg", Data: []byte("x")}))
	require.NoError(t, c.PublishRequest("pre.request", "reply.x", []byte("x")))
	require.ErrorIs(t, c.PublishMsg(&nats.Msg{Subject: "pre.withheader", Data: []byte("x"), Header: tp}), nats.ErrHeadersNotSupported,
		"a caller's header is refused as raw nats.go refuses it")

	srv.Restart()
	require.NoError(t, nc.FlushTimeout(10*time.Second))
	js, err = jetstream.New(connect(t, srv))
	require.NoError(t, err)
	stream, err := js.Stream(ctx, "PRECONNECT")
	require.NoError(t, err)
	for _, subj := range []string{"pre.publish", "pre.msg", "pre.request"} {
		var m *jetstream.RawStreamMsg
		require.Eventually(t, func() bool {
			m, err = stream.GetLastMsgForSubject(ctx, subj)
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "%s never stored: %v", subj, err)
		assert.Empty(t, m.Header.Values("traceparent"), subj)
		span := spanNamed(t, tel.spans(), "publish "+subj)
		assert.Equal(t, codes.Unset, span.Status().Code, subj)
		assert.Equal(t, []string{semconv.PropagationHeadersUnsupported}, skipEvents([]sdktrace.ReadOnlySpan{span}), subj)
	}
	_, err = stream.GetLastMsgForSubject(ctx, "pre.withheader")
	assert.ErrorIs(t, err, jetstream.ErrMsgNotFound)
	withHeader := spanNamed(t, tel.spans(), "publish pre.withheader")
	assert.Equal(t, codes.Error, withHeader.Status().Code)
	assert.Empty(t, withHeader.Events(), "the caller's own header was refused: no skip event")
}
