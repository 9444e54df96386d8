package instrument

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// Consumer-health metrics (health.go) on a real embedded server: values,
// not presence.

// lagSleep is how long published messages wait in the stream before a
// consumer gets them: their lag is at least that.
const lagSleep = 150 * time.Millisecond

// healthPoints finds the data points of the consumer-health metrics.
type healthPoints struct {
	t   *testing.T
	tel *telemetry
}

func (h healthPoints) find(name string) (metricdata.Metrics, bool) {
	for _, sm := range h.tel.collect(h.t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// has reports whether every wanted attribute is in set.
func has(set attribute.Set, want []attribute.KeyValue) bool {
	for _, w := range want {
		if v, ok := set.Value(w.Key); !ok || v.Emit() != w.Value.Emit() {
			return false
		}
	}
	return true
}

// lag returns the lag histogram point with the wanted attributes (ok false:
// none).
func (h healthPoints) lag(want ...attribute.KeyValue) (metricdata.HistogramDataPoint[float64], bool) {
	m, ok := h.find(semconv.MetricConsumerLag)
	if !ok {
		return metricdata.HistogramDataPoint[float64]{}, false
	}
	hist, isHist := m.Data.(metricdata.Histogram[float64])
	require.True(h.t, isHist, "lag is a float64 histogram")
	for _, p := range hist.DataPoints {
		if has(p.Attributes, want) {
			return p, true
		}
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

// pending returns the pending gauge value with the wanted attributes.
func (h healthPoints) pending(want ...attribute.KeyValue) (int64, bool) {
	m, ok := h.find(semconv.MetricConsumerPending)
	if !ok {
		return 0, false
	}
	g, isGauge := m.Data.(metricdata.Gauge[int64])
	require.True(h.t, isGauge, "pending is an int64 gauge")
	for _, p := range g.DataPoints {
		if has(p.Attributes, want) {
			return p.Value, true
		}
	}
	return 0, false
}

// sum returns the value of the int64 counter name with the wanted
// attributes, summed over matching points (0 when none).
func (h healthPoints) sum(name string, want ...attribute.KeyValue) int64 {
	m, ok := h.find(name)
	if !ok {
		return 0
	}
	s, isSum := m.Data.(metricdata.Sum[int64])
	require.True(h.t, isSum, "%s is an int64 sum", name)
	var n int64
	for _, p := range s.DataPoints {
		if has(p.Attributes, want) {
			n += p.Value
		}
	}
	return n
}

// opCount is the number of messaging.client.operation.duration records of
// operation op with the wanted attributes.
func (h healthPoints) opCount(op string, want ...attribute.KeyValue) uint64 {
	m, ok := h.find(semconv.MetricOperationDuration)
	if !ok {
		return 0
	}
	var n uint64
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if has(p.Attributes, append([]attribute.KeyValue{opAttr(op)}, want...)) {
			n += p.Count
		}
	}
	return n
}

// allSets returns the attribute sets of every point of metric name.
func (h healthPoints) allSets(name string) []attribute.Set {
	m, ok := h.find(name)
	if !ok {
		return nil
	}
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

func streamAttr(s string) attribute.KeyValue { return semconv.NATSStreamKey.String(s) }
func groupAttr(g string) attribute.KeyValue  { return semconv.MessagingConsumerGroupNameKey.String(g) }

// publishRaw stores n messages on subject through the raw producer.
func (e *jsEnv) publishRaw(subject string, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		_, err := e.raw.Publish(context.Background(), subject, []byte(fmt.Sprintf("m-%d", i)))
		require.NoError(e.t, err)
	}
}

// tracingModes runs fn with tracing on (always sampling) and with a noop
// tracer: consumer health must not depend on tracing.
func tracingModes(t *testing.T, fn func(t *testing.T, extra ...Option)) {
	t.Run("traced", func(t *testing.T) { fn(t) })
	t.Run("metrics_only", func(t *testing.T) { fn(t, WithTracerProvider(tracenoop.NewTracerProvider())) })
}

// A consumer that falls behind: the pending gauge is the NumPending of the
// last message seen (N-k after k of N), and messages consumed later show a
// larger lag. Fetch, then Next, on one durable pull consumer.
func TestConsumerHealthFallsBehindFetch(t *testing.T) {
	tracingModes(t, func(t *testing.T, extra ...Option) {
		e := newJSEnv(t, extra...)
		h := healthPoints{t, e.telemetry}
		e.stream("LAG", "lag.>")
		const n, k = 10, 4
		e.publishRaw("lag.a", n)
		cons := e.consumer("LAG", "slow")
		labels := []attribute.KeyValue{semconv.System, streamAttr("LAG"), groupAttr("slow")}

		_, ok := h.pending(labels...)
		assert.False(t, ok, "no pending count before a message was seen")

		time.Sleep(lagSleep)
		b, err := cons.Fetch(k, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		got := 0
		for m := range b.Messages() {
			require.NoError(t, m.Ack())
			got++
		}
		require.NoError(t, b.Error())
		require.Equal(t, k, got)

		pending, ok := h.pending(labels...)
		require.True(t, ok)
		assert.Equal(t, int64(n-k), pending, "pending = NumPending of the last message fetched")
		p1, ok := h.lag(labels...)
		require.True(t, ok)
		assert.Equal(t, uint64(k), p1.Count)
		minLag, _ := p1.Min.Value()
		assert.GreaterOrEqual(t, minLag, lagSleep.Seconds(), "every message waited lagSleep in the stream")
		assert.GreaterOrEqual(t, p1.Sum, float64(k)*lagSleep.Seconds())

		// The rest waits twice as long: a larger lag.
		time.Sleep(lagSleep)
		for i := k; i < n; i++ {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			require.NoError(t, err)
			require.NoError(t, m.Ack())
			want := int64(n - i - 1)
			pending, _ := h.pending(labels...)
			assert.Equal(t, want, pending, "after Next %d", i+1)
		}
		p2, ok := h.lag(labels...)
		require.True(t, ok)
		assert.Equal(t, uint64(n), p2.Count)
		assert.GreaterOrEqual(t, p2.Sum-p1.Sum, float64(n-k)*2*lagSleep.Seconds(),
			"messages consumed later lag more")
		maxLag, _ := p2.Max.Value()
		assert.GreaterOrEqual(t, maxLag, 2*lagSleep.Seconds())
		assert.Zero(t, h.sum(semconv.MetricConsumerRedelivered), "no redelivery")
		// The lag buckets reach minutes.
		assert.Equal(t, semconv.LagBuckets(), p2.Bounds)
		assert.Equal(t, 3600.0, p2.Bounds[len(p2.Bounds)-1])
	})
}

// Consume and Messages().Next record the health of each message before
// the handler runs / when Next returns it: exact pending mid-stream.
func TestConsumerHealthConsumeAndMessages(t *testing.T) {
	tracingModes(t, func(t *testing.T, extra ...Option) {
		e := newJSEnv(t, extra...)
		h := healthPoints{t, e.telemetry}
		e.stream("CM", "cm.>")
		const n, k = 8, 3
		e.publishRaw("cm.a", n)
		time.Sleep(lagSleep)

		// Consume: the handler of the k-th message blocks while the test
		// reads the gauge.
		cons := e.consumer("CM", "consumer")
		labels := []attribute.KeyValue{streamAttr("CM"), groupAttr("consumer")}
		atK, release := make(chan struct{}), make(chan struct{})
		var seen atomic.Int32
		done := make(chan struct{})
		cc, err := cons.Consume(func(m jetstream.Msg) {
			i := seen.Add(1)
			if i == k {
				close(atK)
				<-release
			}
			assert.NoError(t, m.Ack())
			if i == n {
				close(done)
			}
		})
		require.NoError(t, err)
		<-atK
		pending, ok := h.pending(labels...)
		require.True(t, ok)
		assert.Equal(t, int64(n-k), pending)
		p, _ := h.lag(labels...)
		assert.Equal(t, uint64(k), p.Count)
		close(release)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("not consumed")
		}
		cc.Stop()
		<-cc.Closed()
		pending, _ = h.pending(labels...)
		assert.Equal(t, int64(0), pending)
		p, _ = h.lag(labels...)
		assert.Equal(t, uint64(n), p.Count)
		minLag, _ := p.Min.Value()
		assert.GreaterOrEqual(t, minLag, lagSleep.Seconds())

		// Messages().Next on a second durable consumer of the same stream.
		cons2 := e.consumer("CM", "iter")
		labels2 := []attribute.KeyValue{streamAttr("CM"), groupAttr("iter")}
		it, err := cons2.Messages()
		require.NoError(t, err)
		defer it.Stop()
		for i := 1; i <= n; i++ {
			m, err := it.Next()
			require.NoError(t, err)
			pending, _ := h.pending(labels2...)
			assert.Equal(t, int64(n-i), pending, "after Next %d", i)
			require.NoError(t, m.Ack())
		}
		p2, _ := h.lag(labels2...)
		assert.Equal(t, uint64(n), p2.Count)
		// The first consumer's series did not move.
		pending, _ = h.pending(labels...)
		assert.Equal(t, int64(0), pending)
	})
}

// A handler that NAKs: the redelivered counter equals the deliveries whose
// own metadata says NumDelivered > 1, and the nak and term settles are
// counted per stream and consumer by messaging.client.operation.duration.
func TestConsumerHealthRedeliveries(t *testing.T) {
	tracingModes(t, func(t *testing.T, extra ...Option) {
		e := newJSEnv(t, extra...)
		h := healthPoints{t, e.telemetry}
		e.stream("NAK", "nak.>")
		const n = 6
		e.publishRaw("nak.a", n)
		cons := e.consumer("NAK", "naker")

		var mu sync.Mutex
		var redeliveries, naks, terms, acks int
		done := make(chan struct{})
		cc, err := cons.Consume(func(m jetstream.Msg) {
			md, err := m.Metadata()
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if md.NumDelivered > 1 {
				redeliveries++
			}
			switch {
			case md.Sequence.Stream == 1 && md.NumDelivered == 1:
				assert.NoError(t, m.TermWithReason("bad"))
				terms++
			case md.NumDelivered < 3: // two NAKs, then an ack
				assert.NoError(t, m.Nak())
				naks++
			default:
				assert.NoError(t, m.Ack())
				acks++
				if acks == n-1 {
					close(done)
				}
			}
		})
		require.NoError(t, err)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatal("not all messages acked")
		}
		cc.Stop()
		<-cc.Closed()

		mu.Lock()
		defer mu.Unlock()
		labels := []attribute.KeyValue{semconv.System, streamAttr("NAK"), groupAttr("naker")}
		require.Equal(t, 2*(n-1), redeliveries, "each acked message was delivered 3 times")
		assert.Equal(t, int64(redeliveries), h.sum(semconv.MetricConsumerRedelivered, labels...))
		assert.Equal(t, uint64(naks), h.opCount(semconv.OpNak, labels...))
		assert.Equal(t, uint64(terms), h.opCount(semconv.OpTerm, labels...))
		assert.Equal(t, uint64(acks), h.opCount(semconv.OpAck, labels...))
		assert.Equal(t, uint64(1+3*(n-1)), func() uint64 { p, _ := h.lag(labels...); return p.Count }(),
			"one lag record per delivery")
		// The settle metrics carry no consumer name beyond the group.
		for _, set := range h.allSets(semconv.MetricOperationDuration) {
			_, hasName := set.Value(semconv.NATSConsumerKey)
			assert.False(t, hasName)
		}
	})
}

// Ephemeral and ordered consumers have random names: their metrics carry
// the "_ephemeral" group, on health and settle metrics alike, and never the
// name.
func TestConsumerHealthEphemeral(t *testing.T) {
	e := newJSEnv(t)
	h := healthPoints{t, e.telemetry}
	e.stream("EPH", "eph.>")
	e.publishRaw("eph.a", 3)
	ctx := context.Background()

	eph, err := e.js2.CreateConsumer(ctx, "EPH", jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	ord, err := e.js2.OrderedConsumer(ctx, "EPH", jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	for _, c := range []jetstream.Consumer{eph, ord} {
		b, err := c.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for m := range b.Messages() {
			if c == eph {
				require.NoError(t, m.Ack())
			}
		}
		require.NoError(t, b.Error())
	}
	labels := []attribute.KeyValue{streamAttr("EPH"), groupAttr(semconv.ConsumerEphemeral)}
	p, ok := h.lag(labels...)
	require.True(t, ok)
	assert.Equal(t, uint64(6), p.Count, "both consumers' deliveries share the placeholder series")
	pending, _ := h.pending(labels...)
	assert.Equal(t, int64(0), pending)
	assert.Equal(t, uint64(3), h.opCount(semconv.OpAck, labels...))
	for _, name := range []string{semconv.MetricConsumerLag, semconv.MetricConsumerPending, semconv.MetricOperationDuration} {
		for _, set := range h.allSets(name) {
			if v, ok := set.Value(semconv.NATSStreamKey); ok && v.AsString() == "EPH" && consumerSide(set) {
				g, _ := set.Value(semconv.MessagingConsumerGroupNameKey)
				assert.Equal(t, semconv.ConsumerEphemeral, g.AsString(), "%s", name)
			}
		}
	}
}

// Stream and durable names pass a cap (WithMaxTemplates): beyond it they are
// "_OTHER" on every metric, span names included, while the span keeps the
// real stream name.
func TestConsumerHealthCardinalityCap(t *testing.T) {
	require.Equal(t, tracing.OverflowTemplate, semconv.OtherValue)
	e := newJSEnv(t, WithMaxTemplates(2))
	h := healthPoints{t, e.telemetry}
	for _, s := range []string{"CA", "CB", "CC"} {
		e.stream(s, "cap."+s+".>")
		e.publishRaw("cap."+s+".x", 1)
	}
	fetch := func(stream, durable string) {
		c := e.consumer(stream, durable)
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		require.NoError(t, m.Ack())
	}
	fetch("CA", "d1")
	fetch("CB", "d2")
	fetch("CC", "d3") // third stream and third durable: over the cap of 2

	for _, l := range [][]attribute.KeyValue{
		{streamAttr("CA"), groupAttr("d1")},
		{streamAttr("CB"), groupAttr("d2")},
		{streamAttr(semconv.OtherValue), groupAttr(semconv.OtherValue)},
	} {
		p, ok := h.lag(l...)
		if assert.True(t, ok, "%v", l) {
			assert.Equal(t, uint64(1), p.Count, "%v", l)
		}
		assert.Equal(t, uint64(1), h.opCount(semconv.OpAck, l...), "%v", l)
	}
	for _, name := range []string{semconv.MetricConsumerLag, semconv.MetricOperationDuration} {
		for _, set := range h.allSets(name) {
			if !consumerSide(set) {
				continue // management calls (js.consumer.*) name their stream
			}
			for _, k := range []attribute.Key{semconv.NATSStreamKey, semconv.MessagingDestinationNameKey} {
				v, _ := set.Value(k)
				assert.NotEqual(t, "CC", v.AsString(), "%s %s", name, k)
			}
			g, _ := set.Value(semconv.MessagingConsumerGroupNameKey)
			assert.NotEqual(t, "d3", g.AsString())
		}
	}
	recv := spanNamed(t, e.spans(), "receive "+semconv.OtherValue)
	assertAttrs(t, recv.Attributes(), streamAttr("CC"), semconv.NATSConsumerKey.String("d3"))
}

// A Filter that rejects the delivering operation records no health.
func TestConsumerHealthFiltered(t *testing.T) {
	e := newJSEnv(t, WithFilter(func(op, dest string) bool { return op != semconv.OpReceive }))
	h := healthPoints{t, e.telemetry}
	e.stream("FIL", "fil.>")
	e.publishRaw("fil.a", 2)
	c := e.consumer("FIL", "f")
	m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
	require.NoError(t, err)
	require.NoError(t, m.Ack())
	_, ok := h.lag(streamAttr("FIL"))
	assert.False(t, ok, "receive filtered: no lag")
	assert.Equal(t, uint64(1), h.opCount(semconv.OpAck, streamAttr("FIL"), groupAttr("f")), "the ack is still measured")
}

// The legacy JetStreamContext records the same: a QueueSubscribe handler
// that NAKs, FetchJS with an exact pending and lag, and ProcessJS on a
// SubscribeSync message (counted once) or a message without metadata
// (nothing recorded, fn called as usual).
func TestConsumerHealthLegacy(t *testing.T) {
	tracingModes(t, func(t *testing.T, extra ...Option) {
		e := newLegacyEnv(t, extra...)
		h := healthPoints{t, e.telemetry}
		e.legacyStream("LEG", "leg.>")
		const n = 5
		for i := 0; i < n; i++ {
			_, err := e.rawL.Publish("leg.a", []byte("x"))
			require.NoError(t, err)
		}

		// Push handler of a queue subscription: NAK the first delivery.
		var mu sync.Mutex
		var redeliveries, naks int
		acked := make(chan struct{}, n)
		sub, err := e.lj2.QueueSubscribe("leg.>", "workers", func(m *nats.Msg) {
			md, err := m.Metadata()
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			if md.NumDelivered > 1 {
				redeliveries++
			}
			first := md.NumDelivered == 1
			if first {
				naks++
			}
			mu.Unlock()
			if first {
				assert.NoError(t, Nak(ContextFromMsg(m), e.lj2, m))
				return
			}
			assert.NoError(t, Ack(ContextFromMsg(m), e.lj2, m))
			acked <- struct{}{}
		}, nats.ManualAck(), nats.DeliverAll())
		require.NoError(t, err)
		for i := 0; i < n; i++ {
			select {
			case <-acked:
			case <-time.After(10 * time.Second):
				t.Fatal("not all acked")
			}
		}
		require.NoError(t, sub.Unsubscribe())
		qlabels := []attribute.KeyValue{streamAttr("LEG"), groupAttr("workers")}
		mu.Lock()
		assert.Equal(t, n, redeliveries)
		assert.Equal(t, int64(redeliveries), h.sum(semconv.MetricConsumerRedelivered, qlabels...))
		assert.Equal(t, uint64(naks), h.opCount(semconv.OpNak, qlabels...))
		mu.Unlock()
		if !assert.Equal(t, uint64(n), h.opCount(semconv.OpAck, qlabels...)) {
			for _, set := range h.allSets(semconv.MetricOperationDuration) {
				t.Log(set.Encoded(attribute.DefaultEncoder()))
			}
		}
		p, _ := h.lag(qlabels...)
		assert.Equal(t, uint64(2*n), p.Count)
		pending, _ := h.pending(qlabels...)
		assert.Equal(t, int64(0), pending)

		// Pull subscription through FetchJS: exact pending, lag >= sleep.
		psub, err := e.lj2.PullSubscribe("leg.>", "puller")
		require.NoError(t, err)
		time.Sleep(lagSleep)
		msgs, err := FetchJS(context.Background(), e.lj2, psub, 2, nats.MaxWait(5*time.Second))
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		plabels := []attribute.KeyValue{streamAttr("LEG"), groupAttr("puller")}
		pending, ok := h.pending(plabels...)
		require.True(t, ok)
		assert.Equal(t, int64(n-2), pending)
		pp, _ := h.lag(plabels...)
		assert.Equal(t, uint64(2), pp.Count)
		minLag, _ := pp.Min.Value()
		assert.GreaterOrEqual(t, minLag, lagSleep.Seconds())
		// ProcessJS on fetched messages does not count them again.
		for _, m := range msgs {
			require.NoError(t, ProcessJS(e.lj2, m, func(ctx context.Context, m *nats.Msg) error {
				return Ack(ctx, e.lj2, m)
			}))
		}
		pp, _ = h.lag(plabels...)
		assert.Equal(t, uint64(2), pp.Count)

		// SubscribeSync + ProcessJS: recorded by ProcessJS, under the
		// placeholder (the wrapper does not know a durable name).
		ssub, err := e.lj2.SubscribeSync("leg.>", nats.DeliverAll(), nats.AckExplicit())
		require.NoError(t, err)
		m, err := ssub.NextMsg(5 * time.Second)
		require.NoError(t, err)
		called := false
		require.NoError(t, ProcessJS(e.lj2, m, func(ctx context.Context, m *nats.Msg) error {
			called = true
			return nil
		}))
		assert.True(t, called)
		elabels := []attribute.KeyValue{streamAttr("LEG"), groupAttr(semconv.ConsumerEphemeral)}
		ep, _ := h.lag(elabels...)
		assert.Equal(t, uint64(1), ep.Count)
		pending, _ = h.pending(elabels...)
		assert.Equal(t, int64(n-1), pending)

		// A message without JetStream metadata: nothing recorded, fn runs
		// and its error comes back unchanged.
		before := h.tel.collect(t)
		wantErr := fmt.Errorf("handler failed")
		err = ProcessJS(e.lj2, &nats.Msg{Subject: "leg.plain", Data: []byte("x")}, func(context.Context, *nats.Msg) error {
			return wantErr
		})
		assert.Same(t, wantErr, err)
		after := h.tel.collect(t)
		assert.Equal(t, countPoints(before, semconv.MetricConsumerLag), countPoints(after, semconv.MetricConsumerLag))
	})
}

// consumerSide reports whether set is a consumer-health point or one of a
// consumer-side operation (receive, process, settle), not a management
// call.
func consumerSide(set attribute.Set) bool {
	op, ok := set.Value(semconv.MessagingOperationTypeKey)
	if !ok {
		_, isOp := set.Value(semconv.MessagingOperationNameKey)
		return !isOp
	}
	switch op.AsString() {
	case semconv.OpTypeReceive, semconv.OpTypeProcess, semconv.OpTypeSettle:
		return true
	}
	return false
}

// countPoints sums the counts of every point of histogram name.
func countPoints(rm metricdata.ResourceMetrics, name string) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				n += p.Count
			}
		}
	}
	return n
}

// A core subscription overwhelmed past its pending limits: the
// nats.client.slow_consumers counter equals the nats.ErrSlowConsumer async
// errors the user's error handler saw (it still runs: the Observer chains
// it), per subscription template; a subscription naq does not track counts
// under "_OTHER". One event per slow episode, while
// nats.client.subscription.dropped counts every dropped message.
func TestSlowConsumers(t *testing.T) {
	srv := runServer(t)
	tel := newTelemetry(t)
	var mu sync.Mutex
	seen := map[string]int64{} // subscription subject → ErrSlowConsumer events
	closed := make(chan struct{})
	nc, err := nats.Connect(srv.URL(),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
				mu.Lock()
				seen[sub.Subject]++
				mu.Unlock()
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	c := NewConn(nc, tel.opts()...)

	release := make(chan struct{})
	block := func(*nats.Msg) { <-release }
	tracked, err := c.Subscribe("slow.orders", block)
	require.NoError(t, err)
	untracked, err := nc.Subscribe("slow.raw", block) // raw: naq does not track it
	require.NoError(t, err)
	for _, s := range []*nats.Subscription{tracked, untracked} {
		require.NoError(t, s.SetPendingLimits(1, 1<<20))
	}
	require.NoError(t, nc.Flush())

	feeder := connect(t, srv)
	const burst = 50
	for i := 0; i < burst; i++ {
		require.NoError(t, feeder.Publish("slow.orders", []byte("x")))
		require.NoError(t, feeder.Publish("slow.raw", []byte("x")))
	}
	require.NoError(t, feeder.Flush())
	require.NoError(t, nc.Flush()) // the subscriber has read every message
	dropped, err := tracked.Dropped()
	require.NoError(t, err)
	require.Positive(t, dropped)
	h := healthPoints{t, tel}
	require.Eventually(t, func() bool {
		return h.sum(semconv.MetricSubDropped, destAttr("slow.orders")) == int64(dropped)
	}, 5*time.Second, 5*time.Millisecond)

	close(release)
	nc.Close()
	select {
	case <-closed: // runs after every async error callback queued before it
	case <-time.After(5 * time.Second):
		t.Fatal("closed handler not called")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, seen["slow.orders"], "the user's error handler still runs")
	require.Positive(t, seen["slow.raw"])
	assert.Equal(t, seen["slow.orders"], h.sum(semconv.MetricSlowConsumers,
		semconv.System, destAttr("slow.orders"), semconv.MessagingDestinationTemplateKey.String("slow.orders")))
	assert.Equal(t, seen["slow.raw"], h.sum(semconv.MetricSlowConsumers, destAttr(semconv.OtherValue)))
	assert.Equal(t, seen["slow.orders"]+seen["slow.raw"], h.sum(semconv.MetricSlowConsumers))
	assert.Less(t, seen["slow.orders"], int64(dropped), "an event per episode, not per dropped message")
	t.Logf("slow events %v, dropped %d", seen, dropped)
}

// Many consumers delivering at once (Consume, Fetch, Messages; durable and
// ephemeral), metrics collected all along, consumers stopped as they
// finish, under -race: every series ends exact.
func TestConsumerHealthConcurrentConsumers(t *testing.T) {
	e := newJSEnv(t)
	h := healthPoints{t, e.telemetry}
	const m = 40
	streams := []string{"ST0", "ST1"}
	for _, s := range streams {
		e.stream(s, s+".>")
		e.publishRaw(s+".x", m)
	}
	stop := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
				var rm metricdata.ResourceMetrics
				assert.NoError(t, e.reader.Collect(context.Background(), &rm))
			}
		}
	}()

	var wg sync.WaitGroup
	run := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	for _, s := range streams {
		for i := range 3 {
			cons := e.consumer(s, fmt.Sprintf("c%d", i))
			run(func() {
				var n atomic.Int32
				done := make(chan struct{})
				cc, err := cons.Consume(func(msg jetstream.Msg) {
					assert.NoError(t, msg.Ack())
					if n.Add(1) == m {
						close(done)
					}
				})
				if !assert.NoError(t, err) {
					return
				}
				select {
				case <-done:
				case <-time.After(20 * time.Second):
					t.Error("consume: not all delivered")
				}
				cc.Stop() // unsubscribes while others deliver
				<-cc.Closed()
			})
		}
		fetcher := e.consumer(s, "fetcher")
		run(func() {
			for got := 0; got < m; {
				b, err := fetcher.Fetch(7, jetstream.FetchMaxWait(5*time.Second))
				if !assert.NoError(t, err) {
					return
				}
				for msg := range b.Messages() {
					assert.NoError(t, msg.Ack())
					got++
				}
			}
		})
		eph, err := e.js2.CreateConsumer(context.Background(), s, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy})
		require.NoError(t, err)
		run(func() {
			it, err := eph.Messages()
			if !assert.NoError(t, err) {
				return
			}
			defer it.Stop()
			for range m {
				if _, err := it.Next(); !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-collected

	for _, s := range streams {
		for _, g := range []string{"c0", "c1", "c2", "fetcher", semconv.ConsumerEphemeral} {
			l := []attribute.KeyValue{streamAttr(s), groupAttr(g)}
			p, ok := h.lag(l...)
			if assert.True(t, ok, "%s/%s", s, g) {
				assert.Equal(t, uint64(m), p.Count, "%s/%s", s, g)
			}
			pending, _ := h.pending(l...)
			assert.Equal(t, int64(0), pending, "%s/%s", s, g)
		}
	}
	assert.Zero(t, h.sum(semconv.MetricConsumerRedelivered))
}
