package instrument

import (
	"context"
	"errors"
	"strings"
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
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
)

// jsEnv is one embedded JetStream server, two client connections (a
// producer and a consumer side), and in-memory telemetry shared by the
// instrumented JetStream contexts on both.
type jsEnv struct {
	*telemetry
	t    *testing.T
	srv  *natstest.Server
	nc   *nats.Conn // producer connection
	nc2  *nats.Conn // consumer connection
	raw  jetstream.JetStream
	raw2 jetstream.JetStream
	js   jetstream.JetStream // instrumented, on nc
	js2  jetstream.JetStream // instrumented, on nc2
	o    []Option
}

func newJSEnv(t *testing.T, extra ...Option) *jsEnv {
	t.Helper()
	e := &jsEnv{telemetry: newTelemetry(t), t: t, srv: runServer(t)}
	e.nc = connect(t, e.srv)
	e.nc2 = connect(t, e.srv)
	var err error
	e.raw, err = jetstream.New(e.nc)
	require.NoError(t, err)
	e.raw2, err = jetstream.New(e.nc2)
	require.NoError(t, err)
	e.o = e.opts(extra...)
	e.js = NewJetStream(e.raw, e.o...)
	e.js2 = NewJetStream(e.raw2, e.o...)
	return e
}

// stream creates a stream capturing subjects, untraced.
func (e *jsEnv) stream(name string, subjects ...string) jetstream.Stream {
	e.t.Helper()
	s, err := e.raw.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: subjects})
	require.NoError(e.t, err)
	return s
}

// named returns the ended spans called name, in end order.
func (e *jsEnv) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the single ended span called name.
func (e *jsEnv) one(name string) sdktrace.ReadOnlySpan {
	e.t.Helper()
	return spanNamed(e.t, e.sr.Ended(), name)
}

// waitNamed waits until at least n spans called name have ended.
func (e *jsEnv) waitNamed(name string, n int) []sdktrace.ReadOnlySpan {
	e.t.Helper()
	require.Eventuallyf(e.t, func() bool { return len(e.named(name)) >= n }, 5*time.Second, 5*time.Millisecond,
		"want %d spans %q", n, name)
	return e.named(name)
}

// assertSpan checks kind, messaging.system, operation name and type (when
// opType is not empty) and any extra attributes of s.
func assertSpan(t *testing.T, s sdktrace.ReadOnlySpan, kind trace.SpanKind, opName, opType string, extra ...attribute.KeyValue) {
	t.Helper()
	assert.Equal(t, kind, s.SpanKind(), "kind of %q", s.Name())
	want := append([]attribute.KeyValue{semconv.System, opAttr(opName)}, extra...)
	if opType != "" {
		want = append(want, semconv.MessagingOperationTypeKey.String(opType))
	}
	assertAttrs(t, s.Attributes(), want...)
}

// assertFailed checks the error status and error.type (any, when errType is
// empty) of s.
func assertFailed(t *testing.T, s sdktrace.ReadOnlySpan, errType string) {
	t.Helper()
	assert.Equal(t, codes.Error, s.Status().Code, "status of %q", s.Name())
	got := attrs(s.Attributes())[semconv.ErrorTypeKey].AsString()
	if errType != "" {
		assert.Equal(t, errType, got, "error.type of %q", s.Name())
	} else {
		assert.NotEmpty(t, got, "error.type of %q", s.Name())
	}
}

// assertOK checks that s has neither error status nor error.type.
func assertOK(t *testing.T, s sdktrace.ReadOnlySpan) {
	t.Helper()
	assert.NotEqual(t, codes.Error, s.Status().Code, "status of %q: %s", s.Name(), s.Status().Description)
	assertNoAttr(t, s.Attributes(), semconv.ErrorTypeKey)
}

// histCount sums the counts of the points of histogram name that carry all
// of want (0 when there are none).
func histCount(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == name {
				for _, dp := range h.DataPoints {
					if hasAll(dp.Attributes, want) {
						n += dp.Count
					}
				}
			}
		}
	}
	return n
}

// sumValue sums the values of the points of counter name that carry all of
// want (0 when there are none).
func sumValue(rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					if hasAll(dp.Attributes, want) {
						n += dp.Value
					}
				}
			}
		}
	}
	return n
}

func hasAll(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if !ok || v.Emit() != kv.Value.Emit() {
			return false
		}
	}
	return true
}

func opAttr(name string) attribute.KeyValue { return semconv.MessagingOperationNameKey.String(name) }
func destAttr(d string) attribute.KeyValue  { return semconv.MessagingDestinationNameKey.String(d) }
func errAttr(t string) attribute.KeyValue   { return semconv.ErrorTypeKey.String(t) }

func TestJetStreamPublish(t *testing.T) {
	e := newJSEnv(t)
	e.stream("ORDERS", "orders.>")
	ctx := context.Background()

	ack, err := e.js.Publish(ctx, "orders.new", []byte("payload-secret-1"))
	require.NoError(t, err)
	assert.Equal(t, "ORDERS", ack.Stream)

	s := e.one("publish orders.new")
	assertSpan(t, s, trace.SpanKindProducer, semconv.OpPublish, semconv.OpTypeSend, destAttr("orders.new"))
	assertOK(t, s)

	// The stored message carries the producer span's context, lower-case.
	raw, err := e.raw.Stream(ctx, "ORDERS")
	require.NoError(t, err)
	m, err := raw.GetMsg(ctx, ack.Sequence)
	require.NoError(t, err)
	assert.Contains(t, m.Header, "traceparent")
	assert.Contains(t, m.Header.Get("traceparent"), s.SpanContext().SpanID().String())

	rm := e.collect(t)
	assert.EqualValues(t, 1, sumValue(rm, semconv.MetricSentMessages, opAttr(semconv.OpPublish), destAttr("orders.new")))
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, opAttr(semconv.OpPublish), destAttr("orders.new")))
}

func TestJetStreamPublishMsg(t *testing.T) {
	e := newJSEnv(t)
	e.stream("ORDERS", "orders.>")
	ctx := context.Background()

	// The message stored carries the trace context and the caller's
	// headers; the caller's message is left as it was.
	msg := &nats.Msg{Subject: "orders.42", Data: []byte("x")}
	_, err := e.js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	assert.Nil(t, msg.Header, "the caller's message is not modified")

	msg2 := &nats.Msg{Subject: "orders.43", Data: []byte("y"), Header: nats.Header{"App": []string{"v"}}}
	_, err = e.js.PublishMsg(ctx, msg2)
	require.NoError(t, err)
	assert.Equal(t, nats.Header{"App": []string{"v"}}, msg2.Header, "the caller's message is not modified")

	st, err := e.raw.Stream(ctx, "ORDERS")
	require.NoError(t, err)
	stored, err := st.GetMsg(ctx, 1)
	require.NoError(t, err)
	assert.NotEmpty(t, stored.Header.Get("traceparent"))
	stored, err = st.GetMsg(ctx, 2)
	require.NoError(t, err)
	assert.NotEmpty(t, stored.Header.Get("traceparent"))
	assert.Equal(t, "v", stored.Header.Get("App"))

	// orders.42 and orders.43 share one template.
	spans := e.named("publish orders.*")
	require.Len(t, spans, 2)
	for _, s := range spans {
		assertSpan(t, s, trace.SpanKindProducer, semconv.OpPublish, semconv.OpTypeSend, destAttr("orders.*"))
	}
	assert.EqualValues(t, 2, sumValue(e.collect(t), semconv.MetricSentMessages, destAttr("orders.*")))
}

func TestJetStreamPublishError(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()

	_, rawErr := e.raw.Publish(ctx, "nostream.a", []byte("x"))
	require.Error(t, rawErr)
	_, err := e.js.Publish(ctx, "nostream.a", []byte("x"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, jetstream.ErrNoStreamResponse), "errors.Is(%v, ErrNoStreamResponse)", err)
	assert.Equal(t, rawErr.Error(), err.Error())

	s := e.one("publish nostream.a")
	assertFailed(t, s, "")
	et := attrs(s.Attributes())[semconv.ErrorTypeKey].AsString()
	rm := e.collect(t)
	assert.EqualValues(t, 1, histCount(rm, semconv.MetricOperationDuration, destAttr("nostream.a"), errAttr(et)))
}

func TestJetStreamPublishAsync(t *testing.T) {
	e := newJSEnv(t)
	e.stream("ORDERS", "orders.>")

	const n = 5
	futs := make([]jetstream.PubAckFuture, 0, n+1)
	for i := 0; i < n; i++ {
		f, err := e.js.PublishAsync("orders.async", []byte("payload"))
		require.NoError(t, err)
		futs = append(futs, f)
	}
	msg := &nats.Msg{Subject: "orders.async", Data: []byte("m")}
	f, err := e.js.PublishMsgAsync(msg)
	require.NoError(t, err)
	futs = append(futs, f)
	// As with nats.go, the future's message is the caller's, which is left
	// without the trace context (a copy carrying it was sent).
	assert.Same(t, msg, f.Msg())
	assert.Nil(t, msg.Header)

	for _, f := range futs {
		select {
		case ack := <-f.Ok():
			assert.Equal(t, "ORDERS", ack.Stream)
		case err := <-f.Err():
			t.Fatalf("async publish failed: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no ack")
		}
	}
	// Telemetry is recorded before the ack is handed over.
	spans := e.named("publish orders.async")
	require.Len(t, spans, n+1)
	for _, s := range spans {
		assertSpan(t, s, trace.SpanKindProducer, semconv.OpPublish, semconv.OpTypeSend)
		assertOK(t, s)
	}
	rm := e.collect(t)
	assert.EqualValues(t, n+1, sumValue(rm, semconv.MetricSentMessages, destAttr("orders.async")))
	assert.EqualValues(t, n+1, histCount(rm, semconv.MetricOperationDuration, destAttr("orders.async")))

	select {
	case <-e.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
		t.Fatal("PublishAsyncComplete")
	}

	st, err := e.raw.Stream(context.Background(), "ORDERS")
	require.NoError(t, err)
	stored, err := st.GetMsg(context.Background(), n+1)
	require.NoError(t, err)
	assert.Equal(t, "m", string(stored.Data))
	assert.NotEmpty(t, stored.Header.Get("traceparent"))
}

func TestJetStreamPublishAsyncError(t *testing.T) {
	e := newJSEnv(t)
	f, err := e.js.PublishAsync("nostream.async", []byte("payload"))
	require.NoError(t, err)
	select {
	case <-f.Ok():
		t.Fatal("ack without a stream")
	case err := <-f.Err():
		assert.True(t, errors.Is(err, jetstream.ErrNoStreamResponse), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no error")
	}
	assertFailed(t, e.one("publish nostream.async"), "")
}

// An async publish whose connection closes before the ack ends its span
// (nats.go never resolves such a future) and its goroutine (goleak checks
// the latter in TestMain).
func TestJetStreamPublishAsyncConnClosed(t *testing.T) {
	e := newJSEnv(t)
	e.stream("ORDERS", "orders.>")
	e.srv.Stop()
	require.Eventually(t, func() bool { return e.nc.Status() == nats.RECONNECTING }, 5*time.Second, 5*time.Millisecond)
	f, err := e.js.PublishAsync("orders.lost", []byte("payload"))
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
	assert.EqualValues(t, 1, histCount(e.collect(t), semconv.MetricOperationDuration,
		destAttr("orders.lost"), errAttr("connection_closed")))
}

func TestJetStreamManagement(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	js := e.js

	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MGMT", Subjects: []string{"mgmt.>"}})
	require.NoError(t, err)
	_, err = js.UpdateStream(ctx, jetstream.StreamConfig{Name: "MGMT", Subjects: []string{"mgmt.>"}, MaxMsgs: 10})
	require.NoError(t, err)
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "MGMT", Subjects: []string{"mgmt.>"}, MaxMsgs: 20})
	require.NoError(t, err)
	st, err := js.Stream(ctx, "MGMT")
	require.NoError(t, err)
	_, err = js.StreamNameBySubject(ctx, "mgmt.x")
	require.NoError(t, err)
	_, err = js.CreateConsumer(ctx, "MGMT", jetstream.ConsumerConfig{Durable: "C1"})
	require.NoError(t, err)
	_, err = js.CreateOrUpdateConsumer(ctx, "MGMT", jetstream.ConsumerConfig{Durable: "C1", Description: "d"})
	require.NoError(t, err)
	_, err = js.UpdateConsumer(ctx, "MGMT", jetstream.ConsumerConfig{Durable: "C1", Description: "e"})
	require.NoError(t, err)
	_, err = js.Consumer(ctx, "MGMT", "C1")
	require.NoError(t, err)
	_, err = js.OrderedConsumer(ctx, "MGMT", jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	require.NoError(t, js.DeleteConsumer(ctx, "MGMT", "C1"))
	_, err = js.AccountInfo(ctx)
	require.NoError(t, err)
	_, err = st.Info(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Purge(ctx))
	require.NoError(t, js.DeleteStream(ctx, "MGMT"))

	for _, tc := range []struct {
		name string
		n    int
	}{
		{"js.stream.create MGMT", 1}, {"js.stream.update MGMT", 1}, {"js.stream.create_or_update MGMT", 1},
		{"js.stream.info MGMT", 2}, // Stream lookup and Stream.Info
		{"js.stream.name_by_subject", 1},
		{"js.consumer.create MGMT", 1}, {"js.consumer.create_or_update MGMT", 1},
		{"js.consumer.update MGMT", 1}, {"js.consumer.info MGMT", 1}, {"js.consumer.ordered MGMT", 1},
		{"js.consumer.delete MGMT", 1}, {"js.stream.purge MGMT", 1}, {"js.stream.delete MGMT", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans := e.named(tc.name)
			require.Len(t, spans, tc.n)
			op, stream, _ := strings.Cut(tc.name, " ")
			for _, s := range spans {
				if stream != "" {
					assertSpan(t, s, trace.SpanKindClient, op, "", semconv.NATSStreamKey.String(stream))
				} else {
					assertSpan(t, s, trace.SpanKindClient, op, "")
				}
				assertOK(t, s)
				// Management calls are not messaging destinations.
				assertNoAttr(t, s.Attributes(), semconv.MessagingDestinationNameKey)
			}
			assert.EqualValues(t, tc.n, histCount(e.collect(t), semconv.MetricOperationDuration, opAttr(op)))
		})
	}
	s := e.one("js.account.info")
	assertSpan(t, s, trace.SpanKindClient, "js.account.info", "")
}

func TestJetStreamManagementErrors(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()

	_, err := e.js.Stream(ctx, "MISSING")
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)
	assertFailed(t, e.one("js.stream.info MISSING"), "")

	_, err = e.js.Consumer(ctx, "MISSING", "C")
	assert.ErrorIs(t, err, jetstream.ErrStreamNotFound)

	// Invalid names fail in nats.go before any request; the error is the same.
	_, rawErr := e.raw.CreateStream(ctx, jetstream.StreamConfig{Name: "bad.name"})
	_, err = e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "bad.name"})
	require.Error(t, err)
	assert.Equal(t, rawErr, err)
}

// Handles returned by the wrapper are wrapped too.
func TestJetStreamHandlesWrapped(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	st, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "H", Subjects: []string{"h.>"}})
	require.NoError(t, err)
	_, err = e.js.Publish(ctx, "h.1", []byte("a"))
	require.NoError(t, err)
	cons, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.NoError(t, m.Ack())

	e.one("js.consumer.create H")
	e.one("receive H")
	e.one("ack H")

	// Looking the consumer up again reuses its declared operations.
	again, err := e.js.Consumer(ctx, "H", "D")
	require.NoError(t, err)
	assert.Same(t, cons.(*consumer).cs, again.(*consumer).cs)

	kv, err := e.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte("v"))
	require.NoError(t, err)
	e.one("js.key_value.create cfg")
	e.one("kv.put cfg")
}

// A filtered call goes straight to nats.go: no span, no metric, no header.
func TestJetStreamFilter(t *testing.T) {
	e := newJSEnv(t, WithFilter(func(op, dest string) bool { return op != semconv.OpPublish && dest != "F" }))
	e.stream("F", "f.>")
	e.stream("K", "k.>")
	ctx := context.Background()
	msg := &nats.Msg{Subject: "f.1", Data: []byte("x")}
	_, err := e.js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	assert.Nil(t, msg.Header, "no trace context injected")
	_, err = e.js.Stream(ctx, "F")
	require.NoError(t, err)
	_, err = e.js.Stream(ctx, "K")
	require.NoError(t, err)

	names := map[string]bool{}
	for _, s := range e.spans() {
		names[s.Name()] = true
	}
	assert.Equal(t, map[string]bool{"js.stream.info K": true}, names)
}

// With noop providers the wrappers hand out the upstream handles' results
// unwrapped.
func TestJetStreamNoopProviders(t *testing.T) {
	srv := runServer(t)
	raw, err := jetstream.New(connect(t, srv))
	require.NoError(t, err)
	js := NewJetStream(raw, WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider()))
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "N", Subjects: []string{"n.>"}})
	require.NoError(t, err)
	msg := &nats.Msg{Subject: "n.1", Data: []byte("x")}
	_, err = js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	assert.Nil(t, msg.Header, "nothing to propagate")
	cons, err := js.CreateConsumer(ctx, "N", jetstream.ConsumerConfig{Durable: "n"})
	require.NoError(t, err)
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	_, wrapped := b.(*messageBatch)
	assert.False(t, wrapped, "no forwarding goroutine when nothing is recorded")
	for m := range b.Messages() {
		_, wrapped := m.(*jsMsg)
		assert.False(t, wrapped)
		require.NoError(t, m.Ack())
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "n"})
	require.NoError(t, err)
	w, err := kv.WatchAll(ctx)
	require.NoError(t, err)
	_, wrapped = w.(*keyWatcher)
	assert.False(t, wrapped)
	require.NoError(t, w.Stop())
}

// Nothing secret reaches a span or a metric: payloads, KV values, the
// password, ack subjects and reply inboxes.
func TestJetStreamNoSecretsRecorded(t *testing.T) {
	// Long markers that cannot occur by chance in a port or id (see
	// oteltest.AssertNoSecrets).
	const user, password = "alice-Mx7pQr2wZk9vNt3B", "pw-Jk4rXw8nZq2vLt6M"
	srv := natstest.RunServer(t, func(o *natsserver.Options) { o.Username, o.Password = user, password })
	url := strings.Replace(srv.URL(), "nats://", "nats://"+user+":"+password+"@", 1)
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	raw, err := jetstream.New(nc)
	require.NoError(t, err)
	tel := newTelemetry(t)
	js := NewJetStream(raw, tel.opts(WithKVKeys(true))...)
	ctx := context.Background()

	const cardPart, valuePart = "Tz6wQm3xVk8pLr2N", "Hn7rZq2wXk9mPv4T" // fragments must not leak either
	const payload = "card-number-4111111111111111-" + cardPart
	const value = "kv-value-" + valuePart
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "PAY", Subjects: []string{"pay.>"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "pay.charge", []byte(payload))
	require.NoError(t, err)
	f, err := js.PublishAsync("pay.async", []byte(payload))
	require.NoError(t, err)
	<-f.Ok()
	cons, err := js.CreateConsumer(ctx, "PAY", jetstream.ConsumerConfig{Durable: "p", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.NoError(t, m.DoubleAck(ctx))
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	for m := range b.Messages() {
		require.NoError(t, m.TermWithReason("reason-"+payload))
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "secrets"})
	require.NoError(t, err)
	w, err := kv.WatchAll(ctx)
	require.NoError(t, err)
	_, err = kv.Put(ctx, "k", []byte(value))
	require.NoError(t, err)
	_, err = kv.Get(ctx, "k")
	require.NoError(t, err)
	_, err = kv.Update(ctx, "k", []byte(value), 99)
	require.Error(t, err)
	require.NoError(t, w.Stop())
	for range w.Updates() {
	}
	assertNoSecrets(t, tel, payload, cardPart, value, valuePart, password, user, "$JS.ACK", "_INBOX.")
}

func TestJetStreamObjectStoreManagement(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	_, err := e.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	_, err = e.js.UpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files", Description: "d"})
	require.NoError(t, err)
	_, err = e.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "files"})
	require.NoError(t, err)
	obs, err := e.js.ObjectStore(ctx, "files")
	require.NoError(t, err)
	_, err = obs.PutString(ctx, "a", "object-body")
	require.NoError(t, err)
	require.NoError(t, e.js.DeleteObjectStore(ctx, "files"))
	_, err = e.js.ObjectStore(ctx, "files")
	assert.ErrorIs(t, err, jetstream.ErrBucketNotFound)

	for _, op := range []string{"create", "update", "create_or_update", "delete"} {
		s := e.one("js.object_store." + op + " files")
		assertSpan(t, s, trace.SpanKindClient, "js.object_store."+op, "")
		assertOK(t, s)
	}
	binds := e.named("js.object_store.bind files")
	require.Len(t, binds, 2)
	assertOK(t, binds[0])
	assertFailed(t, binds[1], "bucket_not_found")
}

// Push consumers get the same process spans as pull consumers.
func TestPushConsumerConsume(t *testing.T) {
	e := newJSEnv(t)
	e.stream("PUSH", "push.>")
	ctx := context.Background()
	cons, err := e.js2.CreatePushConsumer(ctx, "PUSH", jetstream.ConsumerConfig{
		Durable: "pc", DeliverSubject: "deliver.pc", AckPolicy: jetstream.AckExplicitPolicy,
	})
	require.NoError(t, err)
	_, err = cons.Info(ctx)
	require.NoError(t, err)
	got := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		assert.NoError(t, m.Ack())
		close(got)
	})
	require.NoError(t, err)
	defer cc.Stop()
	_, err = e.js.Publish(ctx, "push.1", []byte("x"))
	require.NoError(t, err)
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	prod := e.one("publish push.*")
	p := e.waitNamed("process PUSH", 1)[0]
	assertSpan(t, p, trace.SpanKindConsumer, semconv.OpProcess, semconv.OpTypeProcess,
		destAttr("PUSH"), semconv.MessagingConsumerGroupNameKey.String("pc"), semconv.NATSConsumerKey.String("pc"))
	assert.Equal(t, prod.SpanContext().SpanID(), p.Parent().SpanID())
	assert.Equal(t, p.SpanContext().SpanID(), e.one("ack PUSH").Parent().SpanID())
	e.one("js.push_consumer.create PUSH")
	e.one("js.consumer.info PUSH")
	// The consumer name is a span attribute only; the durable name is a label.
	pt := pointWith(t, e.histPoints(t, semconv.MetricProcessDuration), destAttr("PUSH"))
	_, hasName := pt.Attributes.Value(semconv.NATSConsumerKey)
	assert.False(t, hasName)
	v, _ := pt.Attributes.Value(semconv.MessagingConsumerGroupNameKey)
	assert.Equal(t, "pc", v.AsString())
}

// Every Stream-handle and consumer-management call is a "js.<object>.<verb>
// <stream>" span whose outcome matches the error nats.go returned.
func TestStreamHandleOps(t *testing.T) {
	e := newJSEnv(t)
	ctx := context.Background()
	st, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowDirect: false})
	require.NoError(t, err)
	for i := 0; i < 4; i++ {
		_, err := e.js.Publish(ctx, "s.x", []byte("m"))
		require.NoError(t, err)
	}
	_, err = st.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = st.UpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy, Description: "x"})
	require.NoError(t, err)
	_, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	_, err = st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	c, err := st.Consumer(ctx, "d")
	require.NoError(t, err)
	_, err = c.Info(ctx)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		call func() error
		miss bool // an expected miss: error returned, span not failed
	}{
		{"js.stream.get_msg S", func() error { _, err := st.GetMsg(ctx, 1); return err }, false},
		{"js.stream.get_msg S", func() error { _, err := st.GetMsg(ctx, 999); return err }, true},
		{"js.stream.get_last_msg S", func() error { _, err := st.GetLastMsgForSubject(ctx, "s.x"); return err }, false},
		{"js.stream.delete_msg S", func() error { return st.DeleteMsg(ctx, 1) }, false},
		{"js.stream.secure_delete_msg S", func() error { return st.SecureDeleteMsg(ctx, 2) }, false},
		{"js.consumer.pause S", func() error { _, err := st.PauseConsumer(ctx, "d", time.Now().Add(time.Hour)); return err }, false},
		{"js.consumer.resume S", func() error { _, err := st.ResumeConsumer(ctx, "d"); return err }, false},
		{"js.consumer.pause S", func() error { _, err := e.js.PauseConsumer(ctx, "S", "d", time.Now().Add(time.Hour)); return err }, false},
		{"js.consumer.resume S", func() error { _, err := e.js.ResumeConsumer(ctx, "S", "d"); return err }, false},
		{"js.consumer.unpin S", func() error { return st.UnpinConsumer(ctx, "d", "nogroup") }, false},
		{"js.consumer.delete S", func() error { return st.DeleteConsumer(ctx, "d") }, false},
		{"js.consumer.delete S", func() error { return st.DeleteConsumer(ctx, "d") }, false},
	} {
		before := len(e.named(tc.name))
		err := tc.call()
		spans := e.named(tc.name)
		require.Len(t, spans, before+1, tc.name)
		s := spans[before]
		op, _, _ := strings.Cut(tc.name, " ")
		assertSpan(t, s, trace.SpanKindClient, op, "", semconv.NATSStreamKey.String("S"))
		switch {
		case err == nil:
			assertOK(t, s)
		case tc.miss:
			assertOK(t, s)
			assert.ErrorIs(t, err, jetstream.ErrMsgNotFound)
		default:
			assertFailed(t, s, errorType(err))
		}
	}
	assert.Len(t, e.named("js.consumer.info S"), 2, "lookup and Info")
	e.one("js.consumer.ordered S")
	e.one("js.consumer.update S")
	e.one("js.consumer.create_or_update S")
	rm := e.collect(t)
	assert.EqualValues(t, 2, histCount(rm, semconv.MetricOperationDuration, opAttr("js.stream.get_msg")))
	assert.EqualValues(t, 0, histCount(rm, semconv.MetricOperationDuration, opAttr("js.stream.get_msg"), errAttr("10037")),
		"message not found is a miss, not a failure")
}

func TestJetStreamNeverWrappedTwice(t *testing.T) {
	e := newJSEnv(t)
	e.stream("W", "w.>")
	assert.Same(t, e.js, NewJetStream(e.js))
	again := NewJetStream(e.js, e.o...)
	_, err := again.Publish(context.Background(), "w.1", []byte("x"))
	require.NoError(t, err)
	e.one("publish w.*") // one span, not two

	raw, kv := e.kv("w")
	assert.Same(t, kv, NewKeyValue(kv))
	_, err = NewKeyValue(kv, e.o...).Put(context.Background(), "k", []byte("v"))
	require.NoError(t, err)
	e.one("kv.put w")
	assert.Nil(t, NewJetStream(nil))
	assert.Nil(t, NewKeyValue(nil))
	_ = raw
}
