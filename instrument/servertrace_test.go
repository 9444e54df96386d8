package instrument

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/internal/natstest"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

const hopDest = "naq.trace.hops"

// hopCollector starts a tracing.HopCollector on nc recording into tel.
func hopCollector(t *testing.T, tel *telemetry, nc *nats.Conn) *tracing.HopCollector {
	t.Helper()
	c, err := tracing.NewHopCollector(t.Context(), nc, hopDest,
		tracing.WithTracerProvider(tel.tp), tracing.WithPropagators(w3c))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	require.NoError(t, nc.Flush())
	return c
}

// waitHopEvents waits until the collector has handled n events.
func waitHopEvents(t *testing.T, c *tracing.HopCollector, n uint64) tracing.HopStats {
	t.Helper()
	require.Eventually(t, func() bool { return c.Stats().Received >= n }, 10*time.Second, 5*time.Millisecond,
		"want %d trace events, stats %+v", n, c.Stats())
	return c.Stats()
}

// hopSpans returns the INTERNAL hop spans of trace tid, by name.
func hopSpans(spans []sdktrace.ReadOnlySpan, tid trace.TraceID) map[string][]sdktrace.ReadOnlySpan {
	out := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindInternal && s.SpanContext().TraceID() == tid {
			out[s.Name()] = append(out[s.Name()], s)
		}
	}
	return out
}

func attrString(s sdktrace.ReadOnlySpan, k string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestServerTraceJetStreamPublishToProcess: with WithServerTrace and a
// collector, one trace holds publish → the server's hops (ingress, the
// JetStream store, the egress to a core subscriber of the stream's subject)
// → process, each hop a child of the publish span timed by the server
// inside the publish/process window. An unsampled publish carries no
// Nats-Trace-Dest and makes no hop span.
func TestServerTraceJetStreamPublishToProcess(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	coll := hopCollector(t, tel, connect(t, srv, nats.Name("collector")))
	ctx := t.Context()

	nc := connect(t, srv, nats.Name("publisher"))
	rawJS, err := jetstream.New(nc)
	require.NoError(t, err)
	js := NewJetStream(rawJS, tel.opts(WithServerTrace(ServerTrace{Dest: hopDest}))...)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	cons, err := js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{Durable: "billing", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	processed := make(chan struct{}, 4)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		processed <- struct{}{}
	})
	require.NoError(t, err)
	defer cc.Stop()
	// A core subscriber of the stream's subjects: the server's egress hop.
	auditNC := connect(t, srv, nats.Name("audit"))
	audit, err := auditNC.SubscribeSync("orders.>")
	require.NoError(t, err)
	require.NoError(t, auditNC.Flush())

	msg := &nats.Msg{Subject: "orders.42", Data: []byte("order-Qz7vKw9LmTxR4pNs"), Header: nats.Header{"X-Tenant": {"t1"}}}
	_, err = js.PublishMsg(ctx, msg)
	require.NoError(t, err)
	assert.Equal(t, nats.Header{"X-Tenant": {"t1"}}, msg.Header, "the caller's message is never given a header")
	select {
	case <-processed:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	seen, err := audit.NextMsg(5 * time.Second)
	require.NoError(t, err)
	seenAt := time.Now()
	assert.Equal(t, hopDest, seen.Header.Get(tracing.TraceDestHeader), "the message sent asks for a trace")
	assert.NotEmpty(t, seen.Header.Get("traceparent"))

	st := waitHopEvents(t, coll, 1)
	assert.Equal(t, tracing.HopStats{Received: 1, Collected: 1, Spans: 3}, st)
	pub := spanNamed(t, tel.waitSpans(t, 1), "publish orders.*")
	var proc sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range tel.spans() {
			if s.Name() == "process ORDERS" {
				proc = s
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	tid := pub.SpanContext().TraceID()
	require.Equal(t, tid, proc.SpanContext().TraceID(), "one trace")

	hops := hopSpans(tel.spans(), tid)
	var names []string
	for n := range hops {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, []string{"egress orders.>", "ingress orders.*", "jetstream ORDERS"}, names)
	in, store, out := hops["ingress orders.*"][0], hops["jetstream ORDERS"][0], hops["egress orders.>"][0]
	for _, h := range []sdktrace.ReadOnlySpan{in, store, out} {
		assert.Equal(t, pub.SpanContext().SpanID(), h.Parent().SpanID(), "%s is a child of the publish span", h.Name())
		assert.Equal(t, srv.NATS().Name(), attrString(h, string(semconv.NATSServerNameKey)), h.Name())
		assert.Equal(t, "nats", attrString(h, string(semconv.MessagingSystemKey)), h.Name())
		assert.False(t, h.StartTime().Before(pub.StartTime()), "%s starts before the publish", h.Name())
		assert.False(t, h.EndTime().Before(h.StartTime()), h.Name())
	}
	// What is causally ordered: the server received the message after the
	// publish began, stored it before it acked (the publish span ends) and
	// before the stored copy was delivered and processed, and sent the
	// audit subscriber its copy before it arrived there. (The egress to the
	// audit subscriber and the stream's work run on different goroutines
	// of the server: either may come first.)
	assert.Equal(t, in.StartTime(), in.EndTime(), "ingress is an instant")
	assert.False(t, store.EndTime().After(pub.EndTime()), "stored before the ack ended the publish")
	assert.False(t, store.EndTime().After(proc.StartTime()), "stored before it was processed")
	assert.False(t, out.EndTime().After(seenAt), "sent before the subscriber had it")
	// Each step is timed from the server's previous step on its read loop:
	// the ingress, or the egress when the server served the subscriber
	// before it handed the message to the stream.
	assert.Equal(t, in.EndTime(), out.StartTime(), "the egress is timed from the ingress")
	assert.Contains(t, []time.Time{in.EndTime(), out.EndTime()}, store.StartTime(), "the store is timed from the step before it")
	assert.Equal(t, "ORDERS", attrString(store, string(semconv.NATSStreamKey)))
	assert.Equal(t, "client", attrString(in, string(semconv.NATSHopConnKindKey)))
	assert.Equal(t, "publisher", attrString(in, string(semconv.NATSHopConnNameKey)))
	assert.Equal(t, "audit", attrString(out, string(semconv.NATSHopConnNameKey)))
	assertNoSecrets(t, tel, "Qz7vKw9LmTxR4pNs", "_INBOX.", "$JS.ACK")

	// Unsampled: neither the core nor the JetStream publish asks for a
	// trace, and no event comes. A sampled core publish afterwards is the
	// sentinel: the server sends its events in order.
	unsampled := tracetest.NewSpanRecorder()
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(unsampled))
	t.Cleanup(func() { _ = never.Shutdown(context.Background()) })
	uopts := []Option{WithTracerProvider(never), WithMeterProvider(tel.mp), WithPropagators(w3c), WithServerTrace(ServerTrace{Dest: hopDest})}
	ujs := NewJetStream(rawJS, uopts...)
	uconn := NewConn(nc, uopts...)
	_, err = ujs.Publish(ctx, "orders.43", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, uconn.Publish("orders.44", []byte("x")))
	for range 2 {
		m, err := audit.NextMsg(5 * time.Second)
		require.NoError(t, err)
		assert.Empty(t, m.Header.Get(tracing.TraceDestHeader), "%s: no trace asked for an unsampled publish", m.Subject)
		assert.Contains(t, m.Header.Get("traceparent"), "-00", "%s carries the unsampled context", m.Subject)
	}
	require.NoError(t, NewConn(nc, tel.opts(WithServerTrace(ServerTrace{Dest: hopDest}))...).Publish("orders.45", []byte("x")))
	st = waitHopEvents(t, coll, 2)
	assert.Equal(t, tracing.HopStats{Received: 2, Collected: 2, Spans: 3 + 3}, st,
		"only the sentinel's event came (ingress, jetstream, egress)")
	assert.Empty(t, unsampled.Ended())
}

// TestServerTraceRatio: Ratio keeps the traces tracing.TraceIDRatio keeps,
// and no other.
func TestServerTraceRatio(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	nc := connect(t, srv)
	subNC := connect(t, srv)
	sub, err := subNC.SubscribeSync("ratio.>")
	require.NoError(t, err)
	require.NoError(t, subNC.Flush())
	c := NewConn(nc, tel.opts(WithServerTrace(ServerTrace{Dest: hopDest, Ratio: 0.5}))...)
	asked := 0
	const n = 200
	for i := range n {
		require.NoError(t, c.Publish(fmt.Sprintf("ratio.%d", i), nil))
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), m, tracing.WithPropagators(w3c)))
		want := tracing.TraceIDRatio(sc.TraceID(), 0.5)
		got := m.Header.Get(tracing.TraceDestHeader) == hopDest
		assert.Equal(t, want, got, "message %d", i)
		if got {
			asked++
		}
	}
	assert.Greater(t, asked, n/4)
	assert.Less(t, asked, 3*n/4)

	// Invalid destinations switch the option off.
	for _, dest := range []string{"", "a b", "a.*", "a.>", "a..b", ".a"} {
		c := NewConn(nc, tel.opts(WithServerTrace(ServerTrace{Dest: dest}))...)
		require.NoError(t, c.Publish("ratio.invalid", nil))
		m, err := sub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		assert.Empty(t, m.Header.Get(tracing.TraceDestHeader), "dest %q", dest)
	}
	// A destination the caller set is kept.
	c = NewConn(nc, tel.opts(WithServerTrace(ServerTrace{Dest: hopDest}))...)
	require.NoError(t, c.PublishMsg(&nats.Msg{Subject: "ratio.own", Header: nats.Header{tracing.TraceDestHeader: {"mine"}}}))
	m, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, []string{"mine"}, m.Header[tracing.TraceDestHeader])
}

// TestServerTraceCluster: on a 3-node cluster, a JetStream publish through
// a server that does not lead the stream, and a core publish to a
// subscriber on another server, show hops of more than one server, and a
// route egress pairs with the next server's ingress by nats.hop.id.
func TestServerTraceCluster(t *testing.T) {
	cl := natstest.RunCluster(t, 3)
	tel := newTelemetry(t)
	ctx := t.Context()
	admin, err := jetstream.New(connect(t, cl.Servers[0]))
	require.NoError(t, err)
	stream, err := admin.CreateStream(ctx, jetstream.StreamConfig{Name: "CORDERS", Subjects: []string{"corders.>"}, Replicas: 1})
	require.NoError(t, err)
	var leader string
	require.Eventually(t, func() bool {
		info, err := stream.Info(ctx)
		if err == nil && info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != ""
	}, 10*time.Second, 10*time.Millisecond)
	pubIdx, subIdx := -1, -1
	for i, s := range cl.Servers {
		if s.NATS().Name() != leader && pubIdx < 0 {
			pubIdx = i
		}
	}
	subIdx = (pubIdx + 1) % 3
	pubSrv, subSrv := cl.Servers[pubIdx], cl.Servers[subIdx]

	coll := hopCollector(t, tel, connect(t, subSrv, nats.Name("collector")))
	subNC := connect(t, subSrv, nats.Name("far-subscriber"))
	sub, err := subNC.SubscribeSync("cevents.*")
	require.NoError(t, err)
	require.NoError(t, subNC.Flush())
	// Wait until every server knows the collector's and the subscriber's
	// interest (route subscriptions propagate asynchronously).
	require.Eventually(t, func() bool {
		for _, s := range cl.Servers {
			acc := s.NATS().GlobalAccount()
			if !acc.SubscriptionInterest(hopDest) || !acc.SubscriptionInterest("cevents.x") {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)

	nc := connect(t, pubSrv, nats.Name("publisher"))
	rawJS, err := jetstream.New(nc)
	require.NoError(t, err)
	opts := tel.opts(WithServerTrace(ServerTrace{Dest: hopDest}))
	_, err = NewJetStream(rawJS, opts...).Publish(ctx, "corders.1", []byte("x"))
	require.NoError(t, err)
	require.NoError(t, NewConn(nc, opts...).Publish("cevents.1", []byte("x")))
	_, err = sub.NextMsg(5 * time.Second)
	require.NoError(t, err)

	// Two events per message: the publisher's server and the next one.
	st := waitHopEvents(t, coll, 4)
	assert.Equal(t, uint64(4), st.Collected, "stats %+v", st)
	spans := tel.spans()
	for _, c := range []struct {
		pub     string
		next    string
		servers map[string][]string // server name → its hop span names
	}{
		{"publish corders.*", leader, map[string][]string{
			pubSrv.NATS().Name(): {"ingress corders.*", "egress corders.*"},
			leader:               {"ingress corders.*", "jetstream CORDERS"},
		}},
		{"publish cevents.*", subSrv.NATS().Name(), map[string][]string{
			pubSrv.NATS().Name(): {"ingress cevents.*", "egress cevents.*"},
			subSrv.NATS().Name(): {"ingress cevents.*", "egress cevents.*"},
		}},
	} {
		p := spanNamed(t, spans, c.pub)
		got := map[string][]string{}
		var routeOut, routeIn sdktrace.ReadOnlySpan
		for _, h := range hopSpans(spans, p.SpanContext().TraceID()) {
			for _, s := range h {
				assert.Equal(t, p.SpanContext().SpanID(), s.Parent().SpanID(), "%s: child of %s", s.Name(), c.pub)
				server := attrString(s, string(semconv.NATSServerNameKey))
				got[server] = append(got[server], s.Name())
				assert.Equal(t, "naq-test", attrString(s, string(semconv.NATSServerClusterKey)))
				kind := attrString(s, string(semconv.NATSHopConnKindKey))
				switch {
				case server == pubSrv.NATS().Name() && kind == "router":
					routeOut = s
				case server == c.next && kind == "router":
					routeIn = s
				}
			}
		}
		for _, names := range got {
			sort.Strings(names)
		}
		for _, names := range c.servers {
			sort.Strings(names)
		}
		assert.Equal(t, c.servers, got, "%s: hop spans by server", c.pub)
		require.NotNil(t, routeOut, "%s: egress to the route", c.pub)
		require.NotNil(t, routeIn, "%s: ingress from the route", c.pub)
		assert.Equal(t, "egress", attrString(routeOut, string(semconv.NATSHopTypeKey)))
		assert.Equal(t, c.next, attrString(routeOut, string(semconv.NATSHopConnNameKey)))
		assert.Equal(t, "ingress", attrString(routeIn, string(semconv.NATSHopTypeKey)))
		assert.Equal(t, pubSrv.NATS().Name(), attrString(routeIn, string(semconv.NATSHopConnNameKey)))
		assert.Equal(t, "1", attrString(routeOut, string(semconv.NATSHopIDKey)))
		assert.Equal(t, "1", attrString(routeIn, string(semconv.NATSHopIDKey)), "the hop id pairs egress and ingress")
		assert.False(t, routeIn.StartTime().Before(routeOut.StartTime()), "%s: the next server reads it after it left", c.pub)
	}
}
