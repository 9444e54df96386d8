package instrument

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/internal/semconv"
	"github.com/naq-io/naq/metrics"
)

type customErr struct{}

func (customErr) Error() string { return "custom secret-detail" }

func TestErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{jetstream.ErrStreamNotFound, "10059"},
		{fmt.Errorf("wrapped: %w", jetstream.ErrConsumerNotFound), "10014"},
		{&jetstream.APIError{ErrorCode: 10071, Code: 400}, "10071"},
		{jetstream.ErrKeyExists, "10071"},
		{nats.ErrTimeout, "timeout"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("x: %w", context.Canceled), "canceled"},
		{nats.ErrNoResponders, "no_responders"},
		{nats.ErrConnectionClosed, "connection_closed"},
		{jetstream.ErrKeyNotFound, "key_not_found"},
		{jetstream.ErrNoHeartbeat, "no_heartbeat"},
		{errors.New("anything at all"), "_OTHER"},
		{fmt.Errorf("wrap: %w", errors.New("x")), "_OTHER"},
		{customErr{}, "instrument.customErr"},
		{fmt.Errorf("wrap: %w", customErr{}), "instrument.customErr"},
		{&circuit.OpenError{}, "circuit_open"},
		{nats.ErrAuthorization, "authorization"},
		{nats.ErrNoServers, "no_servers"},
	}
	for _, tc := range tests {
		t.Run(tc.want+"/"+tc.err.Error(), func(t *testing.T) {
			assert.Equal(t, tc.want, errorType(tc.err))
		})
	}
	assert.Equal(t, "", errorType(nil))
}

// TestErrorTypeIsTheMetricsVocabulary: operations (this package) and
// connect attempts (metrics.ErrorType) name every error the same way.
func TestErrorTypeIsTheMetricsVocabulary(t *testing.T) {
	for _, err := range []error{
		nats.ErrAuthorization, nats.ErrNoServers, nats.ErrPermissionViolation, nats.ErrTimeout,
		errors.New("x"), fmt.Errorf("w: %w", customErr{}), &circuit.OpenError{},
		jetstream.ErrStreamNotFound, jetstream.ErrKeyNotFound, context.Canceled,
	} {
		assert.Equal(t, metrics.ErrorType(err), errorType(err), "%v", err)
	}
}

func TestDefaultErrorClassifier(t *testing.T) {
	for _, miss := range []error{jetstream.ErrKeyNotFound, jetstream.ErrKeyDeleted, jetstream.ErrNoKeysFound,
		jetstream.ErrMsgNotFound, jetstream.ErrNoMessages, nats.ErrKeyNotFound, fmt.Errorf("w: %w", jetstream.ErrKeyNotFound)} {
		assert.False(t, DefaultErrorClassifier(miss), "%v is an expected miss", miss)
	}
	for _, fail := range []error{nats.ErrTimeout, nats.ErrNoResponders, jetstream.ErrStreamNotFound, errors.New("x")} {
		assert.True(t, DefaultErrorClassifier(fail), "%v is a failure", fail)
	}
	assert.False(t, DefaultErrorClassifier(nil))
}

func TestDoReturnsValuesAndErrorsUnchanged(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts())
	s := p.spec(specConfig{Op: semconv.OpKVGet, Kind: trace.SpanKindClient, Dest: "cfg", NoDestAttrs: true,
		Attrs:     []attribute.KeyValue{semconv.NATSKVBucketKey.String("cfg")},
		SpanAttrs: []attribute.KeyValue{attribute.String("span.only", "yes")}})

	v, err := do(context.Background(), p, s, func(ctx context.Context) (int, error) {
		assert.True(t, trace.SpanContextFromContext(ctx).IsValid(), "fn runs inside the span")
		return 42, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 42, v)

	sentinel := fmt.Errorf("op: %w", jetstream.ErrKeyNotFound)
	v, err = do(context.Background(), p, s, func(context.Context) (int, error) { return 7, sentinel })
	assert.Same(t, sentinel, err)
	assert.Equal(t, 7, v, "the value is returned even with an error")

	spans := tel.spans()
	require.Len(t, spans, 2)
	for _, sp := range spans {
		assert.Equal(t, "kv.get cfg", sp.Name())
		assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
		assert.Equal(t, codes.Unset, sp.Status().Code, "key not found is not a failure")
		assertNoAttr(t, sp.Attributes(), semconv.ErrorTypeKey)
		assertNoAttr(t, sp.Attributes(), semconv.MessagingOperationTypeKey)
		assertNoAttr(t, sp.Attributes(), semconv.MessagingDestinationNameKey)
		assertAttrs(t, sp.Attributes(), semconv.NATSKVBucketKey.String("cfg"), attribute.String("span.only", "yes"))
	}
	hp := tel.histPoints(t, semconv.MetricOperationDuration)
	require.Len(t, hp, 1, "one series: misses are successes")
	assert.Equal(t, uint64(2), hp[0].Count)
	_, spanOnly := hp[0].Attributes.Value("span.only")
	assert.False(t, spanOnly, "SpanAttrs stay off metrics")
	bucket, ok := hp[0].Attributes.Value(semconv.NATSKVBucketKey)
	assert.True(t, ok)
	assert.Equal(t, "cfg", bucket.AsString())
	for _, name := range []string{semconv.MetricSentMessages, semconv.MetricConsumedMessages} {
		for _, sm := range tel.collect(t).ScopeMetrics {
			for _, m := range sm.Metrics {
				assert.NotEqual(t, name, m.Name, "a KV call counts no messages")
			}
		}
	}
}

func TestSpecMeterSelection(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts())
	tests := []struct {
		opType  string
		hist    string
		counter string
	}{
		{semconv.OpTypeSend, semconv.MetricOperationDuration, semconv.MetricSentMessages},
		{semconv.OpTypeReceive, semconv.MetricOperationDuration, semconv.MetricConsumedMessages},
		{semconv.OpTypeProcess, semconv.MetricProcessDuration, semconv.MetricConsumedMessages},
		{semconv.OpTypeSettle, semconv.MetricOperationDuration, ""},
		{"", semconv.MetricOperationDuration, ""},
	}
	for _, tc := range tests {
		t.Run("type="+tc.opType, func(t *testing.T) {
			s := p.spec(specConfig{Op: "op." + tc.opType, OpType: tc.opType, Dest: "d"})
			assert.Equal(t, p.meters.OperationDuration == s.hist, tc.hist == semconv.MetricOperationDuration)
			assert.Equal(t, p.meters.ProcessDuration == s.hist, tc.hist == semconv.MetricProcessDuration)
			assert.Equal(t, p.meters.SentMessages == s.counter && s.counter != nil, tc.counter == semconv.MetricSentMessages)
			assert.Equal(t, p.meters.ConsumedMessages == s.counter && s.counter != nil, tc.counter == semconv.MetricConsumedMessages)
			assert.Equal(t, tc.counter == "", s.counter == nil)
		})
	}
	none := p.spec(specConfig{Op: "x", OpType: semconv.OpTypeSend, Hist: histNone, Count: countNone})
	assert.Nil(t, none.hist)
	assert.Nil(t, none.counter)
	assert.True(t, none.active(), "still traced")
}

func TestBatchCountAndLinks(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts())
	s := p.spec(specConfig{Op: semconv.OpReceive, OpType: semconv.OpTypeReceive, Kind: trace.SpanKindClient, Dest: "ORDERS"})

	// Two producer contexts in headers.
	var headers []nats.Header
	for range 2 {
		ctx, sp := tel.tp.Tracer("producer").Start(context.Background(), "produce")
		h := nats.Header{}
		w3c.Inject(ctx, propagationCarrier(h))
		sp.End()
		headers = append(headers, h)
	}
	var c call
	_, err := p.begin(context.Background(), s, &c)
	require.NoError(t, err)
	for _, h := range headers {
		c.link(h)
	}
	c.link(nil)
	c.setCount(len(headers))
	c.setAttributes(semconv.MessagingBatchMessageCountKey.Int(len(headers)))
	c.end(nil)

	recv := spanNamed(t, tel.spans(), "receive ORDERS")
	require.Len(t, recv.Links(), 2)
	assertAttrs(t, recv.Attributes(), semconv.MessagingBatchMessageCountKey.Int(2))
	cp := tel.sumPoints(t, semconv.MetricConsumedMessages)
	require.Len(t, cp, 1)
	assert.Equal(t, int64(2), cp[0].Value)

	// A count of 0 records no message.
	_, err = p.begin(context.Background(), s, &c)
	require.NoError(t, err)
	c.setCount(0)
	c.end(nil)
	assert.Equal(t, int64(2), tel.sumPoints(t, semconv.MetricConsumedMessages)[0].Value)
}

func TestInactiveSpecs(t *testing.T) {
	p := newPipeline(nil, []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider())})
	s := p.spec(specConfig{Op: "publish", OpType: "send", Dest: "d"})
	assert.False(t, s.active(), "nothing to record, no gate")
	var nilSpec *opSpec
	assert.False(t, nilSpec.active())
	ctx := context.Background()
	var c call
	got, err := p.begin(ctx, nilSpec, &c)
	require.NoError(t, err)
	assert.Equal(t, ctx, got)
	c.setCount(3)
	c.link(nats.Header{"traceparent": {"x"}})
	c.end(errors.New("x"))                                                                    // no-op
	v, err := do(nil, p, nilSpec, func(context.Context) (string, error) { return "ok", nil }) //nolint:staticcheck // nil ctx passes through
	require.NoError(t, err)
	assert.Equal(t, "ok", v)

	tel := newTelemetry(t)
	filtered := newPipeline(nil, tel.opts(WithFilter(func(op, dest string) bool { return dest != "skip" })))
	assert.False(t, filtered.spec(specConfig{Op: "kv.get", Dest: "skip"}).active())
	assert.False(t, filtered.spec(specConfig{Op: "kv.get", Dest: "x", FilterDest: "skip"}).active())
	assert.True(t, filtered.spec(specConfig{Op: "kv.get", Dest: "skip", FilterDest: "ok"}).active())
}

func TestSuccessfulCallAllocatesNothingForMetrics(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(tel.mp)})
	f := p.family(specConfig{Op: semconv.OpPublish, OpType: semconv.OpTypeSend, Kind: trace.SpanKindProducer})
	fn := func(context.Context) error { return nil }
	ctx := context.Background()
	_ = run(ctx, p, f.spec("orders.eu"), fn)
	allocs := testing.AllocsPerRun(500, func() { _ = run(ctx, p, f.spec("orders.eu"), fn) })
	assert.Zero(t, allocs)

	// The error path caches its attribute set per error type.
	failing := func(context.Context) error { return nats.ErrTimeout }
	_ = run(ctx, p, f.spec("orders.eu"), failing)
	allocs = testing.AllocsPerRun(500, func() { _ = run(ctx, p, f.spec("orders.eu"), failing) })
	assert.Zero(t, allocs)
}

func TestConnectionNameDefaultsToClientName(t *testing.T) {
	srv := runServer(t)
	nc := connect(t, srv, nats.Name("billing"))
	p := newPipeline(nc, nil)
	assert.Equal(t, "billing", p.cfg.connName)
	assert.Contains(t, p.metricBase, semconv.NATSConnectionKey.String("billing"))
	p = newPipeline(nc, []Option{WithConnectionName("override"), WithConnectionName("")})
	assert.Equal(t, "override", p.cfg.connName)
	host, port := serverAddress(nc)
	assert.Equal(t, "127.0.0.1", host)
	assert.Equal(t, srv.Port(), port)
}

func TestMetricDurationEqualsSpanDuration(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts())
	s := p.spec(specConfig{Op: "js.stream.info", Dest: "S"})
	require.NoError(t, run(context.Background(), p, s, func(context.Context) error {
		time.Sleep(2 * time.Millisecond)
		return nil
	}))
	sp := spanNamed(t, tel.spans(), "js.stream.info S")
	hp := tel.histPoints(t, semconv.MetricOperationDuration)
	require.Len(t, hp, 1)
	assert.Equal(t, sp.EndTime().Sub(sp.StartTime()).Seconds(), hp[0].Sum)
}

func TestWithMaxTemplates(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts(WithMaxTemplates(2), WithMaxTemplates(0)))
	f := p.family(specConfig{Op: semconv.OpPublish, OpType: semconv.OpTypeSend})
	assert.Equal(t, "publish a", f.spec("a").name)
	assert.Equal(t, "publish b", f.spec("b").name)
	assert.Equal(t, "publish _OTHER", f.spec("c").name)
	assert.Equal(t, "publish a", f.spec("a").name)
}

func TestPanickingHooksNeverReachTheCaller(t *testing.T) {
	tel := newTelemetry(t)
	p := newPipeline(nil, tel.opts(
		WithFilter(func(string, string) bool { panic("filter") }),
		WithErrorClassifier(func(error) bool { panic("classifier") }),
		WithSubjectNamer(func(string) string { panic("namer") }),
	))
	f := p.family(specConfig{Op: semconv.OpPublish, OpType: semconv.OpTypeSend})
	s := f.spec("orders.1")
	require.True(t, s.active(), "a panicking filter instruments the call")
	assert.Equal(t, "publish _OTHER", s.name, "a panicking namer yields the overflow template")
	boom := errors.New("boom")
	var err error
	require.NotPanics(t, func() {
		err = run(context.Background(), p, s, func(context.Context) error { return boom })
	})
	assert.Same(t, boom, err)
	sp := spanNamed(t, tel.spans(), "publish _OTHER")
	assert.Equal(t, codes.Error, sp.Status().Code, "a panicking classifier counts the error as a failure")
}
