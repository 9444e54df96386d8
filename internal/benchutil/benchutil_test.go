package benchutil_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/naq-io/naq/internal/benchutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFakeServerPublishAndDeliver(t *testing.T) {
	srv := benchutil.StartFakeServer(t)
	nc, err := nats.Connect(srv.URL())
	require.NoError(t, err)
	defer nc.Close()
	assert.True(t, nc.HeadersSupported())
	assert.EqualValues(t, benchutil.FakeMaxPayload, nc.MaxPayload())

	// Publishes of every shape are swallowed; Flush proves the server still
	// reads the protocol in step (PING after them, PONG back).
	require.NoError(t, nc.Publish("a.b", []byte("hello")))
	require.NoError(t, nc.PublishMsg(&nats.Msg{Subject: "a.b", Reply: "r", Data: []byte("x"),
		Header: nats.Header{"traceparent": {benchutil.Traceparent}}}))
	require.NoError(t, nc.Publish("a.b", make([]byte, 200_000)))
	require.NoError(t, nc.Flush())

	var got atomic.Int64
	done := make(chan struct{})
	const n = 1000
	sub, err := nc.Subscribe("deliver.me", func(m *nats.Msg) {
		if m.Header.Get("traceparent") != benchutil.Traceparent || string(m.Data) != "payload" {
			t.Errorf("unexpected message: %+v", m)
		}
		if got.Add(1) == n {
			close(done)
		}
	})
	require.NoError(t, err)
	require.NoError(t, srv.WaitSubscribed("deliver.me", 5*time.Second))
	k, err := srv.Deliver("deliver.me", nats.Header{"traceparent": {benchutil.Traceparent}}, []byte("payload"), n)
	require.NoError(t, err)
	assert.Equal(t, 1, k)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("delivered %d of %d", got.Load(), n)
	}
	require.NoError(t, sub.Unsubscribe())
	require.NoError(t, nc.Flush())
}

func TestFakeServerWaitSubscribedTimesOut(t *testing.T) {
	srv := benchutil.StartFakeServer(t)
	require.Error(t, srv.WaitSubscribed("nobody", 50*time.Millisecond))
}

func TestFrame(t *testing.T) {
	assert.Equal(t, "MSG a 1 2\r\nhi\r\n", string(benchutil.Frame("a", "1", nil, []byte("hi"))))
	hdr := "NATS/1.0\r\nk: v\r\n\r\n"
	assert.Equal(t, "HMSG a 1 18 20\r\n"+hdr+"hi\r\n", string(benchutil.Frame("a", "1", nats.Header{"k": {"v"}}, []byte("hi"))))
}

func TestSnapshotProcessorAndFloors(t *testing.T) {
	p := benchutil.NewProviders(t)
	attrs := []attribute.KeyValue{attribute.String("k", "v"), attribute.Int("n", 3)}
	// What "the code under test" records: one span with an event, a link
	// and an error status, one histogram recording and one counter add.
	op := func(tp trace.TracerProvider, mp metric.MeterProvider) {
		m := mp.Meter("under.test")
		h, _ := m.Float64Histogram("op.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(0.001, 1))
		c, _ := m.Int64Counter("op.count")
		ctx, span := tp.Tracer("under.test").Start(benchutil.SampledContext(), "publish x",
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(benchutil.SampledContext())}))
		span.SetAttributes(attrs...)
		span.AddEvent("ev", trace.WithAttributes(attribute.String("why", "x")))
		span.SetStatus(codes.Error, "boom")
		span.End()
		set := metric.WithAttributeSet(attribute.NewSet(attrs...))
		h.Record(ctx, 0.002, set)
		c.Add(ctx, 2, set)
	}
	sh := benchutil.Capture(t, op)
	require.Len(t, sh.Spans, 1)
	sp := sh.Spans[0]
	assert.Equal(t, "publish x", sp.Name)
	assert.Equal(t, trace.SpanKindProducer, sp.Kind)
	assert.ElementsMatch(t, attrs, sp.Attrs)
	assert.Equal(t, 1, sp.Links)
	assert.True(t, sp.RemoteParent)
	assert.Equal(t, codes.Error, sp.Status.Code)
	require.Len(t, sh.Records, 2)

	// The span floor replays it through the processor.
	before := p.Processor.Ended()
	sh.SpanFloor(p.Sampled, benchutil.SampledContext())()
	require.Equal(t, before+1, p.Processor.Ended())
	last := p.Processor.Last()
	assert.Equal(t, "publish x", last.Name)
	assert.Equal(t, trace.SpanKindProducer, last.Kind)
	assert.ElementsMatch(t, attrs, last.Attributes)
	assert.Len(t, last.Events, 1)
	assert.Len(t, last.Links, 1)
	assert.Equal(t, codes.Error, last.Status.Code)
	assert.True(t, last.Parent.IsRemote())
	assert.Positive(t, last.Size)

	// The metric floor makes the same recordings.
	sh.MetricFloor(t, p.Meter)(context.Background())
	again := benchutil.Capture(t, func(_ trace.TracerProvider, mp metric.MeterProvider) {
		sh.MetricFloor(t, mp)(context.Background())
	})
	require.Len(t, again.Records, 2)
	for i, r := range again.Records {
		assert.Equal(t, sh.Records[i].Name, r.Name)
		assert.Equal(t, sh.Records[i].Value, r.Value)
		assert.Equal(t, sh.Records[i].Count, r.Count)
		assert.True(t, sh.Records[i].Attrs.Equals(&r.Attrs))
	}

	// Inject writes the traceparent into the reused header; extract reads it.
	hdr := nats.Header{}
	benchutil.InjectFloor(benchutil.W3C, benchutil.SampledContext(), hdr)()
	assert.Equal(t, benchutil.Traceparent, hdr.Get("traceparent"))
	ctx := benchutil.ExtractFloor(benchutil.W3C, hdr)()
	assert.True(t, trace.SpanContextFromContext(ctx).Equal(trace.SpanContextFromContext(benchutil.SampledContext())))
	assert.GreaterOrEqual(t, benchutil.Clock(), time.Duration(0))
}

// nopProcessor makes the SDK build each ended span's snapshot and does
// nothing with it.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (nopProcessor) Shutdown(context.Context) error                  { return nil }
func (nopProcessor) ForceFlush(context.Context) error                { return nil }

func TestSnapshotProcessorAllocatesNothing(t *testing.T) {
	spanAllocs := func(sp sdktrace.SpanProcessor) float64 {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(sp))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		tracer := tp.Tracer("t")
		opts := []trace.SpanStartOption{trace.WithAttributes(attribute.String("k", "v"), attribute.Int("n", 1)),
			trace.WithLinks(trace.Link{SpanContext: trace.SpanContextFromContext(benchutil.SampledContext())})}
		end := func() {
			_, s := tracer.Start(context.Background(), "x", opts...)
			s.AddEvent("e", trace.WithAttributes(attribute.String("a", "b")))
			s.End()
		}
		end() // warm the snapshot buffers
		return testing.AllocsPerRun(100, end)
	}
	proc := &benchutil.SnapshotProcessor{}
	assert.Equal(t, spanAllocs(nopProcessor{}), spanAllocs(proc))
	assert.EqualValues(t, 102, proc.Ended())
}

func TestSequenceFloor(t *testing.T) {
	attrs := []attribute.KeyValue{attribute.String("k", "v")}
	// A process-like call: a child of the delivered context, one
	// histogram recording in the span's context.
	sh := benchutil.Capture(t, func(tp trace.TracerProvider, mp metric.MeterProvider) {
		h, _ := mp.Meter("under.test").Float64Histogram("op.duration", metric.WithUnit("s"))
		ctx, span := tp.Tracer("under.test").Start(benchutil.SampledContext(), "process x",
			trace.WithSpanKind(trace.SpanKindConsumer))
		span.SetAttributes(attrs...)
		span.End()
		h.Record(ctx, 0.002, metric.WithAttributeSet(attribute.NewSet(attrs...)))
	})
	require.Len(t, sh.Spans, 1)
	require.Len(t, sh.Records, 1)

	run := func(tp trace.TracerProvider, hdr nats.Header) (benchutil.Shape, trace.SpanContext, int) {
		var seen trace.SpanContext
		calls := 0
		again := benchutil.Capture(t, func(_ trace.TracerProvider, captured metric.MeterProvider) {
			fn := sh.SequenceFloor(t, benchutil.Sequence{
				Tracer: tp, Meter: captured, Prop: benchutil.W3C,
				Extract: nats.Header{"traceparent": {benchutil.Traceparent}}, Inject: hdr,
				Call: func(ctx context.Context) error {
					calls++
					seen = trace.SpanContextFromContext(ctx)
					return nil
				},
			})
			require.NoError(t, fn())
		})
		return again, seen, calls
	}

	// Sampled: the span is the extracted context's child, the call gets
	// it, the header carries it, the histogram records in it.
	p := benchutil.NewProviders(t)
	before := p.Processor.Ended()
	hdr := nats.Header{}
	again, seen, calls := run(p.Sampled, hdr)
	assert.Equal(t, 1, calls)
	require.Equal(t, before+1, p.Processor.Ended())
	last := p.Processor.Last()
	assert.Equal(t, "process x", last.Name)
	assert.Equal(t, trace.SpanKindConsumer, last.Kind)
	assert.ElementsMatch(t, attrs, last.Attributes)
	assert.True(t, last.Parent.IsRemote())
	assert.Equal(t, last.SpanContext.SpanID(), seen.SpanID())
	assert.Contains(t, hdr.Get("traceparent"), last.SpanContext.SpanID().String())
	require.Len(t, again.Records, 1)
	r := again.Records[0]
	assert.Equal(t, "op.duration", r.Name)
	assert.True(t, sh.Records[0].Attrs.Equals(&r.Attrs))
	// The recorded value is the span's duration, not the captured 2 ms.
	assert.InDelta(t, last.End.Sub(last.Start).Seconds(), r.Value, 1e-9)

	// No tracer: no span, the call gets the extracted context, the
	// recording is still made.
	before = p.Processor.Ended()
	again, seen, calls = run(nil, nil)
	assert.Equal(t, 1, calls)
	assert.Equal(t, before, p.Processor.Ended())
	assert.True(t, seen.Equal(trace.SpanContextFromContext(benchutil.SampledContext())))
	require.Len(t, again.Records, 1)

	// The call's error is the floor's.
	fn := sh.SequenceFloor(t, benchutil.Sequence{Call: func(context.Context) error { return context.Canceled }})
	assert.ErrorIs(t, fn(), context.Canceled)
}
