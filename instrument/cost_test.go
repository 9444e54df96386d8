package instrument

// Tests of the mechanisms that make a call cheap (issue 13): message
// counters fed from atomics, durations taken from the span's own times.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/tracing"
)

// countOf returns the value of the single sum data point of name whose
// attributes are exactly want plus the pipeline's base (system, operation,
// destination): checking the whole set, so a count that landed on another
// error.type is not mistaken for this one.
func countOf(t *testing.T, points []metricdata.DataPoint[int64], dest, etype string) int64 {
	t.Helper()
	var found []int64
	for _, p := range points {
		d, _ := p.Attributes.Value(semconv.MessagingDestinationNameKey)
		et, hasET := p.Attributes.Value(semconv.ErrorTypeKey)
		if d.AsString() != dest || hasET != (etype != "") || et.AsString() != etype {
			continue
		}
		found = append(found, p.Value)
	}
	require.LessOrEqual(t, len(found), 1, "one series per attribute set (%s, %q)", dest, etype)
	if len(found) == 0 {
		return 0
	}
	return found[0]
}

// TestMessageCountsAreExactTotals publishes and consumes known numbers of
// messages through two wrappers on one MeterProvider, with failures and
// panics, and checks every total of messaging.client.sent.messages and
// .consumed.messages, twice (the totals are cumulative).
func TestMessageCountsAreExactTotals(t *testing.T) {
	tel := newTelemetry(t)
	srv := runServer(t)
	nc := connect(t, srv)
	c1, c2 := NewConn(nc, tel.opts()...), NewConn(nc, tel.opts()...)

	var got sync.WaitGroup
	got.Add(12)
	sub, err := c1.Subscribe("orders.*", func(*nats.Msg) { got.Done() })
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	for range 7 {
		require.NoError(t, c1.Publish("orders.a", []byte("x")))
	}
	for range 5 {
		require.NoError(t, c2.Publish("orders.a", []byte("x"))) // same series
	}
	for range 3 {
		require.NoError(t, c2.PublishMsg(&nats.Msg{Subject: "audit.b", Data: []byte("x")}))
	}
	require.NoError(t, nc.Flush())
	waitGroup(t, &got)
	require.NoError(t, sub.Unsubscribe())

	// Failures: a closed connection.
	closed := connect(t, srv)
	cc := NewConn(closed, tel.opts()...)
	closed.Close()
	for range 4 {
		require.ErrorIs(t, cc.Publish("orders.a", []byte("x")), nats.ErrConnectionClosed)
	}
	closedType := errorType(nats.ErrConnectionClosed)

	// Panics: a send operation of the pipeline whose function panics.
	p := newPipeline(nil, tel.opts())
	panicky := p.family(specConfig{Op: semconv.OpPublish, OpType: semconv.OpTypeSend, Kind: trace.SpanKindProducer})
	for range 2 {
		r := catch(func() {
			_ = run(context.Background(), p, panicky.spec("orders.a"), func(context.Context) error { panic("boom") })
		})
		require.Equal(t, "boom", r)
	}

	check := func(extra int64) {
		sent := tel.sumPoints(t, semconv.MetricSentMessages)
		assert.Equal(t, 12+extra, countOf(t, sent, "orders.a", ""), "successful publishes of both wrappers")
		assert.Equal(t, int64(3), countOf(t, sent, "audit.b", ""))
		assert.Equal(t, int64(4), countOf(t, sent, "orders.a", closedType))
		assert.Equal(t, int64(2), countOf(t, sent, "orders.a", semconv.ErrorTypePanic))
		consumed := tel.sumPoints(t, semconv.MetricConsumedMessages)
		assert.Equal(t, int64(12), countOf(t, consumed, "orders.*", ""))
		assert.Len(t, consumed, 1)
		m := tel.metric(t, semconv.MetricSentMessages)
		assert.Equal(t, semconv.UnitMessage, m.Unit)
		sum := m.Data.(metricdata.Sum[int64])
		assert.True(t, sum.IsMonotonic)
		assert.Equal(t, metricdata.CumulativeTemporality, sum.Temporality)
	}
	check(0)
	require.NoError(t, c1.Publish("orders.a", []byte("x")))
	check(1) // cumulative: the totals again, grown by one
}

func waitGroup(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("messages not handled")
	}
}

// hiddenTimes wraps a tracer provider so that its spans do not report
// their times: calls fall back to naq's own clock reads and end the span
// with a timestamp.
type hiddenTimes struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (h hiddenTimes) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return hiddenTracer{tr: h.tp.Tracer(name, opts...)}
}

type hiddenTracer struct {
	embedded.Tracer
	tr trace.Tracer
}

func (h hiddenTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, s := h.tr.Start(ctx, name, opts...)
	s = onlySpan{Span: s}
	return trace.ContextWithSpan(ctx, s), s
}

type onlySpan struct{ trace.Span } // the trace.Span methods alone

// TestMetricDurationIsTheSpanDuration checks, on every way a call ends,
// that the duration histogram records exactly the span's duration (end −
// start of the span as exported).
func TestMetricDurationIsTheSpanDuration(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		hidden bool // spans without StartTime/EndTime
		gated  bool
		fn     func(context.Context) error
		panics bool
	}{
		{name: "sdk times"},
		{name: "sdk times, failure", fn: func(context.Context) error { return boom }},
		{name: "gated", gated: true},
		{name: "gated, failure", gated: true, fn: func(context.Context) error { return boom }},
		{name: "span without times", hidden: true},
		{name: "panic", fn: func(context.Context) error { panic("boom") }, panics: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			opts := tel.opts()
			if tc.hidden {
				opts = append(opts, WithTracerProvider(hiddenTimes{tp: tel.tp}))
			}
			if tc.gated {
				g, err := circuit.NewGate("dur", circuit.WithMeterProvider(tel.mp))
				require.NoError(t, err)
				t.Cleanup(func() { _ = g.Close() })
				opts = append(opts, WithGate(g))
			}
			p := newPipeline(nil, opts)
			s := p.spec(specConfig{Op: semconv.OpRequest, OpType: semconv.OpTypeSend, Kind: trace.SpanKindClient,
				Dest: "svc", Gate: gateRequest})
			require.Equal(t, tc.gated, s.guard != nil)
			fn := tc.fn
			if fn == nil {
				fn = func(context.Context) error { time.Sleep(time.Millisecond); return nil }
			}
			r := catch(func() { _ = run(context.Background(), p, s, fn) })
			assert.Equal(t, tc.panics, r != nil)
			sp := spanNamed(t, tel.spans(), "request svc")
			hp := tel.histPoints(t, semconv.MetricOperationDuration)
			require.Len(t, hp, 1)
			spanDur := sp.EndTime().Sub(sp.StartTime()).Seconds()
			if tc.hidden {
				// naq times the call from its own clock read, just after
				// the tracer started the span, to the timestamp it ends
				// the span with: the span is longer by the tracer's start.
				assert.LessOrEqual(t, hp[0].Sum, spanDur)
			} else {
				assert.Equal(t, spanDur, hp[0].Sum)
			}
			assert.Positive(t, hp[0].Sum)
			sent := tel.sumPoints(t, semconv.MetricSentMessages)
			require.Len(t, sent, 1)
			assert.Equal(t, int64(1), sent[0].Value)
		})
	}
}

// TestGateStateChangeLandsOnTheSpan: the gate's done runs before the span
// ends, so a breaker opened by this call's failure records its state change
// on the call's span.
func TestGateStateChangeLandsOnTheSpan(t *testing.T) {
	tel := newTelemetry(t)
	g, err := circuit.NewGate("sc", circuit.WithMeterProvider(tel.mp),
		circuit.WithDestinationOptions(circuit.WithConsecutiveFailures(1)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close() })
	p := newPipeline(nil, tel.opts(WithGate(g)))
	s := p.spec(specConfig{Op: semconv.OpRequest, OpType: semconv.OpTypeSend, Kind: trace.SpanKindClient,
		Dest: "svc", Gate: gateRequest})
	_ = run(context.Background(), p, s, func(context.Context) error { return nats.ErrTimeout })
	sp := spanNamed(t, tel.spans(), "request svc")
	var names []string
	for _, e := range sp.Events() {
		names = append(names, e.Name)
	}
	assert.Contains(t, names, semconv.EventCircuitStateChange)
}

// undeclared writes a header its Fields does not list.
type undeclared struct{ propagation.TraceContext }

func (undeclared) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	propagation.TraceContext{}.Inject(ctx, c)
	c.Set("x-extra", " padded ")
}

// TestTracedHeaderSizeIsHeaderSize: the size of a traced copy's header,
// found by lookups of the propagator's fields, is headerSize's, whatever
// the propagator writes and whatever header the caller had.
func TestTracedHeaderSizeIsHeaderSize(t *testing.T) {
	sampled := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled,
	}))
	state, err := trace.ParseTraceState("vendor=x")
	require.NoError(t, err)
	withState := trace.ContextWithSpanContext(context.Background(),
		trace.SpanContextFromContext(sampled).WithTraceState(state))
	bag, err := baggage.Parse("user=alice")
	require.NoError(t, err)
	withBag := baggage.ContextWithBaggage(sampled, bag)
	for name, opts := range map[string][]Option{
		"w3c":          {WithPropagators(w3c)},
		"tracecontext": {WithPropagators(propagation.TraceContext{})},
		"undeclared":   {WithPropagators(undeclared{})},
		"server trace": {WithPropagators(w3c), WithServerTrace(ServerTrace{Dest: "trace.events", Ratio: 1})},
	} {
		p := newPipeline(nil, opts)
		for _, ctx := range []context.Context{sampled, withState, withBag} {
			for _, hdr := range []nats.Header{nil, {"Traceparent": {"old"}}, {"x": {" a ", "b"}}} {
				h := nats.Header{}
				for k, v := range hdr {
					h[k] = v
				}
				var buf tracing.TraceparentBuffer
				p.injectHeader(ctx, trace.SpanContextFromContext(ctx), h, &buf)
				assert.Equal(t, headerSize(h), p.tracedHeaderSize(hdr, h), "%s %v %v", name, h, hdr)
			}
		}
	}
}
